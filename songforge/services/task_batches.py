"""Creating many tasks in one transaction, with a fixed number of statements.

The same rules as ``tasks.create_task`` for each create, applied in arrival order
(the per-account limit on unfinished tasks, the key's credit cap, the account's
free balance, in that order), but read and written once per batch instead of
once per create: the accounts (with their counters of unfinished tasks) and
keys involved are read (and locked, on PostgreSQL) once, every decision is taken
here on those figures, then one UPDATE per account and per key, one multi-row
INSERT of ledger rows and one of tasks (db/bulk_insert.py). About six statements
for a batch of any size, where one create alone runs six. Used by the group
commit of the create route (db/group_commit.py); requests with an Idempotency-Key
keep the one-by-one path.

The figures read are exact while the transaction holds them: SQLite's write lock
is held from BEGIN IMMEDIATE, and PostgreSQL rows are locked FOR UPDATE, in id
order (the single create locks the account first, then the key, as here, so the
two paths cannot deadlock). The UPDATEs keep their conditions anyway: if a
figure moved, the whole batch fails before committing and every create is run
again alone (db/group_commit.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from songforge.db.bulk_insert import insert_rows
from songforge.db.database import Database
from songforge.db.tables import accounts, api_keys, ledger_entries, tasks
from songforge.db.types import utcnow
from songforge.services.ids import new_id
from songforge.services.task_records import TaskRecord
from songforge.services.tasks import (
    CreateResult,
    NewTask,
    concurrency_refusal,
    credits_refusal,
    key_cap_refusal,
    queued_task,
    unfinished_tasks,
)

_ACCOUNTS = select(
    accounts.c.id, accounts.c.balance, accounts.c.held, accounts.c.unfinished_tasks
).where(accounts.c.id.in_(bindparam("ids", expanding=True)))
_KEYS = select(api_keys.c.id, api_keys.c.credit_cap, api_keys.c.credits_committed).where(
    api_keys.c.id.in_(bindparam("ids", expanding=True))
)
_HOLD_TOTAL = (
    update(accounts)
    .where(
        accounts.c.id == bindparam("account"),
        accounts.c.balance - accounts.c.held >= bindparam("amount"),
    )
    .values(
        held=accounts.c.held + bindparam("amount"),
        unfinished_tasks=accounts.c.unfinished_tasks + bindparam("tasks"),
    )
)
_COMMIT_TOTAL = (
    update(api_keys)
    .where(
        api_keys.c.id == bindparam("key"),
        api_keys.c.credit_cap.is_(None)
        | (api_keys.c.credits_committed + bindparam("amount") <= api_keys.c.credit_cap),
    )
    .values(credits_committed=api_keys.c.credits_committed + bindparam("amount"))
)
_TASK_FIELDS = [f.name for f in fields(TaskRecord)]


class FiguresMoved(RuntimeError):
    """A locked figure changed under the batch: it must not commit."""


@dataclass
class _Account:
    balance: int
    held: int
    active: int
    added: int = 0
    tasks: int = 0


@dataclass
class _Key:
    cap: int | None
    committed: int
    added: int = 0


def _ordered(ids: set[str]) -> list[str]:
    return sorted(ids)


def _read_accounts(
    conn: Connection, db: Database, ids: list[str], max_concurrent: int
) -> dict[str, _Account]:
    statement = _ACCOUNTS.order_by(accounts.c.id)
    if db.lock_clause_supported():
        statement = statement.with_for_update()
    found: dict[str, _Account] = {}
    for row in conn.execute(statement, {"ids": ids}).all():
        active = unfinished_tasks(conn, row.id, int(row.unfinished_tasks), max_concurrent)
        found[row.id] = _Account(balance=int(row.balance), held=int(row.held), active=active)
    return found


def _read_keys(conn: Connection, db: Database, ids: list[str]) -> dict[str, _Key]:
    if not ids:
        return {}
    statement = _KEYS.order_by(api_keys.c.id)
    if db.lock_clause_supported():
        statement = statement.with_for_update()
    return {
        row.id: _Key(
            cap=None if row.credit_cap is None else int(row.credit_cap),
            committed=int(row.credits_committed),
        )
        for row in conn.execute(statement, {"ids": ids})
    }


def _distinct_times(count: int) -> list[datetime]:
    """Creation times for the batch, strictly increasing: the queue's order is
    (priority, created_at), and ties would give two tasks the same position."""
    times: list[datetime] = []
    for _ in range(count):
        now = utcnow()
        if times and now <= times[-1]:
            now = times[-1] + timedelta(microseconds=1)
        times.append(now)
    return times


def create_tasks(
    conn: Connection,
    db: Database,
    batch: Sequence[NewTask],
    *,
    max_concurrent: int,
) -> list[CreateResult | Exception]:
    """Hold and queue each new task in ``conn``'s transaction, in order; one
    outcome per task: its result, or the refusal create_task would have raised."""
    account_ids = _ordered({new.account_id for new in batch})
    key_ids = _ordered({new.api_key_id for new in batch if new.api_key_id is not None})
    found_accounts = _read_accounts(conn, db, account_ids, max_concurrent)
    found_keys = _read_keys(conn, db, key_ids)

    outcomes: list[CreateResult | Exception] = []
    task_rows: list[dict[str, Any]] = []
    ledger_rows: list[dict[str, Any]] = []
    for new, now in zip(batch, _distinct_times(len(batch)), strict=True):
        account = found_accounts.get(new.account_id)
        key = found_keys.get(new.api_key_id) if new.api_key_id is not None else None
        if account is not None and account.active >= max_concurrent:
            outcomes.append(concurrency_refusal(max_concurrent))
            continue
        if new.api_key_id is not None and (
            key is None or (key.cap is not None and key.committed + new.price > key.cap)
        ):
            outcomes.append(key_cap_refusal())
            continue
        if account is None or account.balance - account.held < new.price:
            outcomes.append(credits_refusal(new.price, new.price_note))
            continue
        account.active += 1
        account.held += new.price
        account.added += new.price
        account.tasks += 1
        if key is not None:
            key.committed += new.price
            key.added += new.price
        task = queued_task(new, new_id("tsk", 16), now)
        task_rows.append({name: getattr(task, name) for name in _TASK_FIELDS})
        ledger_rows.append(
            {
                "account_id": new.account_id,
                "kind": "hold",
                "amount": new.price,
                "balance_after": account.balance,
                "held_after": account.held,
                "task_id": task.id,
                "order_id": None,
                "note": new.price_note,
                "created_at": now,
            }
        )
        outcomes.append(CreateResult(task=task, replayed=False))

    for key_id, key in found_keys.items():
        if not key.added:
            continue
        if conn.execute(_COMMIT_TOTAL, {"key": key_id, "amount": key.added}).rowcount != 1:
            raise FiguresMoved(f"key {key_id} changed while its creates were decided")
    for account_id, account in found_accounts.items():
        if account.tasks:
            moved = conn.execute(
                _HOLD_TOTAL,
                {"account": account_id, "amount": account.added, "tasks": account.tasks},
            ).rowcount
            if moved != 1:
                raise FiguresMoved(f"account {account_id} changed while its creates were decided")
    insert_rows(conn, ledger_entries, ledger_rows)
    insert_rows(conn, tasks, task_rows)
    return outcomes
