"""Creating tasks in batches gives exactly what creating them one by one gives,
in a thread (both backends) and on the event loop (PostgreSQL, asyncpg)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from songforge.db.database import Database
from songforge.db.group_commit import GroupCommit, UseThread
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import api_keys, tasks
from songforge.services import task_batch_sql, task_batches
from songforge.services.accounts import create_account, get_account
from songforge.services.billing import ledger_for
from songforge.services.errors import (
    ConcurrencyLimitReached,
    DomainError,
    InsufficientCredits,
    NotPermitted,
)
from songforge.services.ids import new_id
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits
from songforge.services.task_batches import (
    create_tasks,
    create_tasks_at_once_on_loop,
    written_creates,
)
from songforge.services.task_records import load_task
from songforge.services.tasks import CreateResult, NewTask, create_task
from tests.db.lost_commit_answer import LostCommitAnswer

PRICE = 30


@dataclass(frozen=True)
class BatchPath:
    """A backend, and where its batches run: "thread" (create_tasks in a blocking
    transaction) or "loop" (create_tasks_at_once_on_loop on asyncpg, PostgreSQL
    only: one statement when the batch fits, else create_tasks_on_loop)."""

    url: str
    where: str


@pytest.fixture(
    params=[
        "sqlite-thread",
        pytest.param("postgres-thread", marks=pytest.mark.postgres),
        pytest.param("postgres-loop", marks=pytest.mark.postgres),
    ]
)
def batch_path(request: pytest.FixtureRequest, tmp_path: Path) -> BatchPath:
    backend, where = request.param.split("-")
    if backend == "sqlite":
        return BatchPath(f"sqlite:///{tmp_path / 'songforge.db'}", where)
    return BatchPath(str(request.getfixturevalue("postgres_url")), where)


def _create_tasks(
    db: Database, where: str, batch: Sequence[NewTask], *, max_concurrent: int
) -> list[CreateResult | Exception]:
    """One batch, committed, on ``where``'s path."""
    if where == "thread":
        with db.write() as conn:
            return create_tasks(conn, db, batch, max_concurrent=max_concurrent)

    async def on_loop() -> list[CreateResult | Exception]:
        try:
            return await create_tasks_at_once_on_loop(db, batch, max_concurrent=max_concurrent)
        finally:
            await db.close_async()

    return asyncio.run(on_loop())


def _account(db: Database, credits: int, cap: int | None) -> tuple[str, str]:
    with db.write() as conn:
        account = create_account(conn, email=f"{uuid.uuid4().hex[:12]}@example.com")
        grant_credits(conn, account.id, credits, provider="operator")
        key = create_key(conn, account.id, credit_cap=cap).key
    return account.id, key.id


def _again(new: NewTask, times: int) -> list[NewTask]:
    """``times`` creates of ``new``'s request, each its own task (a NewTask is one
    create: its task id is chosen with it)."""
    return [replace(new, task_id=new_id("tsk", 16)) for _ in range(times)]


def _plan(account: str, key: str) -> list[NewTask]:
    """Creates that hit every rule: the key's cap, the account's balance, the limit."""
    keyed = _again(NewTask(account, key, "m", PRICE, {"prompt": "k"}, max_attempts=1), 4)
    unkeyed = _again(NewTask(account, None, "m", PRICE, {"prompt": "n"}, max_attempts=1), 4)
    return [keyed[0], keyed[1], keyed[2], unkeyed[0], unkeyed[1], keyed[3], *unkeyed[2:]]


def _outcome(item: CreateResult | Exception) -> str:
    return "created" if isinstance(item, CreateResult) else f"{type(item).__name__}: {item}"


def _state(db: Database, account: str, key: str) -> dict[str, Any]:
    with db.read() as conn:
        found = get_account(conn, account)
        assert found is not None
        ledger = [
            (e.kind, e.amount, e.balance_after, e.held_after)
            for e in reversed(ledger_for(conn, account))
        ]
        committed = conn.execute(
            sa.select(api_keys.c.credits_committed).where(api_keys.c.id == key)
        ).scalar_one()
        queued = conn.execute(
            sa.select(sa.func.count()).select_from(tasks).where(tasks.c.account_id == account)
        ).scalar_one()
    return {
        "balance": found.balance,
        "held": found.held,
        "ledger": ledger,
        "key_committed": committed,
        "tasks": queued,
    }


def test_a_batch_decides_as_one_create_after_another(batch_path: BatchPath) -> None:
    db = Database(batch_path.url)
    upgrade_to_head(db)
    # 100 credits: three creates; the key may commit 70: two of its creates.
    one_by_one, key_a = _account(db, 100, cap=70)
    batched, key_b = _account(db, 100, cap=70)
    expected: list[str] = []
    for new in _plan(one_by_one, key_a):
        try:
            expected.append(_outcome(create_task(db, new, max_concurrent=4)))
        except DomainError as exc:
            expected.append(_outcome(exc))
    outcomes = _create_tasks(db, batch_path.where, _plan(batched, key_b), max_concurrent=4)
    assert [_outcome(o) for o in outcomes] == expected
    assert expected.count("created") == 3 and any("cap" in e for e in expected)
    assert any("Insufficient credits" in e for e in expected)
    assert _state(db, batched, key_b) == _state(db, one_by_one, key_a)
    # The records answered are the rows stored.
    with db.read() as conn:
        for item in outcomes:
            if isinstance(item, CreateResult):
                assert load_task(conn, item.task.id) == item.task
    db.dispose()


def test_the_limit_on_unfinished_tasks_counts_the_batch_itself(batch_path: BatchPath) -> None:
    db = Database(batch_path.url)
    upgrade_to_head(db)
    account, _ = _account(db, 10_000, cap=None)
    new = NewTask(account, None, "m", 1, {"prompt": "x"}, max_attempts=1)
    create_task(db, new, max_concurrent=3)
    outcomes = _create_tasks(db, batch_path.where, _again(new, 4), max_concurrent=3)
    assert [type(o) for o in outcomes] == [CreateResult, CreateResult] + [
        ConcurrencyLimitReached
    ] * 2
    limit = outcomes[2]
    assert isinstance(limit, ConcurrencyLimitReached) and limit.retry_after_seconds == 5
    created = [o.task.created_at for o in outcomes if isinstance(o, CreateResult)]
    assert created == sorted(set(created))  # distinct, in order: the queue's order
    db.dispose()


def _group(
    db: Database, where: str = "thread", max_concurrent: int = 1000, *, find: bool = True
) -> GroupCommit[NewTask, CreateResult]:
    """The create route's group commit (context.py), on ``where``'s path (``find``:
    asking what a failed batch wrote, as the route does)."""

    def run(conn: Connection, batch: Sequence[NewTask]) -> list[CreateResult | Exception]:
        return create_tasks(conn, db, batch, max_concurrent=max_concurrent)

    async def run_on_loop(batch: Sequence[NewTask]) -> list[CreateResult | Exception]:
        return await create_tasks_at_once_on_loop(db, batch, max_concurrent=max_concurrent)

    return GroupCommit(
        db,
        run,
        run_batch_on_loop=run_on_loop if where == "loop" else None,
        find_written=(lambda batch: written_creates(db, batch)) if find else None,
    )


async def _submit(group: GroupCommit[NewTask, CreateResult], jobs: list[NewTask]) -> list[Any]:
    return list(await asyncio.gather(*(group.submit(j) for j in jobs), return_exceptions=True))


def test_concurrent_creates_never_overspend_and_are_all_durable(batch_path: BatchPath) -> None:
    database_url = batch_path.url
    db = Database(database_url)
    upgrade_to_head(db)
    account, key = _account(db, 25 * PRICE, cap=None)
    group = _group(db, batch_path.where)
    jobs = [
        NewTask(account, key, "m", PRICE, {"prompt": str(i)}, max_attempts=1) for i in range(40)
    ]

    async def submit_all() -> list[Any]:
        try:
            return await _submit(group, jobs)
        finally:
            await db.close_async()

    outcomes = asyncio.run(submit_all())
    created = [o for o in outcomes if isinstance(o, CreateResult)]
    refused = [o for o in outcomes if isinstance(o, InsufficientCredits)]
    assert len(created) == 25 and len(refused) == 15
    assert group.batches < 40
    # Every acknowledged task is stored (read from another engine: committed).
    other = Database(database_url)
    with other.read() as conn:
        for result in created:
            assert load_task(conn, result.task.id) is not None
    other.dispose()
    state = _state(db, account, key)
    assert state["held"] == 25 * PRICE and state["balance"] == 25 * PRICE
    assert state["key_committed"] == 25 * PRICE and state["tasks"] == 25
    helds = [held for kind, _, _, held in state["ledger"] if kind == "hold"]
    assert helds == [PRICE * i for i in range(1, 26)]
    db.dispose()


def test_two_processes_racing_on_one_account_never_overspend(batch_path: BatchPath) -> None:
    # Two API processes: a group commit each, on its own engine and event loop, whose
    # batches (one statement or a transaction, on the loop path) meet on one account.
    setup = Database(batch_path.url)
    upgrade_to_head(setup)
    account, key = _account(setup, 25 * PRICE, cap=None)

    def one_process(name: str) -> list[Any]:
        db = Database(batch_path.url)
        group = _group(db, batch_path.where)
        jobs = [
            NewTask(account, key, "m", PRICE, {"prompt": f"{name}{i}"}, max_attempts=1)
            for i in range(30)
        ]

        async def submit_in_waves() -> list[Any]:
            try:
                outcomes: list[Any] = []
                for start in range(0, len(jobs), 5):  # several batches each
                    outcomes += await _submit(group, jobs[start : start + 5])
                return outcomes
            finally:
                await db.close_async()

        try:
            return asyncio.run(submit_in_waves())
        finally:
            db.dispose()

    with ThreadPoolExecutor(2) as pool:
        outcomes = [o for part in pool.map(one_process, ["a", "b"]) for o in part]
    created = [o for o in outcomes if isinstance(o, CreateResult)]
    assert len(created) == 25
    assert all(isinstance(o, InsufficientCredits) for o in outcomes if o not in created)
    state = _state(setup, account, key)
    assert state["held"] == 25 * PRICE and state["tasks"] == 25
    assert state["key_committed"] == 25 * PRICE
    # Each hold saw the one before it: every batch read the newest figures.
    helds = [held for kind, _, _, held in state["ledger"] if kind == "hold"]
    assert helds == [PRICE * i for i in range(1, 26)]
    setup.dispose()


def test_a_key_missing_or_an_account_missing_is_refused_like_one_create(
    batch_path: BatchPath,
) -> None:
    db = Database(batch_path.url)
    upgrade_to_head(db)
    account, _ = _account(db, 1000, cap=None)
    ghost_key = NewTask(account, "key_missing", "m", 1, {"prompt": "x"}, max_attempts=1)
    ghost_account = NewTask("acc_missing", None, "m", 1, {"prompt": "x"}, max_attempts=1)
    outcomes = _create_tasks(db, batch_path.where, [ghost_key, ghost_account], max_concurrent=4)
    assert isinstance(outcomes[0], NotPermitted) and isinstance(outcomes[1], InsufficientCredits)
    for new, batched in zip([ghost_key, ghost_account], outcomes, strict=True):
        with pytest.raises(type(batched)) as raised:
            create_task(db, new, max_concurrent=4)
        assert str(raised.value) == str(batched)
    db.dispose()


def test_a_batch_of_several_accounts_and_keys_leaves_what_one_by_one_leaves(
    batch_path: BatchPath,
) -> None:
    db = Database(batch_path.url)
    upgrade_to_head(db)
    pairs = [(_account(db, 100, cap=70), _account(db, 100, cap=70)) for _ in range(3)]
    expected: list[str] = []
    for (account, key), _ in pairs:
        for new in _plan(account, key):
            try:
                expected.append(_outcome(create_task(db, new, max_concurrent=4)))
            except DomainError as exc:
                expected.append(_outcome(exc))
    # The same creates, the accounts' interleaved, in one transaction.
    plans = [_plan(account, key) for _, (account, key) in pairs]
    interleaved = [plan[i] for i in range(len(plans[0])) for plan in plans]
    outcomes = _create_tasks(db, batch_path.where, interleaved, max_concurrent=4)
    by_account = [[_outcome(o) for o in outcomes[k :: len(plans)]] for k in range(len(plans))]
    assert [o for outcome in by_account for o in outcome] == expected
    for one_by_one, batched in pairs:
        assert _state(db, *batched) == _state(db, *one_by_one)
    db.dispose()


def test_a_batch_is_two_statements_on_postgresql_whatever_its_size(database_url: str) -> None:
    db = Database(database_url)
    upgrade_to_head(db)
    first, second = _account(db, 10_000, cap=5_000), _account(db, 10_000, cap=None)
    batch = [
        NewTask(account, key, "m", PRICE, {"prompt": str(i)}, max_attempts=1)
        for i in range(10)
        for account, key in (first, second)
    ]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    with db.write() as conn:
        outcomes = create_tasks(conn, db, batch, max_concurrent=100)
    sa.event.remove(db.engine, "before_cursor_execute", count)
    assert all(isinstance(o, CreateResult) for o in outcomes)
    assert _state(db, *first)["tasks"] == 10 and _state(db, *second)["tasks"] == 10
    # SQLite: a read each of accounts and keys, an UPDATE per key and account, two INSERTs.
    assert len(statements) == (2 if db.lock_clause_supported() else 8)
    db.dispose()


def test_a_figure_that_moved_fails_the_batch_before_it_commits(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    upgrade_to_head(db)
    account, key = _account(db, 2 * PRICE, cap=None)
    before = _state(db, account, key)
    read = task_batches._read_figures

    def stale(*args: Any, **kwargs: Any) -> Any:
        # As if the balance had been read before someone spent it: 100 times too much.
        found_accounts, found_keys = read(*args, **kwargs)
        for figures in found_accounts.values():
            figures.balance *= 100
        return found_accounts, found_keys

    monkeypatch.setattr(task_batches, "_read_figures", stale)
    batch = [
        NewTask(account, key, "m", PRICE, {"prompt": str(i)}, max_attempts=1) for i in range(3)
    ]
    with pytest.raises(task_batches.FiguresMoved), db.write() as conn:
        create_tasks(conn, db, batch, max_concurrent=100)
    assert _state(db, account, key) == before  # nothing of it was written
    db.dispose()


@pytest.mark.postgres
def test_on_the_loop_an_account_at_its_limit_by_its_counter_is_left_to_the_thread(
    postgres_url: str,
) -> None:
    db = Database(postgres_url)
    upgrade_to_head(db)
    account, key = _account(db, 10_000, cap=None)
    new = NewTask(account, key, "m", 1, {"prompt": "x"}, max_attempts=1)
    for again in _again(new, 2):
        create_task(db, again, max_concurrent=2)
    before = _state(db, account, key)
    # The counter says 2 of 2: only counting the tasks can tell, which the loop leaves
    # to the blocking path, before writing anything.
    with pytest.raises(UseThread):
        _create_tasks(db, "loop", [new], max_concurrent=2)
    assert _state(db, account, key) == before
    # Through the group commit the batch is written in a thread instead: the tasks
    # are counted, so a counter that drifted high (a task finished by an older
    # version) does not refuse, and one that is right does.
    with db.write() as conn:
        conn.execute(sa.update(tasks).where(tasks.c.account_id == account).values(status="FAILED"))
    outcomes = asyncio.run(
        _submit_closing(db, _group(db, "loop", max_concurrent=2), _again(new, 3))
    )
    assert [type(o) for o in outcomes] == [CreateResult, CreateResult, ConcurrencyLimitReached]
    db.dispose()


async def _submit_closing(
    db: Database, group: GroupCommit[NewTask, CreateResult], jobs: list[NewTask]
) -> list[Any]:
    try:
        return await _submit(group, jobs)
    finally:
        await db.close_async()


@pytest.mark.postgres
def test_on_the_loop_a_figure_that_moved_fails_the_batch_before_it_commits(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    upgrade_to_head(db)
    account, key = _account(db, 2 * PRICE, cap=None)
    before = _state(db, account, key)
    read = task_batch_sql.lock_figures_on_loop

    async def stale(*args: Any, **kwargs: Any) -> Any:
        found_accounts, found_keys = await read(*args, **kwargs)
        return [f._replace(balance=f.balance * 100) for f in found_accounts], found_keys

    monkeypatch.setattr(task_batch_sql, "lock_figures_on_loop", stale)
    batch = [
        NewTask(account, key, "m", PRICE, {"prompt": str(i)}, max_attempts=1) for i in range(3)
    ]
    with pytest.raises(task_batches.FiguresMoved):
        _create_tasks(db, "loop", batch, max_concurrent=100)
    assert _state(db, account, key) == before  # nothing of it was written
    # The group commit then writes each create alone, on the same stale figures:
    # the two that fit are written, the third fails alone, and nothing is overspent.
    outcomes = asyncio.run(_submit_closing(db, _group(db, "loop"), batch))
    assert [type(o) for o in outcomes] == [CreateResult, CreateResult, task_batches.FiguresMoved]
    assert _state(db, account, key)["held"] == 2 * PRICE
    db.dispose()


@pytest.mark.parametrize("find", [True, False], ids=["asking", "not-asking"])
def test_a_batch_committed_but_unanswered_is_never_queued_or_charged_twice(
    batch_path: BatchPath, find: bool
) -> None:
    db = LostCommitAnswer(batch_path.url)
    upgrade_to_head(db)
    account, key = _account(db, 10 * PRICE, cap=None)
    group = _group(db, batch_path.where, find=find)
    jobs = [NewTask(account, key, "m", PRICE, {"prompt": str(i)}, max_attempts=1) for i in range(6)]
    db.lose_next = True
    outcomes = asyncio.run(_submit_closing(db, group, jobs))
    if find:
        # Asked what the batch wrote: each create is answered with its task.
        assert [o.task.id for o in outcomes] == [job.task_id for job in jobs]
    else:
        # Written again one by one, each create meets its own task (its id was
        # chosen before the batch) and fails instead of being queued twice.
        assert all(isinstance(o, sa.exc.DBAPIError) for o in outcomes), outcomes
        assert all("UNIQUE" in str(o) or "pk_tasks" in str(o) for o in outcomes), outcomes
    state = _state(db, account, key)
    assert state["tasks"] == 6 and state["held"] == 6 * PRICE
    assert state["key_committed"] == 6 * PRICE
    assert [kind for kind, *_ in state["ledger"]].count("hold") == 6
    db.dispose()
