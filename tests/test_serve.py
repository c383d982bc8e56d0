"""`songforge serve` as a user runs it: a subprocess that migrates, bootstraps, prints a
key and a curl, starts worker processes and generates over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


# What a user's shell has: not this checkout's .venv/bin (scripts/run does not activate it).
USER_PATH = "/usr/local/bin:/usr/bin:/bin"


def serve_env(tmp_path: Path, catalog: str | None, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_DATA_DIR": str(tmp_path / "data"),
        "SONGFORGE_PORT": str(port),
        "SONGFORGE_HEARTBEAT_SECONDS": "0.5",
    }
    if catalog is not None:
        path = tmp_path / "catalog.toml"
        path.write_text(catalog)
        env["SONGFORGE_CATALOG_PATH"] = str(path)
    return env


def run_serve(
    tmp_path: Path, catalog: str | None, log_name: str = "serve.log"
) -> tuple[subprocess.Popen[str], str, Path]:
    port = free_port()
    env = serve_env(tmp_path, catalog, port)
    log = tmp_path / log_name
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "songforge.cli", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return process, f"http://127.0.0.1:{port}", log


def wait_ready(url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready:\n{log.read_text()[-4000:]}")


def generate_with_printed_curl(url: str, log: Path, timeout: float) -> dict[str, object]:
    text = log.read_text()
    key = re.search(r"Bearer (aio_[A-Za-z0-9_-]+)", text)
    body = re.search(r"-d '(\{.*?\})'", text, re.DOTALL)
    assert key and body, text
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    created = httpx.post(
        f"{url}/api/v1/audio/music", json=json.loads(body.group(1)), headers=headers
    )
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = httpx.get(f"{url}/api/v1/tasks/{task_id}", headers=headers).json()["data"]
        if task["status"] != "IN_PROGRESS":
            assert task["status"] == "completed", task
            audio = httpx.get(task["output"]["audio_url"])
            assert audio.status_code == 200 and len(audio.content) == task["output"]["size_bytes"]
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"song not finished in {timeout}s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> None:
    process.send_signal(signum)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def worker_pids(data_dir: Path) -> list[int]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'songforge.db'}")
    with engine.connect() as conn:
        pids = [int(pid) for (pid,) in conn.execute(sa.text("SELECT pid FROM workers"))]
    engine.dispose()
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_bootstraps_and_generates_with_worker_processes(tmp_path: Path) -> None:
    catalog = (
        '[models.minimax-music]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
        'name = "MiniMax Music"\n'
    )
    process, url, log = run_serve(tmp_path, catalog)
    try:
        wait_ready(url, log, 60)
        task = generate_with_printed_curl(url, log, 60)
        assert task["output"]["engine"] == "test-tone/1"  # type: ignore[index]
        # The worker ran in a child process, not in the server's.
        workers = httpx.get(f"{url}/readyz").json()["models"]["minimax-music"]["live_workers"]
        assert workers == 1
    finally:
        stop(process, signal.SIGTERM)
    assert process.returncode is not None
    # Its worker processes go with it, whatever way it ended.
    pids = worker_pids(tmp_path / "data")
    assert pids and all(pid != process.pid for pid in pids)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)


@pytest.mark.slow
def test_serve_out_of_the_box_makes_a_real_song(tmp_path: Path) -> None:
    process, url, log = run_serve(tmp_path, None)
    try:
        wait_ready(url, log, 120)
        task = generate_with_printed_curl(url, log, 300)
        assert str(task["output"]["engine"]).startswith("songforge-composer")  # type: ignore[index]
        assert task["output"]["duration_seconds"] > 10  # type: ignore[index]
    finally:
        stop(process)


SLOW_START_CATALOG = (
    "[models.minimax-music]\\n"
    'engine = "tests.fakes:tone_engine"\\nprice = 30\\nname = "MiniMax Music"\\n'
    "options = { load_seconds = 4 }\\n"
    "[models.never-loads]\\n"
    'engine = "tests.fakes:unavailable_engine"\\nprice = 20\\nname = "Never loads"\\n'
).replace("\\n", "\n")


def wait_printed(url: str, log: Path, marker: str, timeout: float) -> str:
    """The server's output once it printed ``marker`` and answers HTTP (workers or not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if marker in text:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    return text
            except httpx.HTTPError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"no {marker!r} from the server:\n{log.read_text()[-4000:]}")


def printed_commands(text: str) -> list[str]:
    """The commands the server's text tells the user to type (in backticks)."""
    return re.findall(r"`([^`]*songforge[^`]*)`", text)


def run_as_typed(
    command: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> str:
    """Run a printed command in a user's shell (their PATH, not ours); its stdout."""
    done = subprocess.run(
        ["bash", "-c", command],
        env={**env, "PATH": USER_PATH},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        # No controlling terminal: a password prompt reads standard input.
        start_new_session=True,
        check=False,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def printed_curl(text: str) -> str:
    start = text.index("curl -s -X POST")
    return text[start : text.index("}'", start) + 2]


def test_printed_curl_pasted_at_once_makes_a_song_while_workers_start(tmp_path: Path) -> None:
    # Issue 9.11: the worker loads for 4 s after the curl is printed; the create is
    # queued (not 503), its ETA counts the start-up, and the song is made.
    process, url, log = run_serve(tmp_path, SLOW_START_CATALOG)
    env = serve_env(tmp_path, SLOW_START_CATALOG, 0)
    try:
        text = wait_printed(url, log, "Generate a song:", 60)
        created = json.loads(run_as_typed(printed_curl(text), env))
        assert created.get("code") == 200, created
        key = re.search(r"Bearer (aio_[A-Za-z0-9_-]+)", text)
        assert key
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        task_id = created["data"]["task_id"]
        early = httpx.get(f"{url}/api/v1/tasks/{task_id}", headers=headers).json()["data"]
        assert httpx.get(f"{url}/readyz").status_code == 503, "the worker was up already"
        assert early["stage"] == "queued" and early["eta_seconds"] is not None, early
        # A model this server also tries to start, but whose engine cannot run here:
        # accepted while starting, then failed with its credits released.
        doomed = httpx.post(
            f"{url}/api/v1/audio/music",
            json={"model": "never-loads", "prompt": "x"},
            headers=headers,
        )
        assert doomed.status_code == 200, doomed.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            task = httpx.get(f"{url}/api/v1/tasks/{task_id}", headers=headers).json()["data"]
            if task["status"] != "IN_PROGRESS":
                break
            time.sleep(0.2)
        assert task["status"] == "completed", task
        assert httpx.get(task["output"]["audio_url"]).status_code == 200
        doomed_id = doomed.json()["data"]["task_id"]
        failed = httpx.get(f"{url}/api/v1/tasks/{doomed_id}", headers=headers).json()["data"]
        deadline = time.monotonic() + 10
        while failed["status"] == "IN_PROGRESS" and time.monotonic() < deadline:
            time.sleep(0.2)
            failed = httpx.get(f"{url}/api/v1/tasks/{doomed_id}", headers=headers).json()["data"]
        assert failed["status"] == "failed", failed
        assert failed["error"]["type"] == "model_unavailable"
        assert failed["credits"] == {"price": 20, "held": 0, "charged": 0, "refunded": 20}
        # Start-up over, never served: refused as before.
        refused = httpx.post(
            f"{url}/api/v1/audio/music",
            json={"model": "never-loads", "prompt": "x"},
            headers=headers,
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["type"] == "model_unavailable"
    finally:
        stop(process, signal.SIGTERM)


def test_every_printed_command_works_as_typed(tmp_path: Path) -> None:
    # Issue 9.3: the first run's and the second run's commands, in a user's shell.
    catalog = (
        '[models.minimax-music]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
        'name = "MiniMax Music"\n'
    )
    process, url, log = run_serve(tmp_path, catalog)
    env = serve_env(tmp_path, catalog, 0)
    try:
        first = wait_printed(url, log, "Lost it?", 60)
        commands = printed_commands(first)
        assert len(commands) == 2, commands
        keys_create, set_password = commands
        assert keys_create.endswith("keys create --account admin@localhost")
        assert set_password.endswith("accounts set-password admin@localhost")
        new_key = run_as_typed(keys_create, env).strip()
        assert (
            httpx.get(
                f"{url}/api/v1/account", headers={"Authorization": f"Bearer {new_key}"}
            ).status_code
            == 200
        )
        password = "a new long passphrase 9"
        said = run_as_typed(set_password, env, stdin=f"{password}\n{password}\n")
        assert "password set for admin@localhost" in said
    finally:
        stop(process, signal.SIGTERM)
    process, url, log = run_serve(tmp_path, catalog, "serve-again.log")
    try:
        again = wait_printed(url, log, "Need a key?", 60)
        assert "(data in data)" not in again
        assert f"(data directory {(tmp_path / 'data').resolve()})" in again
        (hint,) = printed_commands(again)
        assert hint.endswith("keys create --account admin@localhost")
        another_key = run_as_typed(hint, env).strip()
        assert another_key.startswith("aio_") and another_key != new_key
    finally:
        stop(process, signal.SIGTERM)


# A command line the README tells a user to type: songforge (by any path) and a subcommand.
SONGFORGE_COMMAND = re.compile(r"^(?:[A-Z_]+=\S+ )*\S*songforge [a-z]")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    found: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if SONGFORGE_COMMAND.match(line) or line.startswith(("export ", "./scripts/")):
                found.append(line)
    found += [span for span in re.findall(r"`([^`\n]+)`", text) if SONGFORGE_COMMAND.match(span)]
    return found


@pytest.mark.slow
def test_readme_commands_work_as_typed(tmp_path: Path) -> None:
    # Issue 9.3: run from a checkout (its .venv) in a user's shell, against a real server.
    catalog = (
        '[models.minimax-music]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
        'name = "MiniMax Music"\n'
    )
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(ROOT / ".venv")
    process, url, log = run_serve(tmp_path, catalog)
    env = serve_env(tmp_path, catalog, 0)
    exported: list[str] = []
    ran: list[str] = []
    try:
        text = wait_printed(url, log, "Lost it?", 60)
        key = re.search(r"Bearer (aio_[A-Za-z0-9_-]+)", text)
        assert key
        wait_ready(url, log, 60)
        for command in readme_commands():
            typed = command.replace("EMAIL", "admin@localhost")
            if command.startswith("./scripts/"):
                # They install system packages: only check they exist and call what they say.
                script = ROOT / command.split()[0]
                assert script.is_file() and os.access(script, os.X_OK), command
            elif command.startswith("export "):
                exported.append(
                    typed.replace("http://127.0.0.1:8000", url).replace("aio_…", key.group(1))
                )
            elif " serve" in command or " worker " in command:
                port = free_port()
                output = (tmp_path / f"{len(ran)}.log").open("w")
                started = subprocess.Popen(
                    ["bash", "-c", typed],
                    env={**env, "PATH": USER_PATH, "SONGFORGE_PORT": str(port)},
                    cwd=checkout,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                output.close()
                try:
                    check_long_running(command, url, f"http://127.0.0.1:{port}", output.name)
                finally:
                    # The shell and what it started, as Ctrl-C in that terminal would.
                    os.killpg(started.pid, signal.SIGINT)
                    started.wait(20)
            else:
                run_as_typed("\n".join([*exported, typed]), env, cwd=checkout)
            ran.append(command)
    finally:
        stop(process, signal.SIGTERM)
    assert (checkout / "song.mp3").stat().st_size > 1000
    assert len(ran) >= 7, ran


def check_long_running(command: str, url: str, own_url: str, log: str) -> None:
    """`serve` answers on its port; a `worker` shows up as one more live worker."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if " serve" in command:
                if httpx.get(f"{own_url}/healthz").status_code == 200:
                    return
            else:
                ready = httpx.get(f"{url}/readyz").json()
                if ready["models"]["minimax-music"]["live_workers"] == 2:
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{command} did not come up:\n{Path(log).read_text()[-3000:]}")
