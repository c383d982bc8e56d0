"""``python -m songforge.composer``: a song and its stems from the command line."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from songforge.composer.__main__ import main, write_stems


def _read(path: Path) -> np.ndarray:  # type: ignore[type-arg]
    with wave.open(str(path), "rb") as handle:
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
        return data.reshape(-1, handle.getnchannels()).astype(np.float64) / 32767.0


def test_stems_are_scaled_together_and_never_clip(tmp_path: Path) -> None:
    t = np.linspace(0.0, 1.0, 8000, dtype=np.float32)
    loud = np.stack([3.0 * np.sin(40 * t)] * 2, axis=1).astype(np.float32)
    quiet = 0.1 * loud
    write_stems(tmp_path, {"vocals": loud, "drums": quiet}, 8000)
    vocals, drums = _read(tmp_path / "vocals.wav"), _read(tmp_path / "drums.wav")
    assert 0.95 < np.abs(vocals).max() <= 1.0
    assert np.sum(np.abs(vocals) >= 0.999) < 50  # only the sine's crest, not a flat top
    assert abs(np.abs(drums).max() / np.abs(vocals).max() - 0.1) < 0.01


def test_cli_writes_the_song_and_its_stems(tmp_path: Path) -> None:
    out = tmp_path / "song.wav"
    code = main(
        [
            "--prompt", "Laid-back hip hop beat, BPM: 90",
            "--lyrics", "[Verse]\nCity lights and late night talks",
            "--duration", "12",
            "--seed", "3",
            "-o", str(out),
            "--stems", str(tmp_path / "stems"),
            "--quiet",
        ]
    )  # fmt: skip
    assert code == 0
    song = _read(out)
    assert song.shape[1] == 2 and 11.5 * 44100 <= song.shape[0] <= 12.5 * 44100
    vocals = _read(tmp_path / "stems" / "vocals.wav")
    assert np.sqrt(np.mean(vocals**2)) > 0.01
    assert np.sum(np.abs(vocals) >= 0.999) == 0
