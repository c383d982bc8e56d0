"""Fuzzing: schemathesis over the document the server serves, and a read-back property.

Every operation of /api/openapi.json gets requests generated from the document,
both valid ones and ones the document says are invalid, sent to a live server
over real HTTP. Each answer must be no 5xx, a documented status, of the documented
content type, headers and schema, and invalid requests must be refused.

``positive_data_acceptance`` is not checked: valid JSON Schema is not always an
acceptable request here, by design (a cursor must be one we issued, lyrics tags
are checked against a list, credits run out, a model may have no live worker),
and every such refusal is a documented 4xx or 503 that the other checks verify.

The default run is small (FUZZ_EXAMPLES per operation and mode); the run marked
slow sends FUZZ_EXAMPLES_SLOW. Examples are derandomized, so a run is repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from songforge.api.openapi import OPERATIONS
from tests.conftest import LiveServer
from tests.fakes import ToneEngine

FUZZ_EXAMPLES = 15
FUZZ_EXAMPLES_SLOW = 200

# not_a_server_error is replaced by _no_server_error: a documented 503 is an answer.
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]


@dataclass
class FuzzRun:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def _no_server_error(case: Any, response: Any) -> None:
    """No 5xx, except the 503 an operation documents (no live worker, not ready)."""
    documented_503 = "503" in case.operation.definition.raw.get("responses", {})
    if response.status_code == 503 and documented_503:
        return
    assert response.status_code < 500, (
        f"{response.status_code} from {case.as_curl_command()}\n{response.text[:500]}"
    )


def _schema(server: LiveServer) -> Any:
    document = httpx.get(f"{server.url}/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=server.url)
    return schema


def real_values(server: LiveServer) -> list[dict[str, Any]]:
    """Parameters that name real things (a completed and a canceled task, a valid audio
    link), so the fuzzer also reads real tasks and audio, not only 404s."""
    with server.client() as client:
        ids = [
            client.post(
                "/api/v1/audio/music", json={"model": "minimax-music", "prompt": f"Seed {n}"}
            ).json()["data"]["task_id"]
            for n in range(2)
        ]
        done = server.wait_for(ids[0])
        client.post(f"/api/v1/tasks/{ids[1]}/cancel")
    link = parse_qs(urlsplit(done["output"]["audio_url"]).query)
    return [
        {"path_parameters": {"task_id": ids[0]}},
        {"path_parameters": {"task_id": ids[1]}},
        {
            "path_parameters": {"task_id": ids[0]},
            "query": {"expires": int(link["expires"][0]), "sig": link["sig"][0]},
        },
    ]


def fuzz_operation(server: LiveServer, method: str, path: str, examples: int) -> FuzzRun:
    operation = _schema(server)[path][method.upper()]
    run = FuzzRun()
    headers = {"Authorization": f"Bearer {server.api_key}"}
    modes = st.sampled_from(
        [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    )
    cases = modes.flatmap(lambda mode: operation.as_strategy(generation_mode=mode))
    names = {p["name"] for p in operation.definition.raw.get("parameters", [])}
    fixed = [
        values
        for values in (real_values(server) if "task_id" in names else [])
        if all(set(group) <= names for group in values.values())
    ]
    if fixed:
        real = st.sampled_from(fixed).flatmap(lambda values: operation.as_strategy(**values))
        cases = st.one_of(cases, real)

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def send(case: Any) -> None:
        sent_headers = _with_key(case, headers)
        response = case.call(headers=sent_headers, timeout=30)
        run.sent += 1
        run.statuses[response.status_code] = run.statuses.get(response.status_code, 0) + 1
        _no_server_error(case, response)
        case.validate_response(response, checks=CHECKS, headers=sent_headers)

    send()
    return run


def _with_key(case: Any, key_headers: dict[str, str]) -> dict[str, str]:
    """Our key in place of the generated Authorization value, unless the case left
    the header out. The document declares Authorization as a required header; a
    negative case may drop it on purpose, and then it must go out without one and
    be refused (401), not be sent with our key and counted as invalid data accepted."""
    generated = {name.lower() for name in (case.headers or {})}
    return key_headers if "authorization" in generated else {}


def _report(run: FuzzRun) -> None:
    # Shown with -rA or -s: how much was sent and what came back.
    print(f"{run.sent} requests, statuses {dict(sorted(run.statuses.items()))}")


@pytest.fixture
def local_server(server_factory: Any) -> LiveServer:
    """The default run fuzzes the API on the local engine only (the HTTP layer is the
    same for both); the slow run uses sqlite_server, on both contract engines."""
    return server_factory(engines={"minimax-music": ToneEngine()})  # type: ignore[no-any-return]


OPERATION_IDS = [f"{op.method.upper()} {op.path}" for op in OPERATIONS]


@pytest.mark.parametrize(
    ("method", "path"), [(op.method, op.path) for op in OPERATIONS], ids=OPERATION_IDS
)
def test_fuzz_operation(local_server: LiveServer, method: str, path: str) -> None:
    run = fuzz_operation(local_server, method, path, FUZZ_EXAMPLES)
    assert run.sent >= 1
    _report(run)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path"), [(op.method, op.path) for op in OPERATIONS], ids=OPERATION_IDS
)
def test_fuzz_operation_long(sqlite_server: LiveServer, method: str, path: str) -> None:
    run = fuzz_operation(sqlite_server, method, path, FUZZ_EXAMPLES_SLOW)
    assert run.sent >= 1
    _report(run)


# What the fuzzer found, kept as plain regressions.


def test_an_unknown_query_parameter_of_the_task_list_is_refused(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        for query in ({"stauts": "completed"}, {"": "false"}):
            answer = client.get("/api/v1/tasks", params=query)
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert error["type"] == "invalid_request"
            assert error["param"] == next(iter(query))


def test_an_idempotent_replay_answers_the_tasks_status_now(sqlite_server: LiveServer) -> None:
    body = {"model": "minimax-music", "prompt": "Replayed", "seed": 3}
    headers = {"Idempotency-Key": "replay-1"}
    with sqlite_server.client() as client:
        first = client.post("/api/v1/audio/music", json=body, headers=headers).json()["data"]
        sqlite_server.wait_for(first["task_id"])
        again = client.post("/api/v1/audio/music", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["data"] == {"task_id": first["task_id"], "status": "completed"}
    document = httpx.get(f"{sqlite_server.url}/api/openapi.json").json()
    status = document["components"]["schemas"]["TaskCreated"]["properties"]["status"]
    assert "completed" in status["enum"]
