"""API keys: created with the secret shown once, stored as a hash, checked on every call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from songforge.db.tables import api_keys
from songforge.db.types import utcnow
from songforge.services.errors import Unauthenticated
from songforge.services.ids import hash_secret, new_api_key, new_id

# last_used_at is written at most this often, so polling does not turn every
# read into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class ApiKey:
    id: str
    account_id: str
    name: str
    key_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    credit_cap: int | None
    credits_committed: int
    allowed_models: list[str] | None

    @property
    def masked(self) -> str:
        return f"{self.key_prefix}…"

    def is_active(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    def allows_model(self, model: str) -> bool:
        return self.allowed_models is None or model in self.allowed_models


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str


def _from_row(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        key_prefix=row.key_prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        credit_cap=None if row.credit_cap is None else int(row.credit_cap),
        credits_committed=int(row.credits_committed),
        allowed_models=list(row.allowed_models) if row.allowed_models is not None else None,
    )


def create_key(
    conn: Connection,
    account_id: str,
    *,
    name: str = "",
    expires_at: datetime | None = None,
    credit_cap: int | None = None,
    allowed_models: Sequence[str] | None = None,
) -> CreatedKey:
    secret = new_api_key()
    key_id = new_id("key", 12)
    conn.execute(
        insert(api_keys).values(
            id=key_id,
            account_id=account_id,
            name=name,
            key_hash=hash_secret(secret),
            key_prefix=secret[:10],
            created_at=utcnow(),
            expires_at=expires_at,
            credit_cap=credit_cap,
            credits_committed=0,
            allowed_models=list(allowed_models) if allowed_models is not None else None,
        )
    )
    key = get_key(conn, key_id)
    assert key is not None
    return CreatedKey(key=key, secret=secret)


def get_key(conn: Connection, key_id: str) -> ApiKey | None:
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    return _from_row(row) if row else None


def list_keys(conn: Connection, account_id: str) -> list[ApiKey]:
    rows = conn.execute(
        select(api_keys)
        .where(api_keys.c.account_id == account_id)
        .order_by(api_keys.c.created_at.desc())
    )
    return [_from_row(row) for row in rows]


def revoke_key(conn: Connection, account_id: str, key_id: str) -> bool:
    """Revoke one of the account's keys; False if there is no such active key."""
    result = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            api_keys.c.account_id == account_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1


# Built once: every authenticated request runs it, and building a statement costs
# more than executing its cached compiled form.
_KEY_BY_HASH = select(api_keys).where(api_keys.c.key_hash == bindparam("key_hash"))


def check_secret_shape(secret: str) -> None:
    if not secret.startswith("aio_") or len(secret) < 36:
        raise Unauthenticated("Invalid API key")


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(_KEY_BY_HASH, {"key_hash": key_hash}).first()
    return _from_row(row) if row else None


def ensure_active(key: ApiKey | None) -> ApiKey:
    """The key if it may be used now, else Unauthenticated saying why (revoked, expired)."""
    if key is None:
        raise Unauthenticated("Invalid API key")
    if key.revoked_at is not None:
        raise Unauthenticated("This API key has been revoked")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise Unauthenticated("This API key has expired")
    return key


def needs_touch(key: ApiKey) -> bool:
    """Whether this use should be recorded (at most once per LAST_USED_RESOLUTION)."""
    return key.last_used_at is None or utcnow() - key.last_used_at >= LAST_USED_RESOLUTION


def touch_key(conn: Connection, key: ApiKey) -> None:
    conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(last_used_at=utcnow()))
