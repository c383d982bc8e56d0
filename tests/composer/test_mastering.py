from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
from scipy.signal import resample_poly, sosfilt

from songforge.composer import mastering
from songforge.composer.mastering import loudness, master, mastered_with_gain, true_peak

SR = 44100


def _music(seconds: float = 12.0) -> np.ndarray:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 331 * t)
    # Decaying noise hits twice a second, like a snare over sustained chords.
    since_hit = t % 0.5
    beats = rng.standard_normal(t.shape) * np.exp(-since_hit / 0.04) * 0.5
    left = tone + beats
    right = 0.8 * tone + beats
    return np.stack([left, right], axis=1).astype(np.float32)


def test_loudness_matches_pyloudnorm() -> None:
    x = _music()
    reference = pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64))
    assert abs(loudness(x, SR) - reference) < 0.05


def _block_means_one_shot(x: np.ndarray, sr: int) -> np.ndarray:  # type: ignore[type-arg]
    """The 100 ms blocks' mean power as loudness computed it in one pass over the song
    (both channels filtered at once, the whole song's power in float64)."""
    sos = mastering._k_weighting(sr).astype(np.float32)
    weighted = sosfilt(sos, x.astype(np.float32), axis=0)
    total = (np.asarray(weighted, dtype=np.float64) ** 2).sum(axis=1)
    step = int(0.1 * sr)
    blocks = total.shape[0] // step
    return total[: blocks * step].reshape(blocks, step).mean(axis=1)  # type: ignore[no-any-return]


@pytest.mark.parametrize("at_once", [3, mastering.POWER_BLOCKS_AT_ONCE])
@pytest.mark.parametrize("channels", [1, 2])
def test_block_powers_by_channel_and_stretch_are_the_one_pass_values(
    monkeypatch: pytest.MonkeyPatch, at_once: int, channels: int
) -> None:
    # Channels on their own threads, power summed a few blocks at a time (a stretch
    # left over): every 100 ms block's mean power bit for bit, hence the loudness.
    monkeypatch.setattr(mastering, "POWER_BLOCKS_AT_ONCE", at_once)
    x = _music(3.05)[:, :channels]
    step = int(0.1 * SR)
    means = mastering._block_means(mastering._k_weighted(x, SR), step, x.shape[0] // step)
    assert means.shape == (30,)
    assert np.array_equal(means, _block_means_one_shot(x, SR))


def test_true_peak_matches_full_oversampling() -> None:
    x = _music()
    full = max(float(np.abs(resample_poly(x[:, c], 4, 1)).max()) for c in (0, 1))
    assert abs(true_peak(x) - full) < 1e-3


def test_master_reaches_target_under_ceiling() -> None:
    for gain in (0.05, 1.0, 4.0):
        y = master((_music() * gain).astype(np.float32), SR)
        assert abs(loudness(y, SR) - (-14.0)) <= 0.5
        assert 20 * np.log10(true_peak(y)) <= -1.0 + 1e-3


def test_silence_stays_silent() -> None:
    y = master(np.zeros((SR, 2), dtype=np.float32), SR)
    assert not np.any(y)


def test_the_master_as_a_gain_per_sample() -> None:
    # Loud enough that the clipper and the limiter both work.
    x = (_music() * 4.0).astype(np.float32)
    y, gain = mastered_with_gain(x, SR)
    assert np.array_equal(y, master(x, SR))
    assert gain.shape == x.shape and float(gain.min()) > 0
    # Parts of x scaled by the same gain add up to the master (to float rounding).
    part = (x * np.float32(0.3)).astype(np.float32)
    assert float(np.abs(part * gain + (x - part) * gain - y).max()) < 1e-5
    # The clipper's bend is in it: peaks are scaled more than the quiet samples.
    loud = np.abs(x) > np.quantile(np.abs(x), 0.999)
    assert float(gain[loud].mean()) < float(np.median(gain))
