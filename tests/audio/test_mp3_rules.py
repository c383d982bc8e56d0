"""audio/mp3.py: the contract's MP3 rules, pair by pair, and what reaches the file.

test_mp3.py checks that every file's header and length are right; this checks which
bitrate, mode and sample rate each requested pair becomes, and that the frames say so.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from songforge.audio.mp3 import (
    ALLOWED_BITRATES,
    ALLOWED_SAMPLE_RATES,
    BitrateMode,
    EncodingPlan,
    _to_pcm16,
    encode_mp3,
    plan_encoding,
)
from songforge.audio.mp3_frames import iter_frames, read_mp3_info

# Written out, not derived from the rule: (bitrate, sample rate) -> (kbps, mode).
RULES: dict[tuple[int, int], tuple[int, BitrateMode]] = {
    (32000, 16000): (32, "cbr"),
    (32000, 24000): (32, "cbr"),
    (32000, 32000): (32, "cbr"),
    (32000, 44100): (32, "cbr"),
    # 60 kbps is no Layer III bitrate: average bitrate aimed at 60.
    (60000, 16000): (60, "abr"),
    (60000, 24000): (60, "abr"),
    (60000, 32000): (60, "abr"),
    (60000, 44100): (60, "abr"),
    (64000, 16000): (64, "cbr"),
    (64000, 24000): (64, "cbr"),
    (64000, 32000): (64, "cbr"),
    (64000, 44100): (64, "cbr"),
    (128000, 16000): (128, "cbr"),
    (128000, 24000): (128, "cbr"),
    (128000, 32000): (128, "cbr"),
    (128000, 44100): (128, "cbr"),
    # MPEG-2 (16/24 kHz) tops out at 160 kbps.
    (256000, 16000): (160, "cbr"),
    (256000, 24000): (160, "cbr"),
    (256000, 32000): (256, "cbr"),
    (256000, 44100): (256, "cbr"),
}


def _noise(rate: int, seconds: float, channels: int = 2) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(3)
    t = np.arange(int(rate * seconds)) / rate
    level = 0.2 + 0.2 * np.sin(2 * np.pi * 0.5 * t)
    columns = [level * rng.standard_normal(t.size) for _ in range(channels)]
    return np.stack(columns, axis=1).astype(np.float32)


def test_the_table_covers_every_allowed_pair() -> None:
    assert set(RULES) == {(b, r) for b in ALLOWED_BITRATES for r in ALLOWED_SAMPLE_RATES}


@pytest.mark.parametrize(("bitrate", "sample_rate"), sorted(RULES))
def test_each_pair_is_planned_by_the_rules(bitrate: int, sample_rate: int) -> None:
    kbps, mode = RULES[(bitrate, sample_rate)]
    # The output rate is always the one asked for.
    assert plan_encoding(bitrate, sample_rate) == EncodingPlan(kbps, mode, sample_rate)


@pytest.mark.parametrize(
    ("bitrate", "sample_rate"),
    [(60001, 44100), (320000, 44100), (0, 44100), (128000, 22050), (128000, 48000)],
)
def test_pairs_outside_the_contract_are_refused(bitrate: int, sample_rate: int) -> None:
    with pytest.raises(ValueError):
        plan_encoding(bitrate, sample_rate)


@pytest.mark.parametrize(
    ("bitrate", "sample_rate", "kbps", "mpeg1"),
    [(256000, 24000, 160, False), (256000, 44100, 256, True), (32000, 44100, 32, True)],
)
def test_constant_bitrate_frames_carry_the_planned_bitrate_and_rate(
    bitrate: int, sample_rate: int, kbps: int, mpeg1: bool
) -> None:
    encoded = encode_mp3(_noise(sample_rate, 2.0), sample_rate, bitrate, sample_rate)
    info = read_mp3_info(encoded.data)
    # LAME left alone would drop 32 kbps at 44.1 kHz to a lower rate.
    assert (info.sample_rate, info.bitrates_kbps) == (sample_rate, frozenset({kbps}))
    assert (encoded.bitrate, encoded.bitrate_mode) == (kbps * 1000, "cbr")
    headers = [header for _, header in iter_frames(encoded.data)]
    assert {header.mpeg1 for header in headers} == {mpeg1}


def test_sixty_kilobits_is_an_average_that_really_varies() -> None:
    encoded = encode_mp3(_noise(44100, 8.0), 44100, 60000, 44100)
    info = read_mp3_info(encoded.data)
    assert encoded.bitrate_mode == "abr"
    assert len(info.bitrates_kbps) > 1
    # The reported bitrate is the audio frames' measured average, near the aim.
    audio_bytes = len(encoded.data) - info.frame_offsets[0]  # after the header frame
    assert encoded.bitrate == round(audio_bytes * 8 / encoded.duration_seconds)
    assert 45_000 < encoded.bitrate < 75_000


def test_the_source_rate_is_converted_to_the_requested_one() -> None:
    source = _noise(48000, 3.0)
    encoded = encode_mp3(source, 48000, 128000, 24000)
    assert encoded.sample_rate == 24000 == read_mp3_info(encoded.data).sample_rate
    assert encoded.duration_seconds == pytest.approx(3.0, abs=0.001)


@pytest.mark.parametrize(("given", "kept"), [(1, 1), (2, 2), (6, 2)])
def test_channels_are_kept_up_to_stereo(given: int, kept: int) -> None:
    samples = _noise(32000, 1.0, channels=given)
    encoded = encode_mp3(samples[:, 0] if given == 1 else samples, 32000, 64000, 32000)
    assert encoded.channels == kept == read_mp3_info(encoded.data).channels


def test_samples_beyond_full_scale_are_clipped_not_wrapped() -> None:
    pcm = np.frombuffer(_to_pcm16(np.array([1.5, -3.0, 0.5, -0.5])), dtype="<i2")
    assert list(pcm) == [32767, -32767, 16384, -16384]
