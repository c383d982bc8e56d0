"""``python -m songforge.composer``: make a song without the server.

    python -m songforge.composer --prompt "sad piano ballad" --lyrics-file words.txt \
        --seed 7 -o song.mp3 --stems stems/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES, encode_mp3
from songforge.composer.compose import effective_seed


def write_wav(path: Path, audio: npt.NDArray[np.float32], rate: int) -> None:
    data = np.clip(audio, -1.0, 1.0)
    if data.ndim == 1:
        data = data[:, None]
    pcm = (data * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(pcm.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())


def write_stems(folder: Path, stems: dict[str, npt.NDArray[np.float32]], rate: int) -> None:
    """One WAV per stem, all scaled by one factor so none clips and their balance holds.

    Stems are taken before the master bus, where a loud vocal can peak above
    full scale; clipping it in the file would distort what is measured on it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    peak = max((float(np.abs(audio).max(initial=0.0)) for audio in stems.values()), default=0.0)
    scale = np.float32(min(1.0, 0.99 / peak) if peak > 0 else 1.0)
    for name, audio in stems.items():
        write_wav(folder / f"{name}.wav", audio * scale, rate)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m songforge.composer", description=__doc__)
    parser.add_argument("--prompt", required=True)
    lyrics = parser.add_mutually_exclusive_group()
    lyrics.add_argument("--lyrics", default="")
    lyrics.add_argument("--lyrics-file", type=Path)
    parser.add_argument("--seed", type=int, default=None, help="default: derived from the text")
    parser.add_argument("--duration", type=float, default=None, help="upper bound, seconds")
    parser.add_argument("--bitrate", type=int, default=256000, choices=ALLOWED_BITRATES)
    parser.add_argument("--sample-rate", type=int, default=44100, choices=ALLOWED_SAMPLE_RATES)
    parser.add_argument("-o", "--output", type=Path, required=True, help=".mp3 or .wav")
    parser.add_argument("--stems", type=Path, help="folder for the stems (WAV), vocals included")
    parser.add_argument("--score", type=Path, help="write the plan (sections, vocal notes) as JSON")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    from songforge.composer.song import SongRenderer

    text = args.lyrics_file.read_text(encoding="utf-8") if args.lyrics_file else args.lyrics
    seed = args.seed if args.seed is not None else effective_seed(args.prompt, text, 0)

    def progress(stage: str, fraction: float) -> None:
        if not args.quiet:
            print(f"\r{stage:<10} {fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)

    started = time.perf_counter()
    renderer = SongRenderer()
    renderer.load()
    song = renderer.render(
        args.prompt, text, seed=seed, max_seconds=args.duration, progress=progress
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.output.suffix.lower() == ".wav":
        write_wav(args.output, song.audio, song.sample_rate)
    else:
        encoded = encode_mp3(song.audio, song.sample_rate, args.bitrate, args.sample_rate)
        args.output.write_bytes(encoded.data)
    if args.stems:
        write_stems(args.stems, song.stems, song.sample_rate)
    if args.score:
        args.score.write_text(json.dumps(score_summary(song.score), indent=1))
    if not args.quiet:
        elapsed = time.perf_counter() - started
        print(
            f"\n{args.output}: {song.duration_seconds:.1f} s, {song.score.genre}, "
            f"{song.score.bpm:g} BPM, seed {seed}, {elapsed:.1f} s to make",
            file=sys.stderr,
        )
    return 0


def score_summary(score: object) -> dict[str, object]:
    from songforge.composer.score import Score

    assert isinstance(score, Score)
    return {
        "genre": score.genre,
        "bpm": score.bpm,
        "key_root": score.key_root,
        "mode": score.mode,
        "voice": score.voice,
        "sections": [
            {
                "kind": s.kind,
                "label": s.label,
                "start_beat": s.start,
                "bars": s.bars,
                "energy": s.energy,
            }
            for s in score.sections
        ],
        "vocal": [
            {
                "text": p.text,
                "notes": [
                    {
                        "start_s": score.seconds(n.start),
                        "end_s": score.seconds(n.end),
                        "pitch": n.pitch,
                        "syllable": n.syllable,
                    }
                    for n in p.notes
                ],
            }
            for p in score.vocal
        ],
    }


if __name__ == "__main__":
    raise SystemExit(main())
