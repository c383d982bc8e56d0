"""A batch of creates on PostgreSQL: its figures read and locked in one statement,
its four writes in one more.

services/task_batches.py decides a batch of creates on the figures of the
accounts and keys involved, read and locked once, then writes what it decided:
one UPDATE per key and per account, the ledger rows and the task rows. On SQLite
those are calls into the process, microseconds each. On PostgreSQL each statement
is a round trip from the group commit's thread, and the batch holds the account
rows' locks across all of them (BEGIN, two reads, the UPDATEs, two INSERTs,
COMMIT: eight round trips for one account and key) until its commit; every
other batch of the same account waits for that. Here the two reads are one
statement and the writes one more (data-modifying WITH queries, each run exactly
once against the same snapshot): four round trips with BEGIN and COMMIT, for any
number of accounts and keys. docs/decisions/0013, item 26.

The same two statements run from the event loop on asyncpg (``*_on_loop``,
db/loop_transactions.py; item 28), numbered ``$1, $2`` where psycopg's are ``%s``.

The UPDATEs keep their conditions, as the separate statements had them: the
caller compares the rows they changed with the rows it meant to change, and a
figure that moved fails the batch before it commits.

Most batches need no decision at all: every create fits (the accounts can hold
them all, no key reaches its cap, no account its limit). ``write_if_all_fit_on_loop``
tries that first, in one statement outside a transaction: it locks the figures,
checks that the whole batch fits and, only if it does, writes all of it; it
commits as it ends. One round trip instead of four, and the account rows stay
locked only while the server runs it, not across the client's round trips
(item 33). A batch that does not fit is written by nobody there and decided
create by create in a transaction, as before.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import asyncpg
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

from songforge.db.bulk_insert import insert_from_document, rows_document
from songforge.db.tables import ledger_entries, tasks

# Accounts first, then keys, each in id order: the order the single create locks
# them in (account, then key), so the two paths cannot deadlock. UNION ALL runs
# its branches in order.
_LOCKED_FIGURES = """
SELECT 'account', id, balance, held, unfinished_tasks
FROM (
    SELECT id, balance, held, unfinished_tasks FROM accounts
    WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE
) AS locked_accounts
UNION ALL
SELECT 'key', id, credit_cap, credits_committed, NULL
FROM (
    SELECT id, credit_cap, credits_committed FROM api_keys
    WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE
) AS locked_keys
"""

_KEY_COMMITMENTS = """
    UPDATE api_keys SET credits_committed = api_keys.credits_committed + added.amount
    FROM json_to_recordset(%s::json) AS added(id text, amount bigint)
    WHERE api_keys.id = added.id
      AND (api_keys.credit_cap IS NULL
           OR api_keys.credits_committed + added.amount <= api_keys.credit_cap)
    RETURNING api_keys.id
"""

_ACCOUNT_HOLDS = """
    UPDATE accounts SET held = accounts.held + added.amount,
                        unfinished_tasks = accounts.unfinished_tasks + added.tasks
    FROM json_to_recordset(%s::json) AS added(id text, amount bigint, tasks integer)
    WHERE accounts.id = added.id AND accounts.balance - accounts.held >= added.amount
    RETURNING accounts.id
"""


class AccountFigures(NamedTuple):
    id: str
    balance: int
    held: int
    unfinished_tasks: int


class KeyFigures(NamedTuple):
    id: str
    credit_cap: int | None
    credits_committed: int


class AccountHold(NamedTuple):
    account_id: str
    amount: int
    tasks: int


class KeyCommitment(NamedTuple):
    key_id: str
    amount: int


def lock_figures(
    conn: Connection, account_ids: Sequence[str], key_ids: Sequence[str]
) -> tuple[list[AccountFigures], list[KeyFigures]]:
    """The accounts' and keys' figures, their rows locked until the transaction ends."""
    return _figures(conn.exec_driver_sql(_LOCKED_FIGURES, (list(account_ids), list(key_ids))))


async def lock_figures_on_loop(
    connection: asyncpg.Connection, account_ids: Sequence[str], key_ids: Sequence[str]
) -> tuple[list[AccountFigures], list[KeyFigures]]:
    """``lock_figures`` in an asyncpg transaction."""
    rows = await connection.fetch(_numbered(_LOCKED_FIGURES), list(account_ids), list(key_ids))
    return _figures(tuple(row) for row in rows)


def _figures(rows: Any) -> tuple[list[AccountFigures], list[KeyFigures]]:
    found_accounts: list[AccountFigures] = []
    found_keys: list[KeyFigures] = []
    for kind, row_id, first, second, counter in rows:
        if kind == "account":
            found_accounts.append(AccountFigures(row_id, int(first), int(second), int(counter)))
        else:
            cap = None if first is None else int(first)
            found_keys.append(KeyFigures(row_id, cap, int(second)))
    return found_accounts, found_keys


def write_batch(
    conn: Connection,
    commitments: Sequence[KeyCommitment],
    holds: Sequence[AccountHold],
    ledger_rows: Sequence[Mapping[str, Any]],
    task_rows: Sequence[Mapping[str, Any]],
) -> tuple[int, int]:
    """Add the keys' commitments and the accounts' holds, and insert the ledger's
    and the tasks' rows (at least one of each), in one statement.

    Returns how many keys and how many accounts the UPDATEs changed: fewer than
    given means a figure moved (its condition no longer held).
    """
    statement, parameters = _write(conn.dialect, commitments, holds, ledger_rows, task_rows)
    changed_keys, changed_accounts = conn.exec_driver_sql(statement, parameters).one()
    return int(changed_keys), int(changed_accounts)


async def write_batch_on_loop(
    connection: asyncpg.Connection,
    commitments: Sequence[KeyCommitment],
    holds: Sequence[AccountHold],
    ledger_rows: Sequence[Mapping[str, Any]],
    task_rows: Sequence[Mapping[str, Any]],
) -> tuple[int, int]:
    """``write_batch`` in an asyncpg transaction."""
    statement, parameters = _write(_POSTGRESQL, commitments, holds, ledger_rows, task_rows)
    changed_keys, changed_accounts = await connection.fetchrow(_numbered(statement), *parameters)
    return int(changed_keys), int(changed_accounts)


async def write_if_all_fit_on_loop(
    connection: asyncpg.Connection,
    commitments: Sequence[KeyCommitment],
    holds: Sequence[AccountHold],
    ledger_rows: Sequence[Mapping[str, Any]],
    task_rows: Sequence[Mapping[str, Any]],
    *,
    max_concurrent: int,
) -> bool:
    """Hold and queue a whole batch in one statement, outside a transaction, only
    if every create fits: True when written (and committed), False when nothing
    was. ``holds``, ``commitments`` and the rows are what the batch holds when all
    of it is accepted, each ledger row's ``held_after`` counted from 0 (the
    account's held before the batch is added by the statement)."""
    task_columns = tuple(task_rows[0])
    account_ids = sorted(hold.account_id for hold in holds)
    key_ids = sorted(commitment.key_id for commitment in commitments)
    written = await connection.fetchval(
        _write_if_all_fit_statement(task_columns),
        account_ids,
        key_ids,
        _holds_document(holds),
        _commitments_document(commitments),
        max_concurrent,
        rows_document(ledger_rows, tuple(ledger_rows[0])),
        rows_document(task_rows, task_columns),
    )
    return bool(written)


@lru_cache(maxsize=16)
def _write_if_all_fit_statement(task_columns: tuple[str, ...]) -> str:
    # The whole batch or nothing: ``fits`` is read on the rows ``figures`` locked
    # (SELECT ... FOR UPDATE sees their newest committed version), and every write is
    # conditional on it. A hold's ledger row carries in ``held_after`` what the batch
    # held for its account up to and including it; the account's held before the
    # batch is added here, and ``balance_after`` is the balance (a hold leaves it).
    queued = insert_from_document(_POSTGRESQL, tasks.name, task_columns)
    return _numbered(f"""
WITH figures (kind, id, first, second, counter) AS ({_LOCKED_FIGURES}),
account_totals AS (
    SELECT * FROM json_to_recordset(%s::json) AS t(id text, amount bigint, tasks integer)
),
key_totals AS (SELECT * FROM json_to_recordset(%s::json) AS t(id text, amount bigint)),
fits AS (
    SELECT (
        SELECT count(*) FROM account_totals t
        JOIN figures f ON f.kind = 'account' AND f.id = t.id
        WHERE f.first - f.second >= t.amount AND f.counter + t.tasks <= %s::integer
    ) = (SELECT count(*) FROM account_totals)
    AND (
        SELECT count(*) FROM key_totals t
        JOIN figures f ON f.kind = 'key' AND f.id = t.id
        WHERE f.first IS NULL OR f.second + t.amount <= f.first
    ) = (SELECT count(*) FROM key_totals) AS ok
),
committed AS (
    UPDATE api_keys SET credits_committed = api_keys.credits_committed + t.amount
    FROM key_totals t WHERE api_keys.id = t.id AND (SELECT ok FROM fits)
),
held AS (
    UPDATE accounts SET held = accounts.held + t.amount,
                        unfinished_tasks = accounts.unfinished_tasks + t.tasks
    FROM account_totals t WHERE accounts.id = t.id AND (SELECT ok FROM fits)
),
ledger AS (
    INSERT INTO ledger_entries
        (account_id, kind, amount, balance_after, held_after, task_id, order_id, note, created_at)
    SELECT d.account_id, d.kind, d.amount, f.first, f.second + d.held_after,
           d.task_id, d.order_id, d.note, d.created_at
    FROM json_populate_recordset(NULL::ledger_entries, %s) AS d
    JOIN figures f ON f.kind = 'account' AND f.id = d.account_id
    WHERE (SELECT ok FROM fits)
),
queued AS ({queued} WHERE (SELECT ok FROM fits))
SELECT ok FROM fits
""")


def _write(
    dialect: Dialect,
    commitments: Sequence[KeyCommitment],
    holds: Sequence[AccountHold],
    ledger_rows: Sequence[Mapping[str, Any]],
    task_rows: Sequence[Mapping[str, Any]],
) -> tuple[str, tuple[str, str, str, str]]:
    ledger_columns, task_columns = tuple(ledger_rows[0]), tuple(task_rows[0])
    return _write_statement(dialect, ledger_columns, task_columns), (
        _commitments_document(commitments),
        _holds_document(holds),
        rows_document(ledger_rows, ledger_columns),
        rows_document(task_rows, task_columns),
    )


def _commitments_document(commitments: Sequence[KeyCommitment]) -> str:
    return json.dumps([{"id": c.key_id, "amount": c.amount} for c in commitments])


def _holds_document(holds: Sequence[AccountHold]) -> str:
    return json.dumps([{"id": h.account_id, "amount": h.amount, "tasks": h.tasks} for h in holds])


# Identifiers are quoted the same way by every PostgreSQL dialect.
_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]


@lru_cache(maxsize=16)
def _numbered(statement: str) -> str:
    """psycopg's ``%s`` placeholders as asyncpg's ``$1, $2, ...``, in order."""
    numbers = itertools.count(1)
    return re.sub(r"%s", lambda _: f"${next(numbers)}", statement)


@lru_cache(maxsize=16)
def _write_statement(
    dialect: Dialect, ledger_columns: tuple[str, ...], task_columns: tuple[str, ...]
) -> str:
    return f"""
WITH committed AS ({_KEY_COMMITMENTS}),
held AS ({_ACCOUNT_HOLDS}),
ledger AS ({insert_from_document(dialect, ledger_entries.name, ledger_columns)}),
queued AS ({insert_from_document(dialect, tasks.name, task_columns)})
SELECT (SELECT count(*) FROM committed), (SELECT count(*) FROM held)
"""
