"""services/music_tasks.py: the create use case, driven with its dependencies handed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from songforge.catalog import Catalog, ModelSpec
from songforge.context import AppContext
from songforge.db.database import Database
from songforge.db.tables import idempotency_keys
from songforge.db.types import utcnow
from songforge.services.errors import (
    IdempotencyConflict,
    InvalidField,
    ModelUnavailable,
    NotPermitted,
)
from songforge.services.keys import create_key
from songforge.services.music_tasks import TaskCreation, create_music_task
from tests.conftest import make_settings

SPEC = ModelSpec(id="song", engine="composer", price=7, name="Song", description="")
BODY = {"model": "song", "prompt": "a calm piano song"}


def _deps(db: Database, created: list[str], *, live: bool = True) -> TaskCreation:
    return TaskCreation(
        db=db,
        catalog=Catalog(models={SPEC.id: SPEC}),
        accepts_tasks_for=lambda model: live,
        max_attempts=2,
        max_concurrent=10,
        on_created=created.append,
    )


def test_a_valid_body_queues_a_task_holding_the_price(db: Database, account_id: str) -> None:
    created: list[str] = []
    result = create_music_task(_deps(db, created), account_id, None, BODY)
    assert not result.replayed
    assert (result.task.model, result.task.credits_held, result.task.max_attempts) == (
        "song",
        7,
        2,
    )
    assert result.task.input["prompt"] == "a calm piano song"
    assert created == ["song"]


def test_a_replay_is_not_counted_as_created(db: Database, account_id: str) -> None:
    created: list[str] = []
    first = create_music_task(_deps(db, created), account_id, None, BODY, "k1")
    again = create_music_task(_deps(db, created), account_id, None, BODY, "k1")
    assert again.replayed and again.task.id == first.task.id
    assert created == ["song"]
    with pytest.raises(IdempotencyConflict):
        create_music_task(_deps(db, created), account_id, None, {**BODY, "seed": 1}, "k1")


def test_an_unknown_model_is_an_invalid_model_field(db: Database, account_id: str) -> None:
    with pytest.raises(InvalidField) as refused:
        create_music_task(_deps(db, []), account_id, None, {**BODY, "model": "nope"})
    assert refused.value.field == "model"
    assert "Unknown model 'nope'" in refused.value.message


def test_field_errors_come_before_the_unknown_model(db: Database, account_id: str) -> None:
    with pytest.raises(InvalidField) as refused:
        create_music_task(_deps(db, []), account_id, None, {"model": "nope", "prompt": 5})
    assert refused.value.field == "prompt"


def test_the_models_longest_duration_applies(db: Database, account_id: str) -> None:
    with pytest.raises(InvalidField) as refused:
        create_music_task(_deps(db, []), account_id, None, {**BODY, "duration": 241})
    assert refused.value.field == "duration"
    assert "240" in refused.value.message


def test_a_model_without_a_backend_is_unavailable(db: Database, account_id: str) -> None:
    created: list[str] = []
    with pytest.raises(ModelUnavailable) as refused:
        create_music_task(_deps(db, created, live=False), account_id, None, BODY)
    assert refused.value.retry_after_seconds == 30
    assert refused.value.field == "model"
    assert created == []


def test_a_key_may_only_use_the_models_it_allows(db: Database, account_id: str) -> None:
    with db.write() as conn:
        key = create_key(conn, account_id, allowed_models=["other"]).key
    with pytest.raises(NotPermitted) as refused:
        create_music_task(_deps(db, []), account_id, key, BODY)
    assert refused.value.field == "model"
    with db.write() as conn:
        allowed = create_key(conn, account_id, allowed_models=["song"]).key
    result = create_music_task(_deps(db, []), account_id, allowed, BODY)
    assert result.task.api_key_id == allowed.id


def test_an_idempotency_key_is_forgotten_after_its_time(db: Database, account_id: str) -> None:
    deps = replace(_deps(db, []), idempotency_ttl=timedelta(hours=1))
    first = create_music_task(deps, account_id, None, BODY, "k1")
    with db.write() as conn:
        conn.execute(update(idempotency_keys).values(created_at=utcnow() - timedelta(minutes=59)))
    assert create_music_task(deps, account_id, None, BODY, "k1").task.id == first.task.id
    with db.write() as conn:
        conn.execute(update(idempotency_keys).values(created_at=utcnow() - timedelta(minutes=61)))
    # Past its time the key starts a new task, even with another body.
    later = create_music_task(deps, account_id, None, {**BODY, "seed": 3}, "k1")
    assert not later.replayed and later.task.id != first.task.id
    again = create_music_task(deps, account_id, None, {**BODY, "seed": 3}, "k1")
    assert again.replayed and again.task.id == later.task.id


def test_the_context_hands_the_configured_idempotency_time_to_the_service(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", idempotency_ttl_seconds=90)
    context = AppContext.from_settings(settings)
    try:
        creation = context.task_creation()
        assert creation.idempotency_ttl == timedelta(seconds=90)
        assert creation.max_concurrent == settings.max_concurrent_tasks
        assert creation.max_attempts == settings.max_attempts
    finally:
        context.db.dispose()
