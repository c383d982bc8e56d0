"""End to end in a real headless Chromium (Debian's, never a downloaded one).

sign up -> create a key -> top up (an admin approves) -> generate from the API
tester -> play and download -> find the task in the history; a new user's first
visit on default settings (sign-up credits -> a song heard, no operator); the
tester while a song is made, after a 402 and after a failed song; the HTML 404
page. Every page visited is saved as a screenshot under .artifacts/screenshots/
for people to look at.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from songforge.catalog import BUILTIN
from tests.conftest import IN_CI, LiveServer
from tests.dashboard.conftest import make_admin
from tests.dashboard.webclient import PASSWORD, new_email
from tests.fakes import FailingEngine, gated_tone_engine

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
    # Sign-up starts no session (its answer must not tell whether the email was new).
    page.wait_for_url(re.compile(r"/signin\?signed_up=1$"))
    sign_in(page, email)
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
    # 500 bought + the sign-up credits.
    expect(page.get_by_test_id("available")).to_have_text("590")
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
    expect(page.get_by_test_id("available")).to_have_text("560")
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
    email = new_email()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(re.compile(r"/signin\?signed_up=1$"))
    sign_in(page, email)
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


# The site's colours (dashboard.css :root): --accent and --tint.
ACCENT = (0x4A, 0x2F, 0xB0)
TINT = (0xF5, 0xF3, 0xFC)


def _one_pixel_png(data: bytes) -> tuple[int, int, int]:
    """The colour of a 1x1 PNG. No unfiltering: every PNG filter predicts 0 for a lone pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, header, pixels = 8, b"", b""
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            pixels += body
        position += 12 + length
    assert header[:8] == (1).to_bytes(4, "big") * 2, "not a 1x1 image"
    assert header[8] == 8 and header[9] in (2, 6), "not 8-bit RGB or RGBA"
    raw = zlib.decompress(pixels)
    return raw[1], raw[2], raw[3]


def pixel(page: Any, x: float, y: float) -> tuple[int, int, int]:
    """One CSS pixel of the page as Chromium painted it (the context's scale factor is 1)."""
    return _one_pixel_png(page.screenshot(clip={"x": x, "y": y, "width": 1, "height": 1}))


def near(colour: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 12 for a, b in zip(colour, expected, strict=True))


def bar_colour(page: Any, at: float) -> tuple[int, int, int]:
    """The tester's progress bar at a fraction of its width, on its middle line."""
    box = page.locator("#t-progress").bounding_box()
    assert box is not None
    return pixel(page, box["x"] + box["width"] * at, box["y"] + box["height"] / 2)


def sign_up(page: Any) -> str:
    email = new_email()
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # Sign-up starts no session (its answer must not tell whether the email was new).
    page.wait_for_url(re.compile(r"/signin\?signed_up=1$"))
    sign_in(page, email)
    return email


def expect_no_player(page: Any) -> None:
    """Nothing of a song shows: no player, no waveform (nor its alt text), no links."""
    from playwright.sync_api import expect

    for part in (
        page.locator("#t-player"),
        page.locator("#t-audio"),
        page.get_by_alt_text("Waveform of the generated song"),
        page.get_by_text("Download MP3"),
        page.get_by_text("See it in your task history"),
    ):
        expect(part).to_be_hidden()


def errors_except_status(page: Any, status: int) -> list[str]:
    """The page's console errors, less Chromium's note on an answer we asked for."""
    expected = f"the server responded with a status of {status}"
    return [error for error in page.js_errors if expected not in error]


def test_a_new_user_signs_up_and_hears_a_song_without_an_operator(
    browser: Any, dash_server: LiveServer
) -> None:
    """The whole first visit, on default settings: no admin, no top-up."""
    from playwright.sync_api import expect

    page = new_page(browser, dash_server)
    page.goto("/signup")
    offer = page.get_by_test_id("signup-credits")
    expect(offer).to_contain_text("90 free credits")
    expect(offer).to_contain_text("enough for 3 songs with MiniMax Music")
    shot(page, "journey-01-signup")
    sign_up(page)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credits").click()
    expect(page.get_by_test_id("available")).to_have_text("90")
    expect(page.get_by_text("sign-up bonus").first).to_be_visible()
    shot(page, "journey-02-credits")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_role("link", name="MiniMax Music").click()
    # The example prompt and lyrics are filled in: Generate is the only step.
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#t-player")).to_be_visible(timeout=30_000)
    expect(page.locator("#t-status")).to_contain_text("Completed")
    audio = page.locator("#t-audio")
    audio.evaluate("a => a.readyState >= 1 || new Promise(r => a.onloadedmetadata = r)")
    assert audio.evaluate("a => a.duration") > 0.5
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
    shot(page, "journey-03-song")

    page.goto("/dashboard/credits")
    expect(page.get_by_test_id("available")).to_have_text("60")
    assert page.js_errors == []
    page.context.close()


def test_tester_shows_no_player_while_generating_or_after_a_refusal(
    browser: Any, server_factory: Any
) -> None:
    """While a song is made, and after a 402, the tester shows no player; 402 links to Credits.

    The progress bar is painted in the site's colours (track --tint, fill --accent).
    """
    from playwright.sync_api import expect

    engine = gated_tone_engine()
    price = BUILTIN.models["minimax-music"].price
    server = server_factory(engines={"minimax-music": engine}, signup_bonus_credits=price)
    page = new_page(browser, server)
    sign_up(page)
    page.goto("/models/minimax-music")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#t-status")).to_contain_text("Working")
    expect_no_player(page)
    assert near(bar_colour(page, 0.9), TINT), bar_colour(page, 0.9)
    shot(page, "tester-generating")

    assert engine.gate is not None
    engine.gate.set()
    expect(page.locator("#t-player")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("link", name="Download MP3")).to_be_visible()
    assert near(bar_colour(page, 0.5), ACCENT), bar_colour(page, 0.5)

    # The one song used every credit: the next request is refused with 402.
    page.get_by_role("button", name="Generate").click()
    error = page.locator("#t-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("credits")
    expect(page.locator("#t-status")).to_have_text("Failed.")
    expect_no_player(page)
    assert page.locator("#t-audio").evaluate("a => a.paused && !a.getAttribute('src')")
    top_up = error.get_by_role("link", name="Top up your credits")
    expect(top_up).to_have_attribute("href", "/dashboard/credits")
    shot(page, "tester-402")
    top_up.click()
    page.wait_for_url(re.compile(r"/dashboard/credits$"))
    assert errors_except_status(page, 402) == []
    page.context.close()


def test_tester_shows_no_player_after_a_failed_song(browser: Any, server_factory: Any) -> None:
    from playwright.sync_api import expect

    server = server_factory(engines={"minimax-music": FailingEngine()})
    page = new_page(browser, server)
    sign_up(page)
    page.goto("/models/minimax-music")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#t-error")).to_be_visible(timeout=30_000)
    expect(page.locator("#t-status")).to_have_text("Failed.")
    expect_no_player(page)
    # A failed song is not a payment problem: no top-up link.
    expect(page.locator("#t-error").get_by_role("link")).to_have_count(0)
    shot(page, "tester-failed")
    assert page.js_errors == []
    page.context.close()


def test_an_unknown_address_shows_a_page_not_json(browser: Any, dash_server: LiveServer) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, dash_server)
    response = page.goto("/dashboard/no-such-page")
    assert response is not None and response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shot(page, "not-found")
    page.get_by_role("main").get_by_role("link", name="See the models").click()
    page.wait_for_url(re.compile(r"/models$"))
    assert errors_except_status(page, 404) == []
    page.context.close()
