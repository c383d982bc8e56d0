"""End to end in a real headless Chromium (Debian's, never a downloaded one).

sign up -> create a key -> top up (an admin approves) -> generate from the API
tester -> play and download -> find the task in the history. Every page visited
is saved as a screenshot under .artifacts/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, LiveServer
from tests.dashboard.conftest import make_admin
from tests.dashboard.webclient import PASSWORD, new_email

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("SONGFORGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Lets the test start playback from a script as well as from a click.
    "--autoplay-policy=no-user-gesture-required",
]
SHOTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing; scripts/install installs Debian's chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def new_page(browser: Any, server: LiveServer, viewport: dict[str, int] = DESKTOP) -> Any:
    context = browser.new_context(base_url=server.url, viewport=viewport, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Console errors include CSP violations and failed loads of the page's own files.
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.js_errors = errors
    return page


UNLABELED_CONTROLS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.name || el.id)"""


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/dashboard$"))


def test_sign_up_to_song_in_history(browser: Any, dash_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, dash_server)

    # Sign up.
    page.goto("/signup")
    shot(page, "01-signup")
    email = new_email()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    shot(page, "02-overview")

    # Create a key with every option, copy it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("browser test")
    page.get_by_label("Expires after (days)").fill("30")
    page.get_by_label("Credit cap").fill("300")
    page.get_by_label("MiniMax Music").check()
    page.get_by_role("button", name="Create key").click()
    secret_box = page.get_by_label("New API key")
    expect(secret_box).to_have_value(re.compile(r"^aio_[A-Za-z0-9_-]{43}$"))
    secret = secret_box.input_value()
    page.get_by_role("button", name="Copy").click()
    expect(page.locator(".copy-status")).to_contain_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    shot(page, "03-keys-created")
    page.goto("/dashboard/keys")
    expect(page.get_by_test_id("keys-table")).to_contain_text(secret[:10] + "…")
    assert secret not in page.content()
    shot(page, "04-keys-list")

    # Top up: the order waits for an admin.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credits").click()
    page.get_by_label("Credits", exact=True).fill("500")
    page.get_by_role("button", name="Create order").click()
    expect(page.get_by_role("status")).to_contain_text("waiting for approval")
    shot(page, "05-credits-pending")

    admin = new_page(browser, dash_server)
    sign_in(admin, make_admin(dash_server))
    admin.goto("/dashboard/admin")
    row = admin.get_by_test_id("pending-orders").get_by_role("row", name=re.compile(email))
    shot(admin, "06-admin-pending")
    row.get_by_role("button", name=re.compile("Approve")).click()
    expect(admin.get_by_role("status")).to_contain_text("Order approved")
    shot(admin, "07-admin-approved")
    admin.context.close()

    page.reload()
    expect(page.get_by_test_id("available")).to_have_text("500")
    shot(page, "08-credits-topped-up")

    # The model page and its tester.
    page.goto("/models")
    shot(page, "09-models")
    page.get_by_role("link", name="MiniMax Music").click()
    expect(page.get_by_role("heading", name="API tester")).to_be_visible()
    shot(page, "10-model-page")
    page.get_by_label("Prompt").fill("a bright synth-pop tune for a browser test")
    page.get_by_label("Lyrics").fill("[Verse]\nclick the button\n[Chorus]\nhear the song")
    page.get_by_label("Bitrate").select_option("128000")
    page.get_by_label("Sample rate").select_option("44100")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#t-player")).to_be_visible(timeout=30_000)
    expect(page.locator("#t-status")).to_contain_text("Completed")
    assert page.locator("#t-progress").evaluate("el => el.value") == 100
    page.locator("#t-waveform").evaluate("img => img.decode()")
    assert page.locator("#t-waveform").evaluate("img => img.naturalWidth") > 0

    # Play: Chromium must decode the MP3 and move the playhead.
    audio = page.locator("#t-audio")
    audio.evaluate("a => a.readyState >= 1 || new Promise(r => a.onloadedmetadata = r)")
    assert audio.evaluate("a => a.duration") > 0.5
    # (A promise, not wait_for_function: the page's CSP rightly forbids eval.)
    played = audio.evaluate(
        """a => new Promise((resolve, reject) => {
             a.addEventListener('timeupdate', function check() {
               if (a.currentTime > 0.05) {
                 a.removeEventListener('timeupdate', check);
                 resolve(a.currentTime);
               }
             });
             a.play().catch(reject);
           })"""
    )
    audio.evaluate("a => a.pause()")
    assert played > 0.05
    shot(page, "11-tester-result")

    # Download.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download MP3").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".mp3")
    data = Path(download.path()).read_bytes()
    assert len(data) > 1000 and (data[:3] == b"ID3" or data[0] == 0xFF)

    # The task in the history, and its page.
    task_id = page.locator("#t-task-json").text_content() or ""
    task_id = re.search(r'"task_id": "([^"]+)"', task_id).group(1)  # type: ignore[union-attr]
    page.get_by_role("link", name="See it in your task history").click()
    expect(page.get_by_role("heading", name=re.compile(task_id))).to_be_visible()
    expect(page.get_by_text("hear the song")).to_be_visible()
    expect(page.get_by_test_id("task-credits")).to_contain_text("30")
    shot(page, "12-task-detail")
    page.get_by_role("link", name="← Task history").click()
    item = page.get_by_test_id("task-list").get_by_role("listitem").filter(has_text=task_id)
    expect(item).to_contain_text("completed")
    expect(item.locator("audio")).to_have_count(1)
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No task matches these filters.")).to_be_visible()
    page.get_by_label("Status").select_option("completed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("task-list")).to_contain_text(task_id)
    shot(page, "13-history")

    page.goto("/dashboard/credits")
    expect(page.get_by_test_id("available")).to_have_text("470")
    shot(page, "14-credits-after-song")

    # Sign out, and the pages are closed again.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin$"))
    shot(page, "15-signin")
    page.goto("/dashboard/tasks")
    page.wait_for_url(re.compile(r"/signin\?next="))
    assert page.js_errors == []
    page.context.close()


def test_pages_fit_a_phone(browser: Any, dash_server: LiveServer) -> None:
    page = new_page(browser, dash_server, PHONE)
    page.goto("/signup")
    page.get_by_label("Email").fill(new_email())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/dashboard$"))
    for path, name in (
        ("/dashboard", "phone-overview"),
        ("/dashboard/keys", "phone-keys"),
        ("/dashboard/credits", "phone-credits"),
        ("/dashboard/tasks", "phone-history"),
        ("/dashboard/account", "phone-account"),
        ("/models/minimax-music", "phone-model-page"),
    ):
        page.goto(path)
        # Nothing wider than the screen except inside scrollable tables and code.
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= PHONE["width"], (path, overflow)
        assert page.evaluate(UNLABELED_CONTROLS) == [], path
        assert page.locator("main").count() == 1 and page.locator("header nav").count() == 1
        shot(page, name)
    assert page.js_errors == []
    response = page.goto("/models/nope")
    assert response is not None and response.status == 404
    shot(page, "phone-404")
    page.context.close()


def test_keyboard_users_can_skip_to_content_and_see_focus(
    browser: Any, dash_server: LiveServer
) -> None:
    page = new_page(browser, dash_server)
    page.goto("/signin")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert skip.evaluate("el => el === document.activeElement")
    outline = skip.evaluate("el => getComputedStyle(el).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    # Every form control on the page has a label.
    assert page.evaluate(UNLABELED_CONTROLS) == []
    page.context.close()
