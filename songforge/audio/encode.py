"""Engine audio to the requested file: the one resampling, then the container's encoder.

Engines (local renders, decoded upstream files) hand over audio at their native
rate; this is the only place it is resampled to the delivered rate.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from songforge.audio.lossless import encode_lossless
from songforge.audio.mp3 import EncodedAudio, as_frames, encode_planned_mp3
from songforge.audio.output_format import OutputFormat
from songforge.audio.resample import resample


def encode_output(
    samples: npt.NDArray[np.float32], source_rate: int, output: OutputFormat
) -> EncodedAudio:
    """Resample once to ``output.sample_rate`` and encode as ``output`` says."""
    audio = resample(as_frames(samples), source_rate, output.sample_rate)
    if output.mp3_plan is not None:
        return encode_planned_mp3(audio, output.mp3_plan)
    return encode_lossless(audio, output)
