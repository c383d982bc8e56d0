"""The account's counter of unfinished tasks: kept by every hold, charge and release,
trusted below the concurrency limit, and corrected when it drifted high."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import accounts
from songforge.services.accounts import create_account
from songforge.services.errors import ConcurrencyLimitReached
from songforge.services.orders import grant_credits
from songforge.services.queue import claim_next_task, complete_task, fail_attempt
from songforge.services.task_batches import create_tasks
from songforge.services.tasks import NewTask, cancel_task, create_task

ERROR = {"code": 500, "message": "boom", "type": "generation_error"}
LEASE = timedelta(seconds=60)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade_to_head(database)
    yield database
    database.dispose()


def _account(db: Database) -> str:
    with db.write() as conn:
        account = create_account(conn, email=f"{uuid.uuid4().hex[:12]}@example.com")
        grant_credits(conn, account.id, 1000, provider="operator")
    return account.id


def _counter(db: Database, account_id: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(accounts.c.unfinished_tasks).where(accounts.c.id == account_id)
            ).scalar_one()
        )


def _new(account_id: str, model: str, attempts: int = 1) -> NewTask:
    return NewTask(account_id, None, model, 5, {"prompt": "x"}, max_attempts=attempts)


def test_holds_count_up_and_charges_and_releases_count_down(db: Database) -> None:
    account = _account(db)
    model = f"m-{uuid.uuid4().hex[:12]}"
    one = create_task(db, _new(account, model), max_concurrent=10).task
    with db.write() as conn:
        create_tasks(conn, db, [_new(account, model), _new(account, model)], max_concurrent=10)
    assert _counter(db, account) == 3

    claim = claim_next_task(db, "w-" + model, [model], LEASE)
    assert claim is not None and claim.task.id == one.id
    assert complete_task(db, claim, output={"audio": "x"}, storage_key="k")  # charged
    assert _counter(db, account) == 2

    claim = claim_next_task(db, "w-" + model, [model], LEASE)
    assert claim is not None
    assert fail_attempt(db, claim, ERROR, retryable=False) == "failed"  # released
    assert _counter(db, account) == 1

    claim = claim_next_task(db, "w-" + model, [model], LEASE)
    assert claim is not None
    assert cancel_task(db, account, claim.task.id) is not None  # released
    assert _counter(db, account) == 0
    # A task finished twice is charged or released once: the counter does not go under.
    assert not complete_task(db, claim, output={"audio": "x"}, storage_key="k")
    assert _counter(db, account) == 0


def test_the_limit_refuses_at_the_counter_when_the_tasks_are_there(db: Database) -> None:
    account = _account(db)
    model = f"m-{uuid.uuid4().hex[:12]}"
    for _ in range(2):
        create_task(db, _new(account, model), max_concurrent=2)
    with pytest.raises(ConcurrencyLimitReached):
        create_task(db, _new(account, model), max_concurrent=2)
    with db.write() as conn:
        outcomes = create_tasks(conn, db, [_new(account, model)], max_concurrent=2)
    assert isinstance(outcomes[0], ConcurrencyLimitReached)
    assert _counter(db, account) == 2


@pytest.mark.parametrize("batched", [False, True])
def test_a_counter_that_drifted_high_is_corrected_not_obeyed(db: Database, batched: bool) -> None:
    # An older version finished tasks without counting them down (a rolling upgrade).
    account = _account(db)
    model = f"m-{uuid.uuid4().hex[:12]}"
    create_task(db, _new(account, model), max_concurrent=3)
    with db.write() as conn:
        conn.execute(
            sa.update(accounts).where(accounts.c.id == account).values(unfinished_tasks=40)
        )
    if batched:
        with db.write() as conn:
            batch = [_new(account, model) for _ in range(3)]
            outcomes = create_tasks(conn, db, batch, max_concurrent=3)
        assert [type(o).__name__ for o in outcomes] == [
            "CreateResult",
            "CreateResult",
            "ConcurrencyLimitReached",
        ]
    else:
        create_task(db, _new(account, model), max_concurrent=3)
        create_task(db, _new(account, model), max_concurrent=3)
    assert _counter(db, account) == 3
