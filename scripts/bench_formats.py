"""What each delivered format costs the worker: encoding time and file size (issue 14).

Encodes one real composer song (rendered once, at its native 44.1 kHz) through the
delivery step (songforge.audio.encode.encode_output: the one resampling, then the
container's encoder) as MP3 256 kbps, 16-bit WAV and 16-bit FLAC, at 44.1 and 24 kHz,
several times each, and prints the median seconds, the ratio to the MP3 and the
size. Run: .venv/bin/python scripts/bench_formats.py [--seconds 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from songforge.audio.encode import encode_output
from songforge.audio.output_format import OutputFormat, mp3_format
from songforge.engines.base import GenerationRequest
from songforge.engines.composer import create_engine

LYRICS = "[Verse]\nPaper boats are sailing down the gutter\n[Chorus]\nLet it pour, let it pour"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="song length")
    parser.add_argument("--repeat", type=int, default=3, help="encodes per format")
    args = parser.parse_args()
    engine = create_engine({})
    song = engine.generate(
        GenerationRequest("bright pop, female vocal", LYRICS, seed=3, duration=args.seconds),
        lambda stage, fraction: None,
    )
    print(f"load average {os.getloadavg()[0]:.1f}; song {song.duration_seconds:.1f} s")
    print("format                 median s   x mp3   size MiB")
    for rate in (44100, 24000):
        formats = [
            mp3_format(256000, rate),
            OutputFormat(container="wav", sample_rate=rate, bitrate=None),
            OutputFormat(container="flac", sample_rate=rate, bitrate=None),
        ]
        baseline = None
        for output in formats:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                encoded = encode_output(song.samples, song.sample_rate, output)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            baseline = baseline or median
            size = len(encoded.data) / 2**20
            print(f"{output.label:<22} {median:8.3f} {median / baseline:7.2f} {size:10.2f}")


if __name__ == "__main__":
    main()
