"""accounts: a counter of the account's unfinished tasks (the concurrency limit's figure)

Filled from the tasks in progress when it is added; from then on every hold adds one and
every charge or release takes one away (services/billing.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("unfinished_tasks", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE accounts SET unfinished_tasks = (SELECT COUNT(*) FROM tasks "
        "WHERE tasks.account_id = accounts.id AND tasks.status = 'IN_PROGRESS')"
    )


def downgrade() -> None:
    # Not a batch (copy and move) on SQLite: five tables refer to accounts, and its
    # copy could not be dropped under their foreign keys. SQLite (3.35+) drops a
    # column in place.
    op.drop_column("accounts", "unfinished_tasks")
