"""Mastering: loudness to a target (EBU R128 / BS.1770) under a true-peak ceiling.

True peak is estimated on a 4x oversampled signal. A look-ahead limiter with a
smooth release brings the peaks under the ceiling; since limiting lowers the
loudness a little, gain and limiting are repeated a few times.

Mastering ran on one core while the other idled (docs/decisions/0022): the
channels are filtered and oversampled on a thread each (scipy's filters release
the GIL), and the loudness's power is summed a stretch at a time on both. Every
value is computed as before, in the same order, so the master is the same, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d
from scipy.signal import resample_poly, sosfilt

from songforge.composer.ordered import ordered_map

Audio = npt.NDArray[np.float32]

TARGET_LUFS = -14.0
CEILING_DBTP = -1.0
# Threads for the per-channel and per-stretch work (a stereo song: one per channel).
THREADS = 2
# 100 ms loudness blocks whose power is summed at a time: a few MB of float64 instead
# of two full-length float64 copies of the song (~200 MB for three minutes).
POWER_BLOCKS_AT_ONCE = 64


def _k_weighting(sr: int) -> npt.NDArray[np.float64]:
    """BS.1770 K-weighting (high shelf + high-pass) as second-order sections at ``sr``."""
    # Coefficients per pyloudnorm/BS.1770, derived by bilinear transform at any rate.
    g, q, fc = 4.0, 1 / np.sqrt(2), 1500.0
    a = 10 ** (g / 40.0)
    w0 = 2 * np.pi * fc / sr
    alpha = np.sin(w0) / (2 * q)
    shelf_b = np.array(
        [
            a * ((a + 1) + (a - 1) * np.cos(w0) + 2 * np.sqrt(a) * alpha),
            -2 * a * ((a - 1) + (a + 1) * np.cos(w0)),
            a * ((a + 1) + (a - 1) * np.cos(w0) - 2 * np.sqrt(a) * alpha),
        ]
    )
    shelf_a = np.array(
        [
            (a + 1) - (a - 1) * np.cos(w0) + 2 * np.sqrt(a) * alpha,
            2 * ((a - 1) - (a + 1) * np.cos(w0)),
            (a + 1) - (a - 1) * np.cos(w0) - 2 * np.sqrt(a) * alpha,
        ]
    )
    fc, q = 38.0, 0.5
    w0 = 2 * np.pi * fc / sr
    alpha = np.sin(w0) / (2 * q)
    hp_b = np.array([(1 + np.cos(w0)) / 2, -(1 + np.cos(w0)), (1 + np.cos(w0)) / 2])
    hp_a = np.array([1 + alpha, -2 * np.cos(w0), 1 - alpha])
    return np.array(
        [
            np.concatenate([shelf_b / shelf_a[0], shelf_a / shelf_a[0]]),
            np.concatenate([hp_b / hp_a[0], hp_a / hp_a[0]]),
        ]
    )


def loudness(x: Audio, sr: int) -> float:
    """Integrated loudness (LUFS, BS.1770-4 gating), vectorised."""
    channels = x if x.ndim == 2 else x[:, None]
    weighted = _k_weighted(channels, sr)
    step = int(0.1 * sr)
    blocks = channels.shape[0] // step
    if blocks < 4:
        total = _power(weighted, 0, channels.shape[0])
        mean = float(total.mean()) if total.size else 0.0
        return -0.691 + 10 * np.log10(mean) if mean > 0 else -70.0
    hundred = _block_means(weighted, step, blocks)
    # 400 ms blocks with 75 % overlap = mean of four consecutive 100 ms blocks.
    z = (hundred[:-3] + hundred[1:-2] + hundred[2:-1] + hundred[3:]) / 4.0
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(np.maximum(z, 1e-20))
    gated = z[lk > -70.0]
    if gated.size == 0:
        return -70.0
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    final = z[(lk > -70.0) & (lk > relative)]
    if final.size == 0:
        return -70.0
    return float(-0.691 + 10 * np.log10(final.mean()))


def _k_weighted(channels: Audio, sr: int) -> list[npt.NDArray[np.float32]]:
    """Each channel of (frames, channels) K-weighted, one channel per thread: the
    values one sosfilt call over all the channels gives (the same float32 filter)."""
    sos = _k_weighting(sr).astype(np.float32)
    return list(
        ordered_map(
            lambda c: sosfilt(sos, channels[:, c].astype(np.float32)),
            range(channels.shape[1]),
            THREADS,
        )
    )


def _block_means(
    weighted: Sequence[npt.NDArray[np.float32]], step: int, blocks: int
) -> npt.NDArray[np.float64]:
    """The mean power of each of the first ``blocks`` blocks of ``step`` frames. A
    block's mean depends on its own samples only, so summing a stretch of whole
    blocks at a time, on two threads, gives the values of one pass over the song."""

    def stretch_means(first: int) -> npt.NDArray[np.float64]:
        last = min(blocks, first + POWER_BLOCKS_AT_ONCE)
        power = _power(weighted, first * step, last * step)
        means: npt.NDArray[np.float64] = power.reshape(last - first, step).mean(axis=1)
        return means

    stretches = range(0, blocks, POWER_BLOCKS_AT_ONCE)
    return np.concatenate(list(ordered_map(stretch_means, stretches, THREADS)))


def _power(
    weighted: Sequence[npt.NDArray[np.float32]], start: int, stop: int
) -> npt.NDArray[np.float64]:
    """Frames ``start:stop`` of the channels' summed squares, in float64: each
    channel's square added in channel order, as ``(w ** 2).sum(axis=1)`` does."""
    total: npt.NDArray[np.float64] = np.square(weighted[0][start:stop], dtype=np.float64)
    for channel in weighted[1:]:
        total += np.square(channel[start:stop], dtype=np.float64)
    return total


def true_peak(x: Audio) -> float:
    """Peak of the 4x-oversampled signal, linear.

    Only the loudest stretches can hold the true peak (oversampling adds at most
    a few dB to a sample peak), so just those are oversampled.
    """
    if x.shape[0] == 0:
        return 0.0
    channels = x if x.ndim == 2 else x[:, None]
    mono = np.maximum(np.abs(channels[:, 0]), np.abs(channels[:, -1]))
    sample_peak = float(mono.max())
    if sample_peak <= 0:
        return 0.0
    block = 1024
    pad = 32
    padded = np.pad(channels, ((pad, pad + (-channels.shape[0]) % block), (0, 0)))
    count = (padded.shape[0] - 2 * pad) // block
    maxima = np.pad(mono, (0, count * block - mono.shape[0])).reshape(count, block).max(axis=1)
    chosen = np.nonzero(maxima > sample_peak * 0.7)[0]
    # Each chosen block with some context on both sides, oversampled in one call;
    # the context is dropped again so the filter's edges do not count.
    index = chosen[:, None] * block + np.arange(block + 2 * pad)[None, :]

    def channel_peak(c: int) -> float:
        segments = padded[index, c]
        up = resample_poly(segments, 4, 1, axis=1)[:, 4 * pad : -4 * pad]
        return float(np.abs(up).max())

    return max(sample_peak, *ordered_map(channel_peak, range(channels.shape[1]), THREADS))


def limit(x: Audio, sr: int, ceiling: float) -> Audio:
    """Look-ahead peak limiter: the gain is already down when a peak arrives."""
    gain = limiter_gain(x, sr, ceiling)
    if gain is None:
        return x
    out: Audio = (x * (gain[:, None] if x.ndim == 2 else gain)).astype(np.float32)
    return out


def limiter_gain(x: Audio, sr: int, ceiling: float) -> npt.NDArray[np.float32] | None:
    """The limiter's gain per frame (shared by the channels); None when nothing is over."""
    peaks = np.maximum(np.abs(x[:, 0]), np.abs(x[:, 1])) if x.ndim == 2 else np.abs(x)
    needed = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-9)).astype(np.float32)
    if float(needed.min()) >= 1.0:
        return None
    lookahead = max(1, int(0.005 * sr))
    held = -maximum_filter1d(-needed, size=2 * lookahead + 1, mode="nearest")
    smooth = _release_smooth(held, float(np.exp(-1.0 / (0.08 * sr))))
    # Moving average over the look-ahead (a cumulative sum, not a convolution).
    csum = np.concatenate([[0.0], np.cumsum(smooth, dtype=np.float64)])
    half = lookahead // 2
    idx = np.arange(smooth.shape[0])
    lo = np.clip(idx - half, 0, smooth.shape[0])
    hi = np.clip(idx + half + 1, 0, smooth.shape[0])
    averaged = ((csum[hi] - csum[lo]) / (hi - lo)).astype(np.float32)
    gain: npt.NDArray[np.float32] = np.minimum(averaged, held)
    return gain


def _release_smooth(gain: npt.NDArray[np.float32], coeff: float) -> npt.NDArray[np.float32]:
    """Instant attack, exponential release, on 64-sample blocks for speed."""
    block = 64
    n = gain.shape[0]
    padded = np.pad(gain, (0, (-n) % block), mode="edge").reshape(-1, block).min(axis=1)
    out = np.empty_like(padded)
    level = 1.0
    per_block = coeff**block
    for i, value in enumerate(padded.tolist()):
        level = value if value < level else per_block * level + (1 - per_block) * value
        out[i] = level
    result: npt.NDArray[np.float32] = np.minimum(np.repeat(out, block)[:n], 1.0).astype(np.float32)
    return result


def soft_clip(x: Audio, ceiling: float, knee: float = 0.6) -> Audio:
    """Leave samples under ``knee * ceiling`` alone; bend the rest smoothly under ``ceiling``."""
    k = knee * ceiling
    magnitude = np.abs(x)
    over = magnitude > k
    if not np.any(over):
        return x
    room = ceiling - k
    y = x.copy()
    y[over] = np.sign(x[over]) * (k + room * np.tanh((magnitude[over] - k) / room))
    return y


def master(
    x: Audio, sr: int, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP
) -> Audio:
    """Loudness to ``target_lufs`` with true peaks at or under ``ceiling_dbtp``."""
    return _master(x, sr, target_lufs, ceiling_dbtp, None)


def mastered_with_gain(
    x: Audio, sr: int, target_lufs: float = TARGET_LUFS, ceiling_dbtp: float = CEILING_DBTP
) -> tuple[Audio, Audio]:
    """``master(x)``, and the gain it applied to each sample of each channel.

    The loudness steps, the limiter's envelopes and the clipper's bend of a peak
    are all a factor per sample, so ``x * gain`` is the master (to float rounding):
    parts of ``x`` multiplied by the same gain add up to the mastered song, each
    part changed only as it is heard in it (docs/decisions/0014).
    """
    y = x.astype(np.float32)
    gain = np.ones_like(y)
    return _master(y, sr, target_lufs, ceiling_dbtp, gain), gain


def _master(
    x: Audio, sr: int, target_lufs: float, ceiling_dbtp: float, gain: Audio | None
) -> Audio:
    """The mastering passes; every factor applied is also multiplied into ``gain``."""
    y = x.astype(np.float32)
    if not np.any(y):
        return y
    # Sample peaks are limited a little under the ceiling, leaving room for the
    # inter-sample overshoot; when the true peak still exceeds it, the sample
    # ceiling is lowered by the excess and the pass repeated.
    allowed = 10 ** ((ceiling_dbtp - 0.05) / 20.0)
    ceiling = 10 ** ((ceiling_dbtp - 0.5) / 20.0)
    current = loudness(y, sr)
    for _ in range(6):
        step = np.float32(10 ** ((target_lufs - current) / 20.0))
        # float32 times a float32: float32 already, no copy to make.
        y = (y * step).astype(np.float32, copy=False)
        # A clipper ahead of the limiter shaves short transients cheaply, so
        # peaky material can reach the loudness without the limiter pumping.
        clipped = soft_clip(y, ceiling)
        held = limiter_gain(clipped, sr, ceiling)
        if gain is not None:
            gain *= step
            # Equal where the clipper left a sample alone: a factor of exactly 1.
            gain *= np.divide(clipped, y, out=np.ones_like(y), where=clipped != y)
            if held is not None:
                gain *= held[:, None] if y.ndim == 2 else held
        y = clipped
        if held is not None:
            y = (y * (held[:, None] if y.ndim == 2 else held)).astype(np.float32, copy=False)
        current = loudness(y, sr)
        peak = true_peak(y)
        if peak > allowed:
            ceiling *= allowed / peak * 0.99
        elif abs(current - target_lufs) < 0.25:
            break
    # ``peak`` is already the true peak of ``y`` as it leaves the loop (measuring it
    # again was a third of a song's true-peak time).
    if peak > allowed:
        y = (y * np.float32(allowed / peak)).astype(np.float32)
        if gain is not None:
            gain *= np.float32(allowed / peak)
    return y
