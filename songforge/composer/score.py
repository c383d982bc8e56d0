"""The render plan: everything the renderers need, fixed before any sound is made.

Times are in beats from the start of the song (tempo is constant), pitches are
MIDI note numbers. Tests compare the rendered vocal against ``Score.vocal``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Note:
    start: float
    length: float
    pitch: int
    velocity: int = 96


@dataclass(frozen=True)
class SungNote:
    """One sung syllable (or a held continuation of one, when ``melisma``)."""

    start: float
    length: float
    pitch: int
    syllable: str
    # The syllable's phonemes (IPA): consonants before the vowel, the vowel
    # (stretched to the note's length), consonants after it.
    onset: str
    nucleus: str
    coda: str
    word: str
    stressed: bool
    # The note starts a new word (the speech source gets a word break before it).
    word_start: bool = True

    @property
    def phonemes(self) -> str:
        return self.onset + self.nucleus + self.coda

    @property
    def end(self) -> float:
        return self.start + self.length


@dataclass(frozen=True)
class VocalPhrase:
    """One sung lyric line and its notes; phrases never overlap in time."""

    text: str
    words: tuple[str, ...]
    # The IPA of each word, as the singer pronounces it.
    word_phonemes: tuple[str, ...]
    notes: tuple[SungNote, ...]
    section: int
    # Choruses get harmonies/doubling.
    harmony: bool = False

    @property
    def start(self) -> float:
        return self.notes[0].start

    @property
    def end(self) -> float:
        last = self.notes[-1]
        return last.start + last.length


@dataclass(frozen=True)
class Chord:
    start: float
    length: float
    root: int  # pitch class 0-11
    quality: str  # "maj", "min", "dim", "sus4", "maj7", "min7", "7"

    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in CHORD_INTERVALS[self.quality])

    def tones(self) -> tuple[int, ...]:
        return CHORD_INTERVALS[self.quality]


CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "sus4": (0, 5, 7),
    "sus2": (0, 2, 7),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "7": (0, 4, 7, 10),
}


@dataclass(frozen=True)
class Section:
    kind: str  # intro, verse, pre-chorus, chorus, bridge, instrumental, outro...
    label: str
    start: float  # beats
    bars: int
    # 0 (sparse) .. 1 (everything plays); the arrangement builds with it.
    energy: float
    sung: bool

    def end(self, beats_per_bar: int) -> float:
        return self.start + self.bars * beats_per_bar


@dataclass
class Track:
    """One instrument part. ``program`` is a General MIDI program (or -1 for drums)."""

    name: str
    role: str  # drums, bass, chords, pad, lead, colour
    notes: list[Note] = field(default_factory=list)
    program: int = 0
    # "soundfont" or one of the numpy synths in synth.py / drums.py.
    source: str = "soundfont"
    pan: float = 0.0  # -1 left .. +1 right
    gain_db: float = 0.0


@dataclass
class Score:
    bpm: float
    key_root: int  # pitch class of the tonic
    mode: str  # "major" | "minor"
    genre: str
    sections: list[Section]
    chords: list[Chord]
    tracks: list[Track]
    vocal: list[VocalPhrase]
    voice: str  # "male" | "female"
    beats_per_bar: int = 4
    swing: float = 0.0
    seed: int = 0
    # The exact length of the audio when the request asked for one (seconds);
    # None: the form's length plus its last chord's ring.
    length_seconds: float | None = None

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.bpm

    @property
    def total_beats(self) -> float:
        if not self.sections:
            return 0.0
        return self.sections[-1].end(self.beats_per_bar)

    @property
    def duration_seconds(self) -> float:
        return self.total_beats * self.seconds_per_beat

    def seconds(self, beats: float) -> float:
        return beats * self.seconds_per_beat

    def vocal_notes(self) -> list[SungNote]:
        return [note for phrase in self.vocal for note in phrase.notes]
