"""The rendered audio itself: length, rate, no dropouts, the vocal sings the score."""

from __future__ import annotations

import numpy as np

from songforge.composer.mastering import loudness, true_peak
from songforge.composer.singer import FINAL_FULL_S, MAX_FINAL_VOWEL_S, MAX_VOWEL_S
from songforge.composer.song import RenderedSong, SongRenderer
from songforge.composer.voice import PiperVoice, default_voice_files
from songforge.composer.world import world
from tests.composer.conftest import SHORT_LYRICS


def _rms(x: np.ndarray) -> float:  # type: ignore[type-arg]
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def test_format_length_and_loudness(vocal_song: RenderedSong) -> None:
    audio = vocal_song.audio
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert vocal_song.sample_rate == 44100
    score = vocal_song.score
    assert score.duration_seconds <= vocal_song.duration_seconds <= score.duration_seconds + 2.5
    assert abs(loudness(audio, 44100) + 14.0) <= 1.0
    assert 20 * np.log10(true_peak(audio)) <= -1.0 + 1e-3


def test_no_silent_stretch_inside_the_song(vocal_song: RenderedSong) -> None:
    audio = vocal_song.audio
    sr = vocal_song.sample_rate
    end = int(vocal_song.score.duration_seconds * sr) - sr
    window = sr // 2
    levels = [_rms(audio[i : i + window]) for i in range(0, end - window, window)]
    assert min(levels) > 10 ** (-45 / 20)


def test_vocal_present_where_the_score_sings(vocal_song: RenderedSong) -> None:
    vocals = vocal_song.stems["vocals"][:, 0]
    sr = vocal_song.sample_rate
    score = vocal_song.score
    assert score.vocal
    for phrase in score.vocal:
        a = int(score.seconds(phrase.start) * sr)
        b = int(score.seconds(phrase.end) * sr)
        assert _rms(vocals[a:b]) > 10 ** (-40 / 20), phrase.text
    # And quiet between phrases (no stray voice in the instrumental intro).
    intro_end = int(score.seconds(score.vocal[0].start) * sr) - sr // 2
    assert _rms(vocals[:intro_end]) < 10 ** (-60 / 20)


def test_vocal_pitch_follows_the_score(vocal_song: RenderedSong) -> None:
    sr = vocal_song.sample_rate
    score = vocal_song.score
    x = vocal_song.stems["vocals"][:, 0].astype(np.float64)
    pw = world()
    f0, times = pw.dio(x, sr, frame_period=5.0, f0_floor=70.0, f0_ceil=800.0)
    f0 = pw.stonemask(x, f0, times, sr)
    checked = 0
    close = 0
    for note in score.vocal_notes():
        start, end = score.seconds(note.start), score.seconds(note.end)
        if end - start < 0.25:
            continue
        # The sung vowel after the pitch glide (vowels inside a line are held at
        # most MAX_VOWEL_S; the rest of a long note is a rest before the next).
        vowel_end = min(end, start + MAX_VOWEL_S) - 0.02
        mask = (times > start + 0.08) & (times < vowel_end)
        voiced = f0[mask][f0[mask] > 0]
        if voiced.size < 4:
            continue
        measured = 69 + 12 * np.log2(np.median(voiced) / 440.0)
        checked += 1
        close += abs(measured - note.pitch) <= 0.5
    assert checked >= 4
    assert close / checked >= 0.8


def test_a_lines_held_last_note_tapers_off(vocal_song: RenderedSong) -> None:
    sr = vocal_song.sample_rate
    score = vocal_song.score
    vocals = vocal_song.stems["vocals"][:, 0]
    tapered = 0
    for phrase in score.vocal:
        last = phrase.notes[-1]
        start, end = score.seconds(last.start), score.seconds(last.end)
        if end - start < MAX_FINAL_VOWEL_S + 0.1:
            continue
        full = _rms(vocals[int((start + 0.05) * sr) : int((start + FINAL_FULL_S) * sr)])
        late = MAX_FINAL_VOWEL_S - 0.1
        tail = _rms(vocals[int((start + late) * sr) : int((start + MAX_FINAL_VOWEL_S) * sr)])
        # 30 dB of taper over the hold; the coda's consonants may follow it.
        assert 20 * np.log10(tail / full) < -15.0, phrase.text
        # Nothing is sung after the held vowel and its coda.
        assert (
            _rms(vocals[int((start + MAX_FINAL_VOWEL_S + 0.3) * sr) : int(end * sr)]) < full / 100
        )
        tapered += 1
    assert tapered >= 1


def test_same_seed_same_samples(renderer: SongRenderer, vocal_song: RenderedSong) -> None:
    again = renderer.render("A gentle pop song, BPM: 100, male vocals", SHORT_LYRICS, seed=5)
    assert np.array_equal(again.audio, vocal_song.audio)
    # And with nothing cached: phrases are sung on threads that may finish in
    # any order, and a fresh renderer analyses everything again.
    fresh = SongRenderer(voice=PiperVoice(*default_voice_files()))
    fresh.load()
    cold = fresh.render("A gentle pop song, BPM: 100, male vocals", SHORT_LYRICS, seed=5)
    assert np.array_equal(cold.audio, vocal_song.audio)


def test_instrumental_has_no_vocal_and_respects_the_bound(instrumental_song: RenderedSong) -> None:
    assert "vocals" not in instrumental_song.stems
    assert instrumental_song.duration_seconds <= 20.0 + 1e-6
    assert instrumental_song.score.genre == "edm"
    audio = instrumental_song.audio
    assert _rms(audio[: (15 * 44100)]) > 0.01


def test_stems_kept_are_the_ones_asked_for(renderer: SongRenderer) -> None:
    prompt, lyrics = "Rock song, BPM: 120", "[Verse]\nEngine running open road"
    none = renderer.render(prompt, lyrics, seed=1, max_seconds=8.0, stems=frozenset())
    every = renderer.render(prompt, lyrics, seed=1, max_seconds=8.0, stems=None)
    assert none.stems == {}
    # (8 s sings no chorus, and the intro has no backing "ooh"s: no harmony part.)
    assert {"vocals", "drums", "bass"} <= set(every.stems)
    # Keeping stems or not changes nothing in the song itself.
    assert np.array_equal(none.audio, every.audio)


def test_forget_speech_empties_the_caches_and_changes_nothing_heard(
    renderer: SongRenderer, vocal_song: RenderedSong
) -> None:
    """What the speed benchmark's FRESH=1 uses: the next song speaks its lyrics again."""
    symbols = ("h", "ə", "l", "ˈ", "o", "ʊ")
    before = renderer.voice.speak(symbols)
    assert renderer.voice.speak(symbols) is before  # cached
    renderer.forget_speech()
    assert renderer.singer.analysis_cache_bytes == 0
    after = renderer.voice.speak(symbols)
    assert after is not before
    assert np.array_equal(after.audio, before.audio)
    again = renderer.render("A gentle pop song, BPM: 100, male vocals", SHORT_LYRICS, seed=5)
    assert renderer.singer.analysis_cache_bytes > 0
    assert np.array_equal(again.audio, vocal_song.audio)
