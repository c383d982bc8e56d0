"""Orders: every top-up is an order; settling one credits the account exactly once.

Payment is pluggable: a provider creates a ``pending`` order, and when it learns
the payment succeeded it calls ``complete_order`` (idempotent, so a provider's
retried webhook cannot credit twice). Out of the box an admin approves pending
orders on the dashboard, and operators grant credits with ``songforge credits add``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from songforge.db.tables import orders
from songforge.db.types import utcnow
from songforge.services import billing
from songforge.services.ids import new_id


@dataclass(frozen=True)
class Order:
    id: str
    account_id: str
    credits: int
    status: str
    provider: str
    reference: str | None
    note: str
    created_at: datetime
    completed_at: datetime | None


def _from_row(row: Any) -> Order:
    return Order(
        id=row.id,
        account_id=row.account_id,
        credits=int(row.credits),
        status=row.status,
        provider=row.provider,
        reference=row.reference,
        note=row.note,
        created_at=row.created_at,
        completed_at=row.completed_at,
    )


def create_order(
    conn: Connection,
    account_id: str,
    credits: int,
    *,
    provider: str,
    reference: str | None = None,
    note: str = "",
) -> Order:
    if credits <= 0:
        raise ValueError("an order must be for a positive number of credits")
    order_id = new_id("ord", 12)
    conn.execute(
        insert(orders).values(
            id=order_id,
            account_id=account_id,
            credits=credits,
            status="pending",
            provider=provider,
            reference=reference,
            note=note,
            created_at=utcnow(),
        )
    )
    order = get_order(conn, order_id)
    assert order is not None
    return order


def complete_order(conn: Connection, order_id: str) -> bool:
    """Credit a pending order; False (and no credit) if it was already settled."""
    result = conn.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status == "pending")
        .values(status="completed", completed_at=utcnow())
    )
    if result.rowcount != 1:
        return False
    order = get_order(conn, order_id)
    assert order is not None
    billing.top_up(conn, order.account_id, order.credits, order_id=order.id, note=order.note)
    return True


def reject_order(conn: Connection, order_id: str) -> bool:
    result = conn.execute(
        update(orders)
        .where(orders.c.id == order_id, orders.c.status == "pending")
        .values(status="rejected", completed_at=utcnow())
    )
    return result.rowcount == 1


def grant_credits(
    conn: Connection, account_id: str, credits: int, *, provider: str, note: str = ""
) -> Order:
    """An operator's top-up: an order created and completed at once."""
    order = create_order(conn, account_id, credits, provider=provider, note=note)
    complete_order(conn, order.id)
    settled = get_order(conn, order.id)
    assert settled is not None
    return settled


def get_order(conn: Connection, order_id: str) -> Order | None:
    row = conn.execute(select(orders).where(orders.c.id == order_id)).first()
    return _from_row(row) if row else None


def list_orders(
    conn: Connection, account_id: str | None = None, status: str | None = None, limit: int = 100
) -> list[Order]:
    query = select(orders).order_by(orders.c.created_at.desc()).limit(limit)
    if account_id is not None:
        query = query.where(orders.c.account_id == account_id)
    if status is not None:
        query = query.where(orders.c.status == status)
    return [_from_row(row) for row in conn.execute(query)]
