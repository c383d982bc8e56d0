"""An upstream's file becomes the requested one; a lossless file never comes from an MP3."""

from __future__ import annotations

import io

import pytest
import soundfile

from songforge.audio.output_format import OutputFormat, mp3_format
from songforge.engines.remote.audio import UpstreamAudio, deliverable_audio
from songforge.engines.remote.errors import UpstreamError
from tests.fakes_upstreams.common import mp3_song, wav_song

FLAC = OutputFormat(container="flac", sample_rate=32000, bitrate=None)


def test_a_wav_upstream_becomes_a_flac_at_the_asked_rate() -> None:
    encoded = deliverable_audio(UpstreamAudio(wav_song(2.0, 44100), "wav", {}), FLAC)
    info = soundfile.info(io.BytesIO(encoded.data))
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 32000)
    assert encoded.bit_depth == 16 and encoded.duration_seconds == 2.0


def test_an_mp3_upstream_is_never_passed_off_as_lossless() -> None:
    with pytest.raises(UpstreamError) as raised:
        deliverable_audio(UpstreamAudio(mp3_song(2.0, 44100, 256), "mp3", {}), FLAC)
    assert raised.value.kind == "upstream_unavailable" and not raised.value.retryable


def test_an_exact_mp3_upstream_is_still_kept_byte_for_byte() -> None:
    from songforge.audio.mp3 import encode_mp3
    from tests.fakes_upstreams.common import tone

    song = encode_mp3(tone(2.0, 44100), 44100, 128000, 44100).data
    encoded = deliverable_audio(UpstreamAudio(song, "mp3", {}), mp3_format(128000, 44100))
    assert encoded.data == song and encoded.bitrate == 128000
