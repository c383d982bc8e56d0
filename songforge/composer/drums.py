"""Drum patterns (as General MIDI percussion notes) and a small drum synthesiser.

Patterns are written per bar on a 16-step grid; the arrangement picks a
lighter or busier variant from the section's energy, adds a fill before big
sections and a crash where they start.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
from scipy.signal import butter, sosfilt

from songforge.composer.score import Note

KICK, RIM, SNARE, CLAP, HAT, PEDAL, OPEN, CRASH, RIDE, TOM_LO, TOM_HI = (
    36,
    37,
    38,
    39,
    42,
    44,
    46,
    49,
    51,
    45,
    50,
)
SHAKER, CONGA_HI, CONGA_LO, TIMBALE, COWBELL = 70, 62, 64, 65, 56

# name -> {drum: "x...x..." 16-step strings}; "x" strong hit, "o" soft hit.
PATTERNS: dict[str, dict[int, str]] = {
    "pop": {KICK: "x.....x.x.......", SNARE: "....x.......x...", HAT: "x.o.x.o.x.o.x.o."},
    "rock": {KICK: "x.....x.x.x.....", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.x."},
    "metal": {KICK: "xxxxxxxxxxxxxxxx", SNARE: "....x.......x...", CRASH: "x.......x......."},
    "four": {
        KICK: "x...x...x...x...",
        CLAP: "....x.......x...",
        HAT: "..x...x...x...x.",
        OPEN: "..o...o...o...o.",
    },
    "hiphop": {KICK: "x......x..x.....", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.xo"},
    "ballad": {KICK: "x.......x.......", RIM: "....x.......x...", HAT: "x...x...x...x..."},
    "country": {KICK: "x.......x.......", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.x."},
    "onedrop": {KICK: "........x.......", RIM: "........x.......", HAT: "x.x.x.x.x.x.x.x."},
    "latin": {
        KICK: "x..x..x.x..x..x.",
        RIM: "...x..x....x..x.",
        SHAKER: "xoxoxoxoxoxoxoxo",
        CONGA_HI: "..o..x....o..x..",
    },
    # Jazz: the ride's "spang-a-lang" (the off-beat eighths are swung by the genre's
    # swing) and the hi-hat foot on 2 and 4 keep time; no backbeat. A kick and snare
    # from the General MIDI kit, however soft, made musicnn hear a drum machine
    # ("beat", "80s", "electronic"; docs/decisions/0016).
    "jazz": {RIDE: "x...x.x.x...x.x.", PEDAL: "....x.......x..."},
    "shuffle": {KICK: "x.....x.x.....x.", SNARE: "....x.......x...", HAT: "x.ox.ox.ox.ox.ox"},
    "funk": {KICK: "x..x..x...x..x..", SNARE: "....x..o.o..x...", HAT: "xoxoxoxoxoxoxoxo"},
    # Disco: four on the floor, open hat on every off-beat, snare on 2 and 4.
    "disco": {
        KICK: "x...x...x...x...",
        SNARE: "....x.......x...",
        HAT: "x.o.x.o.x.o.x.o.",
        OPEN: "..x...x...x...x.",
    },
    # Trap: half-time snare on 3, sparse 808 kicks, 16th hats with a triplet-ish roll.
    "trap": {
        KICK: "x......x..x.....",
        CLAP: "........x.......",
        HAT: "xoxoxoxoxoxoxxxx",
    },
    # Bossa nova: the cross-stick (rim click) clave over soft hi-hat eighths, played
    # quietly; the guitarist's thumb is the bass drum (see arrangement._bossa).
    "bossa": {RIM: "x..x..x...x..x..", HAT: "o.o.o.o.o.o.o.o."},
    # Gospel: backbeat with hand claps doubling the snare, a busy hat.
    "gospel": {
        KICK: "x.....x.x.......",
        SNARE: "....x.......x...",
        CLAP: "....x.......x...",
        HAT: "x.ox.ox.ox.ox.ox",
    },
    # Synthwave: straight eighths, a big gated snare on 2 and 4.
    "synthwave": {KICK: "x.......x.x.....", SNARE: "....x.......x...", HAT: "x.x.x.x.x.x.x.x."},
}
LIGHT_KEEP = {KICK, HAT, RIDE, RIM, SHAKER, PEDAL}


def drum_bar(style: str, bar_start: float, energy: float, fill: bool, crash: bool) -> list[Note]:
    pattern = PATTERNS.get(style)
    if pattern is None:
        return []
    notes: list[Note] = []
    for drum, steps in pattern.items():
        if energy < 0.4 and drum not in LIGHT_KEEP:
            continue
        for step, mark in enumerate(steps):
            if mark == ".":
                continue
            if energy < 0.4 and drum == KICK and step not in (0, 8):
                continue
            if fill and step >= 8 and drum in (SNARE, CLAP, HAT, OPEN):
                continue
            velocity = 110 if mark == "x" else 70
            velocity = int(velocity * (0.75 + 0.3 * energy))
            notes.append(Note(bar_start + step * 0.25, 0.25, drum, min(127, velocity)))
    if energy >= 0.75 and style in ("pop", "rock", "country", "four", "funk", "disco"):
        notes += [Note(bar_start + s * 0.25, 0.25, HAT, 60) for s in range(1, 16, 2)]
    if fill:
        hits = (8, 10, 12, 13, 14, 15)
        drums = (SNARE, SNARE, TOM_HI, TOM_HI, TOM_LO, TOM_LO)
        if style in ("four", "trap"):
            drums = (CLAP,) * 6
        for step, drum in zip(hits, drums, strict=True):
            notes.append(Note(bar_start + step * 0.25, 0.25, drum, 100))
    if crash:
        notes.append(Note(bar_start, 2.0, CRASH, 105))
    return notes


# ---- synthesised kit (electronic genres) -------------------------------------------------


def _env(n: int, sr: int, decay_s: float) -> npt.NDArray[np.float64]:
    t = np.arange(n) / sr
    return np.asarray(np.exp(-t / decay_s))


@cache
def drum_sample(drum: int, sr: int, style: str) -> npt.NDArray[np.float32]:
    """One drum hit, mono. Deterministic (fixed noise seed per drum)."""
    rng = np.random.default_rng(drum * 7919 + sr)
    if drum == KICK:
        long_808 = style in ("hiphop", "trap")
        n = int(sr * (0.9 if long_808 else 0.35))
        t = np.arange(n) / sr
        freq = 45.0 + 110.0 * np.exp(-t / 0.035)
        phase = 2 * np.pi * np.cumsum(freq) / sr
        body = np.sin(phase) * _env(n, sr, 0.45 if long_808 else 0.12)
        click = rng.standard_normal(n) * _env(n, sr, 0.003) * 0.3
        out = np.tanh(1.6 * (body + click))
    elif drum in (SNARE, CLAP, RIM):
        n = int(sr * 0.25)
        noise = rng.standard_normal(n)
        sos = butter(2, [1200, 9000], btype="bandpass", fs=sr, output="sos")
        noise = sosfilt(sos, noise)
        if drum == CLAP:
            env = np.zeros(n)
            for k, offset in enumerate((0.0, 0.011, 0.022)):
                start = int(offset * sr)
                env[start:] += _env(n - start, sr, 0.008 if k < 2 else 0.09)
            out = noise * env * 0.9
        else:
            t = np.arange(n) / sr
            tone = np.sin(2 * np.pi * 185.0 * t) * _env(n, sr, 0.05)
            out = noise * _env(n, sr, 0.07 if drum == SNARE else 0.02) * 0.8 + tone * 0.5
    elif drum in (HAT, PEDAL, OPEN, SHAKER, CRASH, RIDE):
        decay = {HAT: 0.03, PEDAL: 0.02, OPEN: 0.18, SHAKER: 0.04, CRASH: 0.9, RIDE: 0.5}[drum]
        n = int(sr * min(1.5, decay * 5))
        noise = rng.standard_normal(n)
        sos = butter(2, 7000 if drum != CRASH else 4000, btype="highpass", fs=sr, output="sos")
        out = sosfilt(sos, noise) * _env(n, sr, decay) * (0.35 if drum != CRASH else 0.3)
    else:
        n = int(sr * 0.3)
        t = np.arange(n) / sr
        base = 110.0 if drum == TOM_LO else 160.0
        out = np.sin(2 * np.pi * base * t * (1 + 0.3 * np.exp(-t / 0.05))) * _env(n, sr, 0.12)
    return np.asarray(out, dtype=np.float32)


def render_synth_drums(
    notes: list[Note], seconds_per_beat: float, total_frames: int, sr: int, style: str
) -> npt.NDArray[np.float32]:
    """Mono drum track from the synthesised kit."""
    out = np.zeros(total_frames, dtype=np.float32)
    for note in notes:
        sample = drum_sample(note.pitch, sr, style)
        start = round(note.start * seconds_per_beat * sr)
        if start >= total_frames:
            continue
        end = min(total_frames, start + sample.shape[0])
        out[start:end] += sample[: end - start] * (note.velocity / 127.0)
    return out
