"""ETA honesty on the real composer engine (see scripts/bench_eta)."""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from songforge.app import create_app
from songforge.context import AppContext
from songforge.engines.composer import create_engine
from songforge.services.accounts import create_account
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits
from songforge.settings import Settings
from songforge.worker.runner import Worker

WARM_UP_LYRICS = """[Verse]
Paper boats are sailing down the gutter
Rain is drumming softly on the roof
[Chorus]
Let it pour, let it pour
We have never been so sure
"""
LONG_LYRICS = """[Verse 1]
Morning light is breaking through the window
Coffee on the table growing cold
Every little word we never said out loud
Is written on the walls of this old home
[Pre-Chorus]
And I can feel it changing
Like the turning of the tide
[Chorus]
Hold on to the summer, hold on to the flame
Carry me through winter, call me by my name
We were young and reckless, running through the rain
Hold on to the summer, we will meet again
[Verse 2]
Photographs are fading in the hallway
Letters in a box beneath the stairs
All the roads we travelled on the weekend
Lead me back to you and all our cares
[Chorus]
Hold on to the summer, hold on to the flame
Carry me through winter, call me by my name
"""


def make_song(client: httpx.Client, prompt: str, lyrics: str, seed: int) -> dict[str, Any]:
    body = {"model": "minimax-music", "prompt": prompt, "lyrics": lyrics, "seed": seed}
    task_id = client.post("/api/v1/audio/music", json=body).json()["data"]["task_id"]
    seen: list[tuple[float, int | None, str, int]] = []
    while True:
        data = client.get(f"/api/v1/tasks/{task_id}").json()["data"]
        now = time.monotonic()
        if data["status"] != "IN_PROGRESS":
            break
        if data["stage"] != "queued":
            seen.append((now, data["eta_seconds"], data["stage"], data["progress"]))
        time.sleep(0.5)
    start = seen[0][0]
    rows = [
        {"t": round(t - start, 1), "eta": eta, "real": round(now - t, 1), "stage": s, "progress": p}
        for t, eta, s, p in seen
    ]
    second_half = [r for r in rows if r["t"] >= (now - start) / 2 and r["real"] > 0]
    errors = [(r["eta"] - r["real"]) / r["real"] for r in second_half if r["eta"] is not None]
    # eta_seconds is whole seconds: allow the rounding's one second on top of 30 %.
    outside = [
        r
        for r in second_half
        if r["eta"] is None or abs(r["eta"] - r["real"]) > 0.3 * r["real"] + 1.0
    ]
    return {
        "status": data["status"],
        "audio_seconds": (data["output"] or {}).get("duration_seconds"),
        "run_seconds": round(now - start, 1),
        "worst_under": round(min(errors), 3) if errors else None,
        "worst_over": round(max(errors), 3) if errors else None,
        "polls_in_second_half": len(second_half),
        "outside_30_percent_plus_1s": len(outside),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="bench-out/eta")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            database_url=f"sqlite:///{tmp}/bench.db",
            secret_key="bench-eta",
            workers=0,
            rate_limit_per_minute=100_000,
        )
        context = AppContext.from_settings(settings)
        app = create_app(settings, context=context)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        with context.db.write() as conn:
            account = create_account(conn, email="bench@example.com")
            grant_credits(conn, account.id, 1000, provider="operator")
            key = create_key(conn, account.id).secret
        engine = create_engine({})
        engine.load()
        worker = Worker(context.db, context.storage, {"minimax-music": engine}, settings)
        stop = threading.Event()
        threading.Thread(target=worker.run, args=(stop,), daemon=True).start()
        headers = {"Authorization": f"Bearer {key}"}
        results = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            time.sleep(2 * settings.heartbeat_seconds)  # the worker registers
            prompt = "Upbeat pop song, BPM: 96, female vocals"
            results["warm_up"] = make_song(client, "acoustic folk, 90 BPM", WARM_UP_LYRICS, 2)
            results["long"] = make_song(client, prompt, LONG_LYRICS, 3)
        stop.set()
        server.should_exit = True
    (out / "eta.json").write_text(json.dumps(results, indent=1))
    for name, result in results.items():
        print(
            f"{name}: {result['audio_seconds']} s song in {result['run_seconds']} s; "
            f"second half: ETA from {result['worst_under']:+.0%} to {result['worst_over']:+.0%} "
            f"of the real remaining time; {result['outside_30_percent_plus_1s']} of "
            f"{result['polls_in_second_half']} polls outside 30 % + 1 s"
        )
    print("t  eta  real  stage  progress (long song)")
    for row in results["long"]["rows"][::4]:
        print(row["t"], row["eta"], row["real"], row["stage"], row["progress"])


if __name__ == "__main__":
    main()
