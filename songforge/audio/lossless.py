"""WAV and FLAC files, 16-bit PCM, written with libsndfile (the soundfile wheel).

libsndfile is already in the lock (the relay path decodes upstream WAV/FLAC with
it), it writes both containers, and FLAC through it is the reference encoder
(libFLAC). Samples arrive at the delivered rate: the delivery step resampled them.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
import soundfile

from songforge.audio.mp3 import EncodedAudio
from songforge.audio.output_format import LOSSLESS_BIT_DEPTH, OutputFormat

# libsndfile's names for the container and for 16-bit PCM in it.
_SOUNDFILE_FORMATS = {"wav": "WAV", "flac": "FLAC"}
_SUBTYPE = "PCM_16"


def encode_lossless(audio: npt.NDArray[np.float32], output: OutputFormat) -> EncodedAudio:
    """Encode (frames, channels) float samples at ``output.sample_rate`` as WAV or FLAC."""
    if not output.lossless:
        raise ValueError(f"{output.container} is not a lossless container")
    if audio.ndim != 2:
        raise ValueError("encode_lossless takes (frames, channels) samples")
    buffer = io.BytesIO()
    # Quantised here, as for the MP3 encoder: libsndfile's WAV and FLAC writers round
    # floats differently, and would wrap values outside [-1, 1] to the other end.
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)
    soundfile.write(
        buffer,
        pcm,
        output.sample_rate,
        format=_SOUNDFILE_FORMATS[output.container],
        subtype=_SUBTYPE,
    )
    return EncodedAudio(
        data=buffer.getvalue(),
        sample_rate=output.sample_rate,
        channels=int(audio.shape[1]),
        duration_seconds=round(audio.shape[0] / output.sample_rate, 3),
        bitrate=None,
        bitrate_mode=None,
        format=output.container,
        bit_depth=LOSSLESS_BIT_DEPTH,
    )
