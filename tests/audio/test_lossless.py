"""16-bit WAV and FLAC at every allowed rate, read back with libsndfile."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from songforge.audio.encode import encode_output
from songforge.audio.mp3 import ALLOWED_SAMPLE_RATES
from songforge.audio.output_format import OutputFormat


def _chord(rate: int, seconds: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.2 * np.sin(2 * np.pi * 660.0 * t)
    return np.stack([mono] * channels, axis=1).astype(np.float32)


@pytest.mark.parametrize("container", ["wav", "flac"])
@pytest.mark.parametrize("rate", ALLOWED_SAMPLE_RATES)
def test_lossless_files_are_16_bit_at_the_requested_rate(container: str, rate: int) -> None:
    # From a rate no request uses: the one resampling happens in encode_output.
    source = _chord(48000, 1.5)
    output = OutputFormat(container=container, sample_rate=rate, bitrate=None)  # type: ignore[arg-type]
    encoded = encode_output(source, 48000, output)
    info = soundfile.info(io.BytesIO(encoded.data))
    assert info.format == container.upper() and info.subtype == "PCM_16"
    assert info.samplerate == rate and info.channels == 2
    assert info.frames == int(1.5 * rate)
    assert (encoded.format, encoded.bit_depth, encoded.bitrate) == (container, 16, None)
    assert encoded.duration_seconds == 1.5
    decoded, _ = soundfile.read(io.BytesIO(encoded.data), dtype="float32")
    # The content survives: the same tone, within 16-bit rounding plus resampling.
    expected = _chord(rate, 1.5)
    middle = slice(rate // 10, -rate // 10)
    assert np.max(np.abs(decoded[middle] - expected[middle])) < 0.01


def test_flac_is_smaller_than_wav_and_decodes_to_the_same_samples() -> None:
    output_wav = OutputFormat(container="wav", sample_rate=44100, bitrate=None)
    output_flac = OutputFormat(container="flac", sample_rate=44100, bitrate=None)
    source = _chord(44100, 2.0)
    wav = encode_output(source, 44100, output_wav)
    flac = encode_output(source, 44100, output_flac)
    assert len(flac.data) < len(wav.data)
    a, _ = soundfile.read(io.BytesIO(wav.data), dtype="int16")
    b, _ = soundfile.read(io.BytesIO(flac.data), dtype="int16")
    assert np.array_equal(a, b)


def test_out_of_range_samples_are_clipped_not_wrapped() -> None:
    loud = np.full((4410, 1), 1.7, dtype=np.float32)
    encoded = encode_output(
        loud, 44100, OutputFormat(container="wav", sample_rate=44100, bitrate=None)
    )
    decoded, _ = soundfile.read(io.BytesIO(encoded.data), dtype="float32")
    assert decoded.min() > 0.99
