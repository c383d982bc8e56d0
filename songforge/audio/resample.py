"""Sample-rate conversion. We resample ourselves so the encoder never picks a rate."""

from __future__ import annotations

from math import gcd

import numpy as np
import numpy.typing as npt


def resample(
    samples: npt.NDArray[np.float32], from_rate: int, to_rate: int
) -> npt.NDArray[np.float32]:
    """Polyphase resampling along axis 0; a no-op when the rates match."""
    if from_rate == to_rate:
        return samples
    # Imported here: scipy.signal is ~75 MB of resident memory, and the processes that
    # check and re-encode relayed songs (worker/relay_audio.py) rarely resample.
    from scipy.signal import resample_poly

    g = gcd(from_rate, to_rate)
    out = resample_poly(samples, to_rate // g, from_rate // g, axis=0)
    return np.asarray(out, dtype=np.float32)
