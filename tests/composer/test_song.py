"""The renderer's own steps between the singing and the mix."""

from __future__ import annotations

import numpy as np
import pytest

from songforge.composer.song import HARMONY_DELAY_SECONDS, SAMPLE_RATE, _widened


@pytest.mark.parametrize("frames", [SAMPLE_RATE, 600, 3])
def test_the_widened_harmony_is_the_harmony_and_its_delayed_copy(frames: int) -> None:
    harmony = np.random.default_rng(1).standard_normal(frames).astype(np.float32)
    # The stem as the renderer made it before: concatenated, stacked and copied.
    delayed = np.concatenate(
        [np.zeros(int(HARMONY_DELAY_SECONDS * SAMPLE_RATE), np.float32), harmony]
    )
    expected = np.stack([harmony, delayed[:frames]], axis=1).astype(np.float32)
    wide = _widened(harmony)
    assert wide.dtype == np.float32
    assert np.array_equal(wide, expected)
