"""Issue 14 over real HTTP: format, stems, instrumental, lyrics_timing.

The engine is a port (tests.fakes.ExtensionsEngine: a voice and a band apart, at
48 kHz, words timed in turn); everything else is real: validation, the catalog's
features and prices, the worker's one resampling, libsndfile's WAV/FLAC, the
storage (local and S3), signed links, retention, the ledger.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile
from sqlalchemy import update

from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services import billing
from songforge.storage.retention import sweep_expired_audio
from tests.api.test_create import assert_error, balance
from tests.conftest import LiveServer
from tests.fakes import ExtensionsEngine, ToneEngine
from tests.s3_server import S3Server

LYRICS = "[Verse]\nHello bright world\nsing it again\n[Chorus]\nla la la"
CATALOG = """
[models.minimax-music]
engine = "composer"
price = 30
price_stems = 10
price_lossless = 5

[models.plain]
engine = "tests.fakes:tone_engine"
price = 20

[models.only-instrumental]
engine = "tests.fakes:tone_engine"
price = 20
features = ["instrumental"]
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG)
    return path


def extensions_server(server_factory: Any, catalog: Path, **overrides: Any) -> LiveServer:
    engines = {
        "minimax-music": ExtensionsEngine(),
        "plain": ToneEngine(),
        "only-instrumental": ToneEngine(),
    }
    return server_factory(engines=engines, catalog_path=catalog, **overrides)  # type: ignore[no-any-return]


def create(server: LiveServer, **fields: Any) -> str:
    body = {"model": "minimax-music", "prompt": "Bright pop", "lyrics": LYRICS, "seed": 4, **fields}
    with server.client() as client:
        response = client.post("/api/v1/audio/music", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


def fetch(url: str) -> httpx.Response:
    response = httpx.get(url, follow_redirects=True)
    assert response.status_code == 200, (url, response.text)
    return response


def decoded(data: bytes) -> tuple[Any, Any]:
    info = soundfile.info(io.BytesIO(data))
    samples, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return info, samples


def test_a_request_without_extensions_gets_the_seeds_answer_byte_for_byte(
    server_factory: Any,
) -> None:
    sqlite_server = server_factory()  # the built-in catalog, a tone engine
    body = {"model": "minimax-music", "prompt": "Seed answer", "lyrics": "la la", "seed": 9}
    with sqlite_server.client() as client:
        created = client.post("/api/v1/audio/music", json=body)
        task_id = created.json()["data"]["task_id"]
        assert (
            created.content
            == (
                f'{{"code":200,"message":"success","data":{{"task_id":"{task_id}",'
                '"status":"IN_PROGRESS"}}'
            ).encode()
        )
        sqlite_server.wait_for(task_id)
        polled = client.get(f"/api/v1/tasks/{task_id}")
    data = polled.json()["data"]
    output = data["output"]
    query = output["audio_url"].split("?", 1)[1]
    # The seed's whole answer, field by field and in its order, rebuilt here by hand.
    expected = {
        "code": 200,
        "message": "success",
        "data": {
            "task_id": task_id,
            "model": "minimax-music",
            "status": "completed",
            "stage": "done",
            "stage_detail": None,
            "progress": 100,
            "queue_position": None,
            "eta_seconds": None,
            "attempt": 1,
            "created_at": data["created_at"],
            "started_at": data["started_at"],
            "finished_at": data["finished_at"],
            "input": {
                "model": "minimax-music",
                "prompt": "Seed answer",
                "lyrics": "la la",
                "bitrate": 256000,
                "sample_rate": 44100,
                "seed": 9,
                "duration": None,
            },
            "output": {
                "audio_url": f"{sqlite_server.url}/api/v1/files/{task_id}.mp3?{query}",
                "expires_at": output["expires_at"],
                "format": "mp3",
                "duration_seconds": 2.0,
                "sample_rate": 44100,
                "bitrate": 256000,
                "bitrate_mode": "cbr",
                "channels": 2,
                "size_bytes": output["size_bytes"],
                "sha256": output["sha256"],
                "engine": "test-tone/1",
            },
            "credits": {"price": 30, "held": 0, "charged": 30, "refunded": 0},
            "error": None,
        },
    }
    assert (
        polled.content == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
    )
    song = fetch(output["audio_url"])
    assert song.headers["content-type"] == "audio/mpeg"
    assert len(song.content) == output["size_bytes"]


@pytest.mark.parametrize("container", ["flac", "wav"])
def test_lossless_song_stems_and_timed_lyrics_end_to_end(
    server_factory: Any, catalog: Path, database_url: str, container: str
) -> None:
    server = extensions_server(server_factory, catalog, database_url=database_url)
    before = balance(server, server.account_id)
    task_id = create(server, format=container, sample_rate=32000, stems=True, lyrics_timing=True)
    done = server.wait_for(task_id)
    assert done["status"] == "completed", done
    assert done["input"] == {
        "model": "minimax-music",
        "prompt": "Bright pop",
        "lyrics": LYRICS,
        "format": container,
        "sample_rate": 32000,
        "seed": 4,
        "duration": None,
        "stems": True,
        "lyrics_timing": True,
    }
    output = done["output"]
    assert output["format"] == container and output["bit_depth"] == 16
    assert output["sample_rate"] == 32000 and output["duration_seconds"] == 2.0
    assert "bitrate" not in output and "bitrate_mode" not in output
    assert output["audio_url"].startswith(f"{server.url}/api/v1/files/{task_id}.{container}?")
    assert set(output["stems"]) == {"vocals", "instrumental"}

    # Every file over its signed link: the right type, 16-bit at the asked rate.
    files = {"song": output["audio_url"], **output["stems"]}
    heard = {}
    for name, url in files.items():
        response = fetch(url)
        assert response.headers["content-type"] == f"audio/{container}", name
        info, samples = decoded(response.content)
        assert (info.format, info.subtype) == (container.upper(), "PCM_16"), name
        assert (info.samplerate, info.channels, info.frames) == (32000, 2, 64000), name
        heard[name] = samples
    assert len(fetch(output["audio_url"]).content) == output["size_bytes"]
    assert np.max(np.abs(heard["vocals"] + heard["instrumental"] - heard["song"])) < 1e-3

    # Timed lyrics: JSON in the answer, and the enhanced LRC file behind lrc_url.
    lines = output["lyrics"]["lines"]
    assert [line["text"] for line in lines] == ["Hello bright world", "sing it again", "la la la"]
    first = lines[0]["words"][0]
    assert first == {"text": "Hello", "start": 0.1, "end": 0.3}
    lrc = fetch(output["lrc_url"])
    assert lrc.headers["content-type"] == "text/plain; charset=utf-8"
    text = lrc.content.decode()
    assert "[00:00.10]<00:00.10>Hello <00:00.35>bright <00:00.60>world <00:00.80>" in text
    assert text.count("\n[0") == 3

    # Priced from the catalog: 30 + 10 stems + 5 lossless, charged once, itemised.
    assert done["credits"] == {"price": 45, "held": 0, "charged": 45, "refunded": 0}
    assert balance(server, server.account_id) == (before[0] - 45, before[1])
    with server.db.read() as conn:
        entries = billing.ledger_for_task(conn, task_id)
    assert [(e.kind, e.amount, e.note) for e in entries] == [
        ("hold", 45, "30 song + 10 stems + 5 lossless"),
        ("charge", -45, ""),
    ]


def test_instrumental_reaches_the_engine_and_no_line_is_sung(
    server_factory: Any, catalog: Path
) -> None:
    server = extensions_server(server_factory, catalog)
    done = server.wait_for(create(server, instrumental=True, lyrics_timing=True))
    assert done["input"]["instrumental"] is True
    engine = server.engines["minimax-music"]
    assert isinstance(engine, ExtensionsEngine) and engine.requests[-1].instrumental
    assert done["output"]["format"] == "mp3" and "stems" not in done["output"]
    assert done["output"]["lyrics"] == {"lines": []}
    assert fetch(done["output"]["lrc_url"]).content == b"[re:songforge]\n[length:00:02.00]\n"
    # Instrumental and timing cost nothing extra here.
    assert done["credits"]["charged"] == 30


BAD_EXTENSIONS = [
    ({"format": "ogg"}, "format"),
    ({"format": "FLAC"}, "format"),
    ({"format": 1}, "format"),
    ({"format": "wav", "bitrate": 128000}, "bitrate"),
    ({"format": "flac", "bitrate": 256000}, "bitrate"),
    ({"format": "wav", "sample_rate": 48000}, "sample_rate"),
    ({"stems": "yes"}, "stems"),
    ({"stems": 1}, "stems"),
    ({"instrumental": "true"}, "instrumental"),
    ({"lyrics_timing": 0}, "lyrics_timing"),
    ({"lyrics_timing": [True]}, "lyrics_timing"),
]


@pytest.mark.parametrize(("fields", "param"), BAD_EXTENSIONS)
def test_bad_extension_values_are_400_with_param_and_cost_nothing(
    server_factory: Any, catalog: Path, fields: dict[str, Any], param: str
) -> None:
    server = extensions_server(server_factory, catalog, start_workers=False)
    before = balance(server, server.account_id)
    body = {"model": "minimax-music", "prompt": "x", **fields}
    with server.client() as client:
        response = client.post("/api/v1/audio/music", json=body)
        listed = client.get("/api/v1/tasks").json()["data"]["items"]
    assert_error(response, 400, "invalid_request", param)
    assert balance(server, server.account_id) == before and listed == []


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("plain", {"stems": True}, "stems"),
        ("plain", {"format": "flac"}, "format"),
        ("plain", {"format": "wav"}, "format"),
        ("plain", {"lyrics_timing": True}, "lyrics_timing"),
        ("plain", {"instrumental": True}, "instrumental"),
        ("only-instrumental", {"instrumental": True, "stems": True}, "stems"),
    ],
)
def test_a_feature_the_model_lacks_is_refused_before_anything_is_held(
    server_factory: Any, catalog: Path, model: str, fields: dict[str, Any], param: str
) -> None:
    server = extensions_server(server_factory, catalog)
    before = balance(server, server.account_id)
    with server.client() as client:
        response = client.post(
            "/api/v1/audio/music", json={"model": model, "prompt": "x", **fields}
        )
        listed = client.get("/api/v1/tasks").json()["data"]["items"]
    assert_error(response, 400, "invalid_request", param)
    assert model in response.json()["error"]["message"]
    assert balance(server, server.account_id) == before and listed == []
    with server.db.read() as conn:
        assert billing.ledger_for(conn, server.account_id)[0].kind == "topup"
    # Switched off, the same model takes the request.
    off = {name: False if value is True else None for name, value in fields.items()}
    with server.client() as client:
        again = client.post("/api/v1/audio/music", json={"model": model, "prompt": "x", **off})
    assert again.status_code == 200, again.text


def test_too_few_credits_for_the_extras_is_402_and_says_why(
    server_factory: Any, catalog: Path
) -> None:
    server = extensions_server(server_factory, catalog)
    poor = server.new_account(credits=40)
    with server.client(poor.api_key) as client:
        refused = client.post(
            "/api/v1/audio/music",
            json={"model": "minimax-music", "prompt": "x", "format": "flac", "stems": True},
        )
        fine = client.post(
            "/api/v1/audio/music", json={"model": "minimax-music", "prompt": "x", "stems": True}
        )
    assert_error(refused, 402, "insufficient_credits")
    assert "45 credits (30 song + 10 stems + 5 lossless)" in refused.json()["error"]["message"]
    assert fine.status_code == 200


def test_each_link_opens_its_own_file_only(server_factory: Any, catalog: Path) -> None:
    server = extensions_server(server_factory, catalog)
    done = server.wait_for(create(server, format="wav", stems=True, lyrics_timing=True))
    output = done["output"]
    vocals, instrumental = output["stems"]["vocals"], output["stems"]["instrumental"]
    signed_for_vocals = vocals.split("?", 1)[1]
    misused = [
        instrumental.split("?", 1)[0] + "?" + signed_for_vocals,
        output["lrc_url"].split("?", 1)[0] + "?" + signed_for_vocals,
        # The song's signature opens the song, not a stem.
        vocals.split("?", 1)[0] + "?" + output["audio_url"].split("?", 1)[1],
        # The song is a WAV: its link does not open an .mp3 or .flac path.
        output["audio_url"].replace(".wav?", ".flac?"),
        vocals.replace("vocals.wav", "vocals.flac"),
        vocals.replace("sig=", "sig=0"),
    ]
    for url in misused:
        response = httpx.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_retention_takes_every_file_of_the_task(
    server_factory: Any, catalog: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    overrides: dict[str, Any] = {}
    if backend == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        overrides = {"storage_url": f"s3://{bucket}/a", "s3_endpoint_url": s3.endpoint}
    server = extensions_server(server_factory, catalog, **overrides)
    done = server.wait_for(create(server, format="flac", stems=True, lyrics_timing=True))
    task_id, output = done["task_id"], done["output"]
    storage = server.context.storage
    keys = [
        f"{task_id}/attempt-1{tail}"
        for tail in (".flac", "-vocals.flac", "-instrumental.flac", ".lrc")
    ]
    assert all(storage.exists(key) for key in keys)
    if backend == "s3":
        head = s3.client().head_object(Bucket=bucket, Key=f"a/{task_id}/attempt-1-vocals.flac")
        assert head["ContentType"] == "audio/flac"
    with server.db.write() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(finished_at=utcnow() - timedelta(days=31))
        )
    server.context.finished_tasks._entries.clear()  # polls of finished tasks are cached
    assert sweep_expired_audio(server.db, storage, timedelta(days=30)) == 1
    assert not any(storage.exists(key) for key in keys)
    with server.client() as client:
        view = client.get(f"/api/v1/tasks/{task_id}").json()["data"]["output"]
    assert view["audio_url"] is None and view["lrc_url"] is None
    assert view["stems"] == {"vocals": None, "instrumental": None}
    assert view["lyrics"] == output["lyrics"]  # the facts stay
    for url in (output["audio_url"], output["lrc_url"], *output["stems"].values()):
        gone = httpx.get(url)
        assert gone.status_code == 404 and "retention" in gone.json()["error"]["message"]


def test_the_catalog_says_what_each_model_supports(server_factory: Any, catalog: Path) -> None:
    server = extensions_server(server_factory, catalog)
    with server.client() as client:
        models = {m["id"]: m for m in client.get("/api/v1/models").json()["data"]}
    full, plain = models["minimax-music"], models["plain"]
    assert full["features"] == ["wav", "flac", "instrumental", "stems", "lyrics_timing"]
    assert (full["price_stems"], full["price_lossless"]) == (10, 5)
    assert plain["features"] == [] and (plain["price_stems"], plain["price_lossless"]) == (0, 0)
    assert models["only-instrumental"]["features"] == ["instrumental"]
    names = [p["name"] for p in full["parameters"]]
    assert names[-4:] == ["format", "instrumental", "stems", "lyrics_timing"]
    fmt = next(p for p in full["parameters"] if p["name"] == "format")
    assert fmt["enum"] == ["mp3", "wav", "flac"] and fmt["default"] == "mp3"
    assert [p["name"] for p in plain["parameters"]][-1] == "duration"


def test_the_real_composer_delivers_flac_stems_and_timed_lyrics(server_factory: Any) -> None:
    """End to end on the embedded composer (not a port): the built-in catalog's
    minimax-music, a short song, every file decoded and checked against the answer."""
    from songforge.engines.composer import create_engine

    server = server_factory(engines={"minimax-music": create_engine({})})
    lyrics = "[Verse]\nHold on to the summer light\n[Chorus]\nSing it out tonight"
    with server.client() as client:
        created = client.post(
            "/api/v1/audio/music",
            json={
                "model": "minimax-music",
                "prompt": "A gentle pop song, male vocals",
                "lyrics": lyrics,
                "seed": 5,
                "duration": 8,
                "format": "flac",
                "sample_rate": 24000,
                "stems": True,
                "lyrics_timing": True,
            },
        )
    assert created.status_code == 200, created.text
    done = server.wait_for(created.json()["data"]["task_id"], timeout=300)
    assert done["status"] == "completed", done
    output = done["output"]
    assert output["engine"].startswith("songforge-composer/")
    assert (output["format"], output["bit_depth"], output["sample_rate"]) == ("flac", 16, 24000)
    heard = {}
    for name, url in (("song", output["audio_url"]), *output["stems"].items()):
        info, samples = decoded(fetch(url).content)
        assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 24000), name
        assert abs(info.frames / 24000 - output["duration_seconds"]) <= 1 / 24000, name
        heard[name] = samples
    # Resampled once, from the composer's 44.1 kHz: the stems still add up to the song.
    residual = heard["vocals"] + heard["instrumental"] - heard["song"]
    assert float(np.abs(residual).max()) < 3e-3
    assert float(np.sqrt(np.mean(heard["vocals"] ** 2))) > 0.01
    words = [w for line in output["lyrics"]["lines"] for w in line["words"]]
    assert [w["text"] for w in words][:3] == ["Hold", "on", "to"]
    assert all(0 <= w["start"] <= w["end"] <= output["duration_seconds"] for w in words)
    lrc = fetch(output["lrc_url"]).content.decode()
    first = words[0]
    minutes, seconds = divmod(round(first["start"] * 100), 6000)
    assert f"<{minutes:02d}:{seconds // 100:02d}.{seconds % 100:02d}>Hold " in lrc
