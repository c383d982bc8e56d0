"""API throughput and latency on loopback, next to a bare FastAPI endpoint.

Starts, as subprocesses on 127.0.0.1:
  * a bare FastAPI app (scripts/bench_support/bare_app.py) under the same
    uvicorn settings as ``songforge serve``: the baseline;
  * ``songforge serve --workers 0`` on a fresh SQLite data dir whose catalog has
    one model on an instant engine (scripts/bench_support/instant_engine.py),
    plus one ``songforge worker`` process serving it;
then drives each endpoint from a separate load-generator process (wrk with a Lua
script, or bench_support/loadgen.py when wrk is missing) for a fixed time:

  bare GET        GET /bare (async def) and GET /bare-sync (def: pays the threadpool hop)
  poll            GET /api/v1/tasks/{id}, cycling over completed tasks
  create          POST /api/v1/audio/music

prints a table with the ratios to the bare endpoint and rewrites the "API"
section of docs/benchmarks.md (unless --no-write). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "scripts" / "bench_support"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "API"
HOST = "127.0.0.1"
MODEL = "bench-instant"
# A model whose one worker holds its first task, so the tasks behind it stay
# queued: polling them exercises queue position and ETA, as real clients see.
HELD_MODEL = "bench-held"
HELD_SECONDS = 900
CREATE_BODY = {"model": MODEL, "prompt": "benchmark", "bitrate": 32000, "sample_rate": 16000}
# The goals, as fractions of the bare endpoint's requests/s.
GOALS = {"create": 0.5, "poll": 0.7, "poll-queued": 0.7}
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Phase:
    name: str
    label: str
    method: str
    paths: Sequence[str]
    headers: dict[str, str]
    body: str | None = None


@dataclass(frozen=True)
class Result:
    name: str
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


# -- pure parts (tested in tests/client/test_bench_api_script.py) -------------


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk_script(phase: Phase) -> str:
    """The wrk Lua script: method, headers, body, paths to cycle, JSON summary."""
    lines = [f"wrk.method = {lua_string(phase.method)}"]
    if phase.body is not None:
        lines.append(f"wrk.body = {lua_string(phase.body)}")
    for name, value in phase.headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    paths = ", ".join(lua_string(p) for p in phase.paths)
    lines += [
        f"local paths = {{{paths}}}",
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        "  return wrk.format(nil, paths[(i % #paths) + 1])",
        "end",
        "done = function(summary, latency, requests)",
        "  local e = summary.errors",
        '  io.write(string.format("BENCH_JSON {\\"requests\\":%d,\\"duration_us\\":%d,'
        '\\"p50_us\\":%d,\\"p99_us\\":%d,\\"status_errors\\":%d,\\"socket_errors\\":%d}\\n",',
        "    summary.requests, summary.duration, latency:percentile(50),",
        "    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def parse_bench_json(output: str, phase: Phase) -> Result:
    match = re.search(r"^BENCH_JSON (\{.*\})\s*$", output, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{phase.name}: load generator printed no summary:\n{output[-2000:]}")
    data = json.loads(match.group(1))
    return Result(
        name=phase.name,
        label=phase.label,
        requests=int(data["requests"]),
        seconds=float(data["duration_us"]) / 1e6,
        p50_ms=float(data["p50_us"]) / 1000.0,
        p99_ms=float(data["p99_us"]) / 1000.0,
        errors=int(data.get("status_errors", 0)) + int(data.get("socket_errors", 0)),
    )


def cpu_plan(cpus: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
    """CPUs for (the HTTP servers, the songforge worker, the load generator).

    The API process gets a core to itself so the numbers describe it, not the
    load generator or the worker fighting it for the same core.
    """
    cpus = sorted(cpus)
    if len(cpus) < 2:
        return list(cpus), list(cpus), list(cpus)
    if len(cpus) == 2:
        return [cpus[0]], [cpus[1]], [cpus[1]]
    return [cpus[0]], [cpus[1]], list(cpus[2:])


def combine(rounds: Sequence[Sequence[Result]]) -> list[Result]:
    """One result per endpoint over all rounds: requests/s over the summed time,
    the median round's p50 and p99, all errors."""
    combined: list[Result] = []
    for index, first in enumerate(rounds[0]):
        same = [r[index] for r in rounds]
        combined.append(
            Result(
                name=first.name,
                label=first.label,
                requests=sum(r.requests for r in same),
                seconds=sum(r.seconds for r in same),
                p50_ms=statistics.median(r.p50_ms for r in same),
                p99_ms=statistics.median(r.p99_ms for r in same),
                errors=sum(r.errors for r in same),
            )
        )
    return combined


def round_ratios(rounds: Sequence[Sequence[Result]], name: str) -> list[float]:
    ratios = []
    for results in rounds:
        by_name = {r.name: r for r in results}
        if name in by_name and "bare" in by_name and by_name["bare"].rps > 0:
            ratios.append(by_name[name].rps / by_name["bare"].rps)
    return ratios


def render_table(results: Sequence[Result]) -> str:
    by_name = {r.name: r for r in results}
    bare = by_name.get("bare")
    rows = [
        "| endpoint | requests/s | p50 ms | p99 ms | errors | vs bare | goal |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = r.rps / bare.rps if bare is not None and bare.rps > 0 else None
        ratio_text = f"{ratio:.0%}" if ratio is not None else "-"
        goal = GOALS.get(r.name)
        if goal is None or ratio is None:
            goal_text = "baseline" if r.name == "bare" else ""
        else:
            goal_text = f"≥ {goal:.0%}: {'met' if ratio >= goal else 'NOT met'}"
        rows.append(
            f"| {r.label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} "
            f"| {ratio_text} | {goal_text} |"
        )
    return "\n".join(rows)


def replace_section(document: str, heading: str, body: str) -> str:
    """``document`` with its ``## heading`` section replaced by ``body`` (or appended)."""
    section = f"## {heading}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(document):
        return pattern.sub(lambda _m: section + "\n", document, count=1).rstrip() + "\n"
    if not document.strip():
        document = "# Benchmarks\n"
    return document.rstrip() + "\n\n" + section


# -- processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpus: Sequence[int], pin: bool) -> list[str]:
    if not pin or shutil.which("taskset") is None:
        return command
    return ["taskset", "-c", ",".join(str(c) for c in cpus), *command]


@contextlib.contextmanager
def started(
    command: list[str], env: dict[str, str], log: Path, stop: int = signal.SIGTERM
) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        # Own session: stopping it reaches the children it spawned, and only those.
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, stop)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {START_TIMEOUT:.0f} s:\n{log.read_text()[-3000:]}")


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "songforge.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"songforge {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def songforge_env(data_dir: Path) -> dict[str, str]:
    catalog = data_dir / "catalog.toml"
    catalog.write_text(
        f'[models.{MODEL}]\nengine = "instant_engine:create_engine"\nprice = 1\n'
        'description = "instant engine for the API benchmark"\n'
        "typical_runtime_seconds = 0.05\n\n"
        f'[models.{HELD_MODEL}]\nengine = "instant_engine:create_engine"\nprice = 1\n'
        'description = "holds each task, so the ones behind it stay queued"\n'
        f"options = {{ hold_seconds = {HELD_SECONDS} }}\n"
    )
    env = dict(os.environ)
    env.update(
        {
            "SONGFORGE_DATA_DIR": str(data_dir),
            "SONGFORGE_CATALOG_PATH": str(catalog),
            # The bench measures the service, not its limits: lift them out of the way.
            "SONGFORGE_RATE_LIMIT_PER_MINUTE": str(10**9),
            "SONGFORGE_MAX_CONCURRENT_TASKS": str(10**9),
            "SONGFORGE_BOOTSTRAP_CREDITS": "0",
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(SUPPORT), str(ROOT), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    return env


def make_key(env: dict[str, str]) -> str:
    cli(env, "migrate")
    cli(env, "accounts", "create", "--email", "bench@localhost", "--name", "bench")
    cli(env, "credits", "add", "--account", "bench@localhost", str(10**9), "--note", "bench")
    secret = cli(env, "keys", "create", "--account", "bench@localhost", "--name", "bench")
    return secret.strip().splitlines()[-1].strip()


def completed_task_ids(base_url: str, key: str, count: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from songforge.client import Client

    with Client(base_url, key, max_retries=0) as client:
        ids = [client.create_music(**CREATE_BODY).task_id for _ in range(count)]  # type: ignore[arg-type]
        for task_id in ids:
            task = client.wait(task_id, poll_interval=0.05, timeout=60)
            if not task.is_completed:
                raise RuntimeError(f"warm-up task {task_id} ended {task.status}: {task.error}")
    return ids


def queued_task_ids(base_url: str, key: str, count: int) -> list[str]:
    """``count`` tasks of the held model: the first one generating, the rest queued."""
    from songforge.client import Client

    body = {**CREATE_BODY, "model": HELD_MODEL}
    with Client(base_url, key, max_retries=0) as client:
        ids = [client.create_music(**body).task_id for _ in range(count)]  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        while client.get_task(ids[0]).stage in (None, "queued"):
            if time.monotonic() > deadline:
                raise RuntimeError("the held model's worker never started its first task")
            time.sleep(0.1)
        last = client.get_task(ids[-1])
        if last.stage != "queued" or last.queue_position is None:
            raise RuntimeError(f"expected a queued task, got {last.stage} {last.queue_position}")
    return ids


def run_load(
    phase: Phase,
    base_url: str,
    tool: str,
    args: argparse.Namespace,
    load_cpus: Sequence[int],
    workdir: Path,
) -> Result:
    # Every phase must answer 2xx before it is timed: a 401 or 429 measured at
    # full speed would be a fast number about nothing.
    check = httpx.request(
        phase.method,
        base_url + phase.paths[0],
        headers=phase.headers,
        content=phase.body,
        timeout=10.0,
    )
    if check.status_code >= 300:
        raise RuntimeError(f"{phase.name}: {check.status_code} {check.text[:300]}")
    if tool == "wrk":
        script = workdir / f"{phase.name}.lua"
        script.write_text(wrk_script(phase))
        threads = max(1, min(len(load_cpus), args.connections))
        base = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(args.connections),
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url,
        ]
        if args.warmup > 0:
            subprocess.run(
                pinned([*base[:-1], "-d", f"{args.warmup}s", base[-1]], load_cpus, args.pin),
                capture_output=True,
                timeout=args.warmup + 30,
                check=True,
            )
        command = pinned([*base[:-1], "-d", f"{args.duration}s", base[-1]], load_cpus, args.pin)
        timeout = args.duration + 30
    else:
        paths = workdir / f"{phase.name}.paths"
        paths.write_text("\n".join(phase.paths) + "\n")
        command = [
            sys.executable,
            str(SUPPORT / "loadgen.py"),
            "--url",
            base_url,
            "--method",
            phase.method,
            "--paths-file",
            str(paths),
            "--connections",
            str(args.connections),
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
        ]
        for name, value in phase.headers.items():
            command += ["--header", f"{name}: {value}"]
        if phase.body is not None:
            body = workdir / f"{phase.name}.json"
            body.write_text(phase.body)
            command += ["--body-file", str(body)]
        command = pinned(command, load_cpus, args.pin)
        timeout = args.warmup + args.duration + 60
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{phase.name}: load generator failed:\n{done.stdout}{done.stderr}")
    return parse_bench_json(done.stdout, phase)


def versions(tool: str) -> str:
    import fastapi
    import uvicorn

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    tool_text = tool
    if tool == "wrk":
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        tool_text = (out.stdout or out.stderr).split("[")[0].strip() or "wrk"
    else:
        tool_text = "bench_support/loadgen.py (httpx; client-bound, so ratios understate the gap)"
    return (
        f"{os.cpu_count()} × {cpu}; Python {platform.python_version()}, "
        f"uvicorn {uvicorn.__version__}, FastAPI {fastapi.__version__}; load: {tool_text}"
    )


def report(
    results: Sequence[Result],
    rounds: Sequence[Sequence[Result]],
    args: argparse.Namespace,
    tool: str,
    pin_text: str,
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "scripts/bench_api " + " ".join(args.argv) if args.argv else "scripts/bench_api"
    return "\n".join(
        [
            f"Measured {when} with `{command}`: {args.connections} connections, "
            f"{args.rounds} round{'s' if args.rounds != 1 else ''} over the endpoints in turn, "
            f"each {args.warmup:g} s warm-up then {args.duration:g} s timed, on loopback.",
            "",
            render_table(results),
            "",
            f"- Machine: {versions(tool)}.",
            f"- CPUs: {pin_text}; load average before the run: {args.loadavg}.",
            "- Baseline: a bare FastAPI app (scripts/bench_support/bare_app.py) with one JSON "
            "endpoint, under the same uvicorn settings as `songforge serve`, started in the same "
            "run. `async def` is the baseline of the ratios; the `def` variant shows what the "
            "threadpool hop alone costs.",
            "- songforge: `songforge serve --workers 0` plus a `songforge worker` per model, "
            "SQLite in a fresh temp dir, models on an instant engine "
            "(scripts/bench_support/instant_engine.py: 0.5 s tone, no composing), rate and "
            "concurrency limits lifted. Poll cycles over 16 completed tasks (the answer carries "
            "the signed audio link); poll, queued cycles over 16 tasks of a second model whose "
            "own worker holds the first one, so the others are queued and each answer computes "
            "a queue position and an ETA. Create is timed last in each round, since every "
            "create adds a task the worker then encodes.",
            "- Goals (from the issue): create ≥ 50 % and poll ≥ 70 % of the bare endpoint's "
            "requests/s. Ratio per round: "
            + "; ".join(
                f"{name} " + ", ".join(f"{r:.0%}" for r in round_ratios(rounds, name))
                for name in ("poll", "poll-queued", "create")
            )
            + ".",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="timed seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the endpoints")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin server, worker and load generator to separate CPUs",
    )
    parser.add_argument(
        "--no-write",
        dest="write",
        action="store_false",
        help="print the table only; leave docs/benchmarks.md alone",
    )
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if not 0 < args.duration <= 300 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be in (0, 300] and --warmup in [0, 60]")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1 to 20")
    if not 1 <= args.connections <= 1024:
        parser.error("--connections must be 1 to 1024")
    # Other work on the machine skews every number; the report says how busy it was.
    try:
        args.loadavg = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        args.loadavg = "unknown"
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    if tool == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk), or use --tool httpx")

    server_cpus, worker_cpus, load_cpus = cpu_plan(sorted(os.sched_getaffinity(0)))
    pin_text = (
        f"HTTP servers on {server_cpus}, songforge worker on {worker_cpus}, "
        f"load generator on {load_cpus}"
        if args.pin and shutil.which("taskset") and len(load_cpus) and server_cpus != load_cpus
        else "not pinned"
    )
    rounds: list[list[Result]] = []
    with tempfile.TemporaryDirectory(prefix="songforge-bench-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        data_dir.mkdir()
        env = songforge_env(data_dir)
        key = make_key(env)
        bare_port, api_port = free_port(), free_port()
        bare_url, api_url = f"http://{HOST}:{bare_port}", f"http://{HOST}:{api_port}"
        bare_cmd = [sys.executable, str(SUPPORT / "bare_app.py"), "--port", str(bare_port)]
        api_cmd = [
            sys.executable,
            "-m",
            "songforge.cli",
            "serve",
            "--host",
            HOST,
            "--port",
            str(api_port),
            "--workers",
            "0",
        ]
        worker_cmd = [sys.executable, "-m", "songforge.cli", "worker", "--models", MODEL]
        held_cmd = [sys.executable, "-m", "songforge.cli", "worker", "--models", HELD_MODEL]
        auth = {"Authorization": f"Bearer {key}"}
        with (
            started(pinned(bare_cmd, server_cpus, args.pin), env, workdir / "bare.log") as bare,
            started(pinned(api_cmd, server_cpus, args.pin), env, workdir / "api.log") as api,
            started(pinned(worker_cmd, worker_cpus, args.pin), env, workdir / "worker.log"),
            # Killed outright: a graceful stop would wait for the task it holds.
            started(
                pinned(held_cmd, worker_cpus, args.pin), env, workdir / "held.log", signal.SIGKILL
            ),
        ):
            wait_http(bare_url + "/bare", bare, workdir / "bare.log")
            wait_http(api_url + "/readyz", api, workdir / "api.log")
            poll_ids = completed_task_ids(api_url, key, 16)
            queued_ids = queued_task_ids(api_url, key, 16)
            phases = [
                (bare_url, Phase("bare", "bare GET (async def)", "GET", ["/bare"], {})),
                (bare_url, Phase("bare-sync", "bare GET (def)", "GET", ["/bare-sync"], {})),
                (
                    api_url,
                    Phase(
                        "poll",
                        "poll GET /api/v1/tasks/{id}",
                        "GET",
                        [f"/api/v1/tasks/{i}" for i in poll_ids],
                        auth,
                    ),
                ),
                (
                    api_url,
                    Phase(
                        "poll-queued",
                        "poll GET /api/v1/tasks/{id}, queued",
                        "GET",
                        [f"/api/v1/tasks/{i}" for i in queued_ids],
                        auth,
                    ),
                ),
                (
                    api_url,
                    Phase(
                        "create",
                        "create POST /api/v1/audio/music",
                        "POST",
                        ["/api/v1/audio/music"],
                        {**auth, "Content-Type": "application/json"},
                        json.dumps(CREATE_BODY),
                    ),
                ),
            ]
            # Rounds interleave the endpoints, so a neighbour's load on a shared
            # machine lands on all of them alike instead of on one.
            for round_no in range(1, args.rounds + 1):
                results: list[Result] = []
                for base_url, phase in phases:
                    result = run_load(phase, base_url, tool, args, load_cpus, workdir)
                    print(
                        f"round {round_no} {phase.name:10s} {result.rps:9,.0f} req/s  "
                        f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  "
                        f"errors {result.errors}",
                        file=sys.stderr,
                    )
                    results.append(result)
                    time.sleep(0.5)
                rounds.append(results)
    results = combine(rounds)
    text = report(results, rounds, args, tool, pin_text)
    print(text)
    if args.json is not None:
        rows = [[asdict(r) | {"rps": r.rps} for r in one] for one in rounds]
        args.json.write_text(json.dumps({"rounds": rows}, indent=2))
    if args.write:
        existing = args.doc.read_text() if args.doc.exists() else ""
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(replace_section(existing, SECTION, text))
        print(f"\nwrote the {SECTION!r} section of {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
