"""Run a fake upstream as its own process (for scripts/bench_remote):
``python -m tests.fakes_upstreams.serve minimax PORT --slow 10 --seconds 3``."""

from __future__ import annotations

import argparse

import uvicorn

from tests.fakes_upstreams.minimax import FakeMiniMax


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream", choices=["minimax"])
    parser.add_argument("port", type=int)
    parser.add_argument("--slow", type=float, default=10.0, help="seconds per song")
    parser.add_argument("--seconds", type=float, default=3.0, help="song length")
    parser.add_argument("--key", default="bench-key")
    args = parser.parse_args()
    fake = FakeMiniMax(api_key=args.key, song_seconds=args.seconds)
    fake.generation.always = f"slow:{args.slow}"
    fake.url = f"http://127.0.0.1:{args.port}"
    uvicorn.run(fake.app(), host="127.0.0.1", port=args.port, log_level="warning", backlog=2048)


if __name__ == "__main__":
    main()
