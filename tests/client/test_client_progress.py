"""The progress line of `songforge generate`: rendering and how it is drawn."""

from __future__ import annotations

import io
from typing import Any

import pytest

from songforge.client import Task
from songforge.client.progress import (
    ProgressDisplay,
    format_clock,
    progress_bar,
    redraw,
    render_progress,
)


def task(**fields: Any) -> Task:
    return Task.from_json({"task_id": "t", "status": "IN_PROGRESS", **fields})


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "--:--"),
        (-1, "--:--"),
        (float("inf"), "--:--"),
        (0, "0:00"),
        (83.4, "1:23"),
        (59.6, "1:00"),
        (3723, "1:02:03"),
    ],
)
def test_format_clock(seconds: float | None, text: str) -> None:
    assert format_clock(seconds) == text


def test_progress_bar_is_clamped() -> None:
    assert progress_bar(50, width=10) == "[#####-----]"
    assert progress_bar(None, width=4) == "[----]"
    assert progress_bar(250, width=4) == "[####]"


def test_queued_line_shows_queue_position_and_eta() -> None:
    line = render_progress(task(stage="queued", progress=0, queue_position=3, eta_seconds=42))
    assert line == "[------------------------]   0% | queued | queue #3 | ETA 0:42"


def test_generating_line_shows_stage_percent_and_elapsed() -> None:
    line = render_progress(task(stage="generating", progress=37.5), elapsed=5, width=8)
    assert line == "[###-----]  38% | generating | 0:05 elapsed"


def test_final_lines() -> None:
    assert render_progress(Task.from_json({"task_id": "t", "status": "completed"}), width=4) == (
        "[####] 100% | done"
    )
    failed = Task.from_json(
        {
            "task_id": "t",
            "status": "failed",
            "progress": 40,
            "error": {"code": "x", "message": "m", "type": "canceled"},
        }
    )
    assert render_progress(failed, width=4) == "[#---]  40% | failed (canceled)"


def test_redraw_blanks_what_a_longer_previous_line_left() -> None:
    assert redraw("abc", 5) == "\rabc  "
    assert redraw("abcdef", 2) == "\rabcdef"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_terminal_display_redraws_in_place() -> None:
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(stream, interactive=True, clock=clock)
    display.update(task(stage="generating", progress=10, eta_seconds=100))
    clock.now = 1
    display.update(task(stage="generating", progress=10, eta_seconds=9))
    display.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "ETA 0:09" in text


def test_log_display_prints_a_line_only_when_something_changes() -> None:
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(stream, interactive=False, clock=clock)
    for progress, eta in [(10, 30), (10, 20), (10.4, 10), (55, 5)]:
        clock.now += 1
        display.update(task(stage="generating", progress=progress, eta_seconds=eta))
    display.update(Task.from_json({"task_id": "t", "status": "completed", "stage": "done"}))
    display.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert "  10%" in lines[0] and "  55%" in lines[1] and "done" in lines[2]
