"""A one-row read by a key column, in the two forms the backends run it in.

The poll's read is of one task, by id. SQLite runs it inline for that one key
(``single``: ``key = :key``); there a read is a few microseconds in process. On
PostgreSQL each read is a round trip, and what it costs is mostly per statement,
not per row: the API process spent ~110 µs of CPU per one-row query and ~9 µs per
row in a query of 16 keys (docs/benchmarks.md, session 8), and the server likewise.
So the reads that arrive together are made as one statement (``many``:
``key = ANY(:keys)``, db/async_reads.py) and each caller gets its row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Select, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY

from songforge.db.prepared import PreparedRead, PreparedRow


class KeyedRead:
    def __init__(self, statement: Select[Any], key: Column[Any], *, remember: int = 0) -> None:
        """``statement`` must select ``key``: rows of ``many`` are matched to their
        callers by it. ``remember``: see PreparedRead."""
        if key.key not in [column.key for column in statement.selected_columns]:
            raise ValueError(f"the statement must select its key column {key.key!r}")
        self.key_name = str(key.key)
        self.single = PreparedRead(statement.where(key == bindparam("key")), remember=remember)
        # The array without the column's length: PostgreSQL's cast to varchar(n)
        # would cut a longer key silently (matched to its callers, it would not be
        # answered, but it would be read).
        element = String() if isinstance(key.type, String) else key.type
        self.many = PreparedRead(
            statement.where(key == any_(bindparam("keys", type_=ARRAY(element)))),
            remember=remember,
        )

    def key_of(self, row: PreparedRow) -> Any:
        return getattr(row, self.key_name)
