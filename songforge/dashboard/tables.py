"""The dashboard's own table, on the project's one ``metadata`` so autogenerate sees it."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table

from songforge.db.tables import metadata
from songforge.db.types import UTCDateTime

web_sessions = Table(
    "web_sessions",
    metadata,
    # sha256 of the cookie's token: a database leak gives no usable session.
    Column("id", String(64), primary_key=True),
    Column("account_id", String(40), ForeignKey("accounts.id"), nullable=False, index=True),
    # Sent back in forms and the X-CSRF-Token header; useless without the cookie.
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
