"""The schema, as SQLAlchemy Core tables (the Alembic migrations mirror these).

Credits are integers. ``accounts.balance`` is what the account owns and
``accounts.held`` what running tasks have reserved; ``balance - held`` is what
can be spent, and every change of either is also a row in ``ledger_entries``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from songforge.db.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), unique=True, nullable=True),
    Column("display_name", String(200), nullable=False, server_default=""),
    Column("password_hash", String(255), nullable=True),
    Column("role", String(16), nullable=False, server_default="user"),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("held", BigInteger, nullable=False, server_default="0"),
    # Tasks held and not yet charged or released: the concurrency limit's figure,
    # kept by services/billing.py so a create does not count the account's backlog.
    Column("unfinished_tasks", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False, server_default=""),
    # sha256 of the whole secret; the secret itself is never stored.
    Column("key_hash", String(64), nullable=False, unique=True),
    # The first characters of the secret, to tell keys apart in lists.
    Column("key_prefix", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    # Most credits this key may commit (held + charged); NULL = no cap.
    Column("credit_cap", BigInteger, nullable=True),
    Column("credits_committed", BigInteger, nullable=False, server_default="0"),
    # Model ids this key may use; NULL = all.
    Column("allowed_models", JSON, nullable=True),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False),
    Column("api_key_id", String(40), ForeignKey("api_keys.id"), nullable=True),
    Column("model", String(64), nullable=False),
    Column("input", JSON, nullable=False),
    # IN_PROGRESS | completed | failed (the contract's strings)
    Column("status", String(16), nullable=False),
    # queued | generating | encoding | done
    Column("stage", String(16), nullable=False),
    Column("progress", Integer, nullable=False, server_default="0"),
    # The engine's own word for what it is doing ("singing", "mixing").
    Column("stage_detail", String(64), nullable=True),
    Column("priority", Integer, nullable=False, server_default="100"),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="3"),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("price", BigInteger, nullable=False),
    Column("credits_held", BigInteger, nullable=False, server_default="0"),
    Column("credits_charged", BigInteger, nullable=False, server_default="0"),
    Column("credits_refunded", BigInteger, nullable=False, server_default="0"),
    Column("error", JSON, nullable=True),
    Column("output", JSON, nullable=True),
    Column("storage_key", String(255), nullable=True),
    # When the running attempt should be done, as its worker last estimated (the ETA).
    Column("expected_finish_at", UTCDateTime, nullable=True),
    Index("ix_tasks_queue", "status", "stage", "model", "priority", "created_at"),
    Index("ix_tasks_account_created", "account_id", "created_at"),
    # The per-account limit on unfinished tasks counts these on every create.
    Index("ix_tasks_account_status", "account_id", "status"),
    # The ETA reads each model's latest finished runs.
    Index("ix_tasks_recent_runs", "model", "status", "finished_at"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    # topup | hold | charge | release | adjustment
    Column("kind", String(16), nullable=False),
    # Signed change of the balance (topup, charge, adjustment) or of held (hold, release).
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("held_after", BigInteger, nullable=False),
    Column("task_id", String(48), nullable=True, index=True),
    Column("order_id", String(40), nullable=True),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("credits", BigInteger, nullable=False),
    # pending | completed | rejected
    Column("status", String(16), nullable=False),
    # Who settles it: "admin" (approved on the dashboard), "operator" (CLI), or a
    # payment provider's name.
    Column("provider", String(32), nullable=False),
    Column("reference", String(200), nullable=True),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_id", String(40), ForeignKey("accounts.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("task_id", String(48), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("hostname", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("models", JSON, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False, index=True),
    Column("stopped_at", UTCDateTime, nullable=True),
    # Relay workers: their upstream calls and circuits (engines/remote/call_stats.py),
    # written with each presence heartbeat and served by GET /metrics.
    Column("upstream_metrics", JSON, nullable=True),
)

# The dashboard's sign-in sessions. Here with the rest of the schema, which the
# migrations mirror, so that migrating never needs the dashboard package.
web_sessions = Table(
    "web_sessions",
    metadata,
    # sha256 of the cookie's token: a database leak gives no usable session.
    Column("id", String(64), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    # Sent back in forms and the X-CSRF-Token header; useless without the cookie.
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
