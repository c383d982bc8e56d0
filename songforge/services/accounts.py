"""Accounts: who owns credits, tasks and keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from songforge.db.tables import accounts
from songforge.db.types import utcnow
from songforge.services.ids import new_id


@dataclass(frozen=True)
class Account:
    id: str
    email: str | None
    display_name: str
    role: str
    balance: int
    held: int
    created_at: datetime

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _from_row(row: Any) -> Account:
    return Account(
        id=row.id,
        email=row.email,
        display_name=row.display_name,
        role=row.role,
        balance=int(row.balance),
        held=int(row.held),
        created_at=row.created_at,
    )


def create_account(
    conn: Connection,
    *,
    email: str | None = None,
    display_name: str = "",
    role: str = "user",
    password_hash: str | None = None,
) -> Account:
    account_id = new_id("acct", 12)
    conn.execute(
        insert(accounts).values(
            id=account_id,
            email=email.lower() if email else None,
            display_name=display_name,
            role=role,
            password_hash=password_hash,
            balance=0,
            held=0,
            created_at=utcnow(),
        )
    )
    account = get_account(conn, account_id)
    assert account is not None
    return account


def get_account(conn: Connection, account_id: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return _from_row(row) if row else None


def find_account_by_email(conn: Connection, email: str) -> Account | None:
    row = conn.execute(select(accounts).where(accounts.c.email == email.lower())).first()
    return _from_row(row) if row else None


def count_accounts(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(accounts)).scalar_one())


def list_accounts(conn: Connection, limit: int = 200) -> list[Account]:
    rows = conn.execute(select(accounts).order_by(accounts.c.created_at).limit(limit))
    return [_from_row(row) for row in rows]
