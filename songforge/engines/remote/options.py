"""The catalog options every remote engine shares, checked once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from songforge.engines.base import EngineUnavailable
from songforge.engines.remote.credentials import ApiKey, read_api_key

SHARED_OPTIONS = frozenset(
    {
        "base_url",
        "api_key_env",
        "api_key_file",
        "upstream_model",
        "timeout_s",
        "deadline_s",
        "max_concurrency",
        "max_retries",
        "failure_threshold",
        "probe_interval_s",
    }
)


@dataclass(frozen=True)
class RelayOptions:
    family: str
    base_url: str
    api_key: ApiKey | None
    upstream_model: str
    # The longest one upstream call (generate, poll or download) may take.
    timeout_s: float
    # The longest one task may spend with the upstream, retries included.
    deadline_s: float
    # Upstream tasks one worker process carries at once for this model.
    max_concurrency: int
    # Further upstream calls after a retryable failure (within the deadline).
    max_retries: int
    # Consecutive failed tasks (or one key refusal) that take the model off-line.
    failure_threshold: int
    # How often an off-line model's upstream is probed to bring it back.
    probe_interval_s: float


def _number(family: str, options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise EngineUnavailable(f"{family}: {name} must be a positive number")
    return float(value)


def parse_options(
    family: str,
    options: Mapping[str, Any],
    *,
    default_model: str,
    key_required: bool,
    extra: frozenset[str] = frozenset(),
    default_base_url: str | None = None,
) -> RelayOptions:
    unknown = set(options) - SHARED_OPTIONS - extra - {"api_key"}
    if unknown:
        raise EngineUnavailable(f"{family}: unknown options {sorted(unknown)}")
    base_url = str(options.get("base_url") or default_base_url or "").rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EngineUnavailable(f"{family}: base_url must be an http(s) URL, got {base_url!r}")
    if parts.username or parts.password or parts.query:
        # Credentials belong in api_key_env/api_key_file, not in a URL that gets logged.
        raise EngineUnavailable(f"{family}: base_url must not carry credentials or a query")
    timeout_s = _number(family, options, "timeout_s", 300.0)
    deadline_s = _number(family, options, "deadline_s", max(900.0, 2 * timeout_s))
    return RelayOptions(
        family=family,
        base_url=base_url,
        api_key=read_api_key(family, options, required=key_required),
        upstream_model=str(options.get("upstream_model") or default_model),
        timeout_s=timeout_s,
        deadline_s=max(deadline_s, timeout_s),
        max_concurrency=int(_number(family, options, "max_concurrency", 16)),
        max_retries=int(options.get("max_retries", 3)),
        failure_threshold=int(_number(family, options, "failure_threshold", 5)),
        probe_interval_s=_number(family, options, "probe_interval_s", 15.0),
    )
