"""First run: the admin account (credits, dashboard password, one API key) and how to use it."""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from songforge.db.database import Database
from songforge.services.accounts import count_accounts, create_account
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits
from songforge.services.passwords import hash_password

ADMIN_EMAIL = "admin@localhost"

SEED_PROMPT = "An energetic electronic dance track with pulsing synths and driving bass"
SEED_LYRICS = "Feel the beat, move your feet, let the music take you higher"


@dataclass(frozen=True)
class Bootstrap:
    account_id: str
    api_key: str
    credits: int
    # The admin's dashboard password: generated here, printed once, stored only as a hash.
    admin_password: str


def bootstrap_if_empty(db: Database, credits: int) -> Bootstrap | None:
    """Create the first account and key when the database has no account yet."""
    with db.read() as conn:
        if count_accounts(conn) > 0:
            return None
    # 18 random bytes: 24 URL-safe characters, easy to paste, infeasible to guess.
    password = secrets.token_urlsafe(18)
    password_hash = hash_password(password)
    with db.write() as conn:
        if count_accounts(conn) > 0:
            return None
        account = create_account(
            conn,
            email=ADMIN_EMAIL,
            display_name="Admin",
            role="admin",
            password_hash=password_hash,
        )
        if credits > 0:
            grant_credits(conn, account.id, credits, provider="operator", note="first-run credits")
        created = create_key(conn, account.id, name="first-run key")
    return Bootstrap(
        account_id=account.id, api_key=created.secret, credits=credits, admin_password=password
    )


def songforge_command() -> str:
    """How a user types the running ``songforge`` command in another terminal.

    ``scripts/install`` puts it in the checkout's ``.venv/bin``, which is not on a
    user's PATH (an activated venv is on this shell's PATH only), so the printed
    commands name it by its absolute path. The bare name is printed only when
    ``songforge`` on the PATH is this very program from outside the environment
    (a pipx or system install).
    """
    on_path = shutil.which("songforge")
    environment = Path(sys.prefix).resolve()
    for candidate in (Path(sys.argv[0]), Path(sys.executable).parent / "songforge"):
        if candidate.name != "songforge" or not candidate.is_file():
            continue
        if not os.access(candidate, os.X_OK):
            continue
        if (
            on_path is not None
            and Path(on_path).resolve() == candidate.resolve()
            and environment not in Path(on_path).absolute().parents
        ):
            return "songforge"
        return shlex.quote(str(candidate.absolute()))
    # Not installed as a script (run from a source tree): the module always works.
    return f"{shlex.quote(sys.executable)} -m songforge.cli"


def admin_sign_in_text(base_url: str, password: str, command: str = "songforge") -> str:
    """How to sign in to the dashboard as the first admin (printed once, on the first run).

    ``command`` is how the user types ``songforge`` here (see ``songforge_command``).
    """
    base = base_url.rstrip("/")
    return f"""\
Dashboard: sign in at {base}/signin as {ADMIN_EMAIL} with this password (shown once):

    {password}

Change it on your account page ({base}/dashboard/account). Lost it? Set a new one with
`{command} accounts set-password {ADMIN_EMAIL}`.
"""


def second_run_text(base_url: str, data_dir: Path, command: str = "songforge") -> str:
    """The line a later run prints instead of the first-run text."""
    return (
        f"\nsongforge on {base_url.rstrip('/')} (data directory {data_dir.resolve()}). "
        f"Need a key? `{command} keys create --account {ADMIN_EMAIL}`"
    )


def quickstart_text(base_url: str, api_key: str, command: str = "songforge") -> str:
    """The first-run key and a ready-to-paste curl; ``command`` as in ``admin_sign_in_text``."""
    base = base_url.rstrip("/")
    return f"""\
API key (shown once; make more with `{command} keys create --account {ADMIN_EMAIL}`):

    {api_key}

Generate a song:

curl -s -X POST {base}/api/v1/audio/music \\
  -H "Authorization: Bearer {api_key}" \\
  -H "Content-Type: application/json" \\
  -d '{{
    "model": "minimax-music",
    "prompt": "{SEED_PROMPT}",
    "lyrics": "{SEED_LYRICS}",
    "bitrate": 256000,
    "sample_rate": 44100
  }}'

Then poll with the task_id it returns until status is "completed", and download output.audio_url:

curl -s {base}/api/v1/tasks/TASK_ID -H "Authorization: Bearer {api_key}"
"""
