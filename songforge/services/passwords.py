"""Password hashing (argon2id) and the password column of ``accounts``.

Here, below the dashboard, because the first run (``bootstrap.py``) sets the
admin's password whether or not the dashboard is installed; the dashboard's
sign-in, profile page and ``set-password`` command use the same rules.
"""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, select, update

from songforge.db.tables import accounts

PASSWORD_MIN = 10
PASSWORD_MAX = 1024

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as much time as a
# wrong password and timing does not tell which accounts exist.
_DUMMY_HASH = _hasher.hash("songforge-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_problem(password: str, email: str = "") -> str | None:
    """Why this password is refused, or None when it is acceptable."""
    if len(password) < PASSWORD_MIN:
        return f"Use at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"Use at most {PASSWORD_MAX} characters."
    if email and password.strip().lower() == email.strip().lower():
        return "The password must not be your email address."
    return None


def verify_password(stored_hash: str | None, password: str) -> bool:
    if stored_hash is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def stored_hash_for(conn: Connection, account_id: str) -> str | None:
    value = conn.execute(
        select(accounts.c.password_hash).where(accounts.c.id == account_id)
    ).scalar_one_or_none()
    return None if value is None else str(value)


def set_password(conn: Connection, account_id: str, password: str) -> None:
    conn.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(password_hash=hash_password(password))
    )
