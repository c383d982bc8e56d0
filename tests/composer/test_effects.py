"""The mixer's effects: block peaks as the per-frame peak envelope gives them, per
block; filters applied in place as applied to a copy; the reverb on a thread per channel as
over both at once."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import oaconvolve

from songforge.composer import effects
from songforge.composer.effects import block_peaks, peak_envelope


def test_block_peaks_are_the_peak_envelope_maxed_per_block() -> None:
    rng = np.random.default_rng(3)
    stereo = rng.standard_normal((10_000, 2)).astype(np.float32)
    stereo[4_000:5_000] = 0.0
    hop = 441
    whole = (stereo.shape[0] // hop) * hop
    for x in (stereo, np.asfortranarray(stereo), stereo[:, 0].copy()):
        expected = peak_envelope(x)[:whole].reshape(-1, hop).max(axis=1)
        assert np.array_equal(block_peaks(x, hop), expected)
    assert block_peaks(stereo[:100], hop).shape == (0,)


@pytest.mark.parametrize("shape", [(200_000, 2), (65536, 2), (70_001,), (10, 2)])
def test_apply_in_place_is_apply_bit_for_bit(shape: tuple[int, ...]) -> None:
    # Blocks of FILTER_BLOCK frames with the filters' state carried over: the same
    # samples as one sosfilt call over the whole part.
    x = (np.random.default_rng(3).standard_normal(shape) * 0.3).astype(np.float32)
    stages = (
        effects.highpass_sos(110.0, 44100),
        effects.peaking_sos(3000.0, 3.0, 0.8, 44100),
        effects.peaking_sos(250.0, -2.0, 1.0, 44100),
    )
    expected = effects.apply(x, *stages)
    buffer = x.copy()
    result = effects.apply_in_place(buffer, *stages)
    assert result is buffer
    assert np.array_equal(result, expected)
    assert not np.array_equal(result, x)


def _reverb_both_channels_at_once(x: np.ndarray, sr: int, seconds: float) -> np.ndarray:  # type: ignore[type-arg]
    """The reverb as one call over both channels (before each had its own thread)."""
    factor = 4 if sr % 4 == 0 else 1
    ir = effects.reverb_ir(sr // factor, seconds)
    low = effects.lowpass(x, sr / factor * 0.4, sr)[::factor] if factor > 1 else x
    wet = np.stack(
        [oaconvolve(low[:, c], ir[:, c], mode="full")[: low.shape[0]] for c in (0, 1)], axis=1
    ).astype(np.float32)
    if factor > 1:
        wet = np.repeat(wet, factor, axis=0)[: x.shape[0]]
        wet = effects.lowpass(wet, sr / factor * 0.4, sr)
    return np.asarray(wet, dtype=np.float32)


@pytest.mark.parametrize(("frames", "sr"), [(40_003, 8000), (30_001, 8001), (7, 8000)])
def test_reverb_on_a_thread_per_channel_is_the_two_channel_reverb(frames: int, sr: int) -> None:
    x = (np.random.default_rng(5).standard_normal((frames, 2)) * 0.2).astype(np.float32)
    x[:, 1] *= 0.5  # the channels differ: a swap would show
    wet = effects.reverb(x, sr, 0.5)
    assert wet.dtype == np.float32 and wet.shape == x.shape
    assert np.array_equal(wet, _reverb_both_channels_at_once(x, sr, 0.5))
