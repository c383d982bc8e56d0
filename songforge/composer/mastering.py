"""Mastering: loudness to a target (EBU R128, pyloudnorm) under a true-peak ceiling.

True peak is estimated on a 4x oversampled signal. A look-ahead limiter with a
smooth release brings the peaks under the ceiling; since limiting lowers the
loudness a little, gain and limiting are repeated a few times.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyloudnorm
from scipy.ndimage import maximum_filter1d
from scipy.signal import resample_poly

Audio = npt.NDArray[np.float32]

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0


def loudness(x: Audio, sr: int) -> float:
    meter = pyloudnorm.Meter(sr)
    value = float(meter.integrated_loudness(x.astype(np.float64)))
    return value if np.isfinite(value) else -70.0


def true_peak(x: Audio) -> float:
    """Peak of the 4x-oversampled signal, linear."""
    if x.shape[0] == 0:
        return 0.0
    up = resample_poly(x, 4, 1, axis=0)
    return float(np.abs(up).max())


def limit(x: Audio, sr: int, ceiling: float) -> Audio:
    """Look-ahead peak limiter (gain computed per sample from a 4x-oversampled peak)."""
    peaks = np.abs(resample_poly(x, 4, 1, axis=0)).max(axis=1)
    peaks = peaks.reshape(-1, 4).max(axis=1)[: x.shape[0]]
    if peaks.shape[0] < x.shape[0]:
        peaks = np.pad(peaks, (0, x.shape[0] - peaks.shape[0]))
    lookahead = max(1, int(0.005 * sr))
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-9))
    # The gain must already be down when the peak arrives: take the minimum over
    # the look-ahead window, then smooth (attack ~ look-ahead, slower release).
    held = -maximum_filter1d(-needed, size=2 * lookahead + 1, mode="nearest")
    release = np.exp(-1.0 / (0.08 * sr))
    smooth = _release_smooth(held, release)
    kernel = np.ones(lookahead) / lookahead
    smooth = np.convolve(smooth, kernel, mode="same")
    smooth = np.minimum(smooth, held)
    return (x * smooth[:, None].astype(np.float32)).astype(np.float32)


def _release_smooth(gain: npt.NDArray[np.float64], coeff: float) -> npt.NDArray[np.float64]:
    """Instant attack, exponential release, on 64-sample blocks for speed."""
    block = 64
    n = gain.shape[0]
    padded = np.pad(gain, (0, (-n) % block), mode="edge").reshape(-1, block).min(axis=1)
    out = np.empty_like(padded)
    level = 1.0
    per_block = coeff**block
    for i, value in enumerate(padded):
        level = value if value < level else per_block * level + (1 - per_block) * value
        out[i] = level
    return np.asarray(np.minimum(np.repeat(out, block)[:n], 1.0))


def master(x: Audio, sr: int, target_lufs: float = TARGET_LUFS,
           ceiling_dbtp: float = CEILING_DBTP) -> Audio:
    ceiling = 10 ** ((ceiling_dbtp - 0.2) / 20.0)
    y = x.astype(np.float32)
    if not np.any(y):
        return y
    for _ in range(4):
        current = loudness(y, sr)
        gain = 10 ** ((target_lufs - current) / 20.0)
        y = (y * gain).astype(np.float32)
        y = limit(y, sr, ceiling)
        if abs(loudness(y, sr) - target_lufs) < 0.3:
            break
    # A last safety: never leave a true peak above the ceiling.
    peak = true_peak(y)
    if peak > 10 ** (ceiling_dbtp / 20.0):
        y = (y * (10 ** ((ceiling_dbtp - 0.1) / 20.0) / peak)).astype(np.float32)
    return y
