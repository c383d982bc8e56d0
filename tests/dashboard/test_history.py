"""Task history: filters, details, players, waveform, failure reasons, isolation."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from songforge.dashboard.waveform import CACHE_SUFFIX
from songforge.services.tasks import get_task_for
from tests.conftest import LiveServer
from tests.dashboard.helpers import fund, generate, wait_done
from tests.dashboard.test_keys import _created_secret
from tests.dashboard.webclient import WebClient
from tests.fakes import FailingEngine, gated_tone_engine


def test_history_lists_dashboard_and_api_tasks_with_players(
    dash_server: LiveServer, user: WebClient
) -> None:
    fund(dash_server, user, 200)
    lyrics = "[Verse]\nsteady rain on the window"
    from_tester = generate(user, prompt="rainy jazz <trio>", lyrics=lyrics)
    secret = _created_secret(user.post_form("/dashboard/keys", {"name": "api"}).text)
    with httpx.Client(base_url=dash_server.url) as api:
        created = api.post(
            "/api/v1/audio/music",
            headers={"Authorization": f"Bearer {secret}"},
            json={"model": "minimax-music", "prompt": "sunny ukulele"},
        )
    from_api = created.json()["data"]["task_id"]
    wait_done(user, from_tester)
    wait_done(user, from_api)

    page = user.get("/dashboard/tasks").text
    assert from_tester in page and from_api in page
    assert "rainy jazz &lt;trio&gt;" in page  # escaped, never raw HTML
    assert page.count("<audio") == 2
    assert page.count('download="') == 2
    assert f"/dashboard/tasks/{from_tester}/waveform.svg" in page

    detail = user.get(f"/dashboard/tasks/{from_tester}").text
    assert "steady rain on the window" in detail
    assert "Waited in queue" in detail and "Generating" in detail
    credits = detail.split('data-testid="task-credits"')[1].split("</dl>")[0]
    assert re.search(r"<dt>Charged</dt><dd>30</dd>", credits)
    assert re.search(r"<dt>Refunded</dt><dd>0</dd>", credits)
    audio_url = re.search(r'<audio controls preload="metadata" src="([^"]+)"', detail)
    assert audio_url
    song = httpx.get(audio_url.group(1).replace("&amp;", "&"))
    assert song.status_code == 200
    assert song.content[:3] == b"ID3" or song.content[0] == 0xFF


def test_waveform_is_an_svg_cached_in_storage(dash_server: LiveServer, user: WebClient) -> None:
    fund(dash_server, user, 30)
    task_id = generate(user)
    wait_done(user, task_id)
    response = user.get(f"/dashboard/tasks/{task_id}/waveform.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.text.startswith("<svg") and "<path" in response.text
    with dash_server.db.read() as conn:
        task = get_task_for(conn, user.account_id(dash_server), task_id)
    assert task is not None and task.storage_key is not None
    assert dash_server.context.storage.exists(task.storage_key + CACHE_SUFFIX)
    assert user.get(f"/dashboard/tasks/{task_id}/waveform.svg").text == response.text


def test_filters_by_status_and_model(dash_server: LiveServer, user: WebClient) -> None:
    fund(dash_server, user, 30)
    task_id = generate(user)
    wait_done(user, task_id)
    assert task_id in user.get("/dashboard/tasks?status=completed").text
    assert task_id not in user.get("/dashboard/tasks?status=failed").text
    assert "No task matches" in user.get("/dashboard/tasks?status=failed").text
    assert task_id in user.get("/dashboard/tasks?model=minimax-music").text
    assert task_id not in user.get("/dashboard/tasks?model=ace-step-1.5").text
    assert user.get("/dashboard/tasks?cursor=garbage").status_code == 400


def test_history_pages_with_a_cursor(dash_server: LiveServer, user: WebClient) -> None:
    from songforge.dashboard import routes_tasks

    fund(dash_server, user, 90)
    ids = [generate(user, prompt=f"song {n}") for n in range(3)]
    for task_id in ids:
        wait_done(user, task_id)
    original = routes_tasks.PAGE_SIZE
    routes_tasks.PAGE_SIZE = 2
    try:
        first = user.get("/dashboard/tasks").text
        more = re.search(r'href="(/dashboard/tasks\?cursor=[^"]+)"', first)
        assert more
        second = user.get(more.group(1).replace("&amp;", "&")).text
    finally:
        routes_tasks.PAGE_SIZE = original
    assert ids[2] in first and ids[1] in first and ids[0] not in first
    assert ids[0] in second and ids[2] not in second


def test_other_accounts_tasks_are_invisible(
    dash_server: LiveServer, user: WebClient, web: Callable[[], WebClient]
) -> None:
    fund(dash_server, user, 30)
    task_id = generate(user)
    wait_done(user, task_id)
    other = web()
    other.sign_up()
    assert task_id not in other.get("/dashboard/tasks").text
    assert other.get(f"/dashboard/tasks/{task_id}").status_code == 404
    assert other.get(f"/dashboard/tasks/{task_id}/waveform.svg").status_code == 404
    assert other.post_form(f"/dashboard/tasks/{task_id}/cancel").status_code == 404


def test_failed_task_shows_the_reason_and_the_refund(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(engines={"minimax-music": FailingEngine()})
    with WebClient(server.url) as client:
        client.sign_up()
        fund(server, client, 30)
        task_id = generate(client)
        done = wait_done(client, task_id)
        assert done["status"] == "failed"
        page = client.get("/dashboard/tasks?status=failed").text
        detail = client.get(f"/dashboard/tasks/{task_id}").text
    assert task_id in page
    message = done["error"]["message"]
    assert message in page and message in detail
    credits = detail.split('data-testid="task-credits"')[1].split("</dl>")[0]
    assert re.search(r"<dt>Refunded</dt><dd>30</dd>", credits)
    assert "<audio" not in detail


def test_cancel_from_the_task_page(server_factory: Callable[..., LiveServer]) -> None:
    engine = gated_tone_engine()
    server = server_factory(engines={"minimax-music": engine})
    try:
        with WebClient(server.url) as client:
            client.sign_up()
            fund(server, client, 30)
            task_id = generate(client)
            detail = client.get(f"/dashboard/tasks/{task_id}").text
            assert "Cancel task" in detail
            cancelled = client.post_form(f"/dashboard/tasks/{task_id}/cancel")
            assert cancelled.status_code == 303
            detail = client.get(f"/dashboard/tasks/{task_id}").text
            assert "canceled" in detail
    finally:
        assert engine.gate is not None
        engine.gate.set()
