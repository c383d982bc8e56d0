"""Parsing the API's JSON into the client's typed results (docs/api.md shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from songforge.client import Account, SongforgeError, Task, TaskPage
from songforge.client.models import Model, parse_models

COMPLETED = {
    "task_id": "task_abc",
    "model": "minimax-music",
    "status": "completed",
    "stage": "done",
    "progress": 100,
    "queue_position": None,
    "eta_seconds": None,
    "created_at": "2026-11-23T08:00:00Z",
    "started_at": "2026-11-23T08:00:01.250000Z",
    "finished_at": "2026-11-23T08:00:09+00:00",
    "input": {
        "model": "minimax-music",
        "prompt": "lo-fi piano",
        "lyrics": "",
        "bitrate": 60000,
        "sample_rate": 24000,
        "seed": 7,
    },
    "output": {
        "audio_url": "/audio/task_abc.mp3?sig=x",
        "expires_at": "2026-11-24T08:00:09Z",
        "format": "mp3",
        "duration_seconds": 61.5,
        "sample_rate": 24000,
        "bitrate": 60000,
        "bitrate_mode": "abr",
        "channels": 2,
        "size_bytes": 461000,
        "sha256": "ab" * 32,
        "engine": "composer",
        "something_new": {"added": "later"},
    },
    "credits": {"price": 30, "held": 0, "charged": 30, "refunded": 0},
    "error": None,
    "a_field_from_the_future": 1,
}


def test_completed_task_is_read_field_by_field() -> None:
    task = Task.from_json(COMPLETED)
    assert task.is_final and task.is_completed and not task.is_failed
    assert task.progress == 100.0
    assert task.started_at == datetime(2026, 11, 23, 8, 0, 1, 250000, tzinfo=UTC)
    assert task.input is not None and task.input.bitrate == 60000 and task.input.seed == 7
    assert task.output is not None
    assert task.output.bitrate_mode == "abr" and task.output.engine == "composer"
    assert task.output.raw["something_new"] == {"added": "later"}
    assert task.credits is not None and task.credits.charged == 30
    assert task.error is None
    assert task.raw["a_field_from_the_future"] == 1


def test_in_progress_task_with_only_the_required_fields() -> None:
    task = Task.from_json({"task_id": "t1", "status": "IN_PROGRESS"})
    assert not task.is_final
    assert task.stage is None and task.output is None and task.credits is None


def test_failed_task_carries_its_error() -> None:
    task = Task.from_json(
        {
            "task_id": "t1",
            "status": "failed",
            "error": {"code": "canceled", "message": "Canceled by the user", "type": "canceled"},
        }
    )
    assert task.is_failed
    assert task.error is not None and task.error.type == "canceled"


def test_wrong_types_are_dropped_not_trusted() -> None:
    task = Task.from_json(
        {"task_id": "t1", "status": "IN_PROGRESS", "progress": "50", "queue_position": True}
    )
    assert task.progress is None and task.queue_position is None


@pytest.mark.parametrize("data", [[], "x", {"status": "completed"}, {"task_id": "t"}])
def test_a_task_without_id_or_status_is_an_invalid_response(data: object) -> None:
    with pytest.raises(SongforgeError) as info:
        Task.from_json(data)
    assert info.value.type == "invalid_response"


@pytest.mark.parametrize(
    "data",
    [
        [COMPLETED],
        {"tasks": [COMPLETED], "next_cursor": "c2"},
        {"items": [COMPLETED], "cursor": "c2"},
    ],
)
def test_task_pages_in_any_usual_shape(data: object) -> None:
    page = TaskPage.from_json(data)
    assert [t.task_id for t in page.tasks] == ["task_abc"]
    assert page.next_cursor == ("c2" if isinstance(data, dict) else None)


def test_models_list_as_list_or_wrapped() -> None:
    model = {
        "id": "minimax-music",
        "description": "songs",
        "price": 30,
        "parameters": [{"name": "bitrate", "type": "integer", "enum": [32000]}],
        "limits": {"prompt": 2000},
    }
    for data in ([model], {"models": [model]}):
        [parsed] = parse_models(data)
        assert parsed == Model.from_json(model)
        assert parsed.price == 30 and parsed.limits == {"prompt": 2000}
        bitrate = parsed.parameter("bitrate")
        assert bitrate is not None and bitrate["enum"] == [32000]


def test_parameters_keyed_by_name_are_accepted_too() -> None:
    model = Model.from_json({"id": "m", "parameters": {"seed": {"type": "integer"}}})
    assert model.parameters == [{"name": "seed", "type": "integer"}]
    assert model.parameter("prompt") is None


def test_account_available_is_derived_when_absent() -> None:
    account = Account.from_json({"balance": 3000, "held": 30, "key": {"name": "ci"}})
    assert account.available == 2970 and account.key == {"name": "ci"}
    assert Account.from_json({"balance": 10, "held": 0, "available": 5}).available == 5
