"""Issue 14 on the dashboard: model pages say what each model gives and what extras
cost; the task page shows a lossless file, what was asked, and how the price added up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_output_extensions import CATALOG, extensions_server
from tests.dashboard.helpers import fund, generate, wait_done
from tests.dashboard.webclient import WebClient


def test_model_pages_and_task_page_show_the_extensions(server_factory: Any, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    server = extensions_server(server_factory, catalog)
    with WebClient(server.url) as user:
        assert user.sign_up().status_code == 303
        fund(server, user, 100)

        listing = user.get("/models").text
        assert "Also: WAV, FLAC, instrumental switch, stems, timed lyrics (LRC)" in listing
        page = user.get("/models/minimax-music").text
        features = page.split('data-testid="features">')[1].split("</dd>")[0]
        assert features == "WAV, FLAC, instrumental switch, stems, timed lyrics (LRC)"
        assert 'data-testid="extra-prices">stems +10 credits, WAV/FLAC +5 credits' in page
        # The parameters table lists the extension fields this model takes.
        for name in ("format", "stems", "instrumental", "lyrics_timing"):
            assert f'<td class="mono">{name}</td>' in page
        plain = user.get("/models/plain").text
        assert 'data-testid="features">nothing (MP3 only)' in plain
        assert '<td class="mono">stems</td>' not in plain

        task_id = generate(
            user,
            lyrics="[Verse]\nHello bright world",
            format="flac",
            stems=True,
            lyrics_timing=True,
        )
        assert wait_done(user, task_id)["status"] == "completed"
        detail = user.get(f"/dashboard/tasks/{task_id}").text
    assert "<dt>Format</dt><dd>FLAC (16-bit)</dd>" in detail
    assert "<dt>Bitrate</dt>" not in detail
    assert 'data-testid="task-extras">stems, timed lyrics</dd>' in detail
    assert re.search(r"<dt>Encoded as</dt><dd>FLAC, 16-bit, 44,?100 Hz", detail)
    assert 'data-testid="price-note">(30 song + 10 stems + 5 lossless)' in detail
    credits = detail.split('data-testid="task-credits"')[1].split("</dl>")[0]
    assert re.search(r"<dt>Charged</dt><dd>45</dd>", credits)
    lrc = re.search(r'<a href="([^"]+)" download data-testid="lrc-link">', detail)
    assert lrc
    text = httpx.get(lrc.group(1).replace("&amp;", "&")).text
    assert "<00:00.10>Hello" in text
    assert page.count("stem-") == 0 and detail.count('data-testid="stem-') == 2
