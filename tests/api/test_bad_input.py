"""Hostile input over real HTTP (issue 10, points 1, 2 and 10): every fault is a 4xx
in the envelope, nothing is charged, and nothing stored can make a later read fail."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import update

from songforge.db.tables import tasks
from songforge.services.task_records import load_task
from tests.api.test_create import assert_error, balance
from tests.conftest import LiveServer

JSON = {"Content-Type": "application/json"}
MUSIC = "/api/v1/audio/music"


def post_raw(server: LiveServer, body: bytes, headers: dict[str, str] | None = None) -> Any:
    with server.client() as client:
        return client.post(MUSIC, content=body, headers=headers if headers is not None else JSON)


# Bodies as bytes on the wire: json.dumps would refuse to encode some of them.
REFUSED_BODIES = [
    # point 1: a JavaScript client that cut an emoji in half, with and without a seed
    (b'{"model":"minimax-music","prompt":"Dreamy lo-fi \\ud83c","seed":42}', "prompt"),
    (b'{"model":"minimax-music","prompt":"Dreamy lo-fi \\ud83c"}', "prompt"),
    (b'{"model":"minimax-music","prompt":"calm","lyrics":"[Verse]\\udfb5 la"}', "lyrics"),
    # NUL and other control characters in text
    (b'{"model":"minimax-music","prompt":"calm\\u0000piano"}', "prompt"),
    (b'{"model":"minimax-music","prompt":"calm","lyrics":"la\\u001bla"}', "lyrics"),
    # point 2: Python's int-conversion limit
    (b'{"model":"minimax-music","prompt":"calm","seed":' + b"7" * 4301 + b"}", "seed"),
    (b'{"model":"minimax-music","prompt":"calm","duration":' + b"9" * 4301 + b"}", "duration"),
    # point 10: duplicate keys (the last one used to win)
    (b'{"model":"minimax-music","prompt":"calm","prompt":"loud"}', "prompt"),
    # NaN is not JSON
    (b'{"model":"minimax-music","prompt":"calm","duration":NaN}', None),
    # a field name that is not valid Unicode
    (b'{"model":"minimax-music","prompt":"calm","\\ud800":1}', None),
]


@pytest.mark.parametrize(("body", "param"), REFUSED_BODIES)
def test_hostile_bodies_are_refused_in_the_envelope(
    sqlite_server: LiveServer, body: bytes, param: str | None
) -> None:
    before = balance(sqlite_server, sqlite_server.account_id)
    response = post_raw(sqlite_server, body)
    assert_error(response, 400, "invalid_request", param)
    assert balance(sqlite_server, sqlite_server.account_id) == before


def test_nested_brackets_are_refused_not_a_recursion_error(sqlite_server: LiveServer) -> None:
    for body in (b"[" * 1024 + b"]" * 1024, b'{"a":' * 700 + b"1" + b"}" * 700):
        assert_error(post_raw(sqlite_server, body), 400, "invalid_request")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", json.dumps({"model": "minimax-music", "prompt": "calm"}).encode()),
        (
            "application/json; charset=utf-16",
            json.dumps({"model": "minimax-music", "prompt": "calm"}).encode("utf-16"),
        ),
        ("application/x-www-form-urlencoded", b"model=minimax-music&prompt=calm"),
    ],
)
def test_bodies_not_declared_as_utf8_json_are_415(
    sqlite_server: LiveServer, content_type: str, body: bytes
) -> None:
    response = post_raw(sqlite_server, body, {"Content-Type": content_type})
    assert_error(response, 415, "invalid_request", "Content-Type")


def test_a_missing_content_type_is_415(sqlite_server: LiveServer) -> None:
    body = json.dumps({"model": "minimax-music", "prompt": "calm"}).encode()
    with sqlite_server.client() as client:
        # httpx adds no Content-Type for raw content.
        response = client.post(MUSIC, content=body)
    assert_error(response, 415, "invalid_request", "Content-Type")


def test_a_utf16_body_declared_as_json_is_400(sqlite_server: LiveServer) -> None:
    body = json.dumps({"model": "minimax-music", "prompt": "calm"}).encode("utf-16")
    assert_error(post_raw(sqlite_server, body), 400, "invalid_request")


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=UTF-8", "application/json;charset=utf-8"],
)
def test_utf8_json_in_any_spelling_is_accepted(
    sqlite_server: LiveServer, content_type: str
) -> None:
    body = json.dumps({"model": "minimax-music", "prompt": "calm 🎵", "seed": 1}).encode()
    response = post_raw(sqlite_server, body, {"Content-Type": content_type})
    assert response.status_code == 200, response.text


def test_emoji_tabs_and_newlines_are_fine(sqlite_server: LiveServer) -> None:
    body = {"model": "minimax-music", "prompt": "Dreamy\tlo-fi 🎵", "lyrics": "[Verse]\r\nla 👋🏽"}
    with sqlite_server.client() as client:
        response = client.post(MUSIC, json=body)
        assert response.status_code == 200, response.text
        task = client.get(f"/api/v1/tasks/{response.json()['data']['task_id']}").json()["data"]
    assert task["input"]["prompt"] == "Dreamy\tlo-fi 🎵"


@pytest.mark.parametrize(
    "query",
    [
        "limit=%C2%B2",  # "²": isdigit() is true, int() refuses it
        "limit=" + "9" * 4301,
        "limit=0",
        "cursor=" + "W" * 4000,
        # a cursor that decodes to deeply nested JSON
        "cursor="
        + __import__("base64").urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).decode().rstrip("="),
        "cursor=%ED%A0%80",
    ],
)
def test_bad_list_parameters_are_400(live_server: LiveServer, query: str) -> None:
    with live_server.client() as client:
        response = client.get(f"/api/v1/tasks?{query}")
    assert_error(response, 400, "invalid_request", query.split("=")[0])


@pytest.mark.parametrize(
    "query",
    [
        "expires=%C2%B2&sig=abc",
        "expires=4102444800&sig=%C3%A9",  # "é": compare_digest refuses non-ASCII text
        "expires=" + "9" * 4301 + "&sig=abc",
        "expires=4102444800&sig=" + "0" * 32,
    ],
)
def test_bad_audio_links_are_404_in_the_envelope(sqlite_server: LiveServer, query: str) -> None:
    with httpx_client(sqlite_server) as client:
        response = client.get(f"/api/v1/files/task_x.mp3?{query}")
    assert_error(response, 404, "not_found")


def httpx_client(server: LiveServer) -> Any:
    return server.client(api_key="")


def _spoil_stored_text(server: LiveServer, task_id: str) -> None:
    """Make the row look as the service stored it before the edge refused lone
    surrogates (the JSON column keeps them as \\ud83c escapes)."""
    with server.db.write() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(
                input={"model": "minimax-music", "prompt": "Dreamy lo-fi \ud83c", "lyrics": ""},
                error={"code": 500, "message": "bad \udfb5", "type": "engine_error"},
            )
        )


def _finished_in_db(server: LiveServer, task_id: str) -> None:
    # Polled in the database, not over HTTP: the API's finished-task cache must
    # not hold a clean copy of the row.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with server.db.read() as conn:
            task = load_task(conn, task_id)
        if task is not None and task.finished:
            return
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")


def test_bad_text_already_stored_cannot_make_a_read_fail(live_server: LiveServer) -> None:
    with live_server.client() as client:
        created = client.post(MUSIC, json={"model": "minimax-music", "prompt": "calm", "seed": 3})
        task_id = created.json()["data"]["task_id"]
        _finished_in_db(live_server, task_id)
        _spoil_stored_text(live_server, task_id)
        response = client.get(f"/api/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        assert response.json()["data"]["input"]["prompt"] == "Dreamy lo-fi \ufffd"
        listing = client.get("/api/v1/tasks")
        assert listing.status_code == 200, listing.text
        assert task_id in {t["task_id"] for t in listing.json()["data"]["items"]}
