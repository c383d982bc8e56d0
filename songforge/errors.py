"""The error types of api.md and the one JSON envelope every error is sent in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# HTTP status -> the contract's error types that may go with it.
ERROR_TYPES: dict[str, int] = {
    "invalid_request": 400,  # also 413 for an oversized body, 415 for a non-JSON one
    "authentication_error": 401,
    "insufficient_credits": 402,
    "permission_denied": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "idempotency_conflict": 409,
    "rate_limit": 429,
    "model_unavailable": 503,
    "service_unavailable": 503,  # the database is unreachable; with Retry-After
    "internal_error": 500,
}


class ApiError(Exception):
    """An error answered to the client in the contract's envelope."""

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.type, self.message, self.param)


def error_body(status: int, type: str, message: str, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "type": type}
    if param is not None:
        error["param"] = param
    return {"error": error}


def invalid(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, param=param)


def not_found(message: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", message)


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "authentication_error", message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str, param: str | None = None) -> ApiError:
    return ApiError(403, "permission_denied", message, param=param)
