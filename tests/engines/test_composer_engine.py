"""The composer engine behind the Engine protocol, as the worker uses it."""

from __future__ import annotations

import numpy as np
import pytest

from songforge.audio.mp3 import encode_mp3
from songforge.engines.base import Engine, EngineUnavailable, GenerationRequest
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
