"""A SELECT compiled once and run on the driver's own cursor.

For the hottest reads (a queued task's poll): SQLAlchemy compiles the statement
once per dialect and its column types still decode the row, but its per-execution
machinery (compiled-cache lookup, parameter processing, result objects), which
costs more than the query itself on a local SQLite file, is skipped.

Only for statements whose bound parameters need no conversion on the way in
(strings and integers) and that the caller runs through a connection it already
holds (``Database.read_now``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeEngine


class PreparedRow:
    """A row as ``record_from_row`` and friends read it (``row._mapping``).

    ``built`` is free for the caller to keep what it made of the row (a record):
    a remembered row (``PreparedRead(remember=...)``) is handed to every read that
    finds the same values, so what is built from it once serves them all.
    """

    __slots__ = ("_mapping", "built")

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping
        self.built: Any = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


class _Compiled:
    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.defaults = {name: _plain(value) for name, value in compiled.params.items()}
        # qmark drivers (SQLite) take a tuple in this order; named ones a dict.
        self.order: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positiontup else None
        )
        self.keys = [str(column.key) for column in statement.selected_columns]
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(statement.selected_columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is None and _json_as_text(dialect, column.type):
                processor = _json_from_text
            if processor is not None:
                processors.append((index, processor))
        self.processors = processors


def _json_as_text(dialect: Dialect, column_type: TypeEngine[Any]) -> bool:
    # Raw asyncpg connections (db/async_reads.py) hand json back as text: SQLAlchemy's
    # asyncpg dialect relies on a decoder it installs on its own connections only.
    return dialect.driver == "asyncpg" and isinstance(column_type, sqltypes.JSON)


def _json_from_text(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _plain(value: Any) -> Any:
    # The drivers take str and int; our StrEnums are both, but say so plainly.
    return value.value if isinstance(value, Enum) else value


class PreparedRead:
    def __init__(self, statement: Select[Any], *, remember: int = 0) -> None:
        """``remember``: how many decoded rows to keep, by the driver's values.

        A row read again with the same values (a queued task polled every second
        changes far less often) is then not decoded again: the same PreparedRow
        comes back, with what was built from it. Only rows whose values are all
        hashable are remembered: SQLite's and asyncpg's are (JSON comes as text);
        psycopg decodes JSON columns to dicts itself, so its rows are decoded each time.
        """
        self._statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._remember = remember
        self._remembered: dict[tuple[Any, ...], PreparedRow] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        # By driver too: psycopg and asyncpg differ in paramstyle and in what they decode.
        which = f"{dialect.name}+{dialect.driver}"
        compiled = self._by_dialect.get(which)
        if compiled is None:
            compiled = self._by_dialect[which] = _Compiled(self._statement, dialect)
        return compiled

    def bound(self, dialect: Dialect, parameters: Mapping[str, Any]) -> tuple[str, Any]:
        """The SQL for ``dialect`` and its parameters as the driver takes them."""
        compiled = self._compiled(dialect)
        values = {**compiled.defaults, **parameters}
        if compiled.order:
            return compiled.sql, tuple(values[name] for name in compiled.order)
        return compiled.sql, values

    def decode(self, dialect: Dialect, row: Sequence[Any]) -> PreparedRow:
        """A driver's row, decoded by the columns' types (or as remembered)."""
        if not self._remember:
            return self._decode(dialect, row)
        key = (dialect.name, dialect.driver, *row)
        try:
            found = self._remembered.get(key)
        except TypeError:  # an unhashable value: not remembered
            return self._decode(dialect, row)
        if found is None:
            found = self._decode(dialect, row)
            if len(self._remembered) >= self._remember:
                # Rarely: forgetting them all is simpler than an LRU and as safe.
                self._remembered.clear()
            self._remembered[key] = found
        return found

    def _decode(self, dialect: Dialect, row: Sequence[Any]) -> PreparedRow:
        compiled = self._compiled(dialect)
        decoded = list(row)
        for index, processor in compiled.processors:
            decoded[index] = processor(decoded[index])
        return PreparedRow(dict(zip(compiled.keys, decoded, strict=True)))

    def first(self, conn: Connection, parameters: Mapping[str, Any]) -> PreparedRow | None:
        """The first row for ``parameters`` (the statement's bindparam names)."""
        sql, bound = self.bound(conn.dialect, parameters)
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.execute(sql, bound)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return self.decode(conn.dialect, row) if row is not None else None
