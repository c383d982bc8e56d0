"""Reading an encoded MP3 back before it is delivered.

Its own module (not runner.py) because the relay's audio processes run it too, and
they should not import the worker, the database layer and the engines to do so.
"""

from __future__ import annotations

from songforge.audio.mp3 import EncodedAudio, plan_encoding
from songforge.audio.mp3_frames import read_mp3_info
from songforge.engines.base import GenerationError


def check_encoding(encoded: EncodedAudio, bitrate: int, sample_rate: int) -> None:
    """Read the MP3 back and make sure it is what the output will claim."""
    plan = plan_encoding(bitrate, sample_rate)
    info = read_mp3_info(encoded.data)
    if info.sample_rate != plan.sample_rate:
        raise GenerationError(f"encoder wrote {info.sample_rate} Hz, expected {sample_rate}")
    if plan.mode == "cbr" and info.bitrates_kbps != {plan.kbps}:
        raise GenerationError(f"encoder wrote {sorted(info.bitrates_kbps)} kbps, not {plan.kbps}")
    xing = info.xing
    if xing is None or xing.frames != info.frames or xing.bytes != len(encoded.data):
        # Players would disagree about the song's length (issue 9, point 8).
        raise GenerationError("the MP3's Xing/Info header does not describe the file")
