"""One Settings object, read from the environment (prefix ``SONGFORGE_``) once and passed down."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SONGFORGE_", env_file=None, extra="ignore")

    # Where the SQLite database, audio files and the generated secret live by default.
    data_dir: Path = Path("data")
    # SQLAlchemy URL; empty means SQLite in data_dir. PostgreSQL:
    # postgresql+psycopg://user@host:5432/db
    database_url: str = ""
    # "local" (files under storage_dir) unless storage_url says otherwise.
    storage_backend: str = "local"
    storage_dir: Path | None = None
    # s3://bucket/prefix: audio in an S3-compatible bucket (credentials: the standard
    # AWS_* variables). Empty: the local directory above. See docs/deploy.md.
    storage_url: str = ""
    # For S3-compatible servers other than AWS (MinIO, Ceph...): http(s)://host:port.
    s3_endpoint_url: str = ""
    # Presigned URLs are made for this endpoint when set (clients cannot reach an
    # internal one).
    s3_public_endpoint_url: str = ""
    s3_region: str = ""
    # auto | path | virtual (MinIO and most self-hosted servers want path).
    s3_addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Files above the threshold go up in parts of this size (S3's minimum part: 5 MiB).
    s3_multipart_threshold_bytes: int = 8 * 1024 * 1024
    s3_multipart_chunk_bytes: int = 8 * 1024 * 1024
    # proxy: the API streams the audio; redirect: the signed link answers 307 to a
    # short-lived presigned URL of the bucket (local storage always proxies).
    audio_downloads: Literal["proxy", "redirect"] = "proxy"
    presigned_url_ttl_seconds: int = 900
    # Delete a finished song's audio this many days after it finished (0: keep forever).
    audio_retention_days: float = 0
    retention_sweep_interval_seconds: float = 3600.0
    # Base URL used to build absolute audio links; empty = derived from the request.
    public_url: str = ""
    # Signs audio links and session cookies. Empty: generated once and persisted
    # in data_dir/secret_key (never a hard-coded default).
    secret_key: str = ""
    audio_link_ttl_seconds: int = 24 * 3600

    host: str = "127.0.0.1"
    port: int = 8000
    # FastAPI's own OpenTelemetry spans and metrics per request, for an operator who
    # configures OpenTelemetry providers (e.g. with opentelemetry-instrument). Off by
    # default: songforge's figures are Prometheus metrics at /metrics, and FastAPI
    # otherwise looks the providers up again on every request (~5 % of a poll's CPU).
    opentelemetry: bool = False
    # Refuse insecure set-ups (plain-HTTP cookies, generated secret) when true.
    production: bool = False

    # Workers: serve starts this many worker processes for these models
    # (empty = every live model in the catalog). 0 = API only.
    workers: int = 1
    worker_models: list[str] = Field(default_factory=list)
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    max_attempts: int = 3
    poll_interval_seconds: float = 0.5
    reaper_interval_seconds: float = 5.0
    # A model is refused (503 model_unavailable) only when no worker served it for this
    # long; within it (a worker restarting) its tasks are queued.
    worker_grace_seconds: float = 60.0
    # SIGTERM on a worker: finish the song in hand within this many seconds, else
    # hand the task back to the queue (lease released, attempt not counted).
    shutdown_grace_seconds: float = 30.0

    # A TOML file with [models.<id>] tables that replace the built-in catalog.
    catalog_path: Path | None = None

    # Per-key request rate (requests per minute) and per-account concurrent tasks.
    rate_limit_per_minute: int = 300
    max_concurrent_tasks: int = 4
    # "memory" (one process) or a redis:// URL shared by every API replica.
    rate_limit_backend: str = "memory"
    # redis:// URL over which API replicas tell each other at once about revoked keys
    # (empty: the rate-limit backend's URL when that is Redis). See docs/deploy.md.
    redis_url: str = ""
    max_body_bytes: int = 64 * 1024
    # Comma-separated IPs or CIDRs of reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed (per-address limits use the client behind
    # them). Empty: no proxy is trusted, the socket's peer is the client.
    trusted_proxies: str = ""
    # How long an Idempotency-Key replays the task it created (api.md: 24 h).
    idempotency_ttl_seconds: int = 24 * 3600

    # First run of `serve`: create an admin account with this many credits.
    bootstrap_credits: int = 3000
    # Credits given to accounts that sign up on the dashboard (an order granted through the
    # ledger), so a new user can try the service without an operator: by default three songs
    # of minimax-music at its built-in price of 30. 0 turns the grant off.
    signup_bonus_credits: int = Field(default=90, ge=0)

    def insecure_for_production(self) -> list[str]:
        """What this configuration lacks to be served to the public (empty: nothing)."""
        problems = []
        if not self.public_url.startswith("https://"):
            problems.append(
                "SONGFORGE_PUBLIC_URL must be the https:// address users reach "
                "(audio links and Secure session cookies depend on it)"
            )
        if self.secret_key and len(self.secret_key) < 32:
            problems.append("SONGFORGE_SECRET_KEY must be at least 32 characters")
        return problems

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'songforge.db').resolve()}"

    def resolved_redis_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        backend = self.rate_limit_backend
        return backend if backend.startswith(("redis://", "rediss://", "unix://")) else ""

    def resolved_storage_dir(self) -> Path:
        return self.storage_dir if self.storage_dir is not None else self.data_dir / "audio"

    def resolved_secret_key(self) -> str:
        """The configured secret, or one generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        # O_EXCL so that two processes starting at once agree on one secret.
        try:
            with open(path, "x") as handle:
                handle.write(key)
        except FileExistsError:
            return path.read_text().strip()
        path.chmod(0o600)
        return key
