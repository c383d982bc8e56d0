"""``songforge engines check``: does each configured engine work here, and does each
remote upstream answer and accept its key? (Cheap probes only: no paid call.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from songforge.catalog import Catalog
from songforge.engines.base import EngineUnavailable
from songforge.engines.registry import create_engine
from songforge.engines.remote.base import RelayEngine, is_relay_engine


@dataclass(frozen=True)
class EngineCheck:
    model: str
    engine: str
    ok: bool
    detail: str
    # For remote engines: did the upstream accept the key (None: no key involved/unknown).
    key_accepted: bool | None = None


async def _probe(model: str, family: str, engine: RelayEngine) -> EngineCheck:
    try:
        result = await engine.probe()
    finally:
        await engine.aclose()
    return EngineCheck(model, family, result.ok, result.detail, result.key_accepted)


async def _check_all(catalog: Catalog, models: Sequence[str]) -> list[EngineCheck]:
    checks: list[EngineCheck] = []
    probes = []
    for spec in catalog:
        if models and spec.id not in models:
            continue
        try:
            engine = create_engine(spec.engine, spec.options)
        except EngineUnavailable as exc:
            checks.append(EngineCheck(spec.id, spec.engine, False, str(exc)))
            continue
        if is_relay_engine(engine):
            assert isinstance(engine, RelayEngine)
            probes.append(_probe(spec.id, spec.engine, engine))
        else:
            checks.append(EngineCheck(spec.id, spec.engine, True, "can run on this machine"))
    checks.extend(await asyncio.gather(*probes))
    return sorted(checks, key=lambda check: check.model)


def check_engines(catalog: Catalog, models: Sequence[str] = ()) -> list[EngineCheck]:
    return asyncio.run(_check_all(catalog, models))


def format_checks(checks: Sequence[EngineCheck]) -> str:
    lines = []
    for check in checks:
        key = {True: "key accepted", False: "KEY REFUSED", None: "-"}[check.key_accepted]
        state = "ok" if check.ok else "FAIL"
        lines.append(f"{check.model}\t{check.engine}\t{state}\t{key}\t{check.detail}")
    return "\n".join(lines)
