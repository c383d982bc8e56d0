"""How much of its sections the lead voice actually sings (a measure, not a renderer).

Used by tests and scripts/bench_composer: the share of 50 ms frames inside the
sung sections where the lead vocal stem is within ``floor_db`` of its loud
level (the 95th percentile frame). A line's tapered ending counts while it is
still audible; rests and breaths between lines do not.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from songforge.composer.score import Score

FRAME_SECONDS = 0.05
FLOOR_DB = 30.0


def frame_levels_db(stem: npt.NDArray[np.float32], sample_rate: int) -> npt.NDArray[np.float64]:
    mono = stem.mean(axis=1) if stem.ndim == 2 else stem
    hop = max(1, int(FRAME_SECONDS * sample_rate))
    count = mono.shape[0] // hop
    frames = mono[: count * hop].astype(np.float64).reshape(count, hop)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    result: npt.NDArray[np.float64] = 20.0 * np.log10(rms + 1e-9)
    return result


def sung_section_activity(
    stem: npt.NDArray[np.float32], sample_rate: int, score: Score, floor_db: float = FLOOR_DB
) -> list[float]:
    """For each sung section, in order, the share of its time the lead is audible."""
    levels = frame_levels_db(stem, sample_rate)
    if levels.size == 0:
        return []
    loud = float(np.percentile(levels, 95))
    active = levels > loud - floor_db
    shares: list[float] = []
    for section in score.sections:
        if not section.sung:
            continue
        lo = int(score.seconds(section.start) / FRAME_SECONDS)
        hi = int(score.seconds(section.end(score.beats_per_bar)) / FRAME_SECONDS)
        hi = min(hi, active.shape[0])
        if hi > lo:
            shares.append(float(np.mean(active[lo:hi])))
    return shares
