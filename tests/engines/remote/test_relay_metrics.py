"""GET /metrics shows the relay workers' upstream calls (by engine and outcome, with a
latency histogram) and each model's circuit, and never a key or an upstream URL."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.engines.remote.conftest import minimax_engine
from tests.engines.remote.test_relay_worker import create, wait_until
from tests.fakes_upstreams.minimax import FakeMiniMax

LABELS = {"model": "minimax-music", "engine": "minimax-cloud/music-2.6"}


def samples(server: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, labels without the worker) -> value, from a real scrape."""
    with server.client() as client:
        text = client.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("songforge_upstream"):
                labels = {k: v for k, v in sample.labels.items() if k != "worker"}
                assert sample.labels["worker"].startswith("wrk_")
                found[(sample.name, tuple(sorted(labels.items())))] = sample.value
    return found


def key(name: str, **extra: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted({**LABELS, **extra}.items()))


def test_upstream_calls_and_circuit_are_on_metrics(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    engine = minimax_engine(fake_minimax, max_retries=1, failure_threshold=1, probe_interval_s=60)
    server = server_factory(engines={"minimax-music": engine})
    assert server.wait_for(create(server).json()["data"]["task_id"])["status"] == "completed"
    # A content refusal (final, the circuit stays closed), then a 500 retried into a
    # refused key, which opens the circuit.
    fake_minimax.generation.push("code:1026")
    refused = server.wait_for(create(server, 2).json()["data"]["task_id"])
    assert refused["error"]["type"] == "content_policy"
    fake_minimax.generation.push("http500", "code:1004")
    assert server.wait_for(create(server, 3).json()["data"]["task_id"])["status"] == "failed"
    assert engine.breaker.is_open

    def scraped() -> bool:
        # The worker writes its figures with each presence heartbeat.
        found = samples(server)
        return (
            found.get(key("songforge_upstream_circuit_open")) == 1.0
            and found.get(key("songforge_upstream_requests_total", outcome="upstream_auth")) == 1.0
        )

    wait_until(scraped, 20, "the worker's next presence heartbeat")
    found = samples(server)
    requests = "songforge_upstream_requests_total"
    assert found[key(requests, outcome="ok")] == 1.0
    assert found[key(requests, outcome="content_policy")] == 1.0
    assert found[key(requests, outcome="upstream_unavailable")] == 1.0
    assert found[key(requests, outcome="upstream_auth")] == 1.0
    assert found[key("songforge_upstream_request_seconds_count")] == 4.0
    assert found[key("songforge_upstream_request_seconds_bucket", le="+Inf")] == 4.0
    assert 0 < found[key("songforge_upstream_request_seconds_sum")] < 4 * 5.0  # timeout_s 5

    with server.client() as client:
        text = client.get("/metrics").text
    assert fake_minimax.api_key not in text
    assert fake_minimax.url not in text and "127.0.0.1" not in text
