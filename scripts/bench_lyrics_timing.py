"""Timed lyrics against the vocal stem: are the reported word starts where the voice starts?

    .venv/bin/python scripts/bench_lyrics_timing.py              # 4 prompts x 2 seeds, 12 s
    .venv/bin/python scripts/bench_lyrics_timing.py --seeds 1 2 3 --seconds 20
    .venv/bin/python scripts/bench_lyrics_timing.py --seconds 0 --prompts 0 2  # whole songs
    .venv/bin/python scripts/bench_lyrics_timing.py --cost --seconds 0 --prompts 0  # time cost

Renders each song with the composer engine as the worker asks for it (stems and
lyric timing on), finds onsets in the delivered vocal stem with two spectral-flux
detectors written here (librosa is not in the lock), and counts the words whose
reported start has a detected onset within the tolerance (50 ms, issue 14):

- "bands": librosa's recipe (onset_strength + onset_detect with their defaults):
  log power in ~40 log-spaced bands (dB, 80 dB range), mean positive difference,
  peaks that are local maxima above the local mean + 0.07, 30 ms apart;
- "bins": the sum of positive differences of log-magnitude FFT bins (weights the
  many high bins: consonant bursts and fricatives), with a moving threshold.

Two controls keep the figure honest: the same count for the word starts shifted
by +-100 ms (a detector that fires everywhere would match those too), and the
onset rate (onsets per second of vocal).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from songforge.engines.base import AudioResult, GenerationRequest
from songforge.engines.composer import create_engine

TOLERANCE_S = 0.05
SHIFT_S = 0.1
HOP_S = 0.005
WINDOW = 1024

PROMPTS = (
    (
        "A gentle pop song, female vocals, BPM: 100",
        "[Verse]\nI kept your letters in a box, beneath the stairs\n"
        "[Chorus]\nHold on to the summer light!\nHold on, hold on tonight\n",
    ),
    (
        "Laid-back hip hop beat, male vocal",
        "[Verse]\nCity lights and late night talks\nWe keep it moving, keep it real\n"
        "[Hook]\nRock&roll on the radio, (yeah)\n",
    ),
    (
        "Energetic rock anthem with distorted guitars, male vocals",
        "[Chorus]\nWe are the fire, we are the storm\nStanding together, never alone\n",
    ),
    (
        "Dreamy ballad with piano, soft female voice",
        "[Verse]\nPaper boats are sailing down the gutter\nRain is drumming softly on the roof\n",
    ),
)

Floats = npt.NDArray[np.float64]


def onset_strength(mono: npt.NDArray[np.float32], rate: int) -> tuple[Floats, float]:
    """Half-wave rectified log-magnitude spectral flux, one value per hop."""
    hop = max(1, round(HOP_S * rate))
    padded = np.pad(mono.astype(np.float64), (WINDOW // 2, WINDOW // 2))
    count = 1 + (padded.shape[0] - WINDOW) // hop
    index = np.arange(WINDOW)[None, :] + hop * np.arange(count)[:, None]
    frames = padded[index] * np.hanning(WINDOW)[None, :]
    magnitude = np.abs(np.fft.rfft(frames, axis=1))
    # Log compression: quiet consonants count, loud sustained vowels do not dominate.
    log = np.log1p(1000.0 * magnitude / (magnitude.max() + 1e-12))
    flux = np.maximum(0.0, np.diff(log, axis=0)).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    return flux, hop / rate


def band_onset_strength(mono: npt.NDArray[np.float32], rate: int) -> tuple[Floats, float]:
    """Mean positive difference of log band power (dB), bands log-spaced 60 Hz-11 kHz."""
    hop = max(1, round(HOP_S * rate))
    padded = np.pad(mono.astype(np.float64), (WINDOW // 2, WINDOW // 2))
    count = 1 + (padded.shape[0] - WINDOW) // hop
    index = np.arange(WINDOW)[None, :] + hop * np.arange(count)[:, None]
    power = np.abs(np.fft.rfft(padded[index] * np.hanning(WINDOW)[None, :], axis=1)) ** 2
    freqs = np.fft.rfftfreq(WINDOW, 1.0 / rate)
    edges = np.geomspace(60.0, min(11000.0, rate / 2), 41)
    bands = np.stack(
        [
            power[:, (freqs >= lo) & (freqs < hi)].sum(axis=1)
            if np.any((freqs >= lo) & (freqs < hi))
            else np.zeros(count)
            for lo, hi in itertools.pairwise(edges)
        ],
        axis=1,
    )
    db = 10 * np.log10(np.maximum(bands, 1e-20))
    db = np.maximum(db, db.max() - 80.0)
    flux = np.maximum(0.0, np.diff(db, axis=0)).mean(axis=1)
    return np.concatenate([[0.0], flux]), hop / rate


def pick_peaks(strength: Floats, hop_s: float) -> Floats:
    """librosa.util.peak_pick with onset_detect's defaults, in seconds."""
    if strength.max() <= strength.min():
        return np.zeros(0)
    x = (strength - strength.min()) / (strength.max() - strength.min())
    pre_max = max(1, round(0.03 / hop_s))
    avg = max(1, round(0.10 / hop_s))
    wait = max(1, round(0.03 / hop_s))
    picked: list[int] = []
    for n in range(x.shape[0]):
        if x[n] < x[max(0, n - pre_max) : n + 1].max():
            continue
        if x[n] < x[max(0, n - avg) : n + avg + 1].mean() + 0.07:
            continue
        if picked and n - picked[-1] <= wait:
            continue
        picked.append(n)
    return np.asarray(picked, dtype=np.float64) * hop_s


def pick_onsets(flux: Floats, hop_s: float) -> Floats:
    """Local maxima above a moving threshold (mean of the last 0.5 s plus a margin)."""
    if flux.max() <= 0:
        return np.zeros(0)
    norm = flux / flux.max()
    span = max(1, round(0.5 / hop_s))
    kernel = np.ones(span) / span
    mean = np.convolve(norm, kernel, mode="same")
    threshold = mean + 0.06
    gap = max(1, round(0.04 / hop_s))
    onsets: list[int] = []
    for k in range(1, norm.shape[0] - 1):
        if norm[k] < threshold[k] or norm[k] < norm[k - 1] or norm[k] < norm[k + 1]:
            continue
        if onsets and k - onsets[-1] < gap:
            if norm[k] > norm[onsets[-1]]:
                onsets[-1] = k
            continue
        onsets.append(k)
    return np.asarray(onsets, dtype=np.float64) * hop_s


def hits(starts: Floats, onsets: Floats, tolerance: float) -> int:
    if starts.size == 0 or onsets.size == 0:
        return 0
    nearest = np.abs(starts[:, None] - onsets[None, :]).min(axis=1)
    return int((nearest <= tolerance).sum())


@dataclass
class SongFigures:
    prompt: str
    seed: int
    words: int
    hit: int
    shifted_hit: float
    band_hit: int
    band_shifted_hit: float
    onsets_per_s: float
    median_error_ms: float
    render_s: float
    # Nearest onset minus reported start, per word (ms): the bias, if any.
    signed_ms: list[float]
    # |song - (vocals + instrumental)|: largest and RMS (dBFS); share of stem samples at
    # full scale (clipped by the engine where voice and band cancel in the song).
    residual_db: float
    residual_rms_db: float
    clipped_percent: float


def measure(result: AudioResult, prompt: str, seed: int, render_s: float) -> SongFigures:
    vocals = result.stems["vocals"]
    residual = result.samples - vocals - result.stems["instrumental"]
    mono = vocals.mean(axis=1) if vocals.ndim == 2 else vocals
    starts = np.array([w.start for line in result.lyrics or () for w in line.words])

    def counted(onsets: Floats) -> tuple[int, float]:
        later = hits(starts + SHIFT_S, onsets, TOLERANCE_S)
        return hits(starts, onsets, TOLERANCE_S), (
            later + hits(starts - SHIFT_S, onsets, TOLERANCE_S)
        ) / 2

    band_hit, band_shifted = counted(pick_peaks(*band_onset_strength(mono, result.sample_rate)))
    flux, hop_s = onset_strength(mono, result.sample_rate)
    onsets = pick_onsets(flux, hop_s)
    hit, shifted = counted(onsets)
    voiced = float((np.abs(mono) > 1e-3).mean()) * result.duration_seconds
    signed = np.zeros(0)
    if onsets.size and starts.size:
        gaps = onsets[None, :] - starts[:, None]
        signed = gaps[np.arange(starts.size), np.abs(gaps).argmin(axis=1)]
    errors = np.abs(signed)
    return SongFigures(
        prompt=prompt,
        seed=seed,
        words=int(starts.size),
        hit=hit,
        shifted_hit=shifted,
        band_hit=band_hit,
        band_shifted_hit=band_shifted,
        onsets_per_s=onsets.size / max(voiced, 1e-9),
        median_error_ms=float(np.median(errors) * 1000) if errors.size else float("nan"),
        render_s=render_s,
        signed_ms=[round(float(x) * 1000, 1) for x in signed],
        residual_db=float(20 * np.log10(np.abs(residual).max() + 1e-12)),
        residual_rms_db=float(10 * np.log10(np.mean(residual.astype(np.float64) ** 2) + 1e-24)),
        clipped_percent=100.0
        * sum(int((np.abs(a) >= 1.0).sum()) for a in result.stems.values())
        / sum(a.size for a in result.stems.values()),
    )


def measure_cost(engine: Any, args: argparse.Namespace) -> None:
    """Each song rendered plain and with stems + timing, alternating, three times each
    (the first pair warms the voice's analysis cache); CPU seconds of this process."""
    for prompt, lyrics in [PROMPTS[i] for i in args.prompts or [0]]:
        for seed in args.seeds:
            plain = GenerationRequest(
                prompt=prompt, lyrics=lyrics, seed=seed, duration=args.seconds or None
            )
            full = replace(plain, stems=True, lyrics_timing=True)
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(3):
                for flagged, request in ((False, plain), (True, full)):
                    clock = time.process_time()
                    engine.generate(request, lambda stage, fraction: None)
                    times[flagged].append(time.process_time() - clock)
            base, extra = min(times[False][1:]), min(times[True][1:])
            print(
                f"{prompt[:40]} seed {seed}: CPU {base:.1f} s plain, {extra:.1f} s with "
                f"stems and timing (x{extra / base:.2f}); load {os.getloadavg()[0]:.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=12.0, help="0: the whole song")
    parser.add_argument("--prompts", type=int, nargs="+", help="which PROMPTS (0-based)")
    parser.add_argument("--json", action="store_true", help="one JSON object per song")
    parser.add_argument(
        "--cost", action="store_true", help="render time with the flags against without"
    )
    args = parser.parse_args()
    engine = create_engine({})
    engine.load()
    if args.cost:
        measure_cost(engine, args)
        return
    rows: list[SongFigures] = []
    chosen = [PROMPTS[i] for i in args.prompts] if args.prompts else list(PROMPTS)
    for prompt, lyrics in chosen:
        for seed in args.seeds:
            request = GenerationRequest(
                prompt=prompt,
                lyrics=lyrics,
                seed=seed,
                duration=args.seconds or None,
                stems=True,
                lyrics_timing=True,
            )
            clock = time.perf_counter()
            result = engine.generate(request, lambda stage, fraction: None)
            figures = measure(result, prompt, seed, time.perf_counter() - clock)
            rows.append(figures)
            if args.json:
                print(json.dumps(figures.__dict__))
    words = sum(r.words for r in rows)

    def share(count: float, of: int) -> str:
        return f"{100 * count / max(1, of):.0f} %"

    print(f"load average {os.getloadavg()[0]:.1f}; tolerance {TOLERANCE_S * 1000:.0f} ms")
    print(
        "| prompt | seed | words | within 50 ms: bands / bins | shifted +-100 ms: bands / bins "
        "| onsets/s (bins) | median error (bins) | residual max / RMS | stems clipped |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.prompt[:40]} | {r.seed} | {r.words} "
            f"| {share(r.band_hit, r.words)} / {share(r.hit, r.words)} "
            f"| {share(r.band_shifted_hit, r.words)} / {share(r.shifted_hit, r.words)} "
            f"| {r.onsets_per_s:.1f} | {r.median_error_ms:.0f} ms "
            f"| {r.residual_db:.0f} / {r.residual_rms_db:.0f} dBFS | {r.clipped_percent:.4f} % |"
        )
    band = sum(r.band_hit for r in rows)
    band_shifted = sum(r.band_shifted_hit for r in rows)
    hit = sum(r.hit for r in rows)
    shifted = sum(r.shifted_hit for r in rows)
    signed = np.array([x for r in rows for x in r.signed_ms])
    print(
        f"| **all** | | {words} | **{100 * band / max(1, words):.1f} % / "
        f"{100 * hit / max(1, words):.1f} %** | {share(band_shifted, words)} / "
        f"{share(shifted, words)} | | {np.median(np.abs(signed)):.0f} ms | | |"
    )
    p10, p50, p90 = np.percentile(signed, [10, 50, 90])
    print(
        f"nearest onset - reported start: p10 {p10:.0f} ms, median {p50:.0f} ms, p90 {p90:.0f} ms"
    )
    print(f"render time per song: {np.mean([r.render_s for r in rows]):.1f} s")


if __name__ == "__main__":
    main()
