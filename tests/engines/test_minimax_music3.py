"""MiniMax Music 3 adapter: options, weights checks, translation, tiny-model rendering,
and the fast autoregressive loop against diffusers' own step."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from songforge.audio.mp3_frames import read_mp3_info
from songforge.catalog import load_catalog
from songforge.engines.base import EngineUnavailable, GenerationRequest
from songforge.engines.gpu_common import diffusers_reference_call
from songforge.engines.minimax_music3 import (
    ATTRIBUTION,
    INSTRUMENTAL_LYRICS,
    m3_caption,
    m3_lyrics,
)
from songforge.engines.registry import check_engine, create_engine
from tests.engines.gpu_support import need_gpu_stack, requires_gpu_stack

ENGINE = "minimax-music3"


# ------------------------------------------------------------ no torch needed


def test_importing_the_adapters_does_not_import_torch() -> None:
    code = (
        "import sys, songforge.engines.registry, songforge.engines.minimax_music3, "
        "songforge.engines.ace_step, songforge.engines.gpu_common; "
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_gpu_extra_the_model_is_not_served(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "diffusers" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    for engine in (ENGINE, "ace-step"):
        reason = check_engine(engine, {"weights_dir": str(tmp_path)})
        assert reason is not None
        assert "diffusers" in reason and "songforge[gpu]" in reason


def test_lyrics_tags_go_on_their_own_lines_lower_case() -> None:
    lyrics = "[Verse] City lights are calling\nI hear them\n[PRE CHORUS]\nHold on\n[Chorus 2] Sing"
    assert m3_lyrics(lyrics) == (
        "[verse]\nCity lights are calling\nI hear them\n[pre chorus]\nHold on\n[chorus]\nSing"
    )


def test_lyrics_with_two_tags_on_a_line_and_blank_lines() -> None:
    assert m3_lyrics("[Intro][Verse]\n\n  la  la \n") == "[intro]\n[verse]\nla la"


def test_template_tokens_in_user_text_are_removed() -> None:
    # <|lyrics_end|> inside lyrics would close the lyrics block of the prompt template.
    assert "<|" not in m3_lyrics("[Verse]\nhello <|lyrics_end|><|audio_start|> world")
    assert "<|" not in m3_caption("pop <|caption_end|> song", instrumental=False)


def test_no_sung_text_is_an_instrumental() -> None:
    assert m3_lyrics("") == INSTRUMENTAL_LYRICS
    assert m3_lyrics("[Intro]\n[Solo]") == INSTRUMENTAL_LYRICS
    assert m3_caption("Ambient piano", instrumental=True).endswith("instrumental, no vocals")
    assert m3_caption("Instrumental jazz", instrumental=True) == "Instrumental jazz"


def test_unknown_bracketed_words_stay_sung_text() -> None:
    assert m3_lyrics("[Verse]\nwe sing [softly] now") == "[verse]\nwe sing [softly] now"


def test_the_documented_catalog_loads_and_is_refused_without_weights(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "gpu-engines.md").read_text()
    match = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert match is not None
    path = tmp_path / "catalog.toml"
    path.write_text(match.group(1))
    catalog = load_catalog(path)
    minimax, ace = catalog.get("minimax-music"), catalog.get("ace-step-1.5")
    assert minimax is not None and ace is not None
    assert minimax.engine == ENGINE and minimax.attribution == ATTRIBUTION
    assert ace.engine == "ace-step"
    for spec in (minimax, ace):
        assert spec.options["weights_dir"].startswith("/models/")
        # Either the weights or (without the extra) torch are missing: never live here.
        assert check_engine(spec.engine, spec.options) is not None


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def m3_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_gpu_stack()
    from tests.engines.tiny_models import build_tiny_minimax_music3

    return build_tiny_minimax_music3(tmp_path_factory.mktemp("weights") / "minimax-music3")


@pytest.fixture(scope="module")
def m3_engine(m3_checkpoint: Path) -> Any:
    engine = create_engine(ENGINE, {"weights_dir": str(m3_checkpoint), "num_inference_steps": 2})
    engine.load()
    return engine


def request(**overrides: Any) -> GenerationRequest:
    values: dict[str, Any] = {
        "prompt": "Bright synth pop, female vocal",
        "lyrics": "[Verse] hello city lights\n[Chorus]\nsing along",
        "seed": 11,
        "duration": 1.0,
        "sample_rate": 32000,
    }
    values.update(overrides)
    return GenerationRequest(**values)


@requires_gpu_stack
def test_missing_weights_dir_option_is_a_clear_error() -> None:
    with pytest.raises(EngineUnavailable, match="weights_dir"):
        create_engine(ENGINE, {})


@requires_gpu_stack
def test_missing_directory_keeps_the_model_off_line(tmp_path: Path) -> None:
    reason = check_engine(ENGINE, {"weights_dir": str(tmp_path / "nowhere")})
    assert reason is not None and "does not exist" in reason


@requires_gpu_stack
def test_incomplete_directory_names_what_is_missing(m3_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(m3_checkpoint, broken)
    for weights in (broken / "vocoder").glob("*.safetensors"):
        weights.unlink()
    shutil.rmtree(broken / "tokenizer")
    reason = check_engine(ENGINE, {"weights_dir": str(broken)})
    assert reason is not None
    assert "vocoder/ has no weight files" in reason and "tokenizer/ is missing" in reason
    (broken / "modular_model_index.json").unlink()
    with pytest.raises(EngineUnavailable, match="not a pipeline checkpoint"):
        create_engine(ENGINE, {"weights_dir": str(broken)})


@requires_gpu_stack
def test_corrupt_weights_fail_at_load_not_later(m3_checkpoint: Path, tmp_path: Path) -> None:
    broken = tmp_path / "corrupt"
    shutil.copytree(m3_checkpoint, broken)
    for weights in (broken / "vocoder").glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    engine = create_engine(ENGINE, {"weights_dir": str(broken)})  # the files are there
    with pytest.raises(EngineUnavailable, match="vocoder"):
        engine.load()
    assert not engine.loaded  # type: ignore[attr-defined]


@requires_gpu_stack
def test_bad_options_are_refused(m3_checkpoint: Path) -> None:
    with pytest.raises(EngineUnavailable, match="ar_loop"):
        create_engine(ENGINE, {"weights_dir": str(m3_checkpoint), "ar_loop": "turbo"})
    with pytest.raises(EngineUnavailable, match="num_inference_steps"):
        create_engine(ENGINE, {"weights_dir": str(m3_checkpoint), "num_inference_steps": 0})


@requires_gpu_stack
def test_create_engine_loads_nothing(m3_checkpoint: Path) -> None:
    engine = create_engine(ENGINE, {"weights_dir": str(m3_checkpoint)})
    assert engine.name == ENGINE
    assert not engine.loaded  # type: ignore[attr-defined]


@requires_gpu_stack
def test_load_is_offline_and_once(m3_engine: Any) -> None:
    import os

    pipeline = m3_engine._pipeline
    m3_engine.load()
    assert m3_engine._pipeline is pipeline
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@requires_gpu_stack
def test_renders_stereo_at_the_model_rate(m3_engine: Any) -> None:
    stages: list[tuple[str, float]] = []
    result = m3_engine.generate(request(), lambda stage, f: stages.append((stage, f)))
    # The model's own rate: the worker's delivery step resamples to the requested one.
    assert result.sample_rate == result.metadata["native_sample_rate"]
    assert result.samples.dtype == np.float32 and result.samples.shape[1] == 2
    assert 0 < result.duration_seconds <= 1.0 + 0.1
    assert np.abs(result.samples).max() <= 1.0 and np.abs(result.samples).max() > 0
    assert result.engine == ENGINE
    assert result.metadata["attribution"] == ATTRIBUTION
    assert result.metadata["ar_loop"] == "fast"
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


@requires_gpu_stack
def test_same_seed_same_song_other_seed_other_song(m3_engine: Any) -> None:
    first = m3_engine.generate(request(seed=3), lambda s, f: None).samples
    again = m3_engine.generate(request(seed=3), lambda s, f: None).samples
    other = m3_engine.generate(request(seed=4), lambda s, f: None).samples
    assert np.array_equal(first, again)
    assert first.shape != other.shape or not np.array_equal(first, other)


@requires_gpu_stack
def test_fast_loop_renders_the_reference_song(m3_engine: Any, m3_checkpoint: Path) -> None:
    reference = create_engine(
        ENGINE,
        {"weights_dir": str(m3_checkpoint), "num_inference_steps": 2, "ar_loop": "reference"},
    )
    ours = m3_engine.generate(request(seed=5), lambda s, f: None)
    theirs = reference.generate(request(seed=5), lambda s, f: None)
    assert theirs.metadata["ar_loop"] == "reference"
    assert np.array_equal(ours.samples, theirs.samples)


@requires_gpu_stack
def test_a_batch_renders_each_song_as_alone(m3_engine: Any) -> None:
    batch = [request(seed=21), request(seed=22, lyrics="", duration=1.5, sample_rate=16000)]
    together = m3_engine.generate_many(batch, lambda s, f: None)
    for alone_request, result in zip(batch, together, strict=True):
        alone = m3_engine.generate(alone_request, lambda s, f: None)
        assert result.sample_rate == alone.sample_rate
        assert result.samples.shape == alone.samples.shape
        # Rows of different lengths share masked attention: equal up to rounding.
        np.testing.assert_allclose(result.samples, alone.samples, atol=1e-4)


@requires_gpu_stack
def test_instrumental_request_renders(m3_engine: Any) -> None:
    result = m3_engine.generate(request(lyrics="", sample_rate=16000), lambda s, f: None)
    assert result.samples.shape[0] > 0


# ------------------------------------------- fast loop versus diffusers' step


@pytest.fixture(scope="module")
def tiny_lm() -> tuple[Any, Any]:
    need_gpu_stack()
    from tests.engines.tiny_models import tiny_m3_language_models

    return tiny_m3_language_models(seed=1)  # type: ignore[no-any-return]


def prompt_ids(length: int, seed: int) -> Any:
    import torch
    from diffusers.modular_pipelines.minimax_music3 import encoders

    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 300, (1, length), generator=generator)
    unconditional = ids.clone()
    unconditional[:, 1:-2] = encoders._AUDIO_CFG_TOKEN_ID
    return torch.cat([ids, unconditional])


@contextmanager
def end_token_boost(models: tuple[Any, Any], enabled: bool = True) -> Iterator[None]:
    """Make the end token likely, so songs stop early as trained ones do."""
    import torch

    head = models[0].lm_head.weight
    saved = head[151_670].clone()
    if enabled:
        with torch.no_grad():
            head[151_670] *= 3.0
    try:
        yield
    finally:
        with torch.no_grad():
            head[151_670] = saved


def run_reference(models: tuple[Any, Any], text_ids: Any, frames: int, seed: int) -> Any:
    """diffusers' MiniMaxMusic3AutoregressiveStep, recording every logit row it samples from."""
    import torch
    from diffusers.modular_pipelines.minimax_music3 import encoders
    from diffusers.modular_pipelines.modular_pipeline import PipelineState

    recorded: list[Any] = []
    original = encoders._sample_top_k

    def spy(logits: Any, generator: Any) -> Any:
        recorded.append(logits.detach().clone())
        return original(logits, generator)

    class Components:
        language_model = models[0]
        rvq_depth_decoder = models[1]
        frame_rate = 25.0

    generator = torch.Generator().manual_seed(seed)
    state = PipelineState()
    state.set("text_ids", text_ids)
    state.set("audio_duration", frames / 25.0)
    state.set("generator", generator)
    encoders._sample_top_k = spy
    try:
        with diffusers_reference_call():
            _, state = encoders.MiniMaxMusic3AutoregressiveStep()(Components(), state)
    finally:
        encoders._sample_top_k = original
    return state.get("frame_hiddens"), recorded, generator.get_state()


@requires_gpu_stack
@pytest.mark.parametrize(
    ("seed", "ends_early"),
    [(0, True), (1, False), (2, True), (3, False)],
    ids=["ends-early-0", "full-length-1", "ends-early-2", "full-length-3"],
)
def test_fast_loop_matches_diffusers_bit_for_bit(
    tiny_lm: tuple[Any, Any], seed: int, ends_early: bool
) -> None:
    import torch

    from songforge.engines.m3_fast_loop import ARRequest, FastAutoregressiveLoop, FastLoopOptions

    frames = 30
    text_ids = prompt_ids(18, seed)
    ref_hiddens, ref_logits, ref_state = run_reference(tiny_lm, text_ids, frames, seed)
    # The seeds are chosen so both endings are exercised (the tiny model's end
    # token is tilted); a torch upgrade that reshuffles them needs new seeds.
    assert (ref_hiddens.shape[1] < frames) == ends_early
    recorded: list[tuple[str, int, Any]] = []
    generator = torch.Generator().manual_seed(seed)
    loop = FastAutoregressiveLoop(*tiny_lm)
    # sync_every=7 makes the loop run past the end and wind the generator back.
    (hiddens,) = loop.generate(
        [ARRequest(text_ids, frames, generator)], FastLoopOptions(record=recorded, sync_every=7)
    )
    # The reference's logits, row for row, up to where it stopped (ours ran on).
    assert len(recorded) >= len(ref_logits)
    for (_, _, ours), theirs in zip(recorded, ref_logits, strict=False):
        assert torch.equal(ours, theirs)
    assert torch.equal(hiddens, ref_hiddens)
    # The flow-matching stage draws its noise next, from the same generator.
    assert torch.equal(generator.get_state(), ref_state)


@requires_gpu_stack
@pytest.mark.parametrize("seed", [0, 1])
def test_the_cuda_graph_arithmetic_matches_the_reference(
    tiny_lm: tuple[Any, Any], seed: int
) -> None:
    """Bucketed KV lengths with a mask, as each captured graph runs them (here eagerly)."""
    import torch

    from songforge.engines.m3_fast_loop import ARRequest, FastAutoregressiveLoop, FastLoopOptions

    text_ids = prompt_ids(18, seed)
    ref_hiddens, _, ref_state = run_reference(tiny_lm, text_ids, 30, seed)
    generator = torch.Generator().manual_seed(seed)
    options = FastLoopOptions(bucketed_eager=True, kv_bucket=16, sync_every=7)
    (hiddens,) = FastAutoregressiveLoop(*tiny_lm).generate(
        [ARRequest(text_ids, 30, generator)], options
    )
    assert hiddens.shape == ref_hiddens.shape
    torch.testing.assert_close(hiddens, ref_hiddens, rtol=1e-5, atol=1e-5)
    assert torch.equal(generator.get_state(), ref_state)


@requires_gpu_stack
def test_a_song_that_ends_at_once_fails_like_the_reference(tiny_lm: tuple[Any, Any]) -> None:
    import torch

    from songforge.engines.m3_fast_loop import ARRequest, FastAutoregressiveLoop

    with end_token_boost(tiny_lm):
        with pytest.raises(ValueError, match="zero audio frames"):
            run_reference(tiny_lm, prompt_ids(18, 5), 30, 5)
        request = ARRequest(prompt_ids(18, 5), 30, torch.Generator().manual_seed(5))
        with pytest.raises(ValueError, match="zero audio frames"):
            FastAutoregressiveLoop(*tiny_lm).generate([request])


@requires_gpu_stack
def test_batched_songs_match_their_reference_runs(tiny_lm: tuple[Any, Any]) -> None:
    import torch

    from songforge.engines.m3_fast_loop import ARRequest, FastAutoregressiveLoop

    cases = [(18, 40, 0), (27, 30, 1), (11, 55, 2)]  # prompt length, frames, seed
    requests = [
        ARRequest(prompt_ids(n, s), f, torch.Generator().manual_seed(s)) for n, f, s in cases
    ]
    with end_token_boost(tiny_lm):
        references = [run_reference(tiny_lm, prompt_ids(n, s), f, s) for n, f, s in cases]
        outputs = FastAutoregressiveLoop(*tiny_lm).generate(requests)
    for (ref_hiddens, _, ref_state), ours, req in zip(references, outputs, requests, strict=True):
        # Rows of different lengths share one masked attention call, so sums are
        # reassociated: equal to rounding, and the sampled codes (hence lengths and
        # generator positions) identical.
        assert ours.shape == ref_hiddens.shape
        torch.testing.assert_close(ours, ref_hiddens, rtol=1e-5, atol=1e-5)
        assert req.generator is not None
        assert torch.equal(req.generator.get_state(), ref_state)


# ------------------------------------------------------------ through the API


@requires_gpu_stack
def test_song_through_the_api(server_factory: Any, m3_checkpoint: Path) -> None:
    # The API asks for at least 5 s; the engine's own limit keeps the tiny render short.
    options = {"weights_dir": str(m3_checkpoint), "num_inference_steps": 2}
    engine = create_engine(ENGINE, {**options, "max_duration_seconds": 1.0})
    engine.load()
    server = server_factory(engines={"minimax-music": engine})
    body = {
        "model": "minimax-music",
        "prompt": "Bright synth pop",
        "lyrics": "[Verse]\nhello city lights",
        "bitrate": 128000,
        "sample_rate": 24000,
        "seed": 9,
        "duration": 5,
    }
    with server.client() as client:
        created = client.post("/api/v1/audio/music", json=body)
        assert created.status_code == 200, created.text
        task = server.wait_for(created.json()["data"]["task_id"], timeout=120)
        assert task["status"] == "completed", task
        output = task["output"]
        assert output["engine"] == ENGINE
        assert output["sample_rate"] == 24000 and output["channels"] == 2
        audio = httpx_get(client, output["audio_url"])
    info = read_mp3_info(audio)
    assert info.sample_rate == 24000 and info.channels == 2


@requires_gpu_stack
def test_gpu_benchmark_plumbing_on_cpu(tmp_path: Path) -> None:
    """scripts/bench_gpu --smoke: the GPU benchmark's code path on tiny CPU models."""
    need_gpu_stack()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    try:
        import bench_gpu
    finally:
        sys.path.pop(0)
    results = tmp_path / "gpu.jsonl"
    args = ["--smoke", "--durations", "1", "--steps", "1", "--parity-frames", "10"]
    args += ["--variants", "reference,adapter-batch4", "--results", str(results)]
    assert bench_gpu.main(args) == 0
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    parity = next(row for row in rows if row["variant"] == "parity")
    assert parity["eager_hiddens_equal"] and parity["eager_generator_state_equal"]
    assert parity["eager_max_abs_logit_diff"] == 0.0
    variants = {row["variant"]: row for row in rows}
    assert variants["adapter-batch4"]["songs"] == 4
    assert variants["reference"]["audio_seconds"] == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
@requires_gpu_stack
def test_songforge_serve_with_a_gpu_catalog(m3_checkpoint: Path, tmp_path: Path) -> None:
    """As an operator runs it: a catalog naming the weights, `songforge serve`, worker
    processes that load the model once; a model whose weights are missing is not live."""
    import httpx

    from tests.test_serve import generate_with_printed_curl, run_serve, stop, wait_ready

    catalog = (
        '[models.minimax-music]\nengine = "minimax-music3"\nprice = 30\n'
        'attribution = "MiniMax-Music3"\n'
        f'options = {{ weights_dir = "{m3_checkpoint}", num_inference_steps = 1, '
        "max_duration_seconds = 1.0 }\n"
        '[models."ace-step-1.5"]\nengine = "ace-step"\nprice = 20\n'
        f'options = {{ weights_dir = "{tmp_path / "no-such-weights"}" }}\n'
    )
    process, url, log = run_serve(tmp_path, catalog)
    try:
        wait_ready(url, log, 120)
        task = generate_with_printed_curl(url, log, 120)
        assert task["output"]["engine"] == ENGINE  # type: ignore[index]
        key = re.search(r"Bearer (aio_[A-Za-z0-9_-]+)", log.read_text())
        assert key is not None
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        answer = httpx.get(f"{url}/api/v1/models", headers=headers)
        assert answer.status_code == 200, answer.text
        models = answer.json()["data"]
        assert [m["id"] for m in models] == ["minimax-music"]
        assert models[0]["attribution"] == ATTRIBUTION
    finally:
        stop(process)
    assert "ace-step-1.5 is not served here" in log.read_text()


def httpx_get(client: Any, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.text
    return bytes(response.content)
