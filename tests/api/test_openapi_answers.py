"""Real answers carry exactly the fields the document describes, no more, no fewer.

The answer schemas allow extra fields (so clients survive additions), which means
schema validation alone would not notice a field the server added but the
document forgot. This walks real answers against the document instead.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import LiveServer


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def undocumented(
    document: dict[str, Any], schema: dict[str, Any], value: Any, at: str
) -> list[str]:
    """Paths in ``value`` that the schema does not describe, and described but absent ones."""
    schema = _resolve(document, schema)
    if "anyOf" in schema:
        if value is None:
            return []
        branches = [_resolve(document, s) for s in schema["anyOf"] if s.get("type") != "null"]
        return undocumented(document, branches[0], value, at)
    found: list[str] = []
    if isinstance(value, dict) and "properties" in schema:
        described = set(schema["properties"])
        if schema.get("additionalProperties") is not True:  # open objects may carry more
            found += [f"{at}.{key} (not in the document)" for key in set(value) - described]
        found += [f"{at}.{key} (missing)" for key in set(schema.get("required", ())) - set(value)]
        for key in set(value) & described:
            found += undocumented(document, schema["properties"][key], value[key], f"{at}.{key}")
    elif isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, item in value.items():
            found += undocumented(document, schema["additionalProperties"], item, f"{at}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += undocumented(document, schema["items"], item, f"{at}[{index}]")
    return found


def test_real_answers_have_exactly_the_documented_fields(sqlite_server: LiveServer) -> None:
    document = httpx.get(f"{sqlite_server.url}/api/openapi.json").json()
    with sqlite_server.client() as client:
        created = client.post(
            "/api/v1/audio/music", json={"model": "minimax-music", "prompt": "Fields", "seed": 1}
        )
        task_id = created.json()["data"]["task_id"]
        sqlite_server.wait_for(task_id)
        # Hold the worker so the second task is still unfinished when it is cancelled.
        engine = sqlite_server.engines["minimax-music"]
        engine.gate = threading.Event()  # type: ignore[attr-defined]
        queued = client.post("/api/v1/audio/music", json={"model": "minimax-music", "prompt": "B"})
        canceled = client.post(f"/api/v1/tasks/{queued.json()['data']['task_id']}/cancel")
        answers = {
            ("post", "/api/v1/audio/music", "200"): created,
            ("get", "/api/v1/tasks/{task_id}", "200"): client.get(f"/api/v1/tasks/{task_id}"),
            ("get", "/api/v1/tasks", "200"): client.get("/api/v1/tasks"),
            ("post", "/api/v1/tasks/{task_id}/cancel", "200"): canceled,
            ("get", "/api/v1/models", "200"): client.get("/api/v1/models"),
            ("get", "/api/v1/account", "200"): client.get("/api/v1/account"),
            ("get", "/healthz", "200"): client.get("/healthz"),
            ("get", "/readyz", "200"): client.get("/readyz"),
            ("get", "/api/v1/tasks/{task_id}", "404"): client.get("/api/v1/tasks/tsk_none"),
        }
        engine.gate.set()  # type: ignore[attr-defined]
    problems: list[str] = []
    for (method, path, status), answer in answers.items():
        assert str(answer.status_code) == status, (path, answer.text)
        content = document["paths"][path][method]["responses"][status]["content"]
        schema = content["application/json"]["schema"]
        problems += undocumented(document, schema, answer.json(), f"{method.upper()} {path}")
    assert problems == []


def test_extension_answers_have_exactly_the_documented_fields(
    server_factory: Any, tmp_path: Path
) -> None:
    """Issue 14: a task with every extension, a lossless one, and the models' features."""
    from tests.api.test_output_extensions import CATALOG, create, extensions_server

    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    server = extensions_server(server_factory, catalog)
    document = httpx.get(f"{server.url}/api/openapi.json").json()
    full = server.wait_for(create(server, format="flac", stems=True, lyrics_timing=True))
    mp3 = server.wait_for(create(server, instrumental=True, lyrics_timing=True))
    task_schema = document["paths"]["/api/v1/tasks/{task_id}"]["get"]["responses"]["200"]
    models_schema = document["paths"]["/api/v1/models"]["get"]["responses"]["200"]
    with server.client() as client:
        answers = [
            (task_schema, client.get(f"/api/v1/tasks/{full['task_id']}").json(), "flac"),
            (task_schema, client.get(f"/api/v1/tasks/{mp3['task_id']}").json(), "mp3"),
            (models_schema, client.get("/api/v1/models").json(), "models"),
        ]
    problems: list[str] = []
    for answer_schema, body, name in answers:
        schema = answer_schema["content"]["application/json"]["schema"]
        problems += undocumented(document, schema, body, name)
    assert problems == []
    # And each file is served with a content type the document lists for its route.
    files = document["paths"]["/api/v1/files/{task_id}/{file_name}"]["get"]["responses"]["200"]
    flac = document["paths"]["/api/v1/files/{task_id}.flac"]["get"]["responses"]["200"]
    output = full["output"]
    for url, listed in (
        (output["audio_url"], flac["content"]),
        (output["stems"]["vocals"], files["content"]),
        (output["lrc_url"], files["content"]),
    ):
        served = httpx.get(url).headers["content-type"].split(";")[0]
        assert served in listed, url
