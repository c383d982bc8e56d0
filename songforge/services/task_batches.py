"""Creating many tasks in one transaction, with a fixed number of statements.

The same rules as ``tasks.create_task`` for each create, applied in arrival order
(the per-account limit on unfinished tasks, the key's credit cap, the account's
free balance, in that order), but read and written once per batch instead of
once per create: the accounts (with their counters of unfinished tasks) and
keys involved are read (and locked, on PostgreSQL) once, every decision is taken
here on those figures, then one UPDATE per account and per key, one multi-row
INSERT of ledger rows and one of tasks (db/bulk_insert.py). On SQLite that is
about six statements for a batch of any size, where one create alone runs six;
on PostgreSQL the reads are one statement and the writes one more
(services/task_batch_sql.py). Used by the group
commit of the create route (db/group_commit.py); requests with an Idempotency-Key
keep the one-by-one path. On PostgreSQL the group commit runs the batch on the
event loop (``create_tasks_at_once_on_loop``, asyncpg): first as one statement
that writes the whole batch only if all of it fits its figures (most batches; no
decision needed), else with the same statements and the same decisions
(``create_tasks_on_loop``, ``_decide``), falling back to ``create_tasks`` in a
thread when an account is at its limit by its counter (``UseThread``).

The figures read are exact while the transaction holds them: SQLite's write lock
is held from BEGIN IMMEDIATE, and PostgreSQL rows are locked FOR UPDATE, in id
order (the single create locks the account first, then the key, as here, so the
two paths cannot deadlock). The UPDATEs keep their conditions anyway: if a
figure moved, the whole batch fails before committing and every create is run
again alone (db/group_commit.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import Connection, bindparam, select, update

from songforge.db.bulk_insert import insert_rows
from songforge.db.database import Database
from songforge.db.group_commit import UseThread
from songforge.db.tables import accounts, api_keys, ledger_entries, tasks
from songforge.db.types import utcnow
from songforge.services import task_batch_sql
from songforge.services.task_batch_sql import AccountFigures, AccountHold, KeyCommitment, KeyFigures
from songforge.services.task_records import TaskRecord, record_from_row
from songforge.services.tasks import (
    CreateResult,
    NewTask,
    concurrency_refusal,
    credits_refusal,
    key_cap_refusal,
    queued_task,
    unfinished_tasks,
)

# SQLite's reads and writes, one statement each (PostgreSQL's: task_batch_sql).
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


def _read_figures(
    conn: Connection, db: Database, account_ids: list[str], key_ids: list[str], max_concurrent: int
) -> tuple[dict[str, _Account], dict[str, _Key]]:
    """The accounts' and keys' figures, their rows locked (on PostgreSQL) until
    the transaction ends."""
    if db.lock_clause_supported():
        account_rows, key_rows = task_batch_sql.lock_figures(conn, account_ids, key_ids)
    else:
        account_rows = [
            AccountFigures(*row) for row in conn.execute(_ACCOUNTS, {"ids": account_ids})
        ]
        key_rows = (
            [KeyFigures(*row) for row in conn.execute(_KEYS, {"ids": key_ids})] if key_ids else []
        )
    return _found(
        account_rows,
        key_rows,
        lambda row: unfinished_tasks(conn, row.id, int(row.unfinished_tasks), max_concurrent),
    )


def _found(
    account_rows: Sequence[AccountFigures],
    key_rows: Sequence[KeyFigures],
    active: Callable[[AccountFigures], int],
) -> tuple[dict[str, _Account], dict[str, _Key]]:
    """The figures read, as the batch's decisions update them; ``active`` is an
    account's number of unfinished tasks as the limit needs it."""
    found_accounts = {
        row.id: _Account(balance=int(row.balance), held=int(row.held), active=active(row))
        for row in account_rows
    }
    found_keys = {
        row.id: _Key(
            cap=None if row.credit_cap is None else int(row.credit_cap),
            committed=int(row.credits_committed),
        )
        for row in key_rows
    }
    return found_accounts, found_keys


def _write(
    conn: Connection,
    db: Database,
    commitments: list[KeyCommitment],
    holds: list[AccountHold],
    ledger_rows: list[dict[str, Any]],
    task_rows: list[dict[str, Any]],
) -> None:
    """Write what the batch decided; ``FiguresMoved`` (before the commit) when an
    UPDATE's condition no longer held."""
    if not task_rows:
        return
    if db.lock_clause_supported():
        keys_changed, accounts_changed = task_batch_sql.write_batch(
            conn, commitments, holds, ledger_rows, task_rows
        )
        _check_changed(len(commitments), len(holds), keys_changed, accounts_changed)
        return
    for commitment in commitments:
        changed = conn.execute(
            _COMMIT_TOTAL, {"key": commitment.key_id, "amount": commitment.amount}
        ).rowcount
        if changed != 1:
            raise FiguresMoved(f"key {commitment.key_id} changed while its creates were decided")
    for hold in holds:
        changed = conn.execute(
            _HOLD_TOTAL, {"account": hold.account_id, "amount": hold.amount, "tasks": hold.tasks}
        ).rowcount
        if changed != 1:
            raise FiguresMoved(f"account {hold.account_id} changed while its creates were decided")
    insert_rows(conn, ledger_entries, ledger_rows)
    insert_rows(conn, tasks, task_rows)


def _check_changed(keys: int, accounts: int, keys_changed: int, accounts_changed: int) -> None:
    """PostgreSQL's write statement changed every key and account it meant to."""
    if keys_changed != keys or accounts_changed != accounts:
        raise FiguresMoved("a key or an account changed while its creates were decided")


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


@dataclass
class _Decided:
    """What a batch decided: one outcome per create, and what to write for them."""

    outcomes: list[CreateResult | Exception]
    commitments: list[KeyCommitment]
    holds: list[AccountHold]
    ledger_rows: list[dict[str, Any]]
    task_rows: list[dict[str, Any]]


def _decide(
    batch: Sequence[NewTask],
    found_accounts: dict[str, _Account],
    found_keys: dict[str, _Key],
    max_concurrent: int,
) -> _Decided:
    """Each create in order, on the figures held: the single create's rules."""
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
        task = queued_task(new, new.task_id, now)
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
    return _Decided(
        outcomes,
        [KeyCommitment(i, key.added) for i, key in found_keys.items() if key.added],
        [AccountHold(i, a.added, a.tasks) for i, a in found_accounts.items() if a.tasks],
        ledger_rows,
        task_rows,
    )


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
    found_accounts, found_keys = _read_figures(conn, db, account_ids, key_ids, max_concurrent)
    decided = _decide(batch, found_accounts, found_keys, max_concurrent)
    _write(conn, db, decided.commitments, decided.holds, decided.ledger_rows, decided.task_rows)
    return decided.outcomes


async def create_tasks_on_loop(
    connection: asyncpg.Connection, batch: Sequence[NewTask], *, max_concurrent: int
) -> list[CreateResult | Exception]:
    """``create_tasks`` in an asyncpg transaction on PostgreSQL (db/loop_transactions.py):
    the same figures, locked in the same order, the same decisions and the same
    two statements, awaited on the event loop instead of run in a thread."""
    account_ids = _ordered({new.account_id for new in batch})
    key_ids = _ordered({new.api_key_id for new in batch if new.api_key_id is not None})
    account_rows, key_rows = await task_batch_sql.lock_figures_on_loop(
        connection, account_ids, key_ids
    )
    if any(row.unfinished_tasks >= max_concurrent for row in account_rows):
        # The tasks must be counted (tasks.unfinished_tasks): the blocking path.
        raise UseThread()
    found_accounts, found_keys = _found(account_rows, key_rows, lambda row: row.unfinished_tasks)
    decided = _decide(batch, found_accounts, found_keys, max_concurrent)
    if decided.task_rows:
        keys_changed, accounts_changed = await task_batch_sql.write_batch_on_loop(
            connection, decided.commitments, decided.holds, decided.ledger_rows, decided.task_rows
        )
        _check_changed(len(decided.commitments), len(decided.holds), keys_changed, accounts_changed)
    return decided.outcomes


# Figures under which every create is accepted but for the limit on unfinished
# tasks: what a batch writes when all of it fits (``create_tasks_at_once_on_loop``).
_ANY_BALANCE = 2**62


async def create_tasks_at_once_on_loop(
    db: Database, batch: Sequence[NewTask], *, max_concurrent: int
) -> list[CreateResult | Exception]:
    """A batch of creates on PostgreSQL, from the event loop: in one statement when
    all of it fits its accounts' and keys' figures (the common case: one round
    trip, task_batch_sql.write_if_all_fit_on_loop), else create by create in a
    transaction (``create_tasks_on_loop``), with the same outcomes as one create
    after another either way."""
    account_ids = {new.account_id for new in batch}
    key_ids = {new.api_key_id for new in batch if new.api_key_id is not None}
    # Held from 0: each ledger row's held_after is then what the batch held for
    # its account so far, to which the statement adds the account's own figure.
    assumed = _decide(
        batch,
        {account: _Account(balance=_ANY_BALANCE, held=0, active=0) for account in account_ids},
        {key: _Key(cap=None, committed=0) for key in key_ids},
        max_concurrent,
    )
    if all(isinstance(outcome, CreateResult) for outcome in assumed.outcomes):
        async with db.autocommit_on_loop() as connection:
            if await task_batch_sql.write_if_all_fit_on_loop(
                connection,
                assumed.commitments,
                assumed.holds,
                assumed.ledger_rows,
                assumed.task_rows,
                max_concurrent=max_concurrent,
            ):
                return assumed.outcomes
    async with db.write_on_loop() as connection:
        return await create_tasks_on_loop(connection, batch, max_concurrent=max_concurrent)


async def written_creates(db: Database, batch: Sequence[NewTask]) -> list[CreateResult | None]:
    """``written_tasks`` from async code, in a read of its own (the group commit's
    ``find_written``)."""

    def read() -> list[CreateResult | None]:
        with db.read() as conn:
            return written_tasks(conn, batch)

    return await db.call(read)


def written_tasks(conn: Connection, batch: Sequence[NewTask]) -> list[CreateResult | None]:
    """Each create's result if its task is stored, else None: what a batch whose
    transaction raised did write (a COMMIT applied but its answer lost)."""
    rows = conn.execute(select(tasks).where(tasks.c.id.in_([new.task_id for new in batch]))).all()
    stored = {record.id: record for record in map(record_from_row, rows)}
    return [
        CreateResult(task=stored[new.task_id], replayed=False) if new.task_id in stored else None
        for new in batch
    ]
