"""create_app: FastAPI's native OpenTelemetry is off unless the operator asks for it."""

from __future__ import annotations

from pathlib import Path

import opentelemetry.trace
import pytest
from fastapi.testclient import TestClient

from songforge.app import create_app
from tests.conftest import make_settings


@pytest.mark.parametrize("wanted", [False, True])
def test_opentelemetry_is_looked_up_per_request_only_when_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wanted: bool
) -> None:
    lookups: list[object] = []
    real = opentelemetry.trace.get_tracer_provider

    def counted() -> opentelemetry.trace.TracerProvider:
        lookups.append(None)
        return real()

    monkeypatch.setattr(opentelemetry.trace, "get_tracer_provider", counted)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", opentelemetry=wanted)
    with TestClient(create_app(settings)) as client:
        before = len(lookups)
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
    assert (len(lookups) - before >= 3) is wanted
