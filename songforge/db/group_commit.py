"""Group commit: the writes that arrive while one transaction is being written go
into the next one, together.

A create is a handful of small statements and one commit; on SQLite every one of
them also needs the single write lock, which the workers' claims, heartbeats and
completions want too. Requests that arrive together are therefore written
together: callers on the event loop ``submit`` a job and wait; one drainer at a
time takes every job waiting (up to ``max_batch``), runs them all in one write
transaction through ``run_batch``, commits, and only then answers each caller.

- Nothing is acknowledged before its transaction has committed: a crash before
  the commit loses only requests nobody was told had succeeded.
- ``run_batch`` returns one outcome per job, in order: a value, or the exception
  that job's caller should get (a refusal such as insufficient credits is an
  outcome, not a failed transaction).
- When the batch's transaction fails as a whole (a statement or the commit
  raised), nothing of it was written, as a rule; each job is then run again in a
  transaction of its own, so one bad job fails alone, visibly, and the others
  are written. The exception to the rule is a COMMIT the server applied but whose
  answer was lost (the connection dropped): ``find_written``, when given, is asked
  first which jobs were written; those get their outcome and are not run again.
  When it cannot tell (the database is still out of reach), every job gets the
  batch's error and none is run again.
- ``run_batch_on_loop``, when given (PostgreSQL: db/loop_transactions.py), is
  awaited on the event loop instead; it opens and commits its own transaction,
  returns one outcome per job (what it commits is not rerun), and raises
  ``UseThread`` (before writing anything) for a batch it leaves to ``run_batch``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy import Connection

from songforge.db.database import Database

log = logging.getLogger("songforge.db.group_commit")

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")

DEFAULT_MAX_BATCH = 256


class UseThread(Exception):
    """The batch is for the blocking ``run_batch``; nothing of it was written."""


class GroupCommit(Generic[Job, Outcome]):
    def __init__(
        self,
        db: Database,
        run_batch: Callable[[Connection, Sequence[Job]], Sequence[Outcome | Exception]],
        *,
        run_batch_on_loop: Callable[[Sequence[Job]], Awaitable[Sequence[Outcome | Exception]]]
        | None = None,
        find_written: Callable[[Sequence[Job]], Awaitable[Sequence[Outcome | None]]] | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self._db = db
        self._run_batch = run_batch
        self._run_batch_on_loop = run_batch_on_loop
        self._find_written = find_written
        self._max_batch = max_batch
        self._waiting: list[tuple[Job, asyncio.Future[Outcome]]] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None
        # Transactions written and jobs in them (for tests and metrics).
        self.batches = 0
        self.jobs = 0

    async def submit(self, job: Job) -> Outcome:
        """Run ``job`` in the next group transaction; its outcome once committed."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting.append((job, future))
        if not self._draining:
            self._draining = True
            # Kept: the loop holds only a weak reference to its tasks.
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            # Let the requests already read in this turn of the loop join the batch.
            await asyncio.sleep(0)
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
        finally:
            self._draining = False

    async def _write(self, batch: list[tuple[Job, asyncio.Future[Outcome]]]) -> None:
        jobs = [job for job, _ in batch]
        try:
            outcomes = await self._outcomes(jobs)
        except Exception as exc:
            unwritten = await self._unwritten(batch, exc)
            if len(batch) == 1:
                for _, future in unwritten:
                    _settle(future, exc)
                return
            if unwritten:
                log.warning(
                    "group transaction of %d jobs failed; writing %d alone",
                    len(batch),
                    len(unwritten),
                )
            for one in unwritten:
                await self._write([one])
            return
        self.batches += 1
        self.jobs += len(jobs)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            _settle(future, outcome)

    async def _unwritten(
        self, batch: list[tuple[Job, asyncio.Future[Outcome]]], error: Exception
    ) -> list[tuple[Job, asyncio.Future[Outcome]]]:
        """The jobs of a failed batch that were not written; those that were (their
        COMMIT applied, its answer lost) are answered with their outcome here."""
        if self._find_written is None:
            return batch
        try:
            found = await self._find_written([job for job, _ in batch])
        except Exception:
            log.warning("cannot tell what a failed group transaction wrote; not writing it again")
            for _, future in batch:
                _settle(future, error)
            return []
        unwritten = []
        for (job, future), outcome in zip(batch, found, strict=True):
            if outcome is None:
                unwritten.append((job, future))
            else:
                _settle(future, outcome)
        if len(unwritten) < len(batch):
            log.warning(
                "a group transaction raised (%s) but wrote %d of its %d jobs; they are answered",
                type(error).__name__,
                len(batch) - len(unwritten),
                len(batch),
            )
        return unwritten

    async def _outcomes(self, jobs: Sequence[Job]) -> Sequence[Outcome | Exception]:
        if self._run_batch_on_loop is not None:
            try:
                return await self._run_batch_on_loop(jobs)
            except UseThread:
                pass
        return await self._db.call_waiting(self._transaction, jobs)

    def _transaction(self, jobs: Sequence[Job]) -> Sequence[Outcome | Exception]:
        # Database.call may rerun this in the thread pool when the SQLite write
        # lock was busy: nothing had started then, so rerunning is safe.
        with self._db.write() as conn:
            outcomes = self._run_batch(conn, jobs)
            if len(outcomes) != len(jobs):  # checked before the commit
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(jobs)} jobs")
        return outcomes


def _settle(future: asyncio.Future[Outcome], outcome: Outcome | Exception) -> None:
    if future.done():  # its caller went away (the client disconnected)
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
