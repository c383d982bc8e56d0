"""Benchmark the relay worker: how many upstream tasks one worker process carries,
its memory and event-loop stalls, and CPU per relayed song (upstream time excluded:
the fake MiniMax runs in its own process).

    .venv/bin/python scripts/bench_remote.py inflight   # 250 songs against a 10 s upstream
    .venv/bin/python scripts/bench_remote.py cpu        # 3-minute songs at 256k and at 60k
    .venv/bin/python scripts/bench_remote.py reencode   # only the 60k one
    .venv/bin/python scripts/bench_remote.py            # both
    .venv/bin/python scripts/bench_remote.py inflight-compare [N ...]  # connections per client
    .venv/bin/python scripts/bench_remote.py inflight --profile  # + what ran while the loop stalled
    .venv/bin/python scripts/bench_remote.py memory     # peak RSS of re-encoding one 3-minute song
    .venv/bin/python scripts/bench_remote.py hex        # 8 3-minute songs sent inline as hex
    ... --handles   # + the loop's turns: longest, and which callbacks filled the slow ones

Prints markdown rows for docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from songforge.db.database import Database  # noqa: E402
from songforge.db.migrate import upgrade_to_head  # noqa: E402
from songforge.db.tables import tasks  # noqa: E402
from songforge.engines.remote.minimax_cloud import MiniMaxCloudEngine  # noqa: E402
from songforge.services.accounts import create_account  # noqa: E402
from songforge.services.orders import grant_credits  # noqa: E402
from songforge.services.tasks import NewTask, create_task  # noqa: E402
from songforge.settings import Settings  # noqa: E402
from songforge.storage.local import LocalStorage  # noqa: E402
from songforge.worker.process import freeze_startup_objects  # noqa: E402
from songforge.worker.runner import Worker  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from loop_profile import HandleTimer, LoopWatchdog, process_cpu  # noqa: E402

KEY_ENV = "SONGFORGE_BENCH_MINIMAX_KEY"
PROFILE = "--profile" in sys.argv
HANDLES = "--handles" in sys.argv


@dataclass
class Result:
    name: str
    songs: int
    completed: int
    wall_s: float
    cpu_s: float
    peak_in_flight: int
    rss_start_mb: float
    rss_peak_mb: float
    stall_max_ms: float
    stall_p99_ms: float
    helpers_rss_mb: float
    loop_cpu_s: float

    def row(self) -> str:
        return (
            f"| {self.name} | {self.songs} | {self.completed} | {self.wall_s:.1f} | "
            f"{self.cpu_s / max(1, self.completed) * 1000:.0f} | {self.peak_in_flight} | "
            f"{self.rss_start_mb:.0f} | {self.rss_peak_mb:.0f} | {self.stall_max_ms:.1f} | "
            f"{self.stall_p99_ms:.1f} | {self.helpers_rss_mb:.0f} | "
            f"{self.loop_cpu_s / max(1, self.completed) * 1000:.1f} |"
        )


def rss_mb(field: str = "VmRSS", pid: int | str = "self") -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(slow: float, seconds: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes_upstreams.serve",
            "minimax",
            str(port),
            "--slow",
            str(slow),
            "--seconds",
            str(seconds),
            "--key",
            "bench-key",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/stats", timeout=1)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the fake upstream did not start")


async def watch_loop(stalls: list[float]) -> None:
    """Lateness of a 10 ms sleep on the relay loop: how long the loop was blocked."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.01)
        stalls.append(max(0.0, loop.time() - start - 0.01))


def scenario(
    name: str,
    *,
    songs: int,
    slow: float,
    seconds: float,
    bitrate: int,
    concurrency: int,
    output_format: str = "url",
) -> Result:
    fake, url = start_fake(slow, seconds)
    os.environ[KEY_ENV] = "bench-key"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            database_url = f"sqlite:///{tmp}/bench.db"
            settings = Settings(
                data_dir=Path(tmp),
                database_url=database_url,
                secret_key="b" * 40,
                lease_seconds=60,
                heartbeat_seconds=5,
                poll_interval_seconds=0.05,
            )
            db = Database(database_url, pool_size=4)
            upgrade_to_head(db)
            with db.write() as conn:
                account = create_account(conn)
                grant_credits(conn, account.id, songs * 30, provider="operator")
            for n in range(songs):
                task_input = {
                    "prompt": "bench pop song",
                    "lyrics": "la la la",
                    "seed": n,
                    "bitrate": bitrate,
                    "sample_rate": 44100,
                    "duration": None,
                }
                create_task(
                    db,
                    NewTask(account.id, None, "minimax-music", 30, task_input, 3),
                    max_concurrent=songs + 1,
                )
            engine = MiniMaxCloudEngine(
                {
                    "base_url": url,
                    "api_key_env": KEY_ENV,
                    "max_concurrency": concurrency,
                    "timeout_s": 120,
                    "deadline_s": 900,
                    "probe_interval_s": 60,
                    "output_format": output_format,
                }
            )
            worker = Worker(
                db, LocalStorage(Path(tmp) / "audio"), {"minimax-music": engine}, settings
            )
            stop = threading.Event()
            freeze_startup_objects()  # as `songforge worker` does before it runs
            rss_start = rss_mb()
            cpu_start, wall_start = cpu_seconds(), time.monotonic()
            thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
            thread.start()
            assert worker.relay is not None
            while worker.relay.loop is None:
                time.sleep(0.01)
            stalls: list[float] = []
            asyncio.run_coroutine_threadsafe(watch_loop(stalls), worker.relay.loop)
            relay = worker.relay
            assert relay._thread is not None and relay._thread.ident is not None
            loop_clock = time.pthread_getcpuclockid(relay._thread.ident)
            loop_cpu_start = time.clock_gettime(loop_clock)
            # (getattr: the bench also runs against older trees, whose audio ran in threads)
            helper_pids = getattr(getattr(relay, "audio", None), "pids", list)
            watchdog = LoopWatchdog(relay.loop, helper_pids=helper_pids) if PROFILE else None
            if watchdog is not None:
                watchdog.start()
            timer = HandleTimer(relay.loop, slow=0.02) if HANDLES else None
            if timer is not None:
                relay.loop.call_soon_threadsafe(timer.install)
            peak = 0
            finished = 0
            last_count = 0.0
            while finished < songs:
                time.sleep(0.1)
                peak = max(peak, len(worker.relay.in_flight))
                if time.monotonic() - last_count > 1:
                    last_count = time.monotonic()
                    with db.read() as conn:
                        finished = conn.execute(
                            select(func.count())
                            .select_from(tasks)
                            .where(tasks.c.status != "IN_PROGRESS")
                        ).scalar_one()
                if time.monotonic() - wall_start > 1800:
                    break
            wall = time.monotonic() - wall_start
            loop_cpu = time.clock_gettime(loop_clock) - loop_cpu_start
            # The audio processes' CPU counts too (they start with the first song).
            cpu = cpu_seconds() - cpu_start + sum(process_cpu(p) for p in helper_pids())
            with db.read() as conn:
                completed = conn.execute(
                    select(func.count()).select_from(tasks).where(tasks.c.status == "completed")
                ).scalar_one()
            helpers_rss = sum(rss_mb("VmHWM", pid) for pid in helper_pids())
            if watchdog is not None:
                print(f"\n{name}: where the loop stalled\n{watchdog.stop().report()}\n")
            if timer is not None:
                print(f"\n{name}: the loop's turns\n{timer.report()}\n")
            stop.set()
            thread.join(30)
            db.dispose()
            ordered = sorted(stalls)
            return Result(
                name,
                songs,
                int(completed),
                wall,
                cpu,
                peak,
                rss_start,
                rss_mb("VmHWM"),
                ordered[-1] * 1000 if ordered else 0.0,
                ordered[int(len(ordered) * 0.99)] * 1000 if ordered else 0.0,
                helpers_rss,
                loop_cpu,
            )
    finally:
        fake.terminate()
        fake.wait(10)


def reencode_peak(seconds: float, kbps_in: int, bitrate_out: int) -> tuple[float, float, float]:
    """In a fresh process: peak RSS before and after re-encoding one relayed song
    (deliverable_audio, as the relay's audio processes run it), and its seconds."""
    from songforge.engines.remote import audio
    from tests.fakes_upstreams.common import mp3_song

    def deliverable(upstream: audio.UpstreamAudio) -> object:
        if hasattr(audio, "deliverable_audio"):
            from songforge.audio.output_format import mp3_format

            return audio.deliverable_audio(upstream, mp3_format(bitrate_out, 44100))
        return audio.deliverable_mp3(upstream, bitrate_out, 44100)  # trees before issue 14

    data = mp3_song(seconds, 44100, kbps_in)
    deliverable(audio.UpstreamAudio(mp3_song(2, 44100, kbps_in), "mp3", {}))
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := RSS now (Linux)
    before = rss_mb("VmHWM")
    started = time.perf_counter()
    deliverable(audio.UpstreamAudio(data, "mp3", {}))
    return before, rss_mb("VmHWM"), time.perf_counter() - started


def memory() -> None:
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    print("| re-encoding one relayed song | peak RSS before MB | peak RSS after MB | rise MB | s |")
    print("|---|---:|---:|---:|---:|")
    for seconds, kbps_in, bitrate_out in ((180, 256, 60000), (180, 128, 64000)):
        with context.Pool(1) as pool:
            before, after, took = pool.apply(reencode_peak, (seconds, kbps_in, bitrate_out))
        print(
            f"| {seconds} s, {kbps_in} kbps MP3 -> {bitrate_out // 1000} kbps "
            f"| {before:.0f} | {after:.0f} | {after - before:.0f} | {took:.1f} |"
        )


HEADER = (
    "| scenario | songs | completed | wall s | CPU ms/song | peak in flight | RSS start MB | "
    "RSS peak MB | max loop stall ms | p99 loop stall ms | audio processes RSS peak MB | "
    "loop thread CPU ms/song |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def main() -> None:
    if os.environ.get("BENCH_SWITCH"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))
    import songforge.engines.remote.base as remote_base

    args = [arg for arg in sys.argv[1:] if arg not in ("--profile", "--handles")]
    what = args[0] if args else "all"
    if what == "memory":
        memory()
        return
    rows = []
    if what == "inflight-compare":
        # The in-flight run with the HTTP pools sharded (32 connections a client) and
        # with one pool for all 256 connections, back to back under the same load.
        sizes = [int(n) for n in args[1:]] or [32, 1024]
        for per_client in sizes:
            remote_base.CONNECTIONS_PER_CLIENT = per_client
            rows.append(
                scenario(
                    f"250 songs, 10 s upstream, {per_client} connections per HTTP client",
                    songs=250,
                    slow=10,
                    seconds=3,
                    bitrate=128000,
                    concurrency=256,
                )
            )
    if what in ("inflight", "all"):
        rows.append(
            scenario(
                "250 songs, 10 s upstream, 3 s songs (128k; re-encoded: no Info header)",
                songs=250,
                slow=10,
                seconds=3,
                bitrate=128000,
                concurrency=256,
            )
        )
    if what == "hex":
        # Answers of 11 MB: 3-minute 256 kbps songs sent inline as hex.
        rows.append(
            scenario(
                "8 × 180 s songs at 256k sent as hex (11 MB answers; re-encoded)",
                songs=8,
                slow=0.5,
                seconds=180,
                bitrate=256000,
                concurrency=8,
                output_format="hex",
            )
        )
    if what in ("cpu", "all"):
        rows.append(
            scenario(
                "20 × 180 s songs at 256k/44.1k (re-encoded: the fake's MP3 has no Info header)",
                songs=20,
                slow=0.5,
                seconds=180,
                bitrate=256000,
                concurrency=8,
            )
        )
    if what in ("cpu", "reencode", "all"):
        rows.append(
            scenario(
                "20 × 180 s songs re-encoded (60k ABR)",
                songs=20,
                slow=0.5,
                seconds=180,
                bitrate=60000,
                concurrency=8,
            )
        )
    print(f"\nload average: {os.getloadavg()}, CPUs: {os.cpu_count()}\n")
    print(HEADER)
    for result in rows:
        print(result.row())


if __name__ == "__main__":
    main()
