"""A database whose COMMIT is applied but whose answer is lost, for the tests of
what the group commit does then (db/group_commit.py, services/task_batches.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from songforge.db.database import Database


class LostCommitAnswer(Database):
    """A database whose next write (a transaction in a thread or on the loop, or a
    statement outside one on the loop) commits and then raises, as when the
    connection drops after the server applied the COMMIT but before its answer
    arrived."""

    lose_next = False

    def _lose(self) -> None:
        if self.lose_next:
            self.lose_next = False
            raise sa.exc.OperationalError("COMMIT", {}, Exception("connection lost"))

    @contextmanager
    def write(self, *, wait: bool | None = None) -> Iterator[Connection]:
        with super().write(wait=wait) as conn:
            yield conn
        self._lose()

    def write_on_loop(self) -> AbstractAsyncContextManager[Any]:
        return self._then_lost(super().write_on_loop())

    def autocommit_on_loop(self) -> AbstractAsyncContextManager[Any]:
        return self._then_lost(super().autocommit_on_loop())

    def _then_lost(
        self, inner: AbstractAsyncContextManager[Any]
    ) -> AbstractAsyncContextManager[Any]:
        @asynccontextmanager
        async def committed_then_lost() -> AsyncIterator[Any]:
            async with inner as connection:
                yield connection
            self._lose()

        return committed_then_lost()
