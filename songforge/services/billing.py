"""The credit ledger: top-up, hold, charge, release, adjustment.

Every function runs inside the caller's write transaction and changes the
account's ``balance``/``held`` with a single conditional UPDATE, then writes the
ledger row with the resulting figures. The conditions make the invariants hold
under any concurrency: ``balance - held`` never goes below zero, ``held`` never
below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Update, bindparam, case, insert, select, update

from songforge.db.tables import accounts, api_keys, ledger_entries
from songforge.db.types import utcnow


class InsufficientCredits(Exception):
    pass


class KeyCapReached(Exception):
    pass


KEY_CAP_REACHED = "this API key's credit cap is reached"


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    account_id: str
    kind: str
    amount: int
    balance_after: int
    held_after: int
    task_id: str | None
    order_id: str | None
    note: str
    created_at: datetime


# The statements are built once, with bound parameters: creating a task runs
# several of them, and building a statement costs more than running its cached
# compiled form. Each UPDATE is conditional (that is the invariant) and returns the
# account's new figures for the ledger row.
_ACCOUNT = accounts.c.id == bindparam("account")
_AFTER = (accounts.c.balance, accounts.c.held)
_TOP_UP = (
    update(accounts)
    .where(_ACCOUNT)
    .values(balance=accounts.c.balance + bindparam("amount"))
    .returning(*_AFTER)
)
_ADJUST = (
    update(accounts)
    .where(_ACCOUNT, accounts.c.balance - accounts.c.held + bindparam("amount") >= 0)
    .values(balance=accounts.c.balance + bindparam("amount"))
    .returning(*_AFTER)
)
# A hold starts a task and its charge or release ends it, each exactly once (the
# callers fence the transitions), so these keep the account's count of unfinished
# tasks too. The count never goes below zero: a task held before the counter
# existed was counted by the migration, but one held by an older version during a
# rolling upgrade was not.
_ONE_FEWER = case((accounts.c.unfinished_tasks > 0, accounts.c.unfinished_tasks - 1), else_=0)
_HOLD = (
    update(accounts)
    .where(_ACCOUNT, accounts.c.balance - accounts.c.held >= bindparam("amount"))
    .values(
        held=accounts.c.held + bindparam("amount"),
        unfinished_tasks=accounts.c.unfinished_tasks + 1,
    )
    .returning(*_AFTER)
)
_CHARGE = (
    update(accounts)
    .where(_ACCOUNT, accounts.c.held >= bindparam("amount"))
    .values(
        held=accounts.c.held - bindparam("amount"),
        balance=accounts.c.balance - bindparam("amount"),
        unfinished_tasks=_ONE_FEWER,
    )
    .returning(*_AFTER)
)
_RELEASE = (
    update(accounts)
    .where(_ACCOUNT, accounts.c.held >= bindparam("amount"))
    .values(held=accounts.c.held - bindparam("amount"), unfinished_tasks=_ONE_FEWER)
    .returning(*_AFTER)
)
_KEY_COMMIT = (
    update(api_keys)
    .where(
        api_keys.c.id == bindparam("key"),
        api_keys.c.credit_cap.is_(None)
        | (api_keys.c.credits_committed + bindparam("amount") <= api_keys.c.credit_cap),
    )
    .values(credits_committed=api_keys.c.credits_committed + bindparam("amount"))
)
_KEY_UNCOMMIT = (
    update(api_keys)
    .where(api_keys.c.id == bindparam("key"))
    .values(credits_committed=api_keys.c.credits_committed - bindparam("amount"))
)
_LEDGER_INSERT = insert(ledger_entries)


def _change(conn: Connection, statement: Update, account_id: str, amount: int) -> Row[Any] | None:
    """Run a conditional account UPDATE; the new (balance, held), or None when the
    condition did not hold."""
    return conn.execute(statement, {"account": account_id, "amount": amount}).first()


def _record(
    conn: Connection,
    account_id: str,
    kind: str,
    amount: int,
    after: Row[Any],
    *,
    task_id: str | None = None,
    order_id: str | None = None,
    note: str = "",
) -> None:
    conn.execute(
        _LEDGER_INSERT,
        {
            "account_id": account_id,
            "kind": kind,
            "amount": amount,
            "balance_after": int(after.balance),
            "held_after": int(after.held),
            "task_id": task_id,
            "order_id": order_id,
            "note": note,
            "created_at": utcnow(),
        },
    )


def top_up(
    conn: Connection, account_id: str, credits: int, *, order_id: str | None = None, note: str = ""
) -> None:
    if credits <= 0:
        raise ValueError("a top-up must be positive")
    after = _change(conn, _TOP_UP, account_id, credits)
    if after is None:
        raise LookupError(f"no account {account_id}")
    _record(conn, account_id, "topup", credits, after, order_id=order_id, note=note)


def adjust(conn: Connection, account_id: str, credits: int, *, note: str) -> None:
    """An operator's correction; may not take the spendable balance below zero."""
    after = _change(conn, _ADJUST, account_id, credits)
    if after is None:
        raise InsufficientCredits("adjustment would take the balance below zero")
    _record(conn, account_id, "adjustment", credits, after, note=note)


def hold(
    conn: Connection,
    account_id: str,
    key_id: str | None,
    price: int,
    task_id: str,
    *,
    note: str = "",
) -> None:
    """Reserve ``price`` for a task, against the account and the key's cap."""
    if key_id is not None:
        capped = conn.execute(_KEY_COMMIT, {"key": key_id, "amount": price})
        if capped.rowcount != 1:
            raise KeyCapReached(KEY_CAP_REACHED)
    after = _change(conn, _HOLD, account_id, price)
    if after is None:
        raise InsufficientCredits("not enough credits")
    _record(conn, account_id, "hold", price, after, task_id=task_id, note=note)


def charge(conn: Connection, account_id: str, price: int, task_id: str) -> None:
    """Turn a task's hold into a charge (the caller has fenced the task's transition)."""
    after = _change(conn, _CHARGE, account_id, price)
    if after is None:
        raise RuntimeError(f"charge without a matching hold for task {task_id}")
    _record(conn, account_id, "charge", -price, after, task_id=task_id)


def release(
    conn: Connection, account_id: str, key_id: str | None, price: int, task_id: str
) -> None:
    """Give a task's hold back (failure or cancel); the key's cap is freed too."""
    after = _change(conn, _RELEASE, account_id, price)
    if after is None:
        raise RuntimeError(f"release without a matching hold for task {task_id}")
    if key_id is not None:
        conn.execute(_KEY_UNCOMMIT, {"key": key_id, "amount": price})
    _record(conn, account_id, "release", -price, after, task_id=task_id)


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        id=int(row.id),
        account_id=row.account_id,
        kind=row.kind,
        amount=int(row.amount),
        balance_after=int(row.balance_after),
        held_after=int(row.held_after),
        task_id=row.task_id,
        order_id=row.order_id,
        note=row.note,
        created_at=row.created_at,
    )


def ledger_for(conn: Connection, account_id: str, limit: int = 100) -> list[LedgerEntry]:
    rows = conn.execute(
        select(ledger_entries)
        .where(ledger_entries.c.account_id == account_id)
        .order_by(ledger_entries.c.id.desc())
        .limit(limit)
    )
    return [_entry(row) for row in rows]


def ledger_for_task(conn: Connection, task_id: str) -> list[LedgerEntry]:
    rows = conn.execute(
        select(ledger_entries)
        .where(ledger_entries.c.task_id == task_id)
        .order_by(ledger_entries.c.id)
    )
    return [_entry(row) for row in rows]
