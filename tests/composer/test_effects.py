"""effects.block_peaks gives exactly what the per-frame peak envelope gives, per block."""

from __future__ import annotations

import numpy as np

from songforge.composer.effects import block_peaks, peak_envelope


def test_block_peaks_are_the_peak_envelope_maxed_per_block() -> None:
    rng = np.random.default_rng(3)
    stereo = rng.standard_normal((10_000, 2)).astype(np.float32)
    stereo[4_000:5_000] = 0.0
    hop = 441
    whole = (stereo.shape[0] // hop) * hop
    for x in (stereo, np.asfortranarray(stereo), stereo[:, 0].copy()):
        expected = peak_envelope(x)[:whole].reshape(-1, hop).max(axis=1)
        assert np.array_equal(block_peaks(x, hop), expected)
    assert block_peaks(stereo[:100], hop).shape == (0,)
