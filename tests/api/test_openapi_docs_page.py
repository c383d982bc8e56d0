"""/api/docs works without internet: real Chromium, every non-loopback request blocked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from songforge.api.openapi import OPERATIONS
from tests.conftest import IN_CI, LiveServer
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, SHOTS

LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


def test_the_docs_page_names_only_its_own_files(sqlite_server: LiveServer) -> None:
    page = httpx.get(f"{sqlite_server.url}/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        found = httpx.get(f"{sqlite_server.url}/api/docs/assets/{asset}")
        assert found.status_code == 200, asset
        assert len(found.content) > 100


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; scripts/install installs Debian's chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.mark.browser
def test_the_docs_page_renders_every_operation_offline(
    browser: Any, sqlite_server: LiveServer
) -> None:
    context = browser.new_context(base_url=sqlite_server.url, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    outside: list[str] = []
    problems: list[str] = []

    def only_loopback(route: Any) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOOPBACK:
            route.continue_()
        else:
            # As on a machine without internet: the request fails, and is remembered.
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)

    page.goto("/api/docs")
    page.wait_for_selector(".opblock-summary-path", state="attached")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    # Swagger UI puts a zero-width space after each slash so long paths wrap.
    shown = {text.replace("\u200b", "").strip() for text in paths}
    assert shown == {op.path for op in OPERATIONS}
    assert len(paths) == len(OPERATIONS)
    assert page.locator(".auth-wrapper .authorize").count() == 1  # the Bearer scheme

    # Open the create operation: its request body example is built from the schema.
    page.locator("#operations-music-create_music .opblock-summary").click()
    example = page.locator("#operations-music-create_music .body-param__example").inner_text()
    assert '"model": "minimax-music"' in example and "pulsing synths" in example

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "api-docs.png"), full_page=True)
    context.close()
    assert outside == []
    assert problems == []
