"""Small signal-processing blocks for the mixer: EQ, panning, reverb, envelopes."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, oaconvolve, sosfilt

Audio = npt.NDArray[np.float32]


def highpass(x: Audio, cutoff: float, sr: int) -> Audio:
    sos = butter(2, cutoff, btype="highpass", fs=sr, output="sos")
    return np.asarray(sosfilt(sos, x, axis=0), dtype=np.float32)


def lowpass(x: Audio, cutoff: float, sr: int) -> Audio:
    sos = butter(2, min(cutoff, sr * 0.45), btype="lowpass", fs=sr, output="sos")
    return np.asarray(sosfilt(sos, x, axis=0), dtype=np.float32)


def peaking(x: Audio, freq: float, gain_db: float, q: float, sr: int) -> Audio:
    """RBJ peaking EQ."""
    a = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    sos = np.concatenate([b / den[0], den / den[0]])[None, :]
    return np.asarray(sosfilt(sos, x, axis=0), dtype=np.float32)


def pan(mono: Audio, position: float) -> Audio:
    """Constant-power pan of a mono signal to stereo (frames, 2)."""
    angle = (np.clip(position, -1.0, 1.0) + 1.0) * np.pi / 4.0
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)], axis=1).astype(np.float32)


def balance(stereo: Audio, position: float) -> Audio:
    """Pan an already stereo signal (attenuate the far side)."""
    left = min(1.0, 1.0 - position) if position > 0 else 1.0
    right = min(1.0, 1.0 + position) if position < 0 else 1.0
    return (stereo * np.array([left, right], dtype=np.float32)).astype(np.float32)


@cache
def reverb_ir(sr: int, seconds: float, seed: int = 7) -> Audio:
    """Stereo impulse response: decorrelated decaying noise, darker as it decays."""
    n = int(sr * seconds)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    decay = np.exp(-6.9 * t / seconds)
    ir = rng.standard_normal((n, 2)) * decay[:, None]
    ir = lowpass(ir.astype(np.float32), 6000.0, sr)
    predelay = int(0.02 * sr)
    ir = np.concatenate([np.zeros((predelay, 2), dtype=np.float32), ir])
    ir /= np.sqrt((ir**2).sum(axis=0, keepdims=True)) + 1e-9
    return ir.astype(np.float32)


def reverb(x: Audio, sr: int, seconds: float = 1.8) -> Audio:
    """Wet-only reverb of a stereo signal, same length as the input."""
    # The tail is computed at a quarter of the rate: reverb is dark anyway and it
    # is the single most expensive block of the mix.
    factor = 4 if sr % 4 == 0 else 1
    ir = reverb_ir(sr // factor, seconds)
    low = x[::factor] if factor > 1 else x
    if factor > 1:
        low = lowpass(x, sr / factor * 0.4, sr)[::factor]
    wet = np.stack([oaconvolve(low[:, c], ir[:, c], mode="full")[: low.shape[0]] for c in (0, 1)], axis=1)
    if factor > 1:
        wet = np.repeat(wet, factor, axis=0)[: x.shape[0]]
        wet = lowpass(wet.astype(np.float32), sr / factor * 0.4, sr)
        if wet.shape[0] < x.shape[0]:
            wet = np.pad(wet, ((0, x.shape[0] - wet.shape[0]), (0, 0)))
    return np.asarray(wet, dtype=np.float32)


def envelope(x: Audio, sr: int, attack: float, release: float) -> npt.NDArray[np.float32]:
    """Smoothed amplitude envelope of a mono or stereo signal (computed per 10 ms block)."""
    mono = np.abs(x).max(axis=1) if x.ndim == 2 else np.abs(x)
    hop = max(1, int(0.01 * sr))
    blocks = mono[: (mono.shape[0] // hop) * hop].reshape(-1, hop).max(axis=1)
    if mono.shape[0] % hop:
        blocks = np.append(blocks, mono[(mono.shape[0] // hop) * hop :].max())
    out = np.zeros_like(blocks)
    a = np.exp(-0.01 / max(attack, 1e-3))
    r = np.exp(-0.01 / max(release, 1e-3))
    level = 0.0
    for i, value in enumerate(blocks):
        coeff = a if value > level else r
        level = coeff * level + (1 - coeff) * value
        out[i] = level
    return np.asarray(np.repeat(out, hop)[: mono.shape[0]], dtype=np.float32)
