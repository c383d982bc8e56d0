"""Many simultaneous creates from one account can never overspend it."""

from __future__ import annotations

import threading
from pathlib import Path

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.accounts import create_account, get_account
from songforge.services.errors import ConcurrencyLimitReached, InsufficientCredits
from songforge.services.orders import grant_credits
from songforge.services.tasks import NewTask, create_task


def test_concurrent_creates_never_overspend(database_url: str, tmp_path: Path) -> None:
    db = Database(database_url, pool_size=12)
    upgrade_to_head(db)
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 30 * 7, provider="operator")
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def attempt() -> None:
        start.wait()
        try:
            create_task(
                db,
                NewTask(account.id, None, "m", 30, {"prompt": "x"}, max_attempts=1),
                max_concurrent=1000,
            )
            code = "created"
        except InsufficientCredits:
            code = "insufficient credits"
        with lock:
            outcomes.append(code)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["created"] * 7 + ["insufficient credits"] * 9
    with db.read() as conn:
        final = get_account(conn, account.id)
    assert final is not None and final.balance == 210 and final.held == 210
    db.dispose()


def test_concurrent_creates_respect_the_active_task_limit(database_url: str) -> None:
    db = Database(database_url, pool_size=12)
    upgrade_to_head(db)
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 10_000, provider="operator")
    outcomes: list[str] = []
    start = threading.Barrier(12)

    def attempt() -> None:
        start.wait()
        try:
            create_task(
                db,
                NewTask(account.id, None, "m", 1, {"prompt": "x"}, max_attempts=1),
                max_concurrent=3,
            )
            outcomes.append("created")
        except ConcurrencyLimitReached as exc:
            assert exc.retry_after_seconds is not None
            outcomes.append("limit reached")

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["created"] * 3 + ["limit reached"] * 9
    db.dispose()
