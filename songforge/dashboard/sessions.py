"""Web sessions: a random token in the cookie, only its sha256 in ``web_sessions``."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from songforge.db.tables import web_sessions
from songforge.db.types import utcnow

SESSION_LIFETIME = timedelta(days=14)
# last_seen_at is written at most this often so page views stay reads.
TOUCH_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class WebSession:
    id: str
    account_id: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def session_id_for(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: Connection, account_id: str) -> tuple[str, WebSession]:
    """A brand-new session: the cookie token (returned once) and the stored record."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session = WebSession(
        id=session_id_for(token),
        account_id=account_id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_LIFETIME,
    )
    conn.execute(
        insert(web_sessions).values(
            id=session.id,
            account_id=session.account_id,
            csrf_token=session.csrf_token,
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
        )
    )
    return token, session


def load_session(conn: Connection, token: str) -> WebSession | None:
    if not token or len(token) > 128:
        return None
    row = conn.execute(
        select(web_sessions).where(web_sessions.c.id == session_id_for(token))
    ).first()
    if row is None or row.expires_at <= utcnow():
        return None
    return WebSession(
        id=row.id,
        account_id=row.account_id,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )


def needs_touch(session: WebSession) -> bool:
    return utcnow() - session.last_seen_at >= TOUCH_RESOLUTION


def touch_session(conn: Connection, session: WebSession) -> None:
    conn.execute(
        update(web_sessions).where(web_sessions.c.id == session.id).values(last_seen_at=utcnow())
    )


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.id == session_id_for(token)))


def end_all_sessions(conn: Connection, account_id: str) -> int:
    result = conn.execute(delete(web_sessions).where(web_sessions.c.account_id == account_id))
    return int(result.rowcount)


def purge_expired(conn: Connection) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= utcnow()))
