"""worker/relay_audio.py: the audio processes do not outlive a worker killed outright."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

# A stand-in for a relay worker: starts the pool, says its processes' ids, waits.
WORKER = """
import sys, time
from songforge.worker.relay_audio import AudioPool
from songforge.audio.mp3 import lame_version

pool = AudioPool(workers=2)
pool.start()
pool._executor().submit(lame_version).result(60)
while len(pool.pids()) < 2:
    time.sleep(0.05)
print(" ".join(str(pid) for pid in pool.pids()), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def test_the_audio_processes_end_when_their_worker_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WORKER], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    ) as worker:
        try:
            assert worker.stdout is not None
            pids = [int(pid) for pid in worker.stdout.readline().split()]
            assert len(pids) == 2 and all(_alive(pid) for pid in pids)
            worker.send_signal(signal.SIGKILL)  # no shutdown: as the OOM killer does it
            worker.wait(10)
            deadline = time.monotonic() + 15
            while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(_alive(pid) for pid in pids)
        finally:
            worker.kill()
