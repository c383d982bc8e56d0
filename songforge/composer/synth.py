"""Numpy synthesisers for the electronic parts: bass, supersaw pad, stabs, lead.

Oscillators read a band-limited saw wavetable (harmonics up to a ceiling), so
they are cheap and do not alias badly; filters are simple biquads.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfilt

from songforge.composer.score import Note

TABLE_SIZE = 4096
Mono = npt.NDArray[np.float32]


@cache
def saw_table(harmonics: int) -> npt.NDArray[np.float64]:
    phase = np.arange(TABLE_SIZE) / TABLE_SIZE
    table = np.zeros(TABLE_SIZE)
    for k in range(1, harmonics + 1):
        table += np.sin(2 * np.pi * k * phase) / k
    return np.asarray(table / np.abs(table).max())


def _osc(freq: float, n: int, sr: int, phase0: float, shape: str) -> npt.NDArray[np.float64]:
    phase = (phase0 + freq * np.arange(n) / sr) % 1.0
    if shape == "sine":
        return np.asarray(np.sin(2 * np.pi * phase))
    harmonics = max(1, min(64, int(sr / 2 / max(freq, 1.0)) - 1))
    table = saw_table(harmonics)
    return np.asarray(table[(phase * TABLE_SIZE).astype(np.int64) % TABLE_SIZE])


def _adsr(
    n: int, sr: int, attack: float, release: float, sustain_n: int
) -> npt.NDArray[np.float64]:
    env = np.ones(n)
    a = min(n, max(1, int(attack * sr)))
    env[:a] = np.linspace(0.0, 1.0, a)
    r = max(1, int(release * sr))
    if sustain_n < n:
        tail = n - sustain_n
        env[sustain_n:] *= np.exp(-np.arange(tail) / r)
    return env


def render_synth(
    notes: list[Note], kind: str, seconds_per_beat: float, total_frames: int, sr: int
) -> Mono:
    """A mono part. ``kind``: synth-bass, synth-pad, synth-stab, synth-lead."""
    out = np.zeros(total_frames, dtype=np.float64)
    for index, note in enumerate(notes):
        start = round(note.start * seconds_per_beat * sr)
        if start >= total_frames:
            continue
        hold = int(note.length * seconds_per_beat * sr)
        freq = 440.0 * 2.0 ** ((note.pitch - 69) / 12.0)
        gain = note.velocity / 127.0
        if kind == "synth-bass":
            release = 0.05
            n = min(total_frames - start, hold + int(release * sr * 4))
            wave = 0.7 * _osc(freq, n, sr, 0.0, "sine") + 0.35 * _osc(freq, n, sr, 0.25, "saw")
            env = _adsr(n, sr, 0.004, release, hold)
            sig = np.tanh(1.5 * wave) * env
        elif kind == "synth-pad":
            release = 0.6
            n = min(total_frames - start, hold + int(release * sr * 3))
            sig = np.zeros(n)
            for k, detune in enumerate((-0.12, -0.05, 0.0, 0.06, 0.11)):
                f = freq * 2 ** (detune / 12.0)
                sig += _osc(f, n, sr, (k * 0.137 + index * 0.31) % 1.0, "saw")
            sig *= _adsr(n, sr, 0.35, release, hold) * 0.22
        elif kind == "synth-stab":
            release = 0.08
            n = min(total_frames - start, hold + int(release * sr * 4))
            sig = np.zeros(n)
            for k, detune in enumerate((-0.08, 0.0, 0.08)):
                sig += _osc(freq * 2 ** (detune / 12.0), n, sr, k * 0.21, "saw")
            sig *= _adsr(n, sr, 0.003, release, hold) * 0.3
        else:  # synth-lead
            release = 0.12
            n = min(total_frames - start, hold + int(release * sr * 4))
            t = np.arange(n) / sr
            vib = 1.0 + 0.004 * np.sin(2 * np.pi * 5.5 * t) * np.clip(t / 0.3, 0, 1)
            phase = np.cumsum(freq * vib) / sr
            harmonics = max(1, min(64, int(sr / 2 / freq) - 1))
            table = saw_table(harmonics)
            sig = table[(phase * TABLE_SIZE).astype(np.int64) % TABLE_SIZE]
            sig *= _adsr(n, sr, 0.01, release, hold) * 0.4
        out[start : start + n] += sig * gain
    cutoff = {"synth-bass": 900.0, "synth-pad": 3500.0, "synth-stab": 5000.0}.get(kind, 6000.0)
    sos = butter(2, cutoff, btype="lowpass", fs=sr, output="sos")
    return np.asarray(sosfilt(sos, out), dtype=np.float32)


def crackle(total_frames: int, sr: int, seed: int) -> Mono:
    """Vinyl crackle: sparse clicks over faint hiss, band-limited like an old record."""
    rng = np.random.default_rng(seed)
    out = rng.standard_normal(total_frames) * 0.004
    clicks = rng.random(total_frames) < (9.0 / sr)
    out[clicks] += rng.standard_normal(int(clicks.sum())) * 0.35
    sos = butter(2, [400, 7000], btype="bandpass", fs=sr, output="sos")
    return np.asarray(sosfilt(sos, out), dtype=np.float32)


def riser(length_s: float, sr: int, seed: int) -> Mono:
    """A filtered-noise sweep that rises into the next section."""
    n = int(length_s * sr)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(n)
    out = np.zeros(n)
    blocks = 16
    for b in range(blocks):
        lo, hi = b * n // blocks, (b + 1) * n // blocks
        cutoff = 500.0 * (16.0 ** (b / blocks))
        sos = butter(2, min(cutoff, sr / 2.5), btype="lowpass", fs=sr, output="sos")
        out[lo:hi] = sosfilt(sos, noise[lo:hi])
    out *= np.linspace(0.0, 1.0, n) ** 2 * 0.25
    return np.asarray(out, dtype=np.float32)
