"""The lead voice fills its sections: measured on the rendered vocal stem."""

from __future__ import annotations

import numpy as np

from songforge.composer.activity import frame_levels_db, sung_section_activity
from songforge.composer.song import RenderedSong


def test_the_voice_sings_most_of_its_sections(vocal_song: RenderedSong) -> None:
    shares = sung_section_activity(
        vocal_song.stems["vocals"], vocal_song.sample_rate, vocal_song.score
    )
    assert len(shares) == sum(1 for s in vocal_song.score.sections if s.sung)
    assert float(np.mean(shares)) >= 0.6
    assert min(shares) >= 0.45


def test_silence_is_not_activity(vocal_song: RenderedSong) -> None:
    silent = np.zeros_like(vocal_song.stems["vocals"])
    levels = frame_levels_db(silent, vocal_song.sample_rate)
    assert levels.max() < -150
    # A stem that only sings in the first section is inactive in the others.
    stem = vocal_song.stems["vocals"].copy()
    score = vocal_song.score
    first = next(s for s in score.sections if s.sung)
    stem[int(score.seconds(first.end(score.beats_per_bar)) * vocal_song.sample_rate) :] = 0.0
    shares = sung_section_activity(stem, vocal_song.sample_rate, score)
    assert shares[0] > 0.3 and max(shares[1:]) < 0.01  # a frame may straddle the cut
