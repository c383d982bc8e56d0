"""The soundfont's parts: rendered on any of its synthesisers, at once on two threads,
each part has the samples it has rendered alone on a fresh synthesiser."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from songforge.composer.score import Note
from songforge.composer.soundfont import SYNTHS, SoundfontRenderer, find_soundfont

SR = 22050
FRAMES = SR * 2


def _parts() -> list[tuple[list[Note], int]]:
    """(notes, program) for a piano, a bass, strings and the drum kit (program -1)."""
    chords = [Note(start=b * 0.5, length=0.45, pitch=60 + (b % 5), velocity=90) for b in range(6)]
    bass = [Note(start=b * 1.0, length=0.9, pitch=36 + b, velocity=100) for b in range(3)]
    held = [Note(start=0.0, length=3.0, pitch=67, velocity=70)]
    kit = [
        Note(start=b * 0.25, length=0.1, pitch=36 if b % 2 else 42, velocity=110) for b in range(8)
    ]
    return [(chords, 0), (bass, 33), (held, 48), (kit, -1)]


@pytest.fixture(scope="module")
def soundfont() -> SoundfontRenderer:
    path = find_soundfont()
    if path is None:
        pytest.skip("no soundfont installed")
    renderer = SoundfontRenderer(path, SR)
    renderer.load()
    return renderer


def _alone(notes: list[Note], program: int) -> np.ndarray:  # type: ignore[type-arg]
    path = find_soundfont()
    assert path is not None
    fresh = SoundfontRenderer(path, SR, synths=1)
    return fresh.render(notes, program, 0.5, FRAMES)


def test_parts_rendered_two_at_a_time_are_the_parts_rendered_alone(
    soundfont: SoundfontRenderer,
) -> None:
    assert soundfont.synths == SYNTHS >= 2
    expected = [_alone(notes, program) for notes, program in _parts()]
    assert all(np.any(part) for part in expected)
    # Twice through, so each synthesiser renders parts after others (its history).
    jobs = _parts() * 2
    with ThreadPoolExecutor(max_workers=SYNTHS) as pool:
        rendered = list(pool.map(lambda job: soundfont.render(job[0], job[1], 0.5, FRAMES), jobs))
    for index, part in enumerate(rendered):
        assert np.array_equal(part, expected[index % len(expected)])


def test_a_part_with_no_notes_is_silence(soundfont: SoundfontRenderer) -> None:
    assert not np.any(soundfont.render([], 0, 0.5, FRAMES))
    assert soundfont.render([], 0, 0.5, FRAMES).shape == (FRAMES, 2)
