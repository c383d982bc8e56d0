"""The header frame itself: where it goes, what it looks like, what it refuses."""

from __future__ import annotations

import numpy as np
import pytest

from songforge.audio.mp3 import encode_mp3
from songforge.audio.mp3_frames import iter_frames, parse_frame_header, read_mp3_info
from songforge.audio.xing import add_xing_header


def _encode(bitrate: int, rate: int, channels: int = 2) -> bytes:
    t = np.arange(rate * 2) / rate
    mono = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    audio = mono if channels == 1 else np.stack([mono, mono], axis=1)
    return encode_mp3(audio, rate, bitrate, rate).data


@pytest.mark.parametrize(
    ("bitrate", "rate", "header_kbps"),
    [
        # 32 kbps frames are too small for the tag: the smallest bitrate it fits.
        (32000, 44100, 64),
        (32000, 32000, 48),
        (32000, 24000, 64),
        (32000, 16000, 40),
        # Where it fits, a CBR file's header frame has the file's bitrate.
        (64000, 44100, 64),
        (128000, 24000, 128),
        (256000, 16000, 160),
    ],
)
def test_header_frame_matches_the_audio_frames(bitrate: int, rate: int, header_kbps: int) -> None:
    data = _encode(bitrate, rate)
    (_, tag), (second_at, audio) = list(iter_frames(data))[:2]
    assert tag.bitrate_kbps == header_kbps
    assert (tag.version_bits, tag.sample_rate, tag.channel_mode) == (
        audio.version_bits,
        audio.sample_rate,
        audio.channel_mode,
    )
    assert tag.padding == 0 and data[1] & 0x01 == 1  # no CRC
    assert second_at == tag.length
    # Side information all zeros: a decoder that does not know the tag plays silence.
    assert data[4 : 4 + tag.side_info_length] == bytes(tag.side_info_length)


def test_mono_header_sits_after_the_shorter_side_information() -> None:
    data = _encode(128000, 44100, channels=1)
    header = parse_frame_header(data, 0)
    assert header is not None and header.side_info_length == 17
    assert data[4 + 17 : 4 + 17 + 4] == b"Info"


def test_reader_without_a_header_counts_every_frame() -> None:
    data = _encode(128000, 44100)
    bare = data[read_mp3_info(data).frame_offsets[0] :]
    info = read_mp3_info(bare)
    assert info.xing is None
    assert info.frames == read_mp3_info(data).frames
    assert info.duration_seconds == info.frames * 1152 / 44100


def test_reader_skips_an_id3v2_tag() -> None:
    data = _encode(64000, 24000)
    tagged = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + bytes(10) + data
    assert read_mp3_info(tagged) == read_mp3_info(data)


def test_refuses_a_stream_that_does_not_start_with_a_frame() -> None:
    with pytest.raises(ValueError, match="does not start"):
        add_xing_header(
            b"junk" + bytes(500),
            mode="cbr",
            encoder="LAME3.100",
            input_samples=1,
            target_kbps=128,
            quality=2,
        )


def test_refuses_a_sample_count_the_frames_cannot_hold() -> None:
    data = _encode(128000, 44100)
    bare = data[read_mp3_info(data).frame_offsets[0] :]
    with pytest.raises(ValueError, match="padding"):
        add_xing_header(
            bare,
            mode="cbr",
            encoder="LAME3.100",
            input_samples=10 * 44100,
            target_kbps=128,
            quality=2,
        )
