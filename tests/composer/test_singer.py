"""The singer's analysis cache: reused within and across songs, bounded in bytes."""

from __future__ import annotations

import itertools

import pytest

from songforge.composer import singer as singer_module
from songforge.composer.compose import compose
from songforge.composer.singer import TimedNote, VoiceSettings, speech_timed, timed_notes
from songforge.composer.song import SongRenderer

LINES = [
    "I kept your letters in a box",
    "Down by the river where the cottonwoods grow",
    "Hold on to the summer light",
    "City lights and late night talks",
    "We ride tonight we ride tonight",
    "Calling my name again",
]


def test_analysis_cache_stays_within_its_byte_budget(
    renderer: SongRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    singer = singer_module.Singer(renderer.voice)
    budget = 2 * 1024 * 1024
    monkeypatch.setattr(singer_module, "ANALYSIS_CACHE_BYTES", budget)
    score = compose("Pop song, BPM: 100", "\n".join(LINES), 1)
    # Each line once, as first sung (the whole song repeats some of them).
    first = {p.text: p for p in reversed(score.vocal)}
    phrases = [list(first[line].notes) for line in LINES]
    for notes in phrases:
        timed = timed_notes(notes, score.seconds_per_beat)
        singer.sing(timed, [[n.pitch for n in notes]], [VoiceSettings()])
        assert singer.analysis_cache_bytes <= budget or len(singer._analysis) == 1
    # It did have to let go of older phrases, and kept the newest.
    assert len(singer._analysis) < len(LINES)
    before = singer.analysis_cache_bytes
    last = timed_notes(phrases[-1], score.seconds_per_beat)
    singer.sing(last, [[n.pitch for n in phrases[-1]]], [VoiceSettings()])
    assert singer.analysis_cache_bytes == before  # a hit: nothing new stored


def _held_ending_levels(renderer: SongRenderer) -> tuple[float, list[float]]:
    """The ballad line whose last vowel the voice whispers ("...longer"), sung:
    the median level of the line before its last note and the level of each
    50 ms of its held ending before the taper (dB)."""
    import numpy as np

    score = compose("Slow piano ballad, female voice", "Stay with me a little longer", 1)
    notes = list(score.vocal[0].notes)
    timed = timed_notes(notes, score.seconds_per_beat)
    sung = singer_module.Singer(renderer.voice).sing(
        timed, [[n.pitch for n in notes]], [VoiceSettings()]
    )
    audio, rate = sung.takes[0].astype(np.float64), sung.sample_rate
    hop = int(0.05 * rate)
    levels = [
        20 * np.log10(np.sqrt(np.mean(audio[i : i + hop] ** 2)) + 1e-9)
        for i in range(0, audio.shape[0] - hop, hop)
    ]
    _, vowel_start, vowel_end, _ = sung.layout[-1]
    first = int((vowel_start - sung.offset) / 0.05) + 1
    last = int((min(vowel_end, vowel_start + singer_module.FINAL_FULL_S) - sung.offset) / 0.05)
    return float(np.median(levels[: first - 1])), levels[first:last]


def test_a_whispered_line_ending_is_sung(renderer: SongRenderer) -> None:
    # The voice devoices "longer"'s last vowel 30-60 dB down; held on the line's
    # last note it must still be a sung note near the line's level (measured:
    # 12 dB under the line's median, 22-32 dB without revoicing).
    line, held = _held_ending_levels(renderer)
    assert len(held) >= 4
    assert min(held) > line - 14.0


def test_a_whispered_line_ending_without_revoicing_is_a_breath(
    renderer: SongRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test above measures something: with no revoicing the ending falls away.
    monkeypatch.setattr(singer_module, "MAX_REVOICE_DB", 0.0)
    line, held = _held_ending_levels(renderer)
    assert min(held) < line - 18.0


def _note(start: float, end: float, stressed: bool, word_start: bool = True) -> TimedNote:
    return TimedNote(start, end, 60, "t", "a", "", stressed, word_start)


def test_speech_timing_keeps_the_stresses_on_their_beats() -> None:
    # "the EMP-ty CHAIR": stresses on the melody's beats, "ty" and "the" in between.
    notes = [
        _note(0.0, 0.5, False),
        _note(0.5, 1.0, True),
        _note(1.0, 1.25, False, word_start=False),
        _note(1.25, 2.0, True),
        _note(2.0, 3.5, False, word_start=False),
    ]
    # The speech said "emp" long and "ty" short: 0.0, 0.1, 0.4, 0.5, 0.75.
    timed = speech_timed(notes, [0.0, 0.1, 0.4, 0.5, 0.75])
    assert [n.start for n in timed][:2] == [0.0, 0.5]
    assert timed[3].start == 1.25
    # "ty" sits where the speech put it between EMP (0.1) and CHAIR (0.5): 3/4 of the way.
    assert timed[2].start == pytest.approx(0.5 + 0.75 * 0.75)
    # After the last stress, the spoken distance; the last note still ends with the melody.
    assert timed[4].start == pytest.approx(1.25 + 0.25)
    assert timed[4].end == 3.5
    assert all(a.end == b.start for a, b in itertools.pairwise(timed))


def test_speech_timing_leaves_every_note_some_length() -> None:
    notes = [_note(0.0, 0.25, True), _note(0.25, 0.5, False), _note(0.5, 0.75, False)]
    notes.append(_note(0.75, 1.5, True))
    # Speech that crowds both unstressed syllables against the next stress.
    timed = speech_timed(notes, [0.0, 0.59, 0.6, 0.6])
    lengths = [n.end - n.start for n in timed]
    assert min(lengths) >= singer_module.MIN_NOTE_S - 1e-9
    assert timed[3].start == 0.75
    # No room at all: the melody's own slots.
    cramped = [_note(0.0, 0.05, True), _note(0.05, 0.08, False), _note(0.08, 1.0, True)]
    assert speech_timed(cramped, [0.0, 0.3, 0.31]) == cramped


def test_consonants_keep_to_their_share_between_two_vowels() -> None:
    share = singer_module.CONSONANT_SHARE
    # Vowel to vowel 0.4 s: a coda of 0.2 s and an onset of 0.2 s need 0.4 s.
    notes = [_note(0.0, 0.4, True), _note(0.4, 0.8, False)]
    on_len, co_len = [0.0, 0.2], [0.2, 0.0]
    singer_module.fit_consonants(notes, on_len, co_len, slowed=2.0)
    # Shortened in proportion to share x 0.4 s.
    assert co_len[0] + on_len[1] == pytest.approx(share * 0.4)
    assert co_len[0] == pytest.approx(on_len[1])
    # Consonants that already fit are left alone.
    roomy = [_note(0.0, 1.0, True), _note(1.0, 2.0, False)]
    on_len, co_len = [0.1, 0.1], [0.1, 0.05]
    singer_module.fit_consonants(roomy, on_len, co_len, slowed=2.0)
    assert (on_len, co_len) == ([0.1, 0.1], [0.1, 0.05])


def test_consonants_are_never_sung_faster_than_spoken() -> None:
    # 0.1 s from vowel to vowel: the share (0.05 s) is shorter than the
    # consonants at the voice's natural pace (0.3 s / 2): they keep that.
    notes = [_note(0.0, 0.1, True), _note(0.1, 0.5, False)]
    on_len, co_len = [0.0, 0.15], [0.15, 0.0]
    singer_module.fit_consonants(notes, on_len, co_len, slowed=2.0)
    assert co_len[0] + on_len[1] == pytest.approx(0.3 / 2.0)
    # The first onset (before the first note) is not touched.
    assert on_len[0] == 0.0


def test_cached_envelopes_are_float32(renderer: SongRenderer) -> None:
    import numpy as np

    singer = singer_module.Singer(renderer.voice)
    score = compose("Pop song, BPM: 100", LINES[0], 1)
    notes = list(score.vocal[0].notes)
    timed = timed_notes(notes, score.seconds_per_beat)
    sung = singer.sing(timed, [[n.pitch for n in notes]], [VoiceSettings()])
    (analysis,) = singer._analysis.values()
    assert analysis.sp.dtype == analysis.ap.dtype == np.float32
    assert sung.takes[0].dtype == np.float32 and float(np.abs(sung.takes[0]).max()) > 0.01


def test_a_takes_peaks_are_held_within_the_crest_over_its_level() -> None:
    import numpy as np

    fs = 22050
    t = np.arange(fs, dtype=np.float64) / fs
    steady = (0.2 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)
    # A steady tone's crest (3 dB) is far under the limit: left as it was.
    assert np.array_equal(singer_module._peaks_held(steady.copy(), fs), steady)
    # One burst 30 dB over the tone: brought down to the limit over the take's RMS.
    burst = steady.copy()
    burst[fs // 2 : fs // 2 + 40] = 0.2 * 10**1.5
    rms = float(np.sqrt(np.mean(burst.astype(np.float64) ** 2)))
    held = singer_module._peaks_held(burst, fs)
    assert float(np.abs(held).max()) <= rms * 10 ** (singer_module.PEAK_CREST_DB / 20) * 1.001
    # Only around the burst: untouched before its look-ahead, back within 1 % of
    # the tone's level once the release has run (0.4 s after a 15 dB dip).
    assert np.array_equal(held[: fs // 4], steady[: fs // 4])
    assert np.allclose(held[-fs // 10 :], steady[-fs // 10 :], rtol=0.0, atol=0.002)
    # Silence is silence.
    assert not np.any(singer_module._peaks_held(np.zeros(100, dtype=np.float32), fs))
