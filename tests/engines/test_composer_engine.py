"""The composer engine behind the Engine protocol, as the worker uses it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from songforge.audio.mp3 import encode_mp3
from songforge.engines.base import (
    STEM_NAMES,
    AudioResult,
    Engine,
    EngineUnavailable,
    GenerationRequest,
)
from songforge.engines.composer import ENGINE_NAME, create_engine
from songforge.engines.registry import check_engine

LYRICS = "[Verse]\nCity lights and late night talks\n[Hook]\nWe keep it moving, keep it real\n"


@pytest.fixture(scope="module")
def engine() -> Engine:
    built = create_engine({})
    built.load()
    return built


def test_factory_checks_without_loading() -> None:
    assert check_engine("composer", {}) is None
    assert isinstance(create_engine({}), Engine)
    with pytest.raises(EngineUnavailable):
        create_engine({"soundfont": "/nonexistent/nothing.sf2"})
    with pytest.raises(EngineUnavailable):
        create_engine({"max_duration": "soon"})


def test_generate_reports_progress_and_respects_duration(engine: Engine) -> None:
    seen: list[tuple[str, float]] = []
    request = GenerationRequest(
        prompt="Laid-back hip hop beat, male vocal", lyrics=LYRICS, seed=11, duration=12.0
    )
    result = engine.generate(request, lambda stage, fraction: seen.append((stage, fraction)))
    assert result.engine == ENGINE_NAME == engine.name
    assert result.sample_rate == 44100 and result.channels == 2
    assert result.samples.dtype == np.float32
    # A requested duration is the song's length, not only a bound.
    assert abs(result.duration_seconds - 12.0) <= 1.0 / 44100
    assert float(np.abs(result.samples).max()) <= 1.0
    fractions = [f for _, f in seen]
    assert len(seen) >= 5 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"composing", "singing", "mixing"} <= {s for s, _ in seen}
    assert result.metadata["genre"] == "hiphop"

    # The worker encodes what we return, at the requested rate.
    encoded = encode_mp3(result.samples, result.sample_rate, 128000, 24000)
    assert encoded.sample_rate == 24000 and encoded.data


def test_seed_determinism_and_requested_rate(engine: Engine) -> None:
    request = GenerationRequest(
        prompt="calm ambient pads", lyrics="", seed=3, duration=6.0, sample_rate=24000
    )
    a = engine.generate(request, lambda s, f: None)
    b = engine.generate(request, lambda s, f: None)
    # The engine's own rate: the worker's delivery step resamples to the requested one.
    assert a.sample_rate == 44100
    assert np.array_equal(a.samples, b.samples)
    c = engine.generate(
        GenerationRequest(prompt="calm ambient pads", lyrics="", seed=4, duration=6.0),
        lambda s, f: None,
    )
    assert c.samples.shape != a.samples.shape or not np.array_equal(c.samples, a.samples)


@pytest.mark.parametrize(("lyrics", "duration"), [(LYRICS, None), (LYRICS, 9.0), ("", 5.0)])
def test_planned_length_is_the_rendered_length(
    engine: Engine, lyrics: str, duration: float | None
) -> None:
    # The worker's ETA scales measured throughput by this length (issue 9, point 9).
    request = GenerationRequest(prompt="indie rock", lyrics=lyrics, seed=5, duration=duration)
    planned = engine.planned_seconds(request)  # type: ignore[attr-defined]
    result = engine.generate(request, lambda s, f: None)
    assert abs(planned - result.duration_seconds) < 1.0 / 44100 + 1e-9


# Issue 14: stems, timed lyrics, instrumental. One short song, rendered with and without.
TIMED_LYRICS = (
    "[Verse]\nI kept your letters, in a box!\n[Chorus]\nHold on to the summer light\n"
    "[Chorus]\nHold on to the summer light\n"
)


@pytest.fixture(scope="module")
def plain_and_full(engine: Engine) -> tuple[AudioResult, AudioResult]:
    request = GenerationRequest(
        prompt="A gentle pop song, male vocals", lyrics=TIMED_LYRICS, seed=5, duration=10.0
    )
    plain = engine.generate(request, lambda s, f: None)
    full = engine.generate(replace(request, stems=True, lyrics_timing=True), lambda s, f: None)
    return plain, full


def test_the_new_fields_leave_the_song_as_it_was(
    plain_and_full: tuple[AudioResult, AudioResult],
) -> None:
    plain, full = plain_and_full
    # Without the flags: nothing new in the result; with them: the very same song.
    assert plain.stems == {} and plain.lyrics is None
    assert np.array_equal(plain.samples, full.samples)


def test_stems_add_up_to_the_song(plain_and_full: tuple[AudioResult, AudioResult]) -> None:
    _, full = plain_and_full
    assert set(full.stems) == set(STEM_NAMES)
    vocals, band = full.stems["vocals"], full.stems["instrumental"]
    assert vocals.shape == band.shape == full.samples.shape
    assert vocals.dtype == band.dtype == np.float32
    residual = full.samples - (vocals + band)
    # The master bus is a gain per sample applied to both (decision 0014): float rounding.
    assert float(np.abs(residual).max()) < 1e-5
    # Both carry sound: a voice and a band.
    assert float(np.sqrt(np.mean(vocals**2))) > 0.02
    assert float(np.sqrt(np.mean(band**2))) > 0.02


def test_timed_words_are_in_order_inside_the_song_and_voiced(
    plain_and_full: tuple[AudioResult, AudioResult],
) -> None:
    _, full = plain_and_full
    assert full.lyrics
    words = [w for line in full.lyrics for w in line.words]
    starts = [w.start for w in words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(0.0 <= w.start <= w.end <= full.duration_seconds for w in words)
    for line in full.lyrics:
        assert line.start == line.words[0].start and line.end >= line.words[-1].end
        assert "[" not in line.text
    # Written as the user wrote them: the punctuation stays on the word.
    texts = [w.text for w in words]
    assert "letters," in texts and "box!" in texts
    # A line sung twice is listed twice.
    sung = [line.text for line in full.lyrics]
    assert any(sung.count(text) > 1 for text in sung)
    # The voice is heard at each reported start (the first 80 ms of the word),
    # well above the stem's quiet between phrases.
    vocals = full.stems["vocals"].mean(axis=1)
    rate = full.sample_rate
    level = float(np.sqrt(np.mean(vocals**2)))
    for word in words:
        at = round(word.start * rate)
        window = vocals[at : at + round(0.08 * rate)]
        assert float(np.sqrt(np.mean(window**2))) > 0.1 * level, word


def test_instrumental_has_no_voice_and_no_timed_words(engine: Engine) -> None:
    request = GenerationRequest(
        prompt="A gentle pop song, male vocals",
        lyrics=TIMED_LYRICS,
        seed=5,
        duration=6.0,
        instrumental=True,
        stems=True,
        lyrics_timing=True,
    )
    result = engine.generate(request, lambda s, f: None)
    assert result.lyrics == ()
    assert not np.any(result.stems["vocals"])
    assert float(np.abs(result.stems["instrumental"] - result.samples).max()) < 1e-5
    # The same song as the request without lyrics.
    unsung = engine.generate(replace(request, lyrics="", instrumental=False), lambda s, f: None)
    assert np.array_equal(unsung.samples, result.samples)
