"""ACE-Step 1.5 adapter: options, weights checks, translation, tiny-model rendering."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from songforge.audio.mp3_frames import read_mp3_info
from songforge.engines.ace_step import INSTRUMENTAL_LYRICS, ace_caption, ace_lyrics
from songforge.engines.base import EngineUnavailable, GenerationRequest
from songforge.engines.registry import check_engine, create_engine
from tests.engines.gpu_support import need_gpu_stack, requires_gpu_stack

ENGINE = "ace-step"


# ------------------------------------------------------------ no torch needed


def test_lyrics_tags_lower_case_on_their_own_lines_numbers_kept() -> None:
    assert ace_lyrics("[Verse 1] Neon rain\n[Chorus]\nWe run [Bridge] and fall") == (
        "[verse 1]\nNeon rain\n[chorus]\nWe run\n[bridge]\nand fall"
    )


def test_no_sung_text_is_an_instrumental() -> None:
    assert ace_lyrics("") == INSTRUMENTAL_LYRICS
    assert ace_lyrics("[Intro]\n[Outro]") == INSTRUMENTAL_LYRICS


def test_caption_is_one_line_without_template_tokens() -> None:
    assert ace_caption("Lo-fi hip hop\n  mellow   keys <|endoftext|>") == (
        "Lo-fi hip hop, mellow keys"
    )


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def ace_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_gpu_stack()
    from tests.engines.tiny_models import build_tiny_ace_step

    return build_tiny_ace_step(tmp_path_factory.mktemp("weights") / "ace-step")


@pytest.fixture(scope="module")
def ace_engine(ace_checkpoint: Path) -> Any:
    engine = create_engine(ENGINE, {"weights_dir": str(ace_checkpoint)})
    engine.load()
    return engine


def request(**overrides: Any) -> GenerationRequest:
    values: dict[str, Any] = {
        "prompt": "Lo-fi hip hop, mellow keys",
        "lyrics": "[Verse]\nrain on the window",
        "seed": 5,
        "duration": 2.0,
        "sample_rate": 44100,
    }
    values.update(overrides)
    return GenerationRequest(**values)


@requires_gpu_stack
def test_missing_or_incomplete_weights_keep_the_model_off_line(
    ace_checkpoint: Path, tmp_path: Path
) -> None:
    with pytest.raises(EngineUnavailable, match="weights_dir"):
        create_engine(ENGINE, {})
    assert "does not exist" in (check_engine(ENGINE, {"weights_dir": str(tmp_path / "x")}) or "")
    broken = tmp_path / "broken"
    shutil.copytree(ace_checkpoint, broken)
    shutil.rmtree(broken / "vae")
    (broken / "text_encoder" / "config.json").unlink()
    reason = check_engine(ENGINE, {"weights_dir": str(broken)})
    assert reason is not None
    assert "vae/ is missing" in reason and "text_encoder/ has no config file" in reason


@requires_gpu_stack
def test_corrupt_weights_fail_at_load_not_later(ace_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "corrupt"
    shutil.copytree(ace_checkpoint, broken)
    for weights in (broken / "transformer").glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    engine = create_engine(ENGINE, {"weights_dir": str(broken)})  # the files are there
    with pytest.raises(EngineUnavailable, match="cannot load"):
        engine.load()


@requires_gpu_stack
def test_create_engine_loads_nothing(ace_checkpoint: Path) -> None:
    engine = create_engine(ENGINE, {"weights_dir": str(ace_checkpoint)})
    assert not engine.loaded  # type: ignore[attr-defined]


@requires_gpu_stack
def test_renders_the_asked_length_at_the_model_rate(ace_engine: Any) -> None:
    stages: list[tuple[str, float]] = []
    result = ace_engine.generate(request(), lambda stage, f: stages.append((stage, f)))
    # The model's own rate: the worker's delivery step resamples to the requested one.
    assert result.sample_rate == result.metadata["native_sample_rate"]
    assert result.samples.shape == (2 * result.sample_rate, 2)
    assert result.engine == ENGINE
    assert result.metadata["turbo"] is True and result.metadata["inference_steps"] == 8
    peak = float(np.abs(result.samples).max())
    assert 0.5 < peak <= 1.0  # the pipeline normalises to -1 dBFS
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


@requires_gpu_stack
def test_same_seed_same_song_other_seed_other_song(ace_engine: Any) -> None:
    first = ace_engine.generate(request(seed=1), lambda s, f: None).samples
    again = ace_engine.generate(request(seed=1), lambda s, f: None).samples
    other = ace_engine.generate(request(seed=2), lambda s, f: None).samples
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


@requires_gpu_stack
def test_duration_is_held_to_the_engine_limits(ace_checkpoint: Path) -> None:
    engine = create_engine(
        ENGINE, {"weights_dir": str(ace_checkpoint), "max_duration_seconds": 1.0}
    )
    result = engine.generate(request(duration=30.0, sample_rate=16000), lambda s, f: None)
    assert result.samples.shape == (result.sample_rate, 2)


@requires_gpu_stack
def test_song_through_the_api(server_factory: Any, ace_checkpoint: Path) -> None:
    engine = create_engine(
        ENGINE, {"weights_dir": str(ace_checkpoint), "max_duration_seconds": 2.0}
    )
    engine.load()
    server = server_factory(engines={"ace-step-1.5": engine})
    body = {
        "model": "ace-step-1.5",
        "prompt": "Lo-fi hip hop",
        "lyrics": "[Verse]\nrain on the window",
        "bitrate": 60000,
        "sample_rate": 32000,
        "seed": 3,
    }
    with server.client() as client:
        created = client.post("/api/v1/audio/music", json=body)
        assert created.status_code == 200, created.text
        task = server.wait_for(created.json()["data"]["task_id"], timeout=120)
        assert task["status"] == "completed", task
        output = task["output"]
        assert output["engine"] == ENGINE and output["bitrate_mode"] == "abr"
        assert output["sample_rate"] == 32000 and abs(output["duration_seconds"] - 2.0) < 0.1
        response = client.get(output["audio_url"])
    assert response.status_code == 200
    info = read_mp3_info(response.content)
    assert info.sample_rate == 32000 and info.channels == 2
