from __future__ import annotations

from songforge.composer.compose import compose

LYRICS = """[Verse]
Feel the beat, move your feet
Let the music take you higher
[Chorus]
Hands up high, touch the sky
We are dancing in the fire
[Verse 2]
Every night we come alive
Neon lights and city fire
[Chorus]
Hands up high, touch the sky
We are dancing in the fire
"""


def test_form_follows_tags_and_adds_intro_break_outro() -> None:
    score = compose("energetic electronic dance track", LYRICS, seed=1)
    kinds = [s.kind for s in score.sections]
    assert kinds[0] == "intro" and kinds[-1] == "outro"
    # The user's sections first, in order, then the song grows (verse, chorus, a solo, choruses).
    assert kinds[1:5] == ["verse", "chorus", "interlude", "verse"] or kinds[1:5] == [
        "verse",
        "chorus",
        "verse",
        "chorus",
    ]
    assert kinds.count("chorus") >= 3 and kinds[-2] == "chorus"
    assert "interlude" in kinds or "solo" in kinds
    # Sections are contiguous and whole 4-bar phrases.
    for a, b in zip(score.sections, score.sections[1:], strict=False):
        assert a.end(score.beats_per_bar) == b.start
    assert all(s.bars % 2 == 0 for s in score.sections)


def test_chorus_tune_repeats() -> None:
    score = compose("pop song", LYRICS, seed=4)
    choruses = [p for p in score.vocal if p.text.startswith("Hands up")]
    assert len(choruses) >= 3
    first = choruses[0]
    for other in choruses[1:]:
        assert [n.pitch for n in first.notes] == [n.pitch for n in other.notes]
        offset = other.start - first.start
        assert [n.start + offset for n in first.notes] == [n.start for n in other.notes]
    assert all(p.harmony for p in choruses)


def test_energy_builds_into_the_chorus() -> None:
    score = compose("pop song", LYRICS, seed=4)
    verse = next(s for s in score.sections if s.kind == "verse")
    chorus = next(s for s in score.sections if s.kind == "chorus")
    assert chorus.energy > verse.energy
    drums = next(t for t in score.tracks if t.role == "drums")

    def hits(section: object) -> int:
        s = section  # type: ignore[assignment]
        return sum(1 for n in drums.notes if s.start <= n.start < s.end(4))  # type: ignore[attr-defined]

    assert hits(chorus) >= hits(verse)


def test_deterministic_and_seed_sensitive() -> None:
    a = compose("rock song", LYRICS, seed=7)
    b = compose("rock song", LYRICS, seed=7)
    c = compose("rock song", LYRICS, seed=8)
    assert a.vocal == b.vocal and a.chords == b.chords
    assert (a.vocal, a.key_root, a.bpm) != (c.vocal, c.key_root, c.bpm)


def test_duration_bound() -> None:
    score = compose("pop", LYRICS * 6, seed=1, max_seconds=60.0)
    assert score.duration_seconds <= 60.0 + 1e-6


def test_instrumental_prompt_or_no_lyrics() -> None:
    assert compose("instrumental pop", LYRICS, seed=1).vocal == []
    score = compose("calm ambient pads", "", seed=1)
    assert score.vocal == [] and 60 <= score.duration_seconds <= 300


def test_vocals_stay_inside_their_sections() -> None:
    score = compose("country song", LYRICS, seed=3)
    for phrase in score.vocal:
        section = score.sections[phrase.section]
        assert section.start <= phrase.start and phrase.end <= section.end(4)
    for a, b in zip(score.vocal, score.vocal[1:], strict=False):
        assert a.end <= b.start
