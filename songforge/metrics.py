"""Prometheus metrics: every answer counted by status (5xx included, see
api/middleware.py) and its latency, plus operator figures read at scrape time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

log = logging.getLogger("songforge.metrics")


class _FiguresCollector(Collector):
    """Gauges computed at scrape time from OperatorFigures (api/operator_figures.py)."""

    def __init__(self, read: Callable[[], Any]):
        self._read = read

    def collect(self) -> Iterable[Metric]:
        try:
            figures = self._read()
        except Exception:
            # Usually the database is down (/readyz says so); logged, since a scrape
            # that silently loses its figures hides whatever else went wrong.
            log.warning("operator figures unavailable for this scrape", exc_info=True)
            return []
        task_gauge = GaugeMetricFamily(
            "songforge_tasks",
            "Unfinished tasks by model, status and stage",
            labels=["model", "status", "stage"],
        )
        for (model, status, stage), count in sorted(figures.tasks.items()):
            task_gauge.add_metric([model, status, stage], count)
        families: list[Metric] = [task_gauge]
        for name, help_text, values in (
            ("songforge_live_workers", "Workers heartbeating, per model", figures.live_workers),
            ("songforge_queue_depth", "Tasks waiting for a worker, per model", figures.queue_depth),
            (
                "songforge_queue_oldest_age_seconds",
                "Age of the oldest task waiting for a worker, per model",
                figures.oldest_queued_seconds,
            ),
            (
                "songforge_engine_seconds_per_audio_second",
                "Run seconds (engine and encoding) per second of audio made, per model, "
                "over the last hour",
                figures.seconds_per_audio_second,
            ),
        ):
            gauge = GaugeMetricFamily(name, help_text, labels=["model"])
            for model, value in sorted(values.items()):
                gauge.add_metric([model], value)
            families.append(gauge)
        outcomes = GaugeMetricFamily(
            "songforge_task_outcomes_last_hour",
            "Tasks finished in the last hour by model, status and error type",
            labels=["model", "status", "error_type"],
        )
        for (model, status, error_type), count in sorted(figures.outcomes.items()):
            outcomes.add_metric([model, status, error_type], count)
        families.append(outcomes)
        families.append(
            GaugeMetricFamily(
                "songforge_holds_outstanding",
                "Unfinished tasks holding credits",
                value=figures.holds_outstanding,
            )
        )
        families.append(
            GaugeMetricFamily(
                "songforge_credits_held",
                "Credits held over all accounts (should equal the holds of unfinished tasks)",
                value=figures.credits_held,
            )
        )
        families.extend(upstream_families(figures.upstream))
        return families


def upstream_families(upstream: Mapping[str, Any]) -> list[Metric]:
    """The relay workers' upstream calls and circuits, one series per live worker
    (each worker counts its own calls from its start; per-worker series keep
    Prometheus's counter-reset handling right when one restarts). Labels: worker id,
    model id, engine name (``family/upstream_model``), outcome: never a key or URL."""
    calls = CounterMetricFamily(
        "songforge_upstream_requests",
        "Calls to remote engines' upstreams by outcome (ok or the error type)",
        labels=["worker", "model", "engine", "outcome"],
    )
    latency = HistogramMetricFamily(
        "songforge_upstream_request_seconds",
        "Duration of calls to remote engines' upstreams (generation and download)",
        labels=["worker", "model", "engine"],
    )
    circuit = GaugeMetricFamily(
        "songforge_upstream_circuit_open",
        "1 while a relay worker's circuit breaker keeps the model off-line, else 0",
        labels=["worker", "model", "engine"],
    )
    for worker, metrics in sorted(upstream.items()):
        models = metrics.get("models")
        if not isinstance(models, dict):
            continue
        for model, stats in sorted(models.items()):
            try:
                engine = str(stats["engine"])
                labels = [worker, model, engine]
                for outcome, count in sorted(stats["outcomes"].items()):
                    calls.add_metric([*labels, outcome], float(count))
                cumulative, buckets = 0.0, []
                bounds = [*map(str, stats["bounds"]), "+Inf"]
                for bound, count in zip(bounds, stats["buckets"], strict=True):
                    cumulative += count
                    buckets.append((bound, cumulative))
                latency.add_metric(labels, buckets, float(stats["seconds"]))
                circuit.add_metric(labels, 1.0 if stats["circuit_open"] else 0.0)
            except (KeyError, TypeError, ValueError, AttributeError):
                # A row written by another version: skip it rather than fail the scrape.
                log.warning("worker %s: unreadable upstream metrics for %s", worker, model)
    return [calls, latency, circuit]


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

    def watch_figures(self, read: Callable[[], Any]) -> None:
        self.registry.register(_FiguresCollector(read))
