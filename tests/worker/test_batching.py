"""Engines that batch get several claimed tasks at once; each is still settled alone."""

from __future__ import annotations

from typing import Any

from songforge.services.billing import ledger_for_task
from songforge.services.workers import register_worker
from tests.api.test_create import SEED_BODY, balance
from tests.fakes import BatchToneEngine


def test_batch_engine_renders_queued_tasks_together(server_factory: Any) -> None:
    engine = BatchToneEngine(max_batch=3)
    server = server_factory(engines={"minimax-music": engine}, start_workers=False)
    # A worker row that claims nothing keeps the model live while tasks queue up.
    register_worker(server.db, "idle-worker", ["minimax-music"])
    ids = []
    with server.client() as client:
        for n in range(4):
            response = client.post("/api/v1/audio/music", json={**SEED_BODY, "seed": n})
            assert response.status_code == 200, response.text
            ids.append(response.json()["data"]["task_id"])
    server.start_worker()
    finals = [server.wait_for(task_id) for task_id in ids]
    assert [f["status"] for f in finals] == ["completed"] * 4
    assert engine.batches == [3]  # then the fourth alone, through generate()
    assert engine.calls == 4
    assert len({f["output"]["sha256"] for f in finals}) == 4  # each its own song
    assert balance(server, server.account_id) == (1000 - 4 * 30, 0)
    with server.db.read() as conn:
        for task_id in ids:
            assert [e.kind for e in ledger_for_task(conn, task_id)] == ["hold", "charge"]
