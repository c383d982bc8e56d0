"""Every MP3 we write carries a correct Xing/Info header and LAME tag (issue 9, point 8).

Checked for every bitrate x sample rate of the contract, mono and stereo, with
two readers that share no code with ours: mutagen (pure Python; reads the
length from the Xing header and the LAME tag) and libsndfile (through the
soundfile wheel; its MP3 support is libmpg123, a gapless decoder). Each must
agree with what was encoded to within one frame, and the header's frame and
byte counts must be what is really in the file.
"""

from __future__ import annotations

import io
from pathlib import Path

import mutagen.mp3
import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from songforge.audio.mp3 import (
    ALLOWED_BITRATES,
    ALLOWED_SAMPLE_RATES,
    EncodedAudio,
    encode_mp3,
    lame_version,
    plan_encoding,
)
from songforge.audio.mp3_frames import read_mp3_info

SECONDS = 6.3


def _music(rate: int, channels: int, seconds: float = SECONDS) -> npt.NDArray[np.float32]:
    """A chord with a changing level and some noise, so average bitrate really varies."""
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(7)
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) / 3
    mono = 0.4 * tone * (0.5 + 0.5 * np.sin(2 * np.pi * 0.3 * t)) + 0.03 * rng.standard_normal(
        t.size
    )
    if channels == 1:
        return mono.astype(np.float32)
    return np.stack([mono, np.roll(mono, 200)], axis=1).astype(np.float32)


COMBINATIONS = [(b, r) for b in ALLOWED_BITRATES for r in ALLOWED_SAMPLE_RATES]


@pytest.mark.parametrize("channels", [2, 1])
@pytest.mark.parametrize(("bitrate", "sample_rate"), COMBINATIONS)
def test_header_and_independent_readers_agree(
    tmp_path: Path, bitrate: int, sample_rate: int, channels: int
) -> None:
    encoded = encode_mp3(_music(sample_rate, channels), sample_rate, bitrate, sample_rate)
    samples = round(encoded.duration_seconds * sample_rate)
    info = read_mp3_info(encoded.data)
    one_frame = 1152 if sample_rate > 24000 else 576

    # Our reader: the header describes the file.
    xing = info.xing
    assert xing is not None, "no Xing/Info header"
    plan = plan_encoding(bitrate, sample_rate)
    assert xing.kind == ("Xing" if plan.mode == "abr" else "Info")
    assert xing.frames == info.frames
    assert xing.bytes == info.stream_bytes == len(encoded.data)
    assert xing.toc is not None and len(xing.toc) == 100
    assert xing.lame is not None and xing.lame.tag_crc_ok
    assert xing.lame.encoder == lame_version()
    assert xing.lame.music_length == len(encoded.data)
    assert info.frames * one_frame == xing.lame.delay + samples + xing.lame.padding
    # The header frame is not audio: CBR files stay one bitrate to the frame walker.
    if plan.mode == "cbr":
        assert info.bitrates_kbps == {plan.kbps}

    # mutagen: the length from the Xing frame count less the LAME delay/padding.
    heard = mutagen.mp3.MP3(io.BytesIO(encoded.data)).info
    assert heard.sample_rate == sample_rate and heard.channels == channels
    assert abs(heard.length * sample_rate - samples) <= one_frame
    expected_mode = (
        mutagen.mp3.BitrateMode.ABR if plan.mode == "abr" else mutagen.mp3.BitrateMode.CBR
    )
    assert heard.bitrate_mode == expected_mode

    # libsndfile/libmpg123: the length it announces and the samples it decodes.
    path = tmp_path / "song.mp3"
    path.write_bytes(encoded.data)
    announced = soundfile.info(str(path))
    decoded, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert rate == sample_rate and decoded.shape[1] == channels
    assert abs(announced.frames - samples) <= one_frame
    assert abs(decoded.shape[0] - samples) <= one_frame


def _long_song(bitrate: int, rate: int) -> EncodedAudio:
    return encode_mp3(_music(rate, 2, seconds=40.0), rate, bitrate, rate)


@pytest.mark.parametrize(("bitrate", "sample_rate"), [(60000, 44100), (128000, 24000)])
def test_table_of_contents_points_at_the_frame_playing_at_each_percent(
    bitrate: int, sample_rate: int
) -> None:
    encoded = _long_song(bitrate, sample_rate)
    info = read_mp3_info(encoded.data)
    assert info.xing is not None and info.xing.toc is not None
    toc, total = info.xing.toc, len(encoded.data)
    assert toc[0] == 0 and list(toc) == sorted(toc)
    header_frame = info.frame_offsets[0]
    for percent in range(1, 100):
        frame = percent * info.frames // 100
        start = info.frame_offsets[frame]
        # A seek to toc[p]/256 of the file lands at most 1/256 of it before that frame.
        assert toc[percent] * total // 256 <= start
        assert start < (toc[percent] + 1) * total / 256
    assert header_frame > 0


def test_average_bitrate_length_is_read_right_where_a_guess_would_not_be() -> None:
    # The reported case: without the header a reader guesses the length of a
    # 60 kbps ABR file from its first frame's bitrate.
    encoded = _long_song(60000, 44100)
    info = read_mp3_info(encoded.data)
    audio_only = encoded.data[info.frame_offsets[0] :]
    guessed = mutagen.mp3.MP3(io.BytesIO(audio_only)).info.length
    read = mutagen.mp3.MP3(io.BytesIO(encoded.data)).info.length
    assert abs(read - encoded.duration_seconds) < 0.03
    assert abs(guessed - encoded.duration_seconds) > 1.0
