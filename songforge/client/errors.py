"""The one exception the client raises, whatever went wrong."""

from __future__ import annotations


class SongforgeError(Exception):
    """An error answered by the API, or one met on the way to it.

    ``status`` is the HTTP status, or None when no answer came back (connection
    refused, timeout, a checksum that did not match after a download). ``type``
    is the contract's error type (``invalid_request``, ``rate_limit``...) or,
    for errors the client itself detected, one of ``connection_error``,
    ``timeout``, ``checksum_mismatch``, ``configuration_error``,
    ``invalid_response``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str = "internal_error",
        param: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.request_id = request_id
        self.retry_after = retry_after

    def __str__(self) -> str:
        head = f"{self.status} {self.type}" if self.status is not None else self.type
        text = f"{head}: {self.message}"
        if self.param:
            text += f" (param: {self.param})"
        if self.request_id:
            text += f" [request {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return (
            f"SongforgeError(status={self.status!r}, type={self.type!r}, "
            f"message={self.message!r}, param={self.param!r}, "
            f"request_id={self.request_id!r}, retry_after={self.retry_after!r})"
        )
