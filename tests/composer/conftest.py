"""Shared, expensive things for the composer tests: one loaded renderer, a few songs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from songforge.composer.song import RenderedSong, SongRenderer

SHORT_LYRICS = "[Verse]\nI kept your letters in a box\n[Chorus]\nHold on to the summer light\n"


@pytest.fixture(scope="session")
def renderer() -> Iterator[SongRenderer]:
    song_renderer = SongRenderer()
    song_renderer.load()
    yield song_renderer


@pytest.fixture(scope="session")
def vocal_song(renderer: SongRenderer) -> RenderedSong:
    return renderer.render("A gentle pop song, BPM: 100, male vocals", SHORT_LYRICS, seed=5)


@pytest.fixture(scope="session")
def instrumental_song(renderer: SongRenderer) -> RenderedSong:
    return renderer.render("Energetic electronic dance track", "", seed=2, max_seconds=20.0)
