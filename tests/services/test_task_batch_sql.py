"""services/task_batch_sql.py: PostgreSQL's batch statements lock what they read and
write only what their conditions allow."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import accounts, api_keys, ledger_entries, tasks
from songforge.services.task_batch_sql import (
    AccountFigures,
    AccountHold,
    KeyCommitment,
    KeyFigures,
    lock_figures,
    lock_figures_on_loop,
    write_batch,
    write_batch_on_loop,
    write_if_all_fit_on_loop,
)
from tests.services.test_task_batches import _account

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url)
    upgrade_to_head(database)
    yield database
    database.dispose()


def _rows(account: str, task_id: str, amount: int) -> tuple[dict[str, object], dict[str, object]]:
    now = datetime.now(UTC)
    ledger: dict[str, object] = {
        "account_id": account,
        "kind": "hold",
        "amount": amount,
        "balance_after": 0,
        "held_after": amount,
        "task_id": task_id,
        "order_id": None,
        "note": "",
        "created_at": now,
    }
    task: dict[str, object] = {
        "id": task_id,
        "account_id": account,
        "api_key_id": None,
        "model": "m",
        "input": {"prompt": "x"},
        "status": "IN_PROGRESS",
        "stage": "queued",
        "created_at": now,
        "price": amount,
        "credits_held": amount,
    }
    return ledger, task


def test_the_figures_are_read_and_their_rows_stay_locked(db: Database) -> None:
    (first, first_key), (second, _) = _account(db, 100, cap=40), _account(db, 7, cap=None)
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with db.write() as conn:
        found_accounts, found_keys = lock_figures(conn, [first, second], [first_key])
        assert found_accounts == [
            AccountFigures(*row) for row in sorted([(first, 100, 0, 0), (second, 7, 0, 0)])
        ]
        assert found_keys == [KeyFigures(first_key, 40, 0)]
        for table, row_id in ((accounts, first), (accounts, second), (api_keys, first_key)):
            with other.connect() as elsewhere, pytest.raises(sa.exc.OperationalError):
                elsewhere.execute(
                    sa.select(table.c.id).where(table.c.id == row_id).with_for_update(nowait=True)
                )
    with other.connect() as elsewhere:  # released at the commit
        elsewhere.execute(sa.select(accounts.c.id).with_for_update(nowait=True))
    other.dispose()


def test_one_statement_writes_the_holds_commitments_and_rows(db: Database) -> None:
    (first, first_key), (second, second_key) = _account(db, 100, cap=40), _account(db, 50, None)
    ids = [f"tsk_{uuid.uuid4().hex[:16]}" for _ in range(3)]
    rows = [_rows(first, ids[0], 30), _rows(second, ids[1], 50), _rows(second, ids[2], 0)]
    with db.write() as conn:
        changed = write_batch(
            conn,
            [KeyCommitment(first_key, 30), KeyCommitment(second_key, 50)],
            [AccountHold(first, 30, 1), AccountHold(second, 50, 2)],
            [ledger for ledger, _ in rows],
            [task for _, task in rows],
        )
    assert changed == (2, 2)
    with db.read() as conn:
        figures = conn.execute(
            sa.select(accounts.c.id, accounts.c.held, accounts.c.unfinished_tasks)
        ).all()
        assert {tuple(row) for row in figures} >= {(first, 30, 1), (second, 50, 2)}
        committed = dict(conn.execute(sa.select(api_keys.c.id, api_keys.c.credits_committed)).all())
        assert committed[first_key] == 30 and committed[second_key] == 50
        stored = conn.execute(sa.select(tasks.c.id).where(tasks.c.id.in_(ids))).scalars()
        assert sorted(stored) == sorted(ids)
        held = conn.execute(
            sa.select(ledger_entries.c.task_id).where(ledger_entries.c.task_id.in_(ids))
        ).scalars()
        assert sorted(held) == sorted(ids)


def test_a_hold_or_commitment_its_condition_refuses_is_not_counted(db: Database) -> None:
    (first, first_key), (second, _) = _account(db, 100, cap=40), _account(db, 50, None)
    rows = [_rows(first, f"tsk_{uuid.uuid4().hex[:16]}", 30)]
    with pytest.raises(_RolledBack), db.write() as conn:
        changed = write_batch(
            conn,
            [KeyCommitment(first_key, 41)],  # over the key's cap of 40
            [AccountHold(first, 30, 1), AccountHold(second, 51, 1)],  # 51 > 50 free
            [ledger for ledger, _ in rows],
            [task for _, task in rows],
        )
        assert changed == (0, 1)
        raise _RolledBack


class _RolledBack(Exception):
    pass


def test_on_the_loop_the_same_statements_lock_and_write(db: Database) -> None:
    (first, first_key), (second, _) = _account(db, 100, cap=40), _account(db, 7, cap=None)
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    task_id = f"tsk_{uuid.uuid4().hex[:16]}"
    ledger, task = _rows(first, task_id, 30)

    def locked(table: sa.Table, row_id: str) -> bool:
        with other.connect() as elsewhere:
            try:
                elsewhere.execute(
                    sa.select(table.c.id).where(table.c.id == row_id).with_for_update(nowait=True)
                )
            except sa.exc.OperationalError:
                return True
            return False

    async def go() -> tuple[object, object, tuple[int, int]]:
        try:
            async with db.write_on_loop() as connection:
                found = await lock_figures_on_loop(connection, [first, second], [first_key])
                assert all(locked(t, i) for t, i in ((accounts, first), (api_keys, first_key)))
                # A commitment over the key's cap and a hold over the free balance
                # are not counted (the caller then fails the batch).
                refused = await write_batch_on_loop(
                    connection,
                    [KeyCommitment(first_key, 41)],
                    [AccountHold(second, 8, 1)],
                    [ledger],
                    [task],
                )
                raise _RolledBack(found, refused)
        except _RolledBack as rolled_back:
            found, refused = rolled_back.args
        try:
            async with db.write_on_loop() as connection:
                written = await write_batch_on_loop(
                    connection,
                    [KeyCommitment(first_key, 30)],
                    [AccountHold(first, 30, 1)],
                    [ledger],
                    [task],
                )
        finally:
            await db.close_async()
        return found, refused, written

    found, refused, written = asyncio.run(go())
    assert found == (
        [AccountFigures(*row) for row in sorted([(first, 100, 0, 0), (second, 7, 0, 0)])],
        [KeyFigures(first_key, 40, 0)],
    )
    assert refused == (0, 0) and written == (1, 1)
    assert not locked(accounts, first)  # released at the commit
    with db.read() as conn:
        assert conn.execute(sa.select(tasks.c.id).where(tasks.c.id == task_id)).scalar() == task_id
        held = conn.execute(sa.select(accounts.c.held).where(accounts.c.id == first)).scalar()
        assert held == 30
    other.dispose()


def _figures(db: Database, account: str, key: str) -> tuple[object, ...]:
    with db.read() as conn:
        balance, held, unfinished = conn.execute(
            sa.select(accounts.c.balance, accounts.c.held, accounts.c.unfinished_tasks).where(
                accounts.c.id == account
            )
        ).one()
        committed = conn.execute(
            sa.select(api_keys.c.credits_committed).where(api_keys.c.id == key)
        ).scalar_one()
        ledger = conn.execute(
            sa.select(
                ledger_entries.c.kind, ledger_entries.c.balance_after, ledger_entries.c.held_after
            )
            .where(ledger_entries.c.account_id == account, ledger_entries.c.kind == "hold")
            .order_by(ledger_entries.c.id)
        ).all()
        queued = conn.execute(
            sa.select(sa.func.count()).select_from(tasks).where(tasks.c.account_id == account)
        ).scalar_one()
    return balance, held, unfinished, committed, [tuple(row) for row in ledger], queued


def _fitting(
    db: Database,
    account: str,
    key: str,
    prices: list[int],
    *,
    max_concurrent: int = 10,
    commit: int | None = None,
) -> tuple[bool, bool]:
    """Offer a batch of ``prices`` on ``account`` (and ``commit`` on ``key``, their
    sum by default) to the one statement: (written, the connection left in a
    transaction)."""
    held_so_far = 0
    ledger_rows, task_rows = [], []
    for price in prices:
        held_so_far += price
        ledger, task = _rows(account, f"tsk_{uuid.uuid4().hex[:16]}", price)
        ledger_rows.append({**ledger, "held_after": held_so_far})
        task_rows.append(task)

    async def go() -> tuple[bool, bool]:
        try:
            async with db.autocommit_on_loop() as connection:
                written = await write_if_all_fit_on_loop(
                    connection,
                    [KeyCommitment(key, sum(prices) if commit is None else commit)],
                    [AccountHold(account, sum(prices), len(prices))],
                    ledger_rows,
                    task_rows,
                    max_concurrent=max_concurrent,
                )
                return written, connection.is_in_transaction()
        finally:
            await db.close_async()

    return asyncio.run(go())


def test_a_batch_that_fits_is_written_whole_by_one_statement_that_commits(db: Database) -> None:
    account, key = _account(db, 100, cap=70)
    assert _fitting(db, account, key, [10]) == (True, False)
    # Held 10 before: the second batch's ledger rows count from it.
    assert _fitting(db, account, key, [20, 30]) == (True, False)
    assert _figures(db, account, key) == (
        100,
        60,
        3,
        60,
        [("hold", 100, 10), ("hold", 100, 30), ("hold", 100, 60)],
        3,
    )
    other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    with other.connect() as elsewhere:  # nothing left locked
        elsewhere.execute(sa.select(accounts.c.id).with_for_update(nowait=True))
    other.dispose()


@pytest.mark.parametrize(
    ("prices", "max_concurrent", "commit"),
    [
        ([60, 50], 10, None),  # 110 > the balance of 100
        ([30, 30], 10, 71),  # over the key's cap of 70
        ([1, 1, 1], 2, None),  # over the limit on unfinished tasks
    ],
    ids=["balance", "key-cap", "limit"],
)
def test_a_batch_that_does_not_fit_writes_nothing(
    db: Database, prices: list[int], max_concurrent: int, commit: int | None
) -> None:
    account, key = _account(db, 100, cap=70)
    before = _figures(db, account, key)
    written = _fitting(db, account, key, prices, max_concurrent=max_concurrent, commit=commit)
    assert written == (False, False)
    assert _figures(db, account, key) == before


def test_a_batch_for_an_account_or_key_not_found_writes_nothing(db: Database) -> None:
    account, key = _account(db, 100, cap=None)
    before = _figures(db, account, key)
    assert _fitting(db, account, "key_gone", [10]) == (False, False)
    assert _figures(db, account, key) == before
