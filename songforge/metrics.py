"""Prometheus metrics: request counts and latency, plus queue figures read at scrape time."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class _QueueCollector(Collector):
    def __init__(self, read: Callable[[], tuple[dict[tuple[str, str, str], int], dict[str, int]]]):
        self._read = read

    def collect(self) -> Iterable[Metric]:
        try:
            tasks, workers = self._read()
        except Exception:
            return []
        task_gauge = GaugeMetricFamily(
            "songforge_tasks",
            "Tasks by model, status and stage",
            labels=["model", "status", "stage"],
        )
        for (model, status, stage), count in sorted(tasks.items()):
            task_gauge.add_metric([model, status, stage], count)
        worker_gauge = GaugeMetricFamily(
            "songforge_live_workers", "Workers heartbeating, per model", labels=["model"]
        )
        for model, count in sorted(workers.items()):
            worker_gauge.add_metric([model], count)
        return [task_gauge, worker_gauge]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "songforge_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "songforge_http_request_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.tasks_created = Counter(
            "songforge_tasks_created", "Tasks created by model", ["model"], registry=self.registry
        )
        self.rate_limit_backend_errors = Counter(
            "songforge_rate_limit_backend_errors",
            "Rate-limit checks that could not reach the shared backend (counted in memory)",
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, started: float) -> None:
        # Label lookups cost more than the increments; keep the children.
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(time.perf_counter() - started)

    def watch_queue(
        self, read: Callable[[], tuple[dict[tuple[str, str, str], int], dict[str, int]]]
    ) -> None:
        self.registry.register(_QueueCollector(read))
