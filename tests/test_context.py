"""AppContext's per-process caches: one caller re-reads an expired figure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from songforge.context import RUN_SECONDS_CACHE_SECONDS, AppContext
from songforge.db.database import ConnectionNeeded
from songforge.db.migrate import upgrade_to_head
from tests.conftest import make_settings


def test_an_expired_run_time_is_re_read_by_one_caller_while_the_others_keep_it(
    tmp_path: Path,
) -> None:
    context = AppContext.from_settings(make_settings(tmp_path, f"sqlite:///{tmp_path / 'db'}"))
    upgrade_to_head(context.db)
    expired = time.monotonic() - RUN_SECONDS_CACHE_SECONDS - 1
    context._run_seconds_cache["m"] = (expired, 42.0)
    # On the event loop (no connection): the first caller claims the re-read and goes
    # for a connection; the others answer from the old figure meanwhile.
    with pytest.raises(ConnectionNeeded):
        context.recent_run_seconds(None, "m")
    assert context.recent_run_seconds(None, "m") == 42.0
    with context.db.read() as conn:  # the claimer, rerun with a connection
        assert context.recent_run_seconds(conn, "m") is None  # no run of "m" yet
    assert context.recent_run_seconds(None, "m") is None  # fresh now
    context.db.dispose()
