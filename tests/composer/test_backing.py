"""Backing "ooh"s: where they go, what they sing, how they sound."""

from __future__ import annotations

import numpy as np

from songforge.composer.backing import backing_phrases
from songforge.composer.compose import compose
from songforge.composer.harmony import chord_at
from songforge.composer.singer import VoiceSettings
from songforge.composer.song import SongRenderer
from songforge.composer.world import world
from tests.composer.conftest import SHORT_LYRICS


def test_backing_fills_the_unsung_sections_of_a_sung_song() -> None:
    score = compose("A gentle pop song, BPM: 100, male vocals", SHORT_LYRICS, 5)
    phrases = backing_phrases(score)
    starts = {p.start for p in phrases}
    first_sung = next(s.start for s in score.sections if s.sung)
    # A solo belongs to its instrument; the intro stays instrumental (before the lead).
    unsung = [s for s in score.sections if not s.sung and s.kind != "solo" and s.start > first_sung]
    assert unsung and starts == {s.start for s in unsung}
    for phrase in phrases:
        for note, upper in zip(phrase.notes, phrase.upper, strict=True):
            chord = chord_at(score.chords, phrase.start + note.start / score.seconds_per_beat)
            assert note.pitch % 12 in chord.pitch_classes()
            assert upper % 12 in chord.pitch_classes() and upper > note.pitch
            assert note.end > note.start + 1.0


def test_no_backing_without_a_lead() -> None:
    assert backing_phrases(compose("Calm ambient music, no vocals", "", 1)) == []
    assert backing_phrases(compose("Pop song, instrumental", SHORT_LYRICS, 1)) == []


def test_held_vowels_are_steady_at_the_pitch_asked(renderer: SongRenderer) -> None:
    score = compose("A gentle pop song, BPM: 100, male vocals", SHORT_LYRICS, 5)
    phrase = backing_phrases(score)[0]
    notes = list(phrase.notes)
    sung = renderer.singer.sing(notes, [[n.pitch for n in notes]], [VoiceSettings()], held=True)
    audio = sung.takes[0].astype(np.float64)
    sr = sung.sample_rate
    pw = world()
    f0, times = pw.dio(audio, sr, frame_period=5.0, f0_floor=60.0, f0_ceil=600.0)
    f0 = pw.stonemask(audio, f0, times, sr)
    times = times + sung.offset
    for note in notes:
        # The middle of the note: past the glide and the swell, before the fade.
        mask = (times > note.start + 0.4) & (times < note.end - 0.5)
        voiced = f0[mask][f0[mask] > 0]
        assert voiced.size > 0.8 * mask.sum()
        measured = 69 + 12 * np.log2(np.median(voiced) / 440.0)
        assert abs(measured - note.pitch) <= 0.5
        a = int((note.start + 0.4 - sung.offset) * sr)
        b = int((note.end - 0.5 - sung.offset) * sr)
        assert np.sqrt(np.mean(audio[a:b] ** 2)) > 10 ** (-50 / 20)
