"""Timed lyrics against the vocal stem: are the reported word starts where the voice starts?

    .venv/bin/python scripts/bench_lyrics_timing.py              # 4 prompts x 2 seeds, 12 s
    .venv/bin/python scripts/bench_lyrics_timing.py --seeds 1 2 3 --seconds 20

Renders each song with the composer engine as the worker asks for it (stems and
lyric timing on), finds onsets in the delivered vocal stem with a spectral-flux
detector (below; librosa is not in the lock), and counts the words whose
reported start has a detected onset within the tolerance (50 ms, issue 14).

Two controls keep the figure honest: the same count for the word starts shifted
by +-100 ms (a detector that fires everywhere would match those too), and the
onset rate (onsets per second of vocal).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass

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
    onsets_per_s: float
    median_error_ms: float
    render_s: float
    # Nearest onset minus reported start, per word (ms): the bias, if any.
    signed_ms: list[float]


def measure(result: AudioResult, prompt: str, seed: int, render_s: float) -> SongFigures:
    vocals = result.stems["vocals"]
    mono = vocals.mean(axis=1) if vocals.ndim == 2 else vocals
    flux, hop_s = onset_strength(mono, result.sample_rate)
    onsets = pick_onsets(flux, hop_s)
    starts = np.array([w.start for line in result.lyrics or () for w in line.words])
    hit = hits(starts, onsets, TOLERANCE_S)
    shifted = (
        hits(starts + SHIFT_S, onsets, TOLERANCE_S) + hits(starts - SHIFT_S, onsets, TOLERANCE_S)
    ) / 2.0
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
        onsets_per_s=onsets.size / max(voiced, 1e-9),
        median_error_ms=float(np.median(errors) * 1000) if errors.size else float("nan"),
        render_s=render_s,
        signed_ms=[round(float(x) * 1000, 1) for x in signed],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--json", action="store_true", help="one JSON object per song")
    args = parser.parse_args()
    engine = create_engine({})
    engine.load()
    rows: list[SongFigures] = []
    for prompt, lyrics in PROMPTS:
        for seed in args.seeds:
            request = GenerationRequest(
                prompt=prompt,
                lyrics=lyrics,
                seed=seed,
                duration=args.seconds,
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
    hit = sum(r.hit for r in rows)
    shifted = sum(r.shifted_hit for r in rows)
    print(f"load average {os.getloadavg()[0]:.1f}; tolerance {TOLERANCE_S * 1000:.0f} ms")
    print("| prompt | seed | words | within 50 ms | shifted +-100 ms | onsets/s | median error |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.prompt[:40]} | {r.seed} | {r.words} | {100 * r.hit / max(1, r.words):.0f} % "
            f"| {100 * r.shifted_hit / max(1, r.words):.0f} % | {r.onsets_per_s:.1f} "
            f"| {r.median_error_ms:.0f} ms |"
        )
    signed = np.array([x for r in rows for x in r.signed_ms])
    print(
        f"| **all** | | {words} | **{100 * hit / max(1, words):.1f} %** "
        f"| {100 * shifted / max(1, words):.1f} % | | {np.median(np.abs(signed)):.0f} ms |"
    )
    p10, p50, p90 = np.percentile(signed, [10, 50, 90])
    print(
        f"nearest onset - reported start: p10 {p10:.0f} ms, median {p50:.0f} ms, p90 {p90:.0f} ms"
    )
    print(f"render time per song: {np.mean([r.render_s for r in rows]):.1f} s")


if __name__ == "__main__":
    main()
