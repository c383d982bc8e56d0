"""The benchmark's baseline: a bare FastAPI app with one trivial JSON endpoint,
served by uvicorn with the same settings ``songforge serve`` uses."""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": {"status": "ok"}}


@app.get("/bare-sync")
def bare_sync() -> dict[str, Any]:
    # A plain def runs in the threadpool, as songforge's poll route does.
    return {"code": 200, "message": "success", "data": {"status": "ok"}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # Mirrors songforge.cli.cmd_serve's uvicorn.run call (log level only changes start-up lines).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
