"""Small signal-processing blocks for the mixer: EQ, panning, reverb, envelopes.

Filters run in float32 and several EQ stages are cascaded into one pass: a
three-minute stereo stem is 15 M samples, and memory traffic dominates.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, oaconvolve, sosfilt

from songforge.composer.ordered import ordered_map

Audio = npt.NDArray[np.float32]
Sos = npt.NDArray[np.float64]
# Threads for the reverb's two channels.
REVERB_THREADS = 2


def highpass_sos(cutoff: float, sr: int) -> Sos:
    return np.asarray(butter(2, cutoff, btype="highpass", fs=sr, output="sos"))


def lowpass_sos(cutoff: float, sr: int) -> Sos:
    return np.asarray(butter(2, min(cutoff, sr * 0.45), btype="lowpass", fs=sr, output="sos"))


def peaking_sos(freq: float, gain_db: float, q: float, sr: int) -> Sos:
    """RBJ peaking EQ as one second-order section."""
    a = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def apply(x: Audio, *stages: Sos) -> Audio:
    """Run the cascade of all ``stages`` over ``x`` (along axis 0) in one pass."""
    if not stages:
        return x
    sos = np.concatenate(stages, axis=0).astype(np.float32)
    return np.asarray(sosfilt(sos, x.astype(np.float32, copy=False), axis=0), dtype=np.float32)


# Frames filtered at a time by apply_in_place (~0.5 MB of stereo float32).
FILTER_BLOCK = 65536


def apply_in_place(x: Audio, *stages: Sos) -> Audio:
    """``apply(x, *stages)`` written over ``x`` (float32) a block at a time, the filters'
    state carried from block to block: the same samples, without the full-length copy
    ``sosfilt`` makes (a five-minute stereo part is 106 MB; docs/decisions/0022)."""
    if not stages or x.shape[0] == 0:
        return x
    if x.dtype != np.float32:
        raise TypeError("apply_in_place filters float32 samples")
    sos = np.concatenate(stages, axis=0).astype(np.float32)
    state = np.zeros((sos.shape[0], 2, *x.shape[1:]), dtype=np.float32)
    for start in range(0, x.shape[0], FILTER_BLOCK):
        block = slice(start, start + FILTER_BLOCK)
        x[block], state = sosfilt(sos, x[block], axis=0, zi=state)
    return x


def highpass(x: Audio, cutoff: float, sr: int) -> Audio:
    return apply(x, highpass_sos(cutoff, sr))


def lowpass(x: Audio, cutoff: float, sr: int) -> Audio:
    return apply(x, lowpass_sos(cutoff, sr))


def peaking(x: Audio, freq: float, gain_db: float, q: float, sr: int) -> Audio:
    return apply(x, peaking_sos(freq, gain_db, q, sr))


def drive(x: Audio, amount: float, sr: int) -> Audio:
    """A guitar amp: gain into a soft clipper, then a speaker cabinet's band.

    ``amount`` 0..1 goes from crunch (a few times gain) to high-gain distortion.
    The low end is tightened before the clipper (as a pedal's input filter does,
    so palm mutes stay tight), and the cabinet rolls off the fizz above ~5 kHz.
    """
    gain = np.float32(10 ** ((12.0 + 30.0 * amount) / 20.0))
    peak = float(np.max(np.abs(x))) or 1.0
    tight = apply(x, highpass_sos(90.0, sr)) * (gain / np.float32(peak))
    clipped = np.tanh(tight, out=tight)
    return apply(
        clipped,
        lowpass_sos(5200.0, sr),
        peaking_sos(700.0, -3.0, 0.8, sr),
        peaking_sos(1800.0, 2.5, 1.0, sr),
    )


def pan(mono: Audio, position: float) -> Audio:
    """Constant-power pan of a mono signal to stereo (frames, 2)."""
    angle = (float(np.clip(position, -1.0, 1.0)) + 1.0) * np.pi / 4.0
    out = np.empty((mono.shape[0], 2), dtype=np.float32)
    out[:, 0] = mono * np.float32(np.cos(angle) * np.sqrt(2.0))
    out[:, 1] = mono * np.float32(np.sin(angle) * np.sqrt(2.0))
    return out


def balance(stereo: Audio, position: float) -> Audio:
    """Pan an already stereo signal (attenuate the far side), in place."""
    if position > 0:
        stereo[:, 0] *= np.float32(1.0 - position)
    elif position < 0:
        stereo[:, 1] *= np.float32(1.0 + position)
    return stereo


def peak_envelope(x: Audio) -> Audio:
    """|x| (mono) or the louder channel's |x| (stereo), without a slow axis-1 reduction."""
    if x.ndim == 1:
        return np.abs(x)
    return np.maximum(np.abs(x[:, 0]), np.abs(x[:, 1]))


def block_peaks(x: Audio, hop: int) -> Audio:
    """The loudest |sample| of each whole block of ``hop`` frames, over all channels.

    The same values as ``peak_envelope(x)`` cut into blocks and maxed, without
    its three full-length temporaries (a block's max and min are enough).
    """
    n = (x.shape[0] // hop) * hop
    channels = x[:n] if x.ndim == 2 else x[:n, None]
    peaks = np.zeros(n // hop, dtype=np.float32)
    for c in range(channels.shape[1]):
        blocks = channels[:, c].reshape(-1, hop)
        peaks = np.maximum(peaks, np.maximum(blocks.max(axis=1), -blocks.min(axis=1)))
    return np.asarray(peaks, dtype=np.float32)


@cache
def reverb_ir(sr: int, seconds: float, seed: int = 7) -> Audio:
    """Stereo impulse response: decorrelated decaying noise, darker as it decays."""
    n = int(sr * seconds)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    decay = np.exp(-6.9 * t / seconds)
    ir = (rng.standard_normal((n, 2)) * decay[:, None]).astype(np.float32)
    ir = lowpass(ir, min(6000.0, sr * 0.4), sr)
    predelay = int(0.02 * sr)
    ir = np.concatenate([np.zeros((predelay, 2), dtype=np.float32), ir])
    ir /= np.sqrt((ir**2).sum(axis=0, keepdims=True)) + 1e-9
    return ir.astype(np.float32)


def reverb(x: Audio, sr: int, seconds: float = 1.8) -> Audio:
    """Wet-only reverb of a stereo signal, same length as the input.

    Each channel is reverberated on its own thread (REVERB_THREADS): the reverb ran on
    one core at the end of the mix while the other idled. scipy's filters and FFTs
    release the GIL, and a channel's values are those of the two-channel calls
    (sosfilt and the convolution treat each channel alone)."""
    # The tail is computed at a quarter of the rate: reverb is dark anyway and it
    # is the single most expensive block of the mix.
    factor = 4 if sr % 4 == 0 else 1
    ir = reverb_ir(sr // factor, seconds)
    wet = np.zeros((x.shape[0], 2), dtype=np.float32)

    def channel(c: int) -> None:
        low = x[:, c]
        if factor > 1:
            low = lowpass(low, sr / factor * 0.4, sr)[::factor]
        tail = oaconvolve(low, ir[:, c], mode="full")[: low.shape[0]].astype(np.float32)
        if factor > 1:
            tail = lowpass(np.repeat(tail, factor)[: x.shape[0]], sr / factor * 0.4, sr)
        # A decimated tail one sample short of the input leaves zeros at the end.
        wet[: tail.shape[0], c] = tail

    for _ in ordered_map(channel, (0, 1), REVERB_THREADS):
        pass
    return wet


def envelope(x: Audio, sr: int, attack: float, release: float) -> Audio:
    """Smoothed amplitude envelope of a mono or stereo signal (computed per 10 ms block)."""
    mono = peak_envelope(x)
    hop = max(1, int(0.01 * sr))
    whole = (mono.shape[0] // hop) * hop
    blocks = mono[:whole].reshape(-1, hop).max(axis=1)
    if mono.shape[0] % hop:
        blocks = np.append(blocks, mono[whole:].max())
    out = np.zeros_like(blocks)
    a = float(np.exp(-0.01 / max(attack, 1e-3)))
    r = float(np.exp(-0.01 / max(release, 1e-3)))
    level = 0.0
    for i, value in enumerate(blocks.tolist()):
        coeff = a if value > level else r
        level = coeff * level + (1 - coeff) * value
        out[i] = level
    return np.asarray(np.repeat(out, hop)[: mono.shape[0]], dtype=np.float32)
