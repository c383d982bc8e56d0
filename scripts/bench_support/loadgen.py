"""A fallback load generator for scripts/bench_api.py when ``wrk`` is missing:
closed-loop asyncio + httpx connections, run in its own process.

Slower than wrk (Python on the client side), so numbers taken with it are
marked as such in the report. Prints one ``BENCH_JSON {...}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

import httpx


async def run(args: argparse.Namespace) -> dict[str, float]:
    paths = [line.strip() for line in Path(args.paths_file).read_text().splitlines()]
    paths = [p for p in paths if p]
    body = Path(args.body_file).read_bytes() if args.body_file else None
    pairs = (h.split(":", 1) for h in args.header)
    headers = {name.strip(): value.strip() for name, value in pairs}
    cycle = itertools.cycle(paths)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    async with httpx.AsyncClient(base_url=args.url, limits=limits, timeout=10.0) as client:

        async def one_connection(stop_at: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await client.request(
                    args.method, next(cycle), content=body, headers=headers
                )
                if record:
                    latencies.append(time.perf_counter() - started)
                    if response.status_code >= 400:
                        errors += 1

        warm_until = time.perf_counter() + args.warmup
        await asyncio.gather(*(one_connection(warm_until, False) for _ in range(args.connections)))
        started = time.perf_counter()
        stop_at = started + args.duration
        await asyncio.gather(*(one_connection(stop_at, True) for _ in range(args.connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e6 if latencies else 0

    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        "p50_us": pct(0.50),
        "p99_us": pct(0.99),
        "status_errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--paths-file", required=True)
    parser.add_argument("--body-file")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    print("BENCH_JSON " + json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
