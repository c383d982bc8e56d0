"""A small SVG picture of a finished song's waveform, drawn from its MP3 once and cached.

Decoding uses libsndfile (through ``soundfile``), whose wheels ship an MP3
decoder, so no ffmpeg is needed. The SVG is cached beside the audio in storage,
keyed by the audio's own storage key, so a retried attempt gets a fresh picture.
"""

from __future__ import annotations

import io
import itertools
import logging

import numpy as np
import numpy.typing as npt

from songforge.storage.base import Storage

log = logging.getLogger("songforge.dashboard")

BARS = 160
WIDTH = 640
HEIGHT = 96
CACHE_SUFFIX = ".waveform.svg"


def decode_mono(mp3: bytes) -> tuple[npt.NDArray[np.float32], int]:
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(mp3), dtype="float32", always_2d=True)
    return np.asarray(samples.mean(axis=1), dtype=np.float32), int(rate)


def peaks(mono: npt.NDArray[np.float32], bars: int = BARS) -> list[float]:
    """The loudest sample of each of ``bars`` equal slices, scaled to the song's peak."""
    if mono.size == 0:
        return [0.0] * bars
    edges = np.linspace(0, mono.size, bars + 1).astype(int)
    magnitudes = np.abs(mono)
    values = [
        float(magnitudes[start:end].max()) if end > start else 0.0
        for start, end in itertools.pairwise(edges)
    ]
    loudest = max(values) or 1.0
    return [value / loudest for value in values]


def render_svg(levels: list[float], *, title: str) -> str:
    step = WIDTH / max(len(levels), 1)
    bar = max(step * 0.6, 1.0)
    middle = HEIGHT / 2
    parts = []
    for index, level in enumerate(levels):
        # Never draw a zero-height bar: silence still shows as a thin line.
        half = max(level * (middle - 2), 0.75)
        x = index * step + (step - bar) / 2
        parts.append(f"M{x:.1f} {middle - half:.1f}h{bar:.1f}v{2 * half:.1f}h{-bar:.1f}z")
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" preserveAspectRatio="none">'
        f"<title>{safe_title}</title>"
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f3f0ff"/>'
        f'<path fill="#5b3cc4" d="{"".join(parts)}"/></svg>'
    )


def waveform_svg(storage: Storage, audio_key: str, *, title: str) -> str:
    """The cached picture for this audio, drawing (and caching) it on first use."""
    cache_key = audio_key + CACHE_SUFFIX
    if storage.exists(cache_key):
        return storage.read(cache_key).decode()
    try:
        mono, _rate = decode_mono(storage.read(audio_key))
        levels = peaks(mono)
    except Exception:
        # A picture is decoration: an undecodable file still gets one, flat, and
        # is not cached so a fixed decoder draws it properly later.
        log.exception("could not decode %s for its waveform", audio_key)
        return render_svg([0.0] * BARS, title=f"{title} (waveform unavailable)")
    svg = render_svg(levels, title=title)
    storage.save(cache_key, svg.encode())
    return svg
