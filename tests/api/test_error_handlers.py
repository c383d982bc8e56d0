"""api/error_handlers.py: each refusal of the rules gets its documented HTTP answer."""

from __future__ import annotations

import inspect

import pytest

from songforge.api.error_handlers import api_error_for
from songforge.errors import ERROR_TYPES
from songforge.services import errors
from songforge.services.errors import DomainError

KINDS = [
    kind
    for _, kind in inspect.getmembers(errors, inspect.isclass)
    if issubclass(kind, DomainError) and kind is not DomainError
]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_every_kind_of_refusal_has_a_documented_answer(kind: type[DomainError]) -> None:
    answer = api_error_for(kind("why", "field"))
    assert ERROR_TYPES[answer.type] == answer.status
    assert answer.message == "why"
    assert answer.param == "field"


@pytest.mark.parametrize(
    ("refusal", "status", "error_type", "headers"),
    [
        (errors.InvalidField("bad", "seed"), 400, "invalid_request", {}),
        (
            errors.Unauthenticated("who?"),
            401,
            "authentication_error",
            {"WWW-Authenticate": "Bearer"},
        ),
        (errors.InsufficientCredits("poor"), 402, "insufficient_credits", {}),
        (errors.NotPermitted("no", "model"), 403, "permission_denied", {}),
        (errors.IdempotencyConflict("twice"), 409, "idempotency_conflict", {}),
        (
            errors.ConcurrencyLimitReached("busy", retry_after_seconds=5),
            429,
            "rate_limit",
            {"Retry-After": "5"},
        ),
        (
            errors.ModelUnavailable("away", "model", retry_after_seconds=30),
            503,
            "model_unavailable",
            {"Retry-After": "30"},
        ),
    ],
)
def test_the_answer_of_each_refusal(
    refusal: DomainError, status: int, error_type: str, headers: dict[str, str]
) -> None:
    answer = api_error_for(refusal)
    assert (answer.status, answer.type, answer.headers) == (status, error_type, headers)
    assert answer.param == refusal.field


def test_a_refusal_without_an_answer_is_a_bug_not_a_guess() -> None:
    class Unmapped(DomainError):
        pass

    with pytest.raises(TypeError, match="Unmapped"):
        api_error_for(Unmapped("?"))
