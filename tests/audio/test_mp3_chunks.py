"""encode_mp3 converts and encodes a chunk at a time: the same MP3 as converting the
whole song at once, without holding float copies of the whole song."""

from __future__ import annotations

import tracemalloc

import lameenc
import numpy as np
import pytest

from songforge.audio import mp3
from songforge.audio.mp3 import PCM_CHUNK_FRAMES, encode_mp3


def song(seconds: float, rate: int = 44100) -> np.ndarray:
    frames = int(seconds * rate)
    t = np.arange(frames, dtype=np.float32) / rate
    left = 0.6 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 3 * t)
    noise = np.random.default_rng(3).standard_normal(frames).astype(np.float32)
    # Some samples beyond full scale, so clipping is exercised too.
    return np.stack([1.3 * left, 0.5 * left + 0.1 * noise], axis=1).astype(np.float32)


def whole_song_frames(audio: np.ndarray, kbps: int, abr: bool) -> bytes:
    """What encode_mp3 did before: the whole song converted, then encoded in one call."""
    encoder = lameenc.Encoder()
    encoder.set_channels(2)
    encoder.set_in_sample_rate(44100)
    encoder.set_out_sample_rate(44100)
    encoder.set_quality(2)
    if abr:
        encoder.set_vbr(lameenc.VBR_ABR)
        encoder.set_vbr_mean_bitrate_kbps(kbps)
    else:
        encoder.set_bit_rate(kbps)
    return bytes(encoder.encode(mp3._to_pcm16(audio))) + bytes(encoder.flush())


@pytest.mark.parametrize(("bitrate", "abr"), [(128000, False), (60000, True)])
def test_chunked_encoding_is_byte_for_byte_the_whole_song_encoding(bitrate: int, abr: bool) -> None:
    audio = song(3.3 * PCM_CHUNK_FRAMES / 44100)  # several chunks and a partial one
    encoded = encode_mp3(audio, 44100, bitrate, 44100)
    frames = whole_song_frames(audio, bitrate // 1000, abr)
    # encode_mp3 puts a Xing/Info frame first; the audio frames follow unchanged.
    assert encoded.data.endswith(frames)
    assert len(encoded.data) - len(frames) < 2000


def test_encoding_does_not_copy_the_whole_song() -> None:
    audio = song(60.0)  # 21 MB of float32
    encode_mp3(audio[:4410], 44100, 128000, 44100)  # LAME's version found once, before
    tracemalloc.start()
    try:
        encode_mp3(audio, 44100, 128000, 44100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Converting the whole song at once allocated ~4 times its size; now the
    # MP3 (1 MB) and chunk-sized buffers.
    assert peak < audio.nbytes / 4, f"{peak / 1e6:.1f} MB for a {audio.nbytes / 1e6:.1f} MB song"
