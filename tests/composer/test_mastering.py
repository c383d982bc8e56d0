from __future__ import annotations

import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

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
