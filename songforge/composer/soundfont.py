"""Rendering parts through a General MIDI soundfont with tinysoundfont.

The soundfont is installed by scripts/install (Debian ``timgm6mb-soundfont``,
``fluid-soundfont-gm``). SYNTHS synthesisers are loaded per process and reused
for every part, so that the mixer's threads render two parts at once (the
synthesiser lets the GIL go while it renders); each part is rendered alone, from
a reset synthesiser, so the mixer can treat it alone and which synthesiser
renders it makes no difference to its samples.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from songforge.composer.score import Note

SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf3/default-GM.sf3"),
)
DRUM_CHANNEL = 9
RELEASE_TAIL_S = 1.5
BLOCK = 512
# Synthesisers loaded at once: one per mixer thread (song.MIX_THREADS); the parts
# were rendered one at a time, a third of the mix's wall time (docs/decisions/0024).
SYNTHS = 2


def find_soundfont(preferred: str | None = None) -> Path | None:
    if preferred:
        path = Path(preferred)
        return path if path.exists() else None
    for candidate in SOUNDFONT_CANDIDATES:
        if candidate.exists():
            return candidate
    return None


class SoundfontRenderer:
    def __init__(self, path: Path, sample_rate: int = 44100, synths: int = SYNTHS) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self.synths = synths
        # The loaded synthesisers not rendering now; a render takes one and gives it back.
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._sfid = 0
        self._loaded = False
        self._loading = threading.Lock()

    def load(self) -> None:
        with self._loading:
            if self._loaded:
                return
            import tinysoundfont

            for _ in range(self.synths):
                synth = tinysoundfont.Synth(samplerate=self.sample_rate, gain=-3.0)
                self._sfid = synth.sfload(str(self.path), max_voices=128)
                self._idle.put(synth)
            self._loaded = True

    def render(
        self, notes: list[Note], program: int, seconds_per_beat: float, total_frames: int
    ) -> npt.NDArray[np.float32]:
        """A stereo part (frames, 2); ``program`` -1 is the drum kit."""
        self.load()
        out = np.zeros((total_frames, 2), dtype=np.float32)
        if not notes:
            return out
        sr = self.sample_rate
        events: list[tuple[int, int, int, int]] = []  # (frame, order, pitch, velocity)
        for note in notes:
            start = round(note.start * seconds_per_beat * sr)
            stop = round((note.start + note.length) * seconds_per_beat * sr)
            if start >= total_frames:
                continue
            events.append((start, 1, note.pitch, max(1, min(127, note.velocity))))
            events.append((max(start + 1, stop), 0, note.pitch, 0))
        events.sort()
        channel = DRUM_CHANNEL if program < 0 else 0
        synth = self._idle.get()
        try:
            synth.notes_off()
            synth.sounds_off()
            synth.generate(BLOCK)
            synth.program_select(
                channel,
                self._sfid,
                128 if program < 0 else 0,
                0 if program < 0 else program,
                is_drums=program < 0,
            )
            position = 0
            for frame, kind, pitch, velocity in events:
                frame = min(frame, total_frames)
                if frame > position:
                    _fill(synth, out, position, frame)
                    position = frame
                if kind == 1:
                    synth.noteon(channel, pitch, velocity)
                else:
                    synth.noteoff(channel, pitch)
            if position < total_frames:
                _fill(synth, out, position, total_frames)
            synth.notes_off()
        finally:
            self._idle.put(synth)
        return out


def _fill(synth: Any, out: npt.NDArray[np.float32], start: int, stop: int) -> None:
    count = stop - start
    if count <= 0:
        return
    view = synth.generate(count)
    data = np.frombuffer(view, dtype=np.float32).reshape(-1, 2)
    out[start:stop] = data[:count]
