"""Many rows into one table in one statement, as cheaply as the backend allows.

The group commit of the create route writes a batch's task and ledger rows
together (services/task_batches.py). Through SQLAlchemy's executemany every value
of every row passes its column type's Python processing, and psycopg sends one
Bind/Execute per row. On PostgreSQL the rows go instead as one JSON document that
the server unpacks (``json_populate_recordset``): one statement with one parameter,
encoded by the json module in C. Measured for 15 task rows: 1.6 -> 0.7 ms of CPU
and 3.2 -> 1.6 ms of wall time per transaction (docs/benchmarks.md, session 7).
SQLite runs in-process, where executemany is already the cheap way.

The values must be what the columns' types would have sent: strings (our StrEnums
are), numbers, None, JSON-able dicts and lists for JSON columns, and timezone-aware
datetimes, which PostgreSQL reads back from their ISO form at the same instant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.engine import Dialect


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (each with the same columns, those of the first) into ``table``."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    columns = tuple(rows[0])
    conn.exec_driver_sql(
        insert_from_document(conn.dialect, table.name, columns), (rows_document(rows, columns),)
    )


def rows_document(rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...]) -> str:
    """``rows``' ``columns`` as the JSON document ``insert_from_document`` unpacks."""
    return json.dumps([{name: row[name] for name in columns} for row in rows], default=_json_value)


@lru_cache(maxsize=64)
def insert_from_document(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    """PostgreSQL's INSERT of ``columns`` from one JSON document (its one ``%s``),
    also usable as a data-modifying WITH query (services/task_batch_sql.py)."""
    # Each object becomes a row of the table's own row type (its columns' types);
    # the columns not given (an autoincrement id) are left to their defaults.
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    return (
        f"INSERT INTO {quote(table)} ({names}) "
        f"SELECT {names} FROM json_populate_recordset(NULL::{quote(table)}, %s)"
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as db/types.UTCDateTime refuses them
            raise ValueError("naive datetime given to a UTC column")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a column value")
