"""A worker process killed with SIGKILL mid-task: another worker finishes the task,
and the account is charged exactly once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.worker.process_rig import Rig, wait_until

__all__ = ["wait_until"]  # imported from here by older tests


@pytest.fixture
def killing_rig(database_url: str, tmp_path: Path) -> Iterator[Rig]:
    """Short leases, so the killed worker's task comes back within seconds."""
    made = Rig(
        database_url,
        tmp_path,
        SONGFORGE_LEASE_SECONDS="2",
        SONGFORGE_REAPER_INTERVAL_SECONDS="0.5",
    )
    yield made
    made.close()


def kill_mid_task_and_finish_elsewhere(
    rig: Rig, catalog: Path, model: str, task_id: str, started: object
) -> None:
    """Start a worker, SIGKILL it once ``started()`` holds, start a second one and
    wait for the task to end."""
    first = rig.worker(catalog, model)
    wait_until(started, 60, "the first worker to start the task")  # type: ignore[arg-type]
    assert rig.task(task_id).attempt == 1
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = rig.worker(catalog, model)
    wait_until(lambda: rig.task(task_id).status != "IN_PROGRESS", 60, "the second worker")
    second.terminate()
    second.wait(10)


def test_killed_worker_task_is_retried_and_charged_once(killing_rig: Rig, tmp_path: Path) -> None:
    rig = killing_rig
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[models.slow-tone]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
        "options = { seconds = 1.0, delay = 3.0 }\n"
    )
    task_id = rig.new_task("slow-tone")
    kill_mid_task_and_finish_elsewhere(
        rig, catalog, "slow-tone", task_id, lambda: rig.task(task_id).stage == "generating"
    )
    final = rig.task(task_id)
    assert final.status == "completed", rig.output()
    assert final.attempt == 2
    assert final.credits_charged == 30
    assert rig.ledger(task_id) == ["hold", "charge"]
    assert rig.balance() == (70, 0)
