"""Hypothesis drives the task and billing state machine through random sequences of
create / claim / complete / fail / cancel / lease expiry / stale finishes and checks
after every step that no task is charged twice, no hold is left behind and the
spendable balance never goes negative."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select, update

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import ledger_entries, tasks
from songforge.db.types import utcnow
from songforge.services import queue
from songforge.services.accounts import create_account, get_account
from songforge.services.errors import InsufficientCredits, InvalidField
from songforge.services.orders import grant_credits
from songforge.services.queue import Claim
from songforge.services.task_records import TaskStatus
from songforge.services.tasks import NewTask, cancel_task, create_task

LEASE = timedelta(seconds=30)
PRICES = st.sampled_from([1, 7, 30])


class BillingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._dir = tempfile.TemporaryDirectory()
        self.db = Database(f"sqlite:///{Path(self._dir.name) / 'state.db'}")
        upgrade_to_head(self.db)
        with self.db.write() as conn:
            self.account_id = create_account(conn, email="state@example.com").id
            grant_credits(conn, self.account_id, 100, provider="operator")
        self.topped_up = 100
        self.task_ids: list[str] = []
        self.claims: list[Claim] = []
        self.worker_counter = 0

    def teardown(self) -> None:
        self.db.dispose()
        self._dir.cleanup()

    @rule(price=PRICES, attempts=st.integers(1, 3))
    def create(self, price: int, attempts: int) -> None:
        try:
            result = create_task(
                self.db,
                NewTask(
                    account_id=self.account_id,
                    api_key_id=None,
                    model="m",
                    price=price,
                    input={"prompt": "x"},
                    max_attempts=attempts,
                ),
                max_concurrent=1000,
            )
        except InsufficientCredits:
            return
        self.task_ids.append(result.task.id)

    @rule(amount=st.integers(1, 50))
    def top_up(self, amount: int) -> None:
        with self.db.write() as conn:
            grant_credits(conn, self.account_id, amount, provider="operator")
        self.topped_up += amount

    @rule()
    def claim(self) -> None:
        self.worker_counter += 1
        claim = queue.claim_next_task(self.db, f"w{self.worker_counter}", ["m"], LEASE)
        if claim is not None:
            self.claims.append(claim)

    @precondition(lambda self: self.claims)
    @rule(index=st.integers(0, 1000))
    def complete(self, index: int) -> None:
        claim = self.claims[index % len(self.claims)]
        queue.complete_task(self.db, claim, {"format": "mp3"}, "key")

    @precondition(lambda self: self.claims)
    @rule(index=st.integers(0, 1000), retryable=st.booleans())
    def fail(self, index: int, retryable: bool) -> None:
        claim = self.claims[index % len(self.claims)]
        error = {"code": 500, "message": "boom", "type": "generation_error"}
        queue.fail_attempt(self.db, claim, error, retryable=retryable)

    @precondition(lambda self: self.task_ids)
    @rule(index=st.integers(0, 1000))
    def cancel(self, index: int) -> None:
        try:
            cancel_task(self.db, self.account_id, self.task_ids[index % len(self.task_ids)])
        except InvalidField as exc:
            assert exc.field == "task_id"  # already finished

    @rule()
    def expire_leases_and_reap(self) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(tasks)
                .where(tasks.c.lease_expires_at.is_not(None))
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        queue.reap_expired_leases(self.db)

    @invariant()
    def money_is_conserved(self) -> None:
        with self.db.read() as conn:
            account = get_account(conn, self.account_id)
            assert account is not None
            assert account.held >= 0
            assert account.balance - account.held >= 0
            rows = conn.execute(
                select(tasks.c.id, tasks.c.status, tasks.c.price, tasks.c.credits_charged)
            ).all()
            held_by_running = sum(r.price for r in rows if r.status == TaskStatus.IN_PROGRESS)
            assert account.held == held_by_running
            charged = 0
            for row in rows:
                kinds = dict(
                    conn.execute(
                        select(ledger_entries.c.kind, func.count())
                        .where(ledger_entries.c.task_id == row.id)
                        .group_by(ledger_entries.c.kind)
                    ).all()
                )
                assert kinds.get("hold") == 1
                assert kinds.get("charge", 0) + kinds.get("release", 0) == (
                    0 if row.status == TaskStatus.IN_PROGRESS else 1
                )
                if row.status == TaskStatus.COMPLETED:
                    assert kinds.get("charge") == 1 and row.credits_charged == row.price
                    charged += row.price
                if row.status == TaskStatus.FAILED:
                    assert kinds.get("release") == 1 and row.credits_charged == 0
            assert account.balance == self.topped_up - charged


BillingMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBillingStateMachine = BillingMachine.TestCase
