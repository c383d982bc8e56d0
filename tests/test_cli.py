"""The ``songforge`` command's own words (issue 9.10)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from songforge.cli import build_parser, main


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    help_text = capsys.readouterr().out
    assert "``" not in help_text
    assert "music-generation API" in help_text


def test_serve_freezes_its_start_up_heap_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The collector's full passes then skip what lives as long as the process
    # (decision 0013, item 27): they had stalled every request for 60-80 ms.
    from songforge.worker import supervisor

    monkeypatch.setenv("SONGFORGE_DATA_DIR", str(tmp_path / "data"))
    frozen_when_serving: list[int] = []
    monkeypatch.setattr(
        supervisor.DrainingServer,
        "run",
        lambda self: frozen_when_serving.append(gc.get_freeze_count()),
    )
    gc.unfreeze()
    try:
        assert main(["serve", "--workers", "0", "--port", "0"]) == 0
    finally:
        gc.unfreeze()  # this test process builds many apps: keep its garbage collectable
    assert frozen_when_serving and frozen_when_serving[0] > 10_000
