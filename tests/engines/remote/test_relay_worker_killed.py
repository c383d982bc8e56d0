"""A relay worker process stopped in the middle of an upstream call.

SIGKILL: nothing is lost (the task is relayed again by another worker) and the user
is charged once. SIGTERM: the songs in flight get the shutdown grace; one that
comes back in time is delivered, one that does not is handed back to the queue
(lease released, attempt not counted, nothing charged) and the process exits."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines.remote.conftest import MINIMAX_KEY_ENV
from tests.fakes_upstreams.minimax import FakeMiniMax
from tests.worker.process_rig import Rig, wait_until
from tests.worker.test_worker_killed import kill_mid_task_and_finish_elsewhere


class RelayRig(Rig):
    def __init__(self, database_url: str, tmp_path: Path, fake: FakeMiniMax) -> None:
        super().__init__(
            database_url,
            tmp_path,
            SONGFORGE_LEASE_SECONDS="2",
            SONGFORGE_REAPER_INTERVAL_SECONDS="0.5",
            **{MINIMAX_KEY_ENV: fake.api_key},
        )
        # PostgreSQL's database lives for the whole session: a model of our own keeps
        # other tests' leftover tasks (and their upstream calls) out of the way.
        self.model = f"minimax-music-{uuid.uuid4().hex[:8]}"
        self.catalog = tmp_path / "catalog.toml"
        self.catalog.write_text(
            f'[models.{self.model}]\nengine = "minimax-cloud"\nprice = 30\n'
            f'options = {{ base_url = "{fake.url}", api_key_env = "{MINIMAX_KEY_ENV}", '
            'upstream_model = "music-2.6", timeout_s = 60 }\n'
        )


@pytest.fixture
def relay_rig(database_url: str, tmp_path: Path, fake_minimax: FakeMiniMax) -> Iterator[RelayRig]:
    made = RelayRig(database_url, tmp_path, fake_minimax)
    yield made
    made.close()


def test_killed_relay_worker_loses_nothing_and_charges_once(
    relay_rig: RelayRig, fake_minimax: FakeMiniMax
) -> None:
    rig = relay_rig
    task_id = rig.new_task(rig.model, lyrics="la la la")
    # The first call hangs long enough to kill the worker in the middle of it.
    fake_minimax.generation.push("slow:20")
    kill_mid_task_and_finish_elsewhere(
        rig,
        rig.catalog,
        rig.model,
        task_id,
        lambda: fake_minimax.in_flight == 1,
    )
    final = rig.task(task_id)
    assert final.status == "completed", rig.output()
    assert final.attempt == 2
    assert final.credits_charged == 30
    assert final.output is not None and final.output["engine"] == "minimax-cloud/music-2.6"
    assert len(fake_minimax.bodies) == 2  # relayed again, not lost
    assert rig.ledger(task_id) == ["hold", "charge"]
    assert rig.balance() == (70, 0)
    assert fake_minimax.api_key not in rig.log.read_text()


def test_sigterm_delivers_the_songs_that_come_back_within_the_grace(
    relay_rig: RelayRig, fake_minimax: FakeMiniMax
) -> None:
    rig = relay_rig
    task_id = rig.new_task(rig.model, lyrics="la la la")
    fake_minimax.generation.push("slow:3")
    worker = rig.worker(rig.catalog, rig.model, SONGFORGE_SHUTDOWN_GRACE_SECONDS="60")
    wait_until(lambda: fake_minimax.in_flight == 1, 60, "the worker to call MiniMax")
    worker.send_signal(signal.SIGTERM)
    worker.wait(60)
    assert worker.returncode == 0, rig.output()
    done = rig.task(task_id)
    assert (done.status, done.attempt, done.credits_charged) == ("completed", 1, 30), rig.output()
    assert rig.ledger(task_id) == ["hold", "charge"]
    # Told to stop, it claimed nothing more.
    second = rig.new_task(rig.model, lyrics="la la la")
    time.sleep(0.5)
    assert rig.task(second).stage == "queued"
    assert len(fake_minimax.bodies) == 1


def test_sigterm_past_the_grace_hands_the_task_back_without_burning_an_attempt(
    relay_rig: RelayRig, fake_minimax: FakeMiniMax
) -> None:
    rig = relay_rig
    task_id = rig.new_task(rig.model, lyrics="la la la")
    fake_minimax.generation.push("slow:60")
    worker = rig.worker(rig.catalog, rig.model, SONGFORGE_SHUTDOWN_GRACE_SECONDS="2")
    wait_until(lambda: fake_minimax.in_flight == 1, 60, "the worker to call MiniMax")
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    took = time.monotonic() - started
    assert worker.returncode == 0, rig.output()
    assert took < 20, f"{took:.1f} s"  # bounded by the grace, not by the upstream's 60 s
    back = rig.task(task_id)
    assert (back.status, back.stage) == ("IN_PROGRESS", "queued"), rig.output()
    assert (back.attempt, back.lease_owner, back.lease_expires_at) == (0, None, None)
    assert back.credits_held == 30 and back.credits_charged == 0
    assert rig.ledger(task_id) == ["hold"]
    assert "handed back" in rig.output()

    # The next worker relays it as a first attempt; the user is charged once.
    rig.worker(rig.catalog, rig.model)
    wait_until(lambda: rig.task(task_id).status != "IN_PROGRESS", 60, "the next worker")
    done = rig.task(task_id)
    assert (done.status, done.attempt, done.credits_charged) == ("completed", 1, 30), rig.output()
    assert rig.ledger(task_id) == ["hold", "charge"]
    assert rig.balance() == (70, 0)
