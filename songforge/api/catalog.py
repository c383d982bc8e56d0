"""GET /api/v1/models and GET /api/v1/account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from songforge.api.catalog_view import model_view
from songforge.api.deps import AuthenticatedCaller, get_context
from songforge.api.envelope import success
from songforge.api.task_view import iso
from songforge.errors import not_found
from songforge.services.accounts import get_account

router = APIRouter()


@router.get("/api/v1/models")
def list_models(request: Request, caller: AuthenticatedCaller) -> Any:
    context = get_context(request)
    return success([model_view(spec) for spec in context.live_models()])


@router.get("/api/v1/account")
def account(request: Request, caller: AuthenticatedCaller) -> Any:
    context = get_context(request)
    with context.db.read() as conn:
        found = get_account(conn, caller.account_id)
    if found is None:
        raise not_found("Account not found")
    key = caller.key
    return success(
        {
            "account_id": found.id,
            "email": found.email,
            "balance": found.balance,
            "held": found.held,
            "available": found.available,
            "key": {
                "id": key.id,
                "name": key.name,
                "prefix": key.key_prefix,
                "created_at": iso(key.created_at),
                "expires_at": iso(key.expires_at),
                "credit_cap": key.credit_cap,
                "credits_committed": key.credits_committed,
                "allowed_models": key.allowed_models,
            },
        }
    )
