"""A task's page in real Chromium: timed lyrics follow the player, stems get players.

The song is made by a worker on a fake engine (a tone) that also returns timed
lyrics and stems; the page must mark the line being sung as the audio plays, at
once when the listener seeks, and play from a line that is clicked.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from songforge.db.tables import accounts
from songforge.engines.base import (
    AudioResult,
    GenerationRequest,
    ProgressCallback,
    TimedLine,
    TimedWord,
)
from songforge.services.keys import create_key
from tests.conftest import LiveServer
from tests.dashboard.test_browser import (  # noqa: F401
    PHONE,
    browser,
    new_page,
    shot,
    sign_in,
    sign_up,
)
from tests.fakes import ToneEngine

pytestmark = pytest.mark.browser

SONG_SECONDS = 6.0


def _line(text: str, start: float, end: float) -> TimedLine:
    pieces = text.split()
    step = (end - start) / len(pieces)
    words = tuple(
        TimedWord(word, round(start + i * step, 3), round(start + (i + 1) * step, 3))
        for i, word in enumerate(pieces)
    )
    return TimedLine(text, start, end, words)


LINES = (
    _line("First line, here", 0.5, 1.6),
    _line("Second line!", 2.0, 3.2),
    _line("Third (and last)", 3.8, 5.0),
)


class TimedToneEngine(ToneEngine):
    """The tone, with timed lyrics and two stems (the tone's halves) when asked."""

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        result = super().generate(request, progress)
        if request.lyrics_timing:
            result.lyrics = LINES
        if request.stems:
            half = (result.samples / 2).astype(np.float32)
            result.stems = {"vocals": half, "instrumental": result.samples - half}
        return result


def _lyrics_json() -> dict[str, Any]:
    return {
        "lines": [
            {
                "text": line.text,
                "start": line.start,
                "end": line.end,
                "words": [{"text": w.text, "start": w.start, "end": w.end} for w in line.words],
            }
            for line in LINES
        ]
    }


def _finished_task(server: LiveServer, email: str) -> str:
    """A song of the signed-up user's, made through the API by the worker."""
    with server.db.write() as conn:
        account_id = conn.execute(select(accounts.c.id).where(accounts.c.email == email)).scalar()
        assert account_id is not None
        key = create_key(conn, str(account_id)).secret
    body = {
        "model": "minimax-music",
        "prompt": "a tone with words",
        "lyrics": "[Verse]\nla",
        "stems": True,
        "lyrics_timing": True,
    }
    with server.client(key) as client:
        answer = client.post("/api/v1/audio/music", json=body)
        assert answer.status_code == 200, answer.text
        task_id = str(answer.json()["data"]["task_id"])
    data = server.wait_for(task_id, key)
    assert data["status"] == "completed", data
    # Delivered by the API (issue 14): the timed lines as the engine gave them, and
    # links to the stems.
    assert data["output"]["lyrics"] == _lyrics_json()
    assert set(data["output"]["stems"]) == {"vocals", "instrumental"}
    return task_id


CURRENT = (
    "() => [...document.querySelectorAll('.synced-lyrics li.current')].map(li => li.innerText)"
)


def _current(page: Any) -> list[str]:
    return [re.sub(r"\s+", " ", text).strip() for text in page.evaluate(CURRENT)]


def _seek(page: Any, seconds: float) -> None:
    page.locator(".player audio").evaluate(
        """(a, t) => new Promise(resolve => {
             a.addEventListener('seeked', () => resolve(), {once: true});
             a.currentTime = t;
           })""",
        seconds,
    )


def test_the_sung_line_follows_the_player_and_stems_play(
    browser: Any,  # noqa: F811
    server_factory: Any,
) -> None:
    from playwright.sync_api import expect

    server = server_factory(engines={"minimax-music": TimedToneEngine(seconds=SONG_SECONDS)})
    page = new_page(browser, server)
    email = sign_up(page)
    task_id = _finished_task(server, email)
    page.goto(f"/dashboard/tasks/{task_id}")
    lyrics = page.get_by_test_id("synced-lyrics")
    expect(lyrics.get_by_role("listitem")).to_have_count(3)
    # Words as the engine wrote them, punctuation kept.
    expect(lyrics).to_contain_text("First line, here")
    expect(lyrics).to_contain_text("Third (and last)")
    audio = page.locator(".player audio")
    audio.evaluate("a => a.readyState >= 1 || new Promise(r => a.onloadedmetadata = r)")
    assert audio.evaluate("a => a.duration") > SONG_SECONDS - 0.5
    # Before the first line starts, nothing is current.
    assert _current(page) == []

    # Playing: the second line becomes current once the audio passes its start.
    reached = audio.evaluate(
        """a => new Promise((resolve, reject) => {
             a.addEventListener('timeupdate', function check() {
               if (a.currentTime > 2.2) {
                 a.removeEventListener('timeupdate', check);
                 a.pause();
                 resolve(a.currentTime);
               }
             });
             a.currentTime = 1.8;
             a.play().catch(reject);
           })"""
    )
    assert 2.2 < reached < 3.8
    expect(lyrics.locator("li.current")).to_have_count(1)
    assert _current(page) == ["Second line!"]
    assert lyrics.locator("li.current").get_attribute("aria-current") == "true"
    shot(page, "task-lyrics-playing")

    # Seeking while paused moves the mark at once, both ways.
    _seek(page, 4.2)
    assert _current(page) == ["Third (and last)"]
    _seek(page, 0.9)
    assert _current(page) == ["First line, here"]
    _seek(page, 0.1)
    assert _current(page) == []

    # Clicking a line plays from its start.
    lyrics.get_by_role("button", name=re.compile("Third")).click()
    expect(lyrics.locator("li.current")).to_contain_text("Third (and last)")
    assert audio.evaluate("a => a.currentTime") >= 3.8
    audio.evaluate("a => a.pause()")

    # The stems have their own players, which load and play.
    for name in ("vocals", "instrumental"):
        stem = page.get_by_test_id(f"stem-{name}").locator("audio")
        expect(stem).to_have_count(1)
        played = stem.evaluate(
            """a => new Promise((resolve, reject) => {
                 a.addEventListener('timeupdate', function check() {
                   if (a.currentTime > 0.05) {
                     a.removeEventListener('timeupdate', check);
                     a.pause();
                     resolve(a.currentTime);
                   }
                 });
                 a.play().catch(reject);
               })"""
        )
        assert played > 0.05
    shot(page, "task-lyrics-stems")
    assert page.js_errors == []
    page.context.close()

    # On a phone the lyrics and the stems' players fit the screen.
    phone = new_page(browser, server, PHONE)
    sign_in(phone, email)
    phone.goto(f"/dashboard/tasks/{task_id}")
    expect(phone.get_by_test_id("synced-lyrics")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "phone-task-lyrics")
    assert phone.js_errors == []
    phone.context.close()


def test_a_task_without_timed_lyrics_shows_neither(
    browser: Any,  # noqa: F811
    server_factory: Any,
) -> None:
    server = server_factory(engines={"minimax-music": ToneEngine(seconds=1.0)})
    page = new_page(browser, server)
    email = sign_up(page)
    with server.db.write() as conn:
        account_id = conn.execute(select(accounts.c.id).where(accounts.c.email == email)).scalar()
        key = create_key(conn, str(account_id)).secret
    body = {"model": "minimax-music", "prompt": "a plain tone"}
    with server.client(key) as client:
        task_id = str(client.post("/api/v1/audio/music", json=body).json()["data"]["task_id"])
    assert server.wait_for(task_id, key)["status"] == "completed"
    page.goto(f"/dashboard/tasks/{task_id}")
    assert page.locator(".player audio").count() == 1
    assert page.get_by_test_id("synced-lyrics").count() == 0
    assert page.locator(".stems").count() == 0
    assert page.js_errors == []
    page.context.close()
