"""What a model page shows, built from the catalog entry (so it cannot drift from it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from songforge.api.catalog_view import model_parameters
from songforge.catalog import ModelSpec
from songforge.errors import ERROR_TYPES
from songforge.services.music_request import DEFAULT_BITRATE, DEFAULT_SAMPLE_RATE

EXAMPLE_PROMPT = "An energetic electronic dance track with pulsing synths and driving bass"
EXAMPLE_LYRICS = "[Verse]\nFeel the beat, move your feet\n[Chorus]\nLet the music take you higher"

# One line per error type of api.md: when a caller meets it and what to do.
ERROR_HELP: dict[str, str] = {
    "invalid_request": "A field is missing, has the wrong type or breaks a rule (param names "
    "it); malformed JSON; an unknown field; a body over 64 KiB (HTTP 413).",
    "authentication_error": "No key, or an unknown, revoked or expired key.",
    "insufficient_credits": "Your balance minus held credits is below this model's price.",
    "permission_denied": "The key may not use this model, or its credit cap is reached.",
    "not_found": "No such task for your account (other accounts' tasks are never visible).",
    "method_not_allowed": "The route exists but not with this HTTP method.",
    "idempotency_conflict": "The Idempotency-Key was used before with a different body.",
    "rate_limit": "Too many requests per minute for the key, or too many tasks in progress; "
    "retry after the Retry-After header's seconds.",
    "model_unavailable": "No live backend can take this model right now; retry later.",
    "internal_error": "Something unexpected failed on the server; quote the X-Request-Id.",
}


@dataclass(frozen=True)
class ModelDocs:
    spec: ModelSpec
    base_url: str
    parameters: list[dict[str, Any]]
    example_request: dict[str, Any]
    example_request_json: str
    example_create_response: str
    example_task_response: str
    example_failed_response: str
    example_error: str
    curl: str
    poll_curl: str
    python: str
    errors: list[tuple[int, str, str]]


def example_request(spec: ModelSpec) -> dict[str, Any]:
    return {
        "model": spec.id,
        "prompt": EXAMPLE_PROMPT,
        "lyrics": EXAMPLE_LYRICS,
        "bitrate": DEFAULT_BITRATE,
        "sample_rate": DEFAULT_SAMPLE_RATE,
    }


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _example_task(spec: ModelSpec, base_url: str, body: dict[str, Any]) -> dict[str, Any]:
    task_id = "tsk_Q2xv8dVb3nS1YqzL0kTa5w"
    return {
        "task_id": task_id,
        "model": spec.id,
        "status": "completed",
        "stage": "done",
        "stage_detail": None,
        "progress": 100,
        "queue_position": None,
        "eta_seconds": None,
        "attempt": 1,
        "created_at": "2026-11-23T09:00:00.000Z",
        "started_at": "2026-11-23T09:00:00.412Z",
        "finished_at": "2026-11-23T09:00:18.950Z",
        "input": {**body, "seed": 1834920211, "duration": None},
        "output": {
            "audio_url": f"{base_url}/api/v1/files/{task_id}.mp3?expires=1795510860&sig=…",
            "expires_at": "2026-11-24T09:01:00.000Z",
            "format": "mp3",
            "duration_seconds": 96.4,
            "sample_rate": body["sample_rate"],
            "bitrate": body["bitrate"],
            "bitrate_mode": "cbr",
            "channels": 2,
            "size_bytes": 3085312,
            "sha256": "9f2c…",
            "engine": spec.engine,
        },
        "credits": {"price": spec.price, "held": 0, "charged": spec.price, "refunded": 0},
        "error": None,
    }


def build_model_docs(spec: ModelSpec, base_url: str) -> ModelDocs:
    base = base_url.rstrip("/")
    body = example_request(spec)
    body_json = _pretty(body)
    task = _example_task(spec, base, body)
    failed = {
        **task,
        "status": "failed",
        "output": None,
        "credits": {"price": spec.price, "held": 0, "charged": 0, "refunded": spec.price},
        "error": {
            "code": 500,
            "message": "The song could not be generated (internal error)",
            "type": "internal_error",
        },
    }
    curl = (
        f"curl -X POST {base}/api/v1/audio/music \\\n"
        '  -H "Authorization: Bearer $SONGFORGE_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body_json}'"
    )
    poll_curl = (
        f'curl {base}/api/v1/tasks/TASK_ID \\\n  -H "Authorization: Bearer $SONGFORGE_API_KEY"'
    )
    python = f'''import os
import time

import httpx

BASE = "{base}"
headers = {{"Authorization": f"Bearer {{os.environ['SONGFORGE_API_KEY']}}"}}

created = httpx.post(
    f"{{BASE}}/api/v1/audio/music",
    headers=headers,
    json={{
        "model": {json.dumps(spec.id)},
        "prompt": {json.dumps(EXAMPLE_PROMPT)},
        "lyrics": {json.dumps(EXAMPLE_LYRICS)},
        "bitrate": {DEFAULT_BITRATE},
        "sample_rate": {DEFAULT_SAMPLE_RATE},
    }},
)
created.raise_for_status()
task_id = created.json()["data"]["task_id"]

while True:
    task = httpx.get(f"{{BASE}}/api/v1/tasks/{{task_id}}", headers=headers).json()["data"]
    if task["status"] != "IN_PROGRESS":
        break
    print(task["stage"], task["progress"], "%")
    time.sleep(2)

if task["status"] == "completed":
    song = httpx.get(task["output"]["audio_url"])
    with open("song.mp3", "wb") as out:
        out.write(song.content)
else:
    print("failed:", task["error"]["message"])
'''
    errors = [
        (status if type_ != "invalid_request" else 400, type_, ERROR_HELP.get(type_, ""))
        for type_, status in ERROR_TYPES.items()
    ]
    return ModelDocs(
        spec=spec,
        base_url=base,
        parameters=model_parameters(spec),
        example_request=body,
        example_request_json=body_json,
        example_create_response=_pretty(
            {
                "code": 200,
                "message": "success",
                "data": {"task_id": task["task_id"], "status": "IN_PROGRESS"},
            }
        ),
        example_task_response=_pretty({"code": 200, "message": "success", "data": task}),
        example_failed_response=_pretty({"code": 200, "message": "success", "data": failed}),
        example_error=_pretty(
            {
                "error": {
                    "code": 400,
                    "message": "'bitrate' must be one of 32000, 60000, 64000, 128000, 256000",
                    "type": "invalid_request",
                    "param": "bitrate",
                }
            }
        ),
        curl=curl,
        poll_curl=poll_curl,
        python=python,
        errors=errors,
    )
