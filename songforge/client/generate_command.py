"""``songforge generate``: make one song through the API from the command line.

Submits, shows progress on stderr while polling, downloads the song (MP3, or WAV
or FLAC with ``--format``), checks its sha256, saves the stems (``--stems``) and
the timed lyrics as an LRC file (``--lrc``) beside it, and prints each path
(stdout, the song's first) and a summary. Exit codes: 0 the files are there, 1
the task failed, 2 a usage, API, network or timeout error.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from songforge.client.errors import SongforgeError
from songforge.client.models import Task
from songforge.client.progress import ProgressDisplay, format_clock
from songforge.client.protocol import API_KEY_ENV, DownloadResult
from songforge.client.sync import Client

EXIT_OK = 0
EXIT_TASK_FAILED = 1
EXIT_ERROR = 2


def add_generate_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "generate",
        help="make a song through a songforge API (client)",
        description=(
            "Submit a song to a songforge API, wait for it and download the MP3. "
            "URL and key default to $SONGFORGE_URL and $SONGFORGE_API_KEY."
        ),
    )
    parser.add_argument("--url", help="API base URL (default $SONGFORGE_URL or 127.0.0.1:8000)")
    parser.add_argument("--api-key", help="API key (default $SONGFORGE_API_KEY)")
    parser.add_argument("--model", default="minimax-music", help="model id (%(default)s)")
    parser.add_argument("--prompt", required=True, help="style, mood, instruments")
    lyrics = parser.add_mutually_exclusive_group()
    lyrics.add_argument("--lyrics", help="lyrics text; none means an instrumental")
    lyrics.add_argument("--lyrics-file", help="read lyrics from this file ('-' for stdin)")
    parser.add_argument("--bitrate", type=int, help="32000, 60000, 64000, 128000 or 256000")
    parser.add_argument("--sample-rate", type=int, help="16000, 24000, 32000 or 44100")
    parser.add_argument("--seed", type=int, help="seed, for reproducible output")
    parser.add_argument("--duration", type=float, help="length hint in seconds")
    parser.add_argument(
        "--format",
        choices=("mp3", "wav", "flac"),
        help="the file: mp3 (the server's default), or 16-bit wav or flac (no --bitrate)",
    )
    parser.add_argument(
        "--stems",
        action="store_true",
        help="also save the vocals and the instrumental (NAME-vocals.EXT, NAME-instrumental.EXT)",
    )
    parser.add_argument(
        "--lrc",
        action="store_true",
        help="also save the timed lyrics as an LRC file with word timing (NAME.lrc)",
    )
    parser.add_argument("--instrumental", action="store_true", help="no voice, even with lyrics")
    parser.add_argument(
        "-o", "--output", help="where to save the song (default song.mp3, .wav or .flac)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait (%(default)s)"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress; print only the path"
    )
    parser.set_defaults(func=run_generate)


def read_lyrics(args: argparse.Namespace, stdin: TextIO) -> str | None:
    if args.lyrics is not None:
        return str(args.lyrics)
    if args.lyrics_file is None:
        return None
    if args.lyrics_file == "-":
        return stdin.read()
    return Path(args.lyrics_file).read_text(encoding="utf-8")


def format_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


@dataclass(frozen=True)
class SavedFile:
    """A file besides the song: what it is, and where it went."""

    what: str
    path: Path


def song_path(args: argparse.Namespace) -> Path:
    return Path(args.output or f"song.{args.format or 'mp3'}")


def companion(song: Path, suffix: str, extension: str) -> Path:
    """A file saved beside the song: song.flac -> song-vocals.flac, song.lrc."""
    return song.with_name(f"{song.stem}{suffix}.{extension}")


def download_extras(client: Client, task: Task, song: Path) -> list[SavedFile]:
    """Save what the task delivered beside the song: its stems and its LRC file."""
    out = task.output
    saved: list[SavedFile] = []
    if out is None:
        return saved
    extension = song.suffix.lstrip(".") or (out.format or "mp3")
    if out.stems is not None:
        for name, url in (("vocals", out.stems.vocals), ("instrumental", out.stems.instrumental)):
            if url is None:
                raise SongforgeError(f"the {name} stem is no longer stored", type="not_found")
            path = companion(song, f"-{name}", extension)
            client.download(url, path)
            saved.append(SavedFile(f"{name} stem", path))
    if out.lrc_url is not None:
        path = companion(song, "", "lrc")
        client.download(out.lrc_url, path)
        lines = len(out.lyrics.lines) if out.lyrics is not None else 0
        saved.append(SavedFile(f"timed lyrics, {lines} lines", path))
    return saved


def summarize(task: Task, result: DownloadResult) -> list[str]:
    """The lines printed after the path: what was really made and delivered."""
    out = task.output
    lines: list[str] = []
    if out is not None:
        audio = [
            f"duration {format_clock(out.duration_seconds)}"
            + (f" ({out.duration_seconds:.1f} s)" if out.duration_seconds is not None else ""),
        ]
        if out.bit_depth is not None:
            audio.append(f"{(out.format or '').upper()} {out.bit_depth}-bit".strip())
        if out.bitrate is not None:
            audio.append(f"{out.bitrate // 1000} kbps {(out.bitrate_mode or '').upper()}".strip())
        if out.sample_rate is not None:
            audio.append(f"{out.sample_rate} Hz")
        if out.channels is not None:
            audio.append({1: "mono", 2: "stereo"}.get(out.channels, f"{out.channels} ch"))
        lines.append("  " + ", ".join(audio))
    check = "verified" if result.verified else "not checked (the task gave none)"
    lines.append(f"  size {format_size(result.size_bytes)}, sha256 {result.sha256} {check}")
    engine = out.engine if out is not None and out.engine else "unknown"
    lines.append(f"  engine {engine}, task {task.task_id}")
    return lines


def run_generate(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        lyrics = read_lyrics(args, sys.stdin)
    except OSError as exc:
        print(f"songforge generate: cannot read lyrics: {exc}", file=err)
        return EXIT_ERROR
    if not (args.api_key or os.environ.get(API_KEY_ENV)):
        # Said here, in the command's own words (the client's error names api_key=).
        print(
            f"songforge generate: no API key: pass --api-key or set {API_KEY_ENV} "
            "(make one on the server's dashboard, Keys page)",
            file=err,
        )
        return EXIT_ERROR
    display = None if args.quiet else ProgressDisplay(err)
    task_id: str | None = None
    output = song_path(args)
    try:
        with Client(base_url=args.url, api_key=args.api_key) as client:
            created = client.create_music(
                args.model,
                args.prompt,
                lyrics=lyrics,
                bitrate=args.bitrate,
                sample_rate=args.sample_rate,
                seed=args.seed,
                duration=args.duration,
                format=args.format,
                # Flags: sent only when given, so the request stays the plain one otherwise.
                stems=True if args.stems else None,
                instrumental=True if args.instrumental else None,
                lyrics_timing=True if args.lrc else None,
            )
            task_id = created.task_id
            if display is not None:
                print(f"task {task_id} submitted", file=err)
            try:
                task = client.wait(
                    created,
                    poll_interval=0.5,
                    timeout=args.timeout,
                    on_update=display.update if display is not None else None,
                )
            finally:
                if display is not None:
                    display.finish()
            if not task.is_completed:
                error = task.error
                detail = f"{error.type}: {error.message}" if error else task.status
                print(f"songforge generate: task {task.task_id} failed: {detail}", file=err)
                return EXIT_TASK_FAILED
            result = client.download(task, output)
            extras = download_extras(client, task, output)
    except SongforgeError as exc:
        suffix = f" (task {task_id})" if task_id and exc.type == "timeout" else ""
        print(f"songforge generate: {exc}{suffix}", file=err)
        return EXIT_ERROR
    except OSError as exc:
        # Only local files raise OSError here (httpx wraps its own in SongforgeError).
        print(f"songforge generate: cannot write {exc.filename or output}: {exc}", file=err)
        return EXIT_ERROR
    except KeyboardInterrupt:
        # The task keeps running on the server; say which one so it can be fetched.
        if task_id:
            print(f"\nsongforge generate: interrupted; task {task_id} continues", file=err)
        return 130
    print(result.path, file=out)
    for extra in extras:
        print(extra.path, file=out)
    if not args.quiet:
        for line in summarize(task, result):
            print(line, file=out)
        for extra in extras:
            print(f"  {extra.what}: {extra.path}", file=out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run ``generate`` on its own (``python -m songforge.client.generate_command``)."""
    parser = argparse.ArgumentParser(prog="songforge")
    add_generate_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
