"""API throughput and latency on loopback, next to a bare endpoint and a durable INSERT.

For each database (SQLite in a fresh data dir, and/or a fresh PostgreSQL database on
127.0.0.1:5432) and each number of API processes (1 and/or 2), starts, as
subprocesses on 127.0.0.1:
  * the bench's own baseline app (scripts/bench_support/bare_app.py) under the same
    uvicorn settings as ``songforge serve``: a bare JSON endpoint, and an endpoint
    that makes one durable INSERT per request on the same database (it exists only
    in the bench);
  * ``songforge serve --workers 0`` whose catalog has models on an instant engine
    (scripts/bench_support/instant_engine.py), plus a ``songforge worker`` per model;
then drives each endpoint from a separate load-generator process (wrk with a Lua
script, or bench_support/loadgen.py when wrk is missing) for a fixed time:

  bare GET        GET /bare (async def) and GET /bare-sync (def: pays the threadpool hop)
  durable INSERT  POST /durable-insert (the create body, one committed row)
  poll            GET /api/v1/tasks/{id}, cycling over completed tasks
  poll, queued    the same over queued tasks (queue position and ETA)
  create          POST /api/v1/audio/music

With N API processes there are N baseline apps and N songforge servers on their
own ports, and the load generator spreads its connections over them.

Prints a table per configuration with the ratios to the bare endpoint and to the
durable INSERT, and writes them as one section of docs/benchmarks.md (unless
--no-write). Every wait is bounded.
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
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "scripts" / "bench_support"
DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "API: create and poll against a durable INSERT (issues 15.6, 16.6)"
HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MODEL = "bench-instant"
# A model whose one worker holds its first task, so the tasks behind it stay
# queued: polling them exercises queue position and ETA, as real clients see.
HELD_MODEL = "bench-held"
HELD_SECONDS = 900
CREATE_BODY = {"model": MODEL, "prompt": "benchmark", "bitrate": 32000, "sample_rate": 16000}
# The issues' goals: (baseline, fraction of its requests/s); create also p99 < 20 ms.
GOALS = {"create": ("durable", 0.5), "poll": ("bare", 0.7), "poll-queued": ("bare", 0.5)}
P99_GOALS_MS = {"create": 20.0}
ENDPOINTS = ("bare", "bare-sync", "durable", "poll", "poll-queued", "create")
START_TIMEOUT = 90.0
# A create phase queues thousands of tasks on the instant engine; the worker runs them
# before the next phase is timed (drain_created).
DRAIN_TIMEOUT = 600.0


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


def wrk_script(phase: Phase, ports: Sequence[int] = ()) -> str:
    """The wrk Lua script: method, headers, body, paths to cycle, JSON summary.

    With ``ports``, wrk's threads are spread over those ports on HOST, one server
    process each (wrk gives every thread its own connections).
    """
    lines = [f"wrk.method = {lua_string(phase.method)}"]
    if phase.body is not None:
        lines.append(f"wrk.body = {lua_string(phase.body)}")
    for name, value in phase.headers.items():
        lines.append(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}")
    if ports:
        listed = ", ".join(str(port) for port in ports)
        lines += [
            f"local ports = {{{listed}}}",
            "local threads = 0",
            "setup = function(thread)",
            "  threads = threads + 1",
            f"  thread.addr = wrk.lookup({lua_string(HOST)}, "
            "tostring(ports[((threads - 1) % #ports) + 1]))[1]",
            "end",
        ]
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


def round_ratios(
    rounds: Sequence[Sequence[Result]], name: str, baseline: str = "bare"
) -> list[float]:
    ratios = []
    for results in rounds:
        by_name = {r.name: r for r in results}
        if name in by_name and baseline in by_name and by_name[baseline].rps > 0:
            ratios.append(by_name[name].rps / by_name[baseline].rps)
    return ratios


def _ratio(result: Result, baseline: Result | None) -> float | None:
    return result.rps / baseline.rps if baseline is not None and baseline.rps > 0 else None


def goal_text(result: Result, by_name: dict[str, Result]) -> str:
    if result.name == "bare":
        return "baseline"
    if result.name == "durable":
        return "baseline (create)"
    goal = GOALS.get(result.name)
    if goal is None:
        return ""
    ratio = _ratio(result, by_name.get(goal[0]))
    if ratio is None:
        return ""
    met = ratio >= goal[1]
    text = f"≥ {goal[1]:.0%} of {'durable INSERT' if goal[0] == 'durable' else 'bare'}"
    p99_goal = P99_GOALS_MS.get(result.name)
    if p99_goal is not None:
        text += f", p99 < {p99_goal:g} ms"
        met = met and result.p99_ms < p99_goal
    return f"{text}: {'met' if met else 'NOT met'}"


def render_table(results: Sequence[Result]) -> str:
    by_name = {r.name: r for r in results}
    rows = [
        "| endpoint | requests/s | p50 ms | p99 ms | errors | vs bare | vs durable INSERT | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ratios = [_ratio(r, by_name.get("bare")), _ratio(r, by_name.get("durable"))]
        texts = [f"{x:.0%}" if x is not None else "-" for x in ratios]
        rows.append(
            f"| {r.label} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} "
            f"| {texts[0]} | {texts[1]} | {goal_text(r, by_name)} |"
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


def songforge_env(data_dir: Path, database_url: str) -> dict[str, str]:
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
            "SONGFORGE_DATABASE_URL": database_url,
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


def wait_models_live(base_url: str, key: str, models: Sequence[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    auth = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            answer = httpx.get(f"{base_url}/api/v1/models", headers=auth, timeout=5.0)
            listed = json.dumps(answer.json())
            if answer.status_code == 200 and all(f'"{m}"' in listed for m in models):
                return
        time.sleep(0.2)
    raise RuntimeError(f"workers for {', '.join(models)} not live after {START_TIMEOUT:.0f} s")


def completed_task_ids(base_url: str, key: str, count: int, timeout: float = 60.0) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from songforge.client import Client

    with Client(base_url, key, max_retries=0) as client:
        ids = [client.create_music(**CREATE_BODY).task_id for _ in range(count)]  # type: ignore[arg-type]
        for task_id in ids:
            task = client.wait(task_id, poll_interval=0.05, timeout=timeout)
            if not task.is_completed:
                raise RuntimeError(f"warm-up task {task_id} ended {task.status}: {task.error}")
    return ids


def drain_created(base_url: str, key: str) -> float:
    """Wait until the worker has run every task a create phase queued; the seconds it took.

    One more task of the same model and priority is claimed after all of them (the
    queue is first in, first out), so its completion means the backlog is gone. Without
    this the next round's endpoints shared the cores with a worker running thousands of
    tasks: session 10 saw the queued poll fall from 64 % to 21 % of bare over three
    rounds (PostgreSQL, 2 API processes).
    """
    start = time.monotonic()
    completed_task_ids(base_url, key, 1, timeout=DRAIN_TIMEOUT)
    return time.monotonic() - start


def vacuum_if_autovacuum_off(database_url: str) -> float | None:
    """On a PostgreSQL server whose autovacuum is off, what it would have done after a
    drain: VACUUM (ANALYZE) the bench's own database; the seconds it took (None: not
    PostgreSQL, or the server vacuums by itself).

    A drain leaves every task it ran as 4-5 dead row versions and as many dead index
    entries of the queue's index. A default server's autovacuum removes them within a
    minute; this machine's shared server has autovacuum off (a setting the bench must
    not change), and the next round's queued polls and creates ran at a third to a
    half of round 1's (sessions 9-12: "round 2 disturbed") on ~35,000 dead rows.
    """
    if not database_url.startswith("postgresql"):
        return None
    import sqlalchemy as sa

    engine = sa.create_engine(
        database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as conn:
            if conn.exec_driver_sql("SHOW autovacuum").scalar_one() == "on":
                return None
            start = time.monotonic()
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            return time.monotonic() - start
    finally:
        engine.dispose()


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


def queue_backlog(base_url: str, key: str, count: int) -> None:
    """``count`` more tasks of the held model, behind the queued ones: the account's
    backlog stays that deep while the endpoints are measured."""
    from songforge.client import Client

    body = {**CREATE_BODY, "model": HELD_MODEL}
    with Client(base_url, key, max_retries=0) as client:
        for _ in range(count):
            client.create_music(**body)  # type: ignore[arg-type]


def run_load(
    phase: Phase,
    ports: Sequence[int],
    tool: str,
    args: argparse.Namespace,
    load_cpus: Sequence[int],
    workdir: Path,
) -> Result:
    base_url = f"http://{HOST}:{ports[0]}"
    # Every phase must answer 2xx on every server before it is timed: a 401 or 429
    # measured at full speed would be a fast number about nothing.
    for port in ports:
        check = httpx.request(
            phase.method,
            f"http://{HOST}:{port}{phase.paths[0]}",
            headers=phase.headers,
            content=phase.body,
            timeout=10.0,
        )
        if check.status_code >= 300:
            raise RuntimeError(f"{phase.name}: {check.status_code} {check.text[:300]}")
    if tool == "wrk":
        script = workdir / f"{phase.name}.lua"
        script.write_text(wrk_script(phase, ports if len(ports) > 1 else ()))
        # At least a thread per server: each wrk thread talks to one of them.
        threads = max(len(ports), min(len(load_cpus), args.connections))
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
        if len(ports) > 1:
            raise RuntimeError("several API processes need wrk (the fallback talks to one)")
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


@dataclass(frozen=True)
class Config:
    database: str  # "sqlite" or "postgres"
    processes: int

    @property
    def title(self) -> str:
        database = "SQLite" if self.database == "sqlite" else "PostgreSQL"
        plural = "es" if self.processes != 1 else ""
        return f"{database}, {self.processes} API process{plural}"


@contextlib.contextmanager
def fresh_database(kind: str, data_dir: Path, admin_url: str) -> Iterator[str]:
    """A database of its own for one configuration: a file, or a PostgreSQL database
    made here and dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{data_dir / 'songforge.db'}"
        return
    import sqlalchemy as sa

    name = f"songforge_bench_api_{os.getpid()}_{int(time.time())}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.engine.make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run_config(
    config: Config, args: argparse.Namespace, tool: str, workdir: Path
) -> list[list[Result]]:
    server_cpus, worker_cpus, load_cpus = cpu_plan(sorted(os.sched_getaffinity(0)))
    if config.processes > 1:
        # Several API processes share the machine's cores; pinning them all to one
        # would measure nothing.
        server_cpus = sorted(os.sched_getaffinity(0))
    data_dir = workdir / "data"
    data_dir.mkdir()
    rounds: list[list[Result]] = []
    with fresh_database(config.database, data_dir, args.admin_url) as database_url:
        env = songforge_env(data_dir, database_url)
        key = make_key(env)
        bare_ports = [free_port() for _ in range(config.processes)]
        api_ports = [free_port() for _ in range(config.processes)]
        worker_cmd = [sys.executable, "-m", "songforge.cli", "worker", "--models", MODEL]
        held_cmd = [sys.executable, "-m", "songforge.cli", "worker", "--models", HELD_MODEL]
        auth = {"Authorization": f"Bearer {key}"}
        with contextlib.ExitStack() as stack:
            for index, port in enumerate(bare_ports):
                bare_cmd = [sys.executable, str(SUPPORT / "bare_app.py"), "--port", str(port)]
                bare_cmd += ["--database-url", database_url]
                log = workdir / f"bare{index}.log"
                process = stack.enter_context(
                    started(pinned(bare_cmd, server_cpus, args.pin), env, log)
                )
                wait_http(f"http://{HOST}:{port}/bare", process, log)
            for index, port in enumerate(api_ports):
                api_cmd = [sys.executable, "-m", "songforge.cli", "serve", "--host", HOST]
                api_cmd += ["--port", str(port), "--workers", "0"]
                log = workdir / f"api{index}.log"
                process = stack.enter_context(
                    started(pinned(api_cmd, server_cpus, args.pin), env, log)
                )
                # One after the other (make_key migrated the database already).
                wait_http(f"http://{HOST}:{port}/healthz", process, log)
            stack.enter_context(
                started(pinned(worker_cmd, worker_cpus, args.pin), env, workdir / "worker.log")
            )
            # Killed outright: a graceful stop would wait for the task it holds.
            stack.enter_context(
                started(
                    pinned(held_cmd, worker_cpus, args.pin),
                    env,
                    workdir / "held.log",
                    signal.SIGKILL,
                )
            )
            api_url = f"http://{HOST}:{api_ports[0]}"
            wait_models_live(api_url, key, (MODEL, HELD_MODEL))
            poll_ids = completed_task_ids(api_url, key, 16)
            queued_ids = queued_task_ids(api_url, key, 16)
            queue_backlog(api_url, key, args.backlog)
            body = json.dumps(CREATE_BODY)
            json_type = {"Content-Type": "application/json"}
            phases = [
                (bare_ports, Phase("bare", "bare GET (async def)", "GET", ["/bare"], {})),
                (bare_ports, Phase("bare-sync", "bare GET (def)", "GET", ["/bare-sync"], {})),
                (
                    bare_ports,
                    Phase(
                        "durable",
                        "durable INSERT POST /durable-insert",
                        "POST",
                        ["/durable-insert"],
                        json_type,
                        body,
                    ),
                ),
                (
                    api_ports,
                    Phase(
                        "poll",
                        "poll GET /api/v1/tasks/{id}, finished",
                        "GET",
                        [f"/api/v1/tasks/{i}" for i in poll_ids],
                        auth,
                    ),
                ),
                (
                    api_ports,
                    Phase(
                        "poll-queued",
                        "poll GET /api/v1/tasks/{id}, queued",
                        "GET",
                        [f"/api/v1/tasks/{i}" for i in queued_ids],
                        auth,
                    ),
                ),
                (
                    api_ports,
                    Phase(
                        "create",
                        "create POST /api/v1/audio/music",
                        "POST",
                        ["/api/v1/audio/music"],
                        {**auth, **json_type},
                        body,
                    ),
                ),
            ]
            # Rounds interleave the endpoints, so a neighbour's load on a shared
            # machine lands on all of them alike instead of on one.
            if args.endpoints is not None:
                phases = [(ports, phase) for ports, phase in phases if phase.name in args.endpoints]
            for round_no in range(1, args.rounds + 1):
                results: list[Result] = []
                for ports, phase in phases:
                    result = run_load(phase, ports, tool, args, load_cpus, workdir)
                    print(
                        f"{config.title}: round {round_no} {phase.name:11s} "
                        f"{result.rps:9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                        file=sys.stderr,
                    )
                    results.append(result)
                    # After the last round the config's servers and worker are stopped.
                    if phase.name == "create" and round_no < args.rounds:
                        drained = drain_created(api_url, key)
                        print(
                            f"{config.title}: the created tasks ran in {drained:.1f} s",
                            file=sys.stderr,
                        )
                        vacuumed = vacuum_if_autovacuum_off(database_url)
                        if vacuumed is not None:
                            print(
                                f"{config.title}: the server's autovacuum is off; "
                                f"VACUUM (ANALYZE) took {vacuumed:.1f} s",
                                file=sys.stderr,
                            )
                    time.sleep(0.5)
                rounds.append(results)
    return rounds


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


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def config_report(config: Config, rounds: Sequence[Sequence[Result]], loads: str) -> str:
    per_round = "; ".join(
        f"{name} " + ", ".join(f"{r:.0%}" for r in round_ratios(rounds, name, baseline))
        for name, (baseline, _) in GOALS.items()
    )
    return "\n".join(
        [
            f"### {config.title}",
            "",
            render_table(combine(rounds)),
            "",
            f"Load average before / after: {loads}. Ratio to its goal's baseline, per round: "
            f"{per_round}.",
        ]
    )


def report(sections: Sequence[str], args: argparse.Namespace, tool: str, started_at: str) -> str:
    command = "scripts/bench_api " + " ".join(args.argv) if args.argv else "scripts/bench_api"
    return "\n".join(
        [
            f"Measured {started_at} with `{command}`: {args.connections} connections, "
            f"{args.rounds} round{'s' if args.rounds != 1 else ''} over the endpoints in turn, "
            f"each {args.warmup:g} s warm-up then {args.duration:g} s timed, on loopback.",
            "",
            f"- Machine: {versions(tool)}.",
            "- Baselines, in the same run on the same database: `bare`, a FastAPI app's "
            "trivial JSON endpoint; `durable INSERT`, the same app taking the create body and "
            "committing it as one row (scripts/bench_support/bare_app.py: SQLite through the "
            "stdlib driver inline with songforge's PRAGMAs, PostgreSQL through psycopg's async "
            "driver in autocommit; it exists only in the bench). Same uvicorn settings as "
            "`songforge serve`.",
            "- songforge: `songforge serve --workers 0` (N of them on their own ports for N "
            "API processes; wrk spreads its threads over them) plus a `songforge worker` per "
            "model on an instant engine (scripts/bench_support/instant_engine.py), rate and "
            "concurrency limits lifted, one account and key. Poll cycles over 16 completed "
            "tasks; poll, queued over 16 tasks of a model whose worker holds the first one; "
            "create is timed last in each round, and the worker runs every task it added "
            "before the next round starts.",
            "- Goals (issue 16.6): create ≥ 50 % of the durable INSERT's requests/s with "
            "p99 < 20 ms; poll of a finished task ≥ 70 % and of a queued task ≥ 50 % of the "
            "bare endpoint. Compare ratios within one configuration (one run); absolute "
            "numbers move with the machine's load.",
            "",
            *[part for section in sections for part in (section, "")],
        ]
    )


def parse_list(text: str, allowed: Sequence[str]) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    for value in values:
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(allowed)}")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="timed seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the endpoints")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--databases",
        type=lambda text: parse_list(text, ("sqlite", "postgres")),
        default=["sqlite"],
        help="comma-separated: sqlite, postgres",
    )
    parser.add_argument(
        "--api-processes",
        type=lambda text: [int(v) for v in parse_list(text, ("1", "2", "3", "4"))],
        default=[1],
        help="comma-separated numbers of API processes, e.g. 1,2",
    )
    parser.add_argument("--admin-url", default=PG_ADMIN_URL, help="PostgreSQL to make DBs on")
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
        help="print the tables only; leave docs/benchmarks.md alone",
    )
    parser.add_argument(
        "--endpoints",
        type=lambda text: parse_list(text, ENDPOINTS),
        help="comma-separated subset of: " + ", ".join(ENDPOINTS) + " (default: all)",
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=0,
        help="tasks the account keeps queued (of the held model) while the endpoints run",
    )
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--section", default=SECTION, help="heading of the section written")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if not 0 < args.duration <= 300 or not 0 <= args.warmup <= 60:
        parser.error("--duration must be in (0, 300] and --warmup in [0, 60]")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1 to 20")
    if not 1 <= args.connections <= 1024:
        parser.error("--connections must be 1 to 1024")
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    if tool == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk), or use --tool httpx")

    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections: list[str] = []
    everything: dict[str, Any] = {}
    for database in args.databases:
        for processes in args.api_processes:
            config = Config(database, processes)
            before = loadavg()
            with tempfile.TemporaryDirectory(prefix="songforge-bench-") as tmp:
                rounds = run_config(config, args, tool, Path(tmp))
            section = config_report(config, rounds, f"{before} / {loadavg()}")
            print(section)
            sections.append(section)
            everything[config.title] = [[asdict(r) | {"rps": r.rps} for r in one] for one in rounds]
    text = report(sections, args, tool, started_at)
    if args.json is not None:
        args.json.write_text(json.dumps(everything, indent=2))
    if args.write:
        existing = args.doc.read_text() if args.doc.exists() else ""
        args.doc.parent.mkdir(parents=True, exist_ok=True)
        args.doc.write_text(replace_section(existing, args.section, text))
        print(f"\nwrote the {args.section!r} section of {args.doc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
