"""Opaque, unguessable identifiers and secrets."""

from __future__ import annotations

import hashlib
import secrets


def new_id(prefix: str, nbytes: int = 16) -> str:
    """``prefix_`` + URL-safe random text; 16 bytes = 128 bits, not guessable."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def new_api_key() -> str:
    """``aio_`` + 43 URL-safe characters (256 random bits)."""
    return "aio_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """sha256 is right for high-entropy random keys (no need for a slow password hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()
