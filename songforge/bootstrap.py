"""First run: an admin account with credits and one API key, and how to use it."""

from __future__ import annotations

from dataclasses import dataclass

from songforge.db.database import Database
from songforge.services.accounts import count_accounts, create_account
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits

ADMIN_EMAIL = "admin@localhost"

SEED_PROMPT = "An energetic electronic dance track with pulsing synths and driving bass"
SEED_LYRICS = "Feel the beat, move your feet, let the music take you higher"


@dataclass(frozen=True)
class Bootstrap:
    account_id: str
    api_key: str
    credits: int


def bootstrap_if_empty(db: Database, credits: int) -> Bootstrap | None:
    """Create the first account and key when the database has no account yet."""
    with db.write() as conn:
        if count_accounts(conn) > 0:
            return None
        account = create_account(conn, email=ADMIN_EMAIL, display_name="Admin", role="admin")
        if credits > 0:
            grant_credits(conn, account.id, credits, provider="operator", note="first-run credits")
        created = create_key(conn, account.id, name="first-run key")
    return Bootstrap(account_id=account.id, api_key=created.secret, credits=credits)


def quickstart_text(base_url: str, api_key: str) -> str:
    base = base_url.rstrip("/")
    return f"""\
API key (shown once; make more with `songforge keys create --account {ADMIN_EMAIL}`):

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
