"""Group commit: concurrent writes share transactions, each answered after its commit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from songforge.db.database import Database
from songforge.db.group_commit import GroupCommit, UseThread
from tests.db.lost_commit_answer import LostCommitAnswer


class Refused(Exception):
    pass


def _probe_table(db: Database) -> sa.Table:
    table = sa.Table(
        f"group_commit_probe_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("id", sa.String(40), primary_key=True),
    )
    table.create(db.engine)
    return table


def _finder(
    db: Database, table: sa.Table
) -> Callable[[Sequence[str]], Awaitable[list[str | None]]]:
    """The writer's ``find_written``: each job's outcome if its row is stored."""

    async def find_written(jobs: Sequence[str]) -> list[str | None]:
        with db.read() as conn:
            stored = set(conn.execute(sa.select(table.c.id)).scalars())
        return [f"stored {job}" if job in stored else None for job in jobs]

    return find_written


def _writer(db: Database, table: sa.Table, *, find: bool = False) -> GroupCommit[str, str]:
    """Inserts each job's id; "refuse-*" jobs are refused without writing."""

    def run(conn: Connection, jobs: Sequence[str]) -> list[str | Exception]:
        outcomes: list[str | Exception] = []
        for job in jobs:
            if job.startswith("refuse"):
                outcomes.append(Refused(job))
                continue
            conn.execute(sa.insert(table).values(id=job))
            outcomes.append(f"stored {job}")
        return outcomes

    return GroupCommit(db, run, find_written=_finder(db, table) if find else None)


def _stored(database_url: str, table: sa.Table) -> list[str]:
    # A separate engine: what another process would see, i.e. what was committed.
    other = Database(database_url)
    try:
        with other.read() as conn:
            return sorted(conn.execute(sa.select(table.c.id)).scalars())
    finally:
        other.dispose()


async def _submit_all(writer: GroupCommit[str, str], jobs: list[str]) -> list[object]:
    return list(await asyncio.gather(*(writer.submit(job) for job in jobs), return_exceptions=True))


def test_concurrent_jobs_share_transactions_and_all_are_durable(database_url: str) -> None:
    db = Database(database_url)
    table = _probe_table(db)
    writer = _writer(db, table)
    jobs = [f"job-{i:03d}" for i in range(60)]
    outcomes = asyncio.run(_submit_all(writer, jobs))
    assert outcomes == [f"stored {job}" for job in jobs]
    assert _stored(database_url, table) == jobs
    # Written together: far fewer transactions than jobs.
    assert writer.jobs == 60 and writer.batches < 10
    db.dispose()


def test_a_refused_job_fails_alone(database_url: str) -> None:
    db = Database(database_url)
    table = _probe_table(db)
    writer = _writer(db, table)
    jobs = ["a", "refuse-b", "c"]
    outcomes = asyncio.run(_submit_all(writer, jobs))
    assert outcomes[0] == "stored a" and outcomes[2] == "stored c"
    assert isinstance(outcomes[1], Refused)
    assert _stored(database_url, table) == ["a", "c"]
    assert writer.batches == 1
    db.dispose()


def test_a_failing_statement_does_not_take_the_others_down(database_url: str) -> None:
    db = Database(database_url)
    table = _probe_table(db)
    writer = _writer(db, table)
    with db.write() as conn:
        conn.execute(sa.insert(table).values(id="taken"))
    # "taken" violates the primary key: the group transaction rolls back, then
    # each job is written alone, and only the bad one fails (visibly).
    jobs = ["x", "taken", "y"]
    outcomes = asyncio.run(_submit_all(writer, jobs))
    assert outcomes[0] == "stored x" and outcomes[2] == "stored y"
    assert isinstance(outcomes[1], sa.exc.IntegrityError)
    # Each written exactly once, nothing of the failed transaction left behind.
    assert _stored(database_url, table) == ["taken", "x", "y"]
    db.dispose()


def test_an_answer_waits_for_the_commit(database_url: str) -> None:
    db = Database(database_url)
    table = _probe_table(db)
    seen_before_answer: list[list[str]] = []

    def run(conn: Connection, jobs: Sequence[str]) -> list[str | Exception]:
        for job in jobs:
            conn.execute(sa.insert(table).values(id=job))
        # Still inside the transaction: nobody else can see the rows yet.
        seen_before_answer.append(_stored(database_url, table))
        return [f"stored {job}" for job in jobs]

    writer: GroupCommit[str, str] = GroupCommit(db, run)

    async def go() -> None:
        assert await writer.submit("only") == "stored only"
        # Answered: committed, so visible to another connection.
        assert _stored(database_url, table) == ["only"]

    asyncio.run(go())
    assert seen_before_answer == [[]]
    db.dispose()


def test_outcome_count_mismatch_is_refused_before_commit(database_url: str) -> None:
    db = Database(database_url)
    table = _probe_table(db)

    def run(conn: Connection, jobs: Sequence[str]) -> list[str | Exception]:
        conn.execute(sa.insert(table).values(id="written"))
        return []

    writer: GroupCommit[str, str] = GroupCommit(db, run)
    with pytest.raises(RuntimeError, match="0 outcomes for 1 jobs"):
        asyncio.run(writer.submit("one"))
    assert _stored(database_url, table) == []
    db.dispose()


def test_a_batch_on_the_loop_or_left_to_the_thread(database_url: str) -> None:
    # run_batch_on_loop (PostgreSQL's asyncpg path) runs each batch unless it
    # raises UseThread, which leaves that batch to run_batch; a failure of the
    # loop's batch writes each job alone, on the loop again.
    db = Database(database_url)
    table = _probe_table(db)
    thread = _writer(db, table)
    on_loop: list[list[str]] = []

    async def run_on_loop(jobs: Sequence[str]) -> list[str | Exception]:
        on_loop.append(list(jobs))
        if any(job.startswith("thread") for job in jobs):
            raise UseThread()
        if len(jobs) > 1 and any(job.startswith("fail") for job in jobs):
            raise RuntimeError("the batch's transaction failed")
        return [f"on the loop {job}" for job in jobs]

    writer = GroupCommit(db, thread._run_batch, run_batch_on_loop=run_on_loop)
    assert asyncio.run(_submit_all(writer, ["a", "b"])) == ["on the loop a", "on the loop b"]
    assert asyncio.run(_submit_all(writer, ["c", "thread-d"])) == ["stored c", "stored thread-d"]
    assert asyncio.run(_submit_all(writer, ["e", "fail-f"])) == [
        "on the loop e",
        "on the loop fail-f",
    ]
    assert on_loop == [["a", "b"], ["c", "thread-d"], ["e", "fail-f"], ["e"], ["fail-f"]]
    assert _stored(database_url, table) == ["c", "thread-d"]
    db.dispose()


def test_a_commit_applied_but_unanswered_is_answered_from_what_it_wrote(
    database_url: str,
) -> None:
    db = LostCommitAnswer(database_url)
    table = _probe_table(db)
    writer = _writer(db, table, find=True)
    db.lose_next = True
    outcomes = asyncio.run(_submit_all(writer, ["a", "refuse-b", "c"]))
    # a and c were committed: answered as such, not written again; b, refused and
    # not written, is run again alone and refused again.
    assert outcomes[0] == "stored a" and outcomes[2] == "stored c"
    assert isinstance(outcomes[1], Refused)
    assert _stored(database_url, table) == ["a", "c"]
    db.dispose()


def test_without_asking_a_lost_commit_answer_is_written_again(database_url: str) -> None:
    # What find_written is for: the batch is rerun job by job, and each job meets
    # its own row (here the primary key stops it; a create's task id does the same).
    db = LostCommitAnswer(database_url)
    table = _probe_table(db)
    writer = _writer(db, table)
    db.lose_next = True
    outcomes = asyncio.run(_submit_all(writer, ["a", "c"]))
    assert all(isinstance(outcome, sa.exc.IntegrityError) for outcome in outcomes)
    assert _stored(database_url, table) == ["a", "c"]
    db.dispose()


def test_when_nobody_can_tell_what_was_written_nothing_is_written_again(
    database_url: str,
) -> None:
    db = LostCommitAnswer(database_url)
    table = _probe_table(db)
    asked: list[list[str]] = []

    async def cannot_tell(jobs: Sequence[str]) -> list[str | None]:
        asked.append(list(jobs))
        raise sa.exc.OperationalError("SELECT", {}, Exception("still unreachable"))

    writer = GroupCommit(db, _writer(db, table)._run_batch, find_written=cannot_tell)
    db.lose_next = True
    outcomes = asyncio.run(_submit_all(writer, ["a", "c"]))
    # Each gets the batch's error (the client may retry, with an Idempotency-Key);
    # none is run again, which could have written it twice.
    assert all(isinstance(outcome, sa.exc.OperationalError) for outcome in outcomes)
    assert "connection lost" in str(outcomes[0])
    assert asked == [["a", "c"]]
    assert _stored(database_url, table) == ["a", "c"]
    db.dispose()
