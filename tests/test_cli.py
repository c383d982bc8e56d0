"""The ``songforge`` command's own words (issue 9.10)."""

from __future__ import annotations

import pytest

from songforge.cli import build_parser


def test_help_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    help_text = capsys.readouterr().out
    assert "``" not in help_text
    assert "music-generation API" in help_text
