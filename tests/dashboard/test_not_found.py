"""Unknown addresses: an HTML page for browsers, the JSON envelope for API clients."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.dashboard.webclient import WebClient

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("path", ["/dashboard/nope", "/nope", "/dashboard/keys/extra/parts"])
def test_a_browser_gets_an_html_404_page(web: Callable[[], WebClient], path: str) -> None:
    client = web()
    answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in answer.text
    assert f"There is no page at {path}." in answer.text
    assert 'href="/models"' in answer.text
    # The dashboard's own security headers come with it.
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_a_signed_in_browser_gets_the_page_with_its_navigation(user: WebClient) -> None:
    answer = user.get("/dashboard/nope", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 404
    assert user.email in answer.text
    assert "Back to the dashboard" in answer.text


@pytest.mark.parametrize("accept", ["*/*", "application/json", ""])
def test_api_clients_keep_the_json_envelope(web: Callable[[], WebClient], accept: str) -> None:
    client = web()
    answer = client.get("/dashboard/nope", headers={"Accept": accept})
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/dashboard/api/nope", "/api/v1/tasks/x/y"])
def test_api_paths_answer_json_even_to_a_browser(web: Callable[[], WebClient], path: str) -> None:
    client = web()
    answer = client.get(path, headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == {
        "code": 404,
        "message": f"No route GET {path}",
        "type": "not_found",
    }


def test_a_browser_opening_a_form_only_address_gets_a_page(web: Callable[[], WebClient]) -> None:
    answer = web().get("/signout", headers={"Accept": BROWSER_ACCEPT})
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")
    assert "only accepts form submissions" in answer.text
    assert "POST" in answer.headers["allow"]
