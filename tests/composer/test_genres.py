"""Genre profiles: enough of them, each its own band, groove and tempo."""

from __future__ import annotations

import pytest

from songforge.composer.compose import compose
from songforge.composer.drums import PATTERNS
from songforge.composer.genres import GENRES
from songforge.composer.prompt import parse_prompt
from songforge.composer.score import Score, Track


def test_at_least_twenty_genres_each_its_own() -> None:
    assert len(GENRES) >= 20
    signatures = set()
    for profile in GENRES.values():
        lo, hi = profile.bpm
        assert 40 <= lo <= hi <= 200
        assert profile.drums == "none" or profile.drums in PATTERNS
        signatures.add(
            (profile.drums, profile.bass, profile.chords_program, profile.chords_style, profile.bpm)
        )
    assert len(signatures) == len(GENRES)


@pytest.mark.parametrize(
    ("prompt", "genre"),
    [
        ("70s disco with lush strings", "disco"),
        ("gentle acoustic folk with harmonica", "folk"),
        ("80s synthwave, retro analog synths", "synthwave"),
        ("lo-fi chill hop beat to study to", "lofi"),
        ("soulful gospel with church organ and choir", "gospel"),
        ("dark trap beat with 808s", "trap"),
        ("bossa nova with nylon guitar", "bossa"),
        ("fast raw punk rock song", "punk"),
        ("funky groove with slap bass and clavinet", "funk"),
    ],
)
def test_new_styles_are_recognised(prompt: str, genre: str) -> None:
    assert parse_prompt(prompt).genre == genre


def test_metal_funk_and_orchestral_play_their_instruments() -> None:
    metal = compose("heavy metal, male vocals", "Stand and fight", seed=1)
    drums = next(t for t in metal.tracks if t.role == "drums")
    bar = [n for n in drums.notes if n.pitch == 36 and 40.0 <= n.start < 44.0]
    assert len(bar) >= 12  # double kick: sixteenths
    funk = GENRES["funk"]
    assert (funk.bass_program, funk.chords_program, funk.lead_program) == (36, 7, 61)
    orchestral = compose("epic orchestral strings and brass", "", seed=1)
    programs = {t.name: t.program for t in orchestral.tracks}
    assert programs["chords"] == 48 and programs["bass"] == 42  # strings section, cellos
    assert programs["horns"] == 60 and programs["timpani"] == 47  # French horns, timpani
    assert not any(t.role == "drums" for t in orchestral.tracks)  # no drum kit


def _track(score: Score, name: str) -> Track:
    return next(t for t in score.tracks if t.name == name)


def test_metal_palm_mutes_between_open_power_chords() -> None:
    score = compose("heavy metal, male vocals", "[Verse]\nStand and fight\n[Chorus]\nRise", seed=1)
    verse = next(s for s in score.sections if s.kind == "verse")
    chords = [n for n in _track(score, "chords").notes if verse.start <= n.start < verse.end(4)]
    muted = [n for n in chords if n.length < 0.2]
    assert muted and max(n.pitch for n in muted) <= 53  # low chugs, not chords up the neck
    assert sum(n.length >= 0.4 for n in chords) > 0  # open power chords on the accents
    assert max(n.velocity for n in muted) < max(n.velocity for n in chords)
    assert GENRES["metal"].drive > GENRES["rock"].drive > 0 == GENRES["jazz"].drive


def test_funk_plays_slap_bass_clavinet_sixteenths_and_horn_stabs() -> None:
    score = compose("funky groove with slap bass, clavinet and horns", "Get up\nGet down", seed=3)
    bass = _track(score, "bass").notes
    onsets = {round(n.start * 4) % 4 for n in bass}
    assert {1, 2, 3} <= onsets  # sixteenth-note syncopation, not eighths
    roots = {n.start: n.pitch for n in bass if n.length >= 0.2}
    assert any(p - roots.get(s - 0.75, -99) == 12 for s, p in roots.items()) or any(
        n.pitch - m.pitch == 12 for n, m in zip(bass[1:], bass, strict=False)
    )  # popped octaves
    clav = _track(score, "chords")
    assert clav.program == 7 and {round(n.start * 4) % 4 for n in clav.notes} >= {1, 2, 3}
    horns = _track(score, "horns")
    assert horns.program == 61 and all(n.length <= 0.4 for n in horns.notes)


def test_jazz_comps_rootless_and_walks_and_swings() -> None:
    score = compose("swinging jazz trio", "Midnight in the city", seed=2)
    bass = _track(score, "bass").notes
    assert all(n.length > 0.9 for n in bass[:-1])  # quarter-note walk
    assert len({n.pitch for n in bass}) >= 8
    piano = _track(score, "chords")
    # Comping leaves the beat: some chords land between beats (swung eighths).
    assert any(abs(n.start - round(n.start)) > 0.1 for n in piano.notes)
    ride = [n for n in _track(score, "drums").notes if n.pitch == 51]
    swung = {round((n.start % 1) * 100) for n in ride} - {0}
    assert swung and all(f > 55 for f in swung)  # off-beat eighths land late (swing)


def test_bossa_guitar_thumb_and_syncopated_fingers() -> None:
    score = compose("bossa nova with nylon guitar", "Walking by the ocean", seed=1)
    guitar = _track(score, "chords")
    assert guitar.program == 24
    steps = {round(n.start * 4) % 16 for n in guitar.notes if n.length < 1}
    assert {3, 6, 10, 13} <= steps  # the syncopated pattern, not a strum on the beat
    drums = _track(score, "drums").notes
    assert any(n.pitch == 37 for n in drums)  # rim clicks
    assert GENRES["bossa"].levels and dict(GENRES["bossa"].levels)["drums"] < 0


def test_the_prompts_explicit_asks_win() -> None:
    score = compose("metal, BPM: 100, Key: E minor, female vocals", "Rise up", seed=2)
    assert score.bpm == 100 and score.key_root == 4 and score.mode == "minor"
    assert score.voice == "female"


def test_jazz_sax_answers_the_singer_between_lines_without_singing_over_words() -> None:
    lyrics = "[Verse]\nMidnight in the city\n[Chorus]\nFly me to the moon tonight, my love"
    score = compose("swinging jazz with a smoky male voice", lyrics, seed=2)
    lead = _track(score, "lead").notes
    sung = [s for s in score.sections if s.sung]
    fills = [n for n in lead if any(s.start <= n.start < s.end(4) for s in sung)]
    assert fills  # the sax plays inside sung sections
    for note in fills:  # ...never while a word is sung (only under a line's held last note)
        for phrase in score.vocal:
            assert not (phrase.start - 0.5 < note.start < phrase.notes[-1].start + 1.5)
    pop = compose("catchy pop song", lyrics, seed=2)
    pop_sung = [s for s in pop.sections if s.sung]
    assert not [
        n for n in _track(pop, "lead").notes if any(s.start <= n.start < s.end(4) for s in pop_sung)
    ]


def test_orchestra_opens_and_closes_the_song_alone() -> None:
    prompt = "Epic cinematic orchestral piece with strings, brass and timpani, female vocal"
    score = compose(prompt, "[Verse]\nAcross the mountains\n[Chorus]\nRise up", seed=1)
    intro, outro = score.sections[0], score.sections[-1]
    assert (intro.kind, outro.kind) == ("intro", "outro")
    assert intro.bars == outro.bars == GENRES["classical"].frame_bars == 8
    assert not intro.sung and not outro.sung
    pop = compose("catchy pop song", "[Verse]\nAcross the mountains\n[Chorus]\nRise up", seed=1)
    assert pop.sections[0].bars <= 4 and pop.sections[-1].bars == 4


def test_edm_pumps_and_the_others_do_not() -> None:
    # The sidechain is a genre's setting (it was a special case of the renderer).
    assert GENRES["edm"].pump > 0
    assert [name for name, genre in GENRES.items() if genre.pump > 0] == ["edm"]
