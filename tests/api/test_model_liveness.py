"""Which creates are queued and which get 503 model_unavailable (issue 9.11): a model
is refused only when no worker served it for the grace period."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.conftest import LiveServer

BODY = {"model": "minimax-music", "prompt": "Dreamy lo-fi with soft keys"}


def without_live_workers(server: LiveServer) -> None:
    server.stop_workers()
    # Past the one-second cache of the live counts: the model is not live any more.
    time.sleep(1.1)
    assert server.context.live_workers().get("minimax-music", 0) == 0


def test_tasks_are_queued_for_a_worker_seen_within_the_grace_period(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(worker_grace_seconds=60)
    without_live_workers(server)
    with server.client() as client:
        created = client.post("/api/v1/audio/music", json=BODY)
    assert created.status_code == 200, created.text
    # The worker comes back (a restart) and takes it.
    server.start_worker()
    assert server.wait_for(created.json()["data"]["task_id"])["status"] == "completed"


def test_a_model_no_worker_served_for_the_grace_period_is_refused(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(worker_grace_seconds=0.5)
    without_live_workers(server)
    with server.client() as client:
        refused = client.post("/api/v1/audio/music", json=BODY)
    assert refused.status_code == 503
    assert refused.json()["error"]["type"] == "model_unavailable"
    assert refused.headers["Retry-After"] == "30"


def test_while_one_caller_rereads_the_live_workers_the_others_keep_the_last_figures(
    sqlite_server: LiveServer,
) -> None:
    context = sqlite_server.context
    assert context.live_workers().get("minimax-music", 0) == 1
    sqlite_server.stop_workers()
    time.sleep(1.1)  # the cached figures ran out
    context._live_refreshing = True  # another caller is reading them now
    assert context.live_workers().get("minimax-music", 0) == 1
    context._live_refreshing = False
    assert context.live_workers().get("minimax-music", 0) == 0
    assert context._live_refreshing is False
