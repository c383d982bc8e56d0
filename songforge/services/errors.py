"""What the rules refuse, said without HTTP.

Services raise these; ``api/error_handlers.py`` alone turns each kind into a
status code, an error type of api.md and the envelope (the dashboard's pages
reuse the same mapping). A service never picks a status code: the same refusal
may one day be answered by something that is not HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the rules refuse; ``message`` is written for the person who sent it."""

    def __init__(
        self, message: str, field: str | None = None, *, retry_after_seconds: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # The request field at fault, when one is (the envelope's ``param``).
        self.field = field
        # When trying again later can succeed, how much later.
        self.retry_after_seconds = retry_after_seconds


class InvalidField(DomainError):
    """A field's value is not acceptable (malformed, out of range, unknown)."""


class Unauthenticated(DomainError):
    """The credentials are missing, malformed, unknown, revoked or expired."""


class NotPermitted(DomainError):
    """Authenticated, but this caller may not do this (key allow-list, key credit cap)."""


class InsufficientCredits(DomainError):
    """The account's free balance does not cover the price."""


class IdempotencyConflict(DomainError):
    """The idempotency key was already used with a different request."""


class ConcurrencyLimitReached(DomainError):
    """The account has as many unfinished tasks as it may have."""


class ModelUnavailable(DomainError):
    """No worker serves the model now, nor is one expected soon."""
