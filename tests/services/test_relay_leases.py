"""The relay worker's lease statements: every lease extended in one transaction (the
lost ones reported), and one attempt handed back as if never claimed. On SQLite and
PostgreSQL (the row-value IN and RETURNING are backend-sensitive)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.types import utcnow
from songforge.services import queue
from songforge.services.accounts import create_account
from songforge.services.orders import grant_credits
from songforge.services.task_records import load_task
from songforge.services.tasks import NewTask, cancel_task, create_task

LEASE = timedelta(seconds=30)


def setup(database_url: str, count: int) -> tuple[Database, str, list[queue.Claim]]:
    db = Database(database_url)
    upgrade_to_head(db)
    model = f"relay-{uuid.uuid4().hex[:8]}"  # PostgreSQL's database is shared by the session
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 30 * count, provider="operator")
    for _ in range(count):
        create_task(
            db, NewTask(account.id, None, model, 30, {"prompt": "x"}, 3), max_concurrent=100
        )
    claims = [queue.claim_next_task(db, "w1", [model], LEASE) for _ in range(count)]
    assert all(claims)
    return db, account.id, [c for c in claims if c is not None]


def test_all_leases_in_one_call_and_the_lost_ones_named(database_url: str) -> None:
    db, account_id, claims = setup(database_url, 5)
    cancelled, reclaimed = claims[0], claims[1]
    cancel_task(db, account_id, cancelled.task.id)
    # An attempt handed back and claimed by another worker.
    assert queue.hand_back_task(db, reclaimed)
    again = queue.claim_next_task(db, "w2", [reclaimed.task.model], LEASE)
    assert again is not None and again.task.id == reclaimed.task.id
    before = utcnow()
    leases = [
        (claim, queue.progress_values(stage="generating", progress=40, stage_detail="d" * 80))
        if index == 4
        else (claim, {})
        for index, claim in enumerate(claims)
    ]
    lost = queue.heartbeat_leases(db, "w1", leases, timedelta(minutes=5))
    assert lost == {cancelled.task.id, reclaimed.task.id}
    with db.read() as conn:
        kept = [load_task(conn, claim.task.id) for claim in claims[2:]]
    for task in kept:
        assert task is not None and task.lease_expires_at is not None
        assert task.lease_expires_at > before + timedelta(minutes=4)
    assert kept[2] is not None and (kept[2].progress, kept[2].stage_detail) == (40, "d" * 64)
    assert kept[0] is not None and kept[0].progress == 0  # no progress given: untouched
    # Another worker's lease is never extended.
    assert queue.heartbeat_leases(db, "w3", [(claims[2], {})], LEASE) == {claims[2].task.id}
    db.dispose()


def test_hand_back_task_releases_one_attempt_without_counting_it(database_url: str) -> None:
    db, _account_id, (first, second) = setup(database_url, 2)
    assert queue.hand_back_task(db, first)
    assert not queue.hand_back_task(db, first)  # fenced: once only
    with db.read() as conn:
        back, other = load_task(conn, first.task.id), load_task(conn, second.task.id)
    assert back is not None and other is not None
    assert (back.stage, back.attempt, back.lease_owner, back.lease_expires_at) == (
        "queued",
        0,
        None,
        None,
    )
    assert back.credits_held == 30 and back.credits_charged == 0
    assert (other.stage, other.attempt, other.lease_owner) == ("generating", 1, "w1")
    db.dispose()
