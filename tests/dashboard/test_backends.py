"""The dashboard's own SQL (sessions, orders, history) on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import LiveServer
from tests.dashboard.conftest import make_admin
from tests.dashboard.helpers import generate, wait_done
from tests.dashboard.webclient import WebClient


def test_sign_up_top_up_generate_and_sign_out(
    server_factory: Callable[..., LiveServer], database_url: str
) -> None:
    server = server_factory(database_url)
    with WebClient(server.url) as user, WebClient(server.url) as admin:
        assert user.sign_up().status_code == 303
        assert admin.sign_in(make_admin(server)).status_code == 303
        assert user.post_form("/dashboard/credits/orders", {"credits": "60"}).status_code == 303
        page = admin.get("/dashboard/admin").text
        order_id = page.split('action="/dashboard/admin/orders/')[1].split("/")[0]
        assert admin.post_form(f"/dashboard/admin/orders/{order_id}/approve").status_code == 303
        task_id = generate(user)
        assert wait_done(user, task_id)["status"] == "completed"
        assert task_id in user.get("/dashboard/tasks?status=completed&model=minimax-music").text
        assert user.get(f"/dashboard/tasks/{task_id}/waveform.svg").status_code == 200
        assert "+60" in user.get("/dashboard/credits").text
        assert user.post_form("/signout", token_page="/dashboard").status_code == 303
        assert user.get("/dashboard").status_code == 303
