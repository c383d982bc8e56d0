"""CPU per request of the API's hot routes, in process, next to a bare FastAPI route.

Calls the ASGI app directly (no HTTP server, no load generator), one request after
another, so the figures are the application's own CPU per request, free of the
machine's other load: what the throughput ratios of scripts/bench_api.py are made
of, and a profile (``--profile finished|queued|create``) of where it goes.

    .venv/bin/python scripts/bench_request_cpu.py --database sqlite|postgres [--requests 3000]

Sets up a fresh database (SQLite in a temporary directory, or a new PostgreSQL
database that is dropped afterwards), one account and key, 16 finished tasks (a
worker thread on a test tone engine) and 16 queued ones (no worker left).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_api import fresh_database  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from songforge.app import create_app  # noqa: E402
from songforge.context import AppContext  # noqa: E402
from songforge.services.accounts import create_account  # noqa: E402
from songforge.services.keys import create_key  # noqa: E402
from songforge.services.orders import grant_credits  # noqa: E402
from songforge.worker.runner import Worker  # noqa: E402
from tests.conftest import PG_ADMIN_URL, make_settings  # noqa: E402
from tests.fakes import ToneEngine  # noqa: E402

MODEL = "minimax-music"
BODY = json.dumps(
    {"model": MODEL, "prompt": "benchmark", "bitrate": 32000, "sample_rate": 16000}
).encode()

bare = FastAPI()


@bare.get("/bare")
async def _bare() -> dict[str, bool]:
    return {"ok": True}


def scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5555),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call(
    app: Any, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(method, path, headers), receive, send)
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), payload


async def measure(args: argparse.Namespace, url: str, workdir: Path) -> None:
    settings = make_settings(
        workdir,
        url,
        rate_limit_per_minute=10**9,
        max_concurrent_tasks=10**9,
        # Creates go on being queued after the worker stopped (queued tasks are wanted).
        worker_grace_seconds=3600,
    )
    context = AppContext.from_settings(settings)
    app = create_app(settings, context=context)
    with context.db.write() as conn:
        account = create_account(conn, email="bench@example.com")
        grant_credits(conn, account.id, 10**8, provider="operator")
        key = create_key(conn, account.id).secret
    auth = {"authorization": f"Bearer {key}", "host": "127.0.0.1:8000"}
    post = {**auth, "content-type": "application/json"}

    async def create() -> str:
        status, answer = await call(app, "POST", "/api/v1/audio/music", post, BODY)
        assert status == 200, answer
        return str(json.loads(answer)["data"]["task_id"])

    async with app.router.lifespan_context(app):
        worker = Worker(context.db, context.storage, {MODEL: ToneEngine(seconds=0.5)}, settings)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        while not context.live_workers().get(MODEL):
            await asyncio.sleep(0.05)
        finished = [await create() for _ in range(16)]
        for task_id in finished:
            for _ in range(600):
                _, answer = await call(app, "GET", f"/api/v1/tasks/{task_id}", auth)
                if json.loads(answer)["data"]["status"] != "IN_PROGRESS":
                    break
                await asyncio.sleep(0.05)
        stop.set()
        thread.join(10)
        queued = [await create() for _ in range(16)]
        routes = {
            "bare GET /bare": (bare, "GET", ["/bare"], auth, b""),
            "poll, finished": (app, "GET", [f"/api/v1/tasks/{t}" for t in finished], auth, b""),
            "poll, queued": (app, "GET", [f"/api/v1/tasks/{t}" for t in queued], auth, b""),
            "create": (app, "POST", ["/api/v1/audio/music"], post, BODY),
        }
        print("| route | CPU µs per request, round 1 | round 2 | round 3 |")
        print("|---|---:|---:|---:|")
        for label, (target, method, paths, headers, body) in routes.items():
            figures = []
            for _ in range(3):
                count = args.requests if label != "create" else args.requests // 3
                started = time.process_time()
                for index in range(count):
                    status, answer = await call(
                        target, method, paths[index % len(paths)], headers, body
                    )
                    assert status == 200, answer[:300]
                figures.append(1e6 * (time.process_time() - started) / count)
            print(f"| {label} | " + " | ".join(f"{f:.0f}" for f in figures) + " |")
        if args.profile:
            which = {"finished": "poll, finished", "queued": "poll, queued", "create": "create"}
            target, method, paths, headers, body = routes[which[args.profile]]
            profile = cProfile.Profile(time.process_time)
            profile.enable()
            for index in range(2000):
                await call(target, method, paths[index % len(paths)], headers, body)
            profile.disable()
            pstats.Stats(profile).sort_stats(args.sort).print_stats(40)
    context.db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--profile", choices=["finished", "queued", "create"])
    parser.add_argument(
        "--sort", choices=["cumulative", "tottime"], default="cumulative", help="profile order"
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_database(args.database, Path(tmp), PG_ADMIN_URL) as url,
    ):
        print(f"{args.database}: {args.requests} requests per route and round, in process")
        asyncio.run(measure(args, url, Path(tmp)))


if __name__ == "__main__":
    main()
