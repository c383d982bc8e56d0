"""The waveform picture: decoded from a real MP3, scaled, cached, safe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from songforge.audio.mp3 import encode_mp3
from songforge.dashboard.waveform import BARS, CACHE_SUFFIX, peaks, render_svg, waveform_svg
from songforge.storage.local import LocalStorage


def _mp3() -> bytes:
    rate = 24000
    t = np.arange(rate * 2) / rate
    # Silent first second, loud second: the picture must show the step.
    mono = np.where(t < 1.0, 0.0, 0.5 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return encode_mp3(np.stack([mono, mono], axis=1), rate, bitrate=64000, sample_rate=rate).data


def test_peaks_follow_the_loudness() -> None:
    levels = peaks(np.concatenate([np.zeros(1000), np.ones(1000)]).astype(np.float32), bars=4)
    assert levels == [0.0, 0.0, 1.0, 1.0]
    assert peaks(np.zeros(0, dtype=np.float32), bars=3) == [0.0, 0.0, 0.0]


def test_svg_from_a_real_mp3_is_cached(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("tsk_x/attempt-1.mp3", _mp3())
    svg = waveform_svg(storage, "tsk_x/attempt-1.mp3", title="Waveform <of> x")
    assert svg.startswith("<svg") and "Waveform &lt;of&gt; x" in svg
    assert svg.count("z") >= BARS
    assert storage.exists("tsk_x/attempt-1.mp3" + CACHE_SUFFIX)
    # Bars in the silent half are thin, in the loud half tall.
    heights = [float(part.split("v")[1].split("h")[0]) for part in svg.split("M")[1:]]
    # (The last bars hold the encoder's padding, so they are left out.)
    assert max(heights[: BARS // 3]) < 10 < min(heights[-BARS // 3 : -3])


def test_undecodable_audio_gets_a_flat_uncached_picture(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = LocalStorage(tmp_path)
    storage.save("bad.mp3", b"not audio at all")
    svg = waveform_svg(storage, "bad.mp3", title="t")
    assert "unavailable" in svg
    assert not storage.exists("bad.mp3" + CACHE_SUFFIX)


def test_render_svg_escapes_the_title() -> None:
    assert "<script" not in render_svg([0.5], title="<script>alert(1)</script>")
