"""MiniMax Music 3 on a GPU: the reference diffusers pipeline and our adapter, side by side.

Builds the full-size architectures with random weights in bf16 (a Qwen3-8B-shaped
language model, the default depth decoder, condition encoder, flow-matching
transformer and vocoder: about 23 GB), then renders 60 s and 180 s songs with

- ``reference``      diffusers' MiniMaxMusic3 modular pipeline as shipped;
- ``adapter``        our engine (static KV cache, CUDA graphs, sparse host syncs);
- ``adapter-eager``  our engine without CUDA graphs (what the graphs buy);
- ``adapter-batch4`` four songs through ``generate_many`` (shared weight reads);

and reports seconds of audio per second of wall time, the autoregressive stage's
milliseconds per frame, and peak GPU memory. A ``parity`` check runs first: the
same prompt and seed through diffusers' autoregressive step and through our loop,
comparing logits, sampled codes, hidden states and generator state.

Random weights rarely pick the end token, and a song that ends early would make
the timing meaningless, so the end token is masked (as in
shared/tools/gpu/m3_ar_bench.py); every song runs to its full length.

Every row is appended as one JSON line to ``--results``; ``--report`` prints the
markdown table for docs/benchmarks.md from that file. One full run takes about
25 minutes on an H100 (the reference 180 s song alone about 11); split it with
``--variants`` and ``--durations`` where a command's time is limited.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = ("reference", "adapter", "adapter-eager", "adapter-batch4")
FRAME_RATE = 25.0
CAPTION = (
    "Anthemic synth-pop with a bright female lead vocal, driving four-on-the-floor drums, "
    "warm analog pads and a big chorus"
)
VERSE = "City lights are calling out my name tonight\nWe run until the morning breaks\n"


def lyrics_of(chars: int) -> str:
    """Lyrics of about ``chars`` characters (≈ tokens with the byte-level tokenizer)."""
    blocks = []
    while sum(len(b) for b in blocks) < chars:
        tag = "[chorus]" if len(blocks) % 2 else "[verse]"
        blocks.append(f"{tag}\n{VERSE}")
    return "".join(blocks)


# ------------------------------------------------------------------- models


def build_components(device: Any, dtype: Any, seed: int) -> dict[str, Any]:
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        MiniMaxMusic3ConditionEncoder,
        MiniMaxMusic3RVQDepthDecoder,
        MiniMaxMusic3Transformer1DModel,
        MiniMaxMusic3Vocoder,
    )
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from tests.engines.tiny_models import M3_SPECIAL_TOKENS, byte_level_tokenizer, quiet_weight_norm

    torch.manual_seed(seed)
    lm_config = Qwen3Config(
        vocab_size=168064,
        hidden_size=4096,
        intermediate_size=12288,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=16384,
        rope_theta=1e6,
        tie_word_embeddings=False,
    )
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device), quiet_weight_norm():
            components = {
                "language_model": Qwen3ForCausalLM(lm_config).eval(),
                "rvq_depth_decoder": MiniMaxMusic3RVQDepthDecoder().eval(),
                "condition_encoder": MiniMaxMusic3ConditionEncoder().eval(),
                "transformer": MiniMaxMusic3Transformer1DModel().eval(),
                "vocoder": MiniMaxMusic3Vocoder().eval(),
            }
    finally:
        torch.set_default_dtype(torch.float32)
    components["scheduler"] = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1, shift=1.0, invert_sigmas=True
    )
    components["tokenizer"] = byte_level_tokenizer(M3_SPECIAL_TOKENS)
    return components


def tiny_components(scratch: Path) -> dict[str, Any]:
    """The test suite's tiny checkpoint, loaded back as components (for --smoke)."""
    from diffusers import ModularPipeline

    from tests.engines.tiny_models import build_tiny_minimax_music3, quiet_weight_norm

    root = build_tiny_minimax_music3(scratch / "tiny-minimax-music3")
    pipeline = ModularPipeline.from_pretrained(str(root), local_files_only=True)
    with quiet_weight_norm():
        pipeline.load_components(local_files_only=True)
    names = ("tokenizer", "language_model", "rvq_depth_decoder", "condition_encoder")
    names += ("transformer", "vocoder", "scheduler")
    return {name: getattr(pipeline, name) for name in names}


def mask_end_token(language_model: Any) -> None:
    import torch
    from diffusers.modular_pipelines.minimax_music3 import encoders

    def hook(_module: Any, _inputs: Any, output: Any) -> Any:
        return output.index_fill(-1, end, -float("inf"))

    end = torch.tensor([encoders._AUDIO_END_TOKEN_ID], device=language_model.device)
    language_model.lm_head.register_forward_hook(hook)


def new_pipeline(components: dict[str, Any]) -> Any:
    from diffusers import MiniMaxMusic3Blocks

    pipeline = MiniMaxMusic3Blocks().init_pipeline()
    pipeline.update_components(**components)
    return pipeline


def param_count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


def measure_bandwidth(device: Any) -> float:
    """Bytes per second of a large device-to-device copy (read + write)."""
    import torch

    source = torch.empty(1 << 30, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    for _ in range(3):
        target.copy_(source)
    torch.cuda.synchronize()
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        target.copy_(source)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    del source, target
    torch.cuda.empty_cache()
    return 2 * (1 << 30) * rounds / elapsed


# ------------------------------------------------------------------ timing


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_gib() -> float:
    import torch

    if not torch.cuda.is_available():
        return 0.0
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:

    sync()
    box = {"start": time.perf_counter()}
    yield box
    sync()
    box["seconds"] = time.perf_counter() - box["start"]


def time_reference_ar(pipeline: Any) -> dict[str, float]:
    """Swap in a timing subclass of diffusers' own autoregressive step (same code path)."""
    from diffusers.modular_pipelines.minimax_music3.encoders import (
        MiniMaxMusic3AutoregressiveStep,
    )

    box: dict[str, float] = {}

    class TimedStep(MiniMaxMusic3AutoregressiveStep):  # type: ignore[misc]
        def __call__(self, components: Any, state: Any) -> Any:
            sync()
            start = time.perf_counter()
            result = super().__call__(components, state)
            sync()
            box["seconds"] = time.perf_counter() - start
            return result

    pipeline._blocks.sub_blocks["semantic_generator"].sub_blocks["generate"] = TimedStep()
    return box


def time_loop(engine: Any) -> dict[str, float]:

    box: dict[str, float] = {}
    loop = engine._stages.loop
    original: Callable[..., Any] = loop.generate

    def timed(*args: Any, **kwargs: Any) -> Any:
        sync()
        start = time.perf_counter()
        result = original(*args, **kwargs)
        sync()
        box["seconds"] = time.perf_counter() - start
        return result

    loop.generate = timed
    return box


# -------------------------------------------------------------------- runs


def run_variant(
    variant: str,
    seconds: float,
    components: dict[str, Any],
    device: Any,
    steps: int,
) -> dict[str, Any]:

    from songforge.engines.base import GenerationRequest
    from songforge.engines.gpu_common import diffusers_reference_call, make_generator
    from songforge.engines.minimax_music3 import MiniMaxMusic3Engine, MiniMaxMusic3Options

    lyrics = lyrics_of(480)
    songs = 4 if variant == "adapter-batch4" else 1
    reset_peak()
    if variant == "reference":
        pipeline = new_pipeline(components)
        ar_box = time_reference_ar(pipeline)
        with stopwatch() as total, diffusers_reference_call():
            audio = pipeline(
                prompt=CAPTION,
                lyrics=lyrics,
                audio_duration=seconds,
                generator=make_generator(0, device),
                num_inference_steps=steps,
                output_type="np",
                output="audios",
            )
        audio_seconds = audio.shape[-1] / 44100
    else:
        options = MiniMaxMusic3Options(
            weights_dir=Path("in-memory"),
            num_inference_steps=steps,
            cuda_graphs=variant != "adapter-eager",
            max_duration_seconds=max(seconds, 1.0),
        )
        engine = MiniMaxMusic3Engine.from_pipeline(new_pipeline(components), options, device)
        ar_box = time_loop(engine)
        requests = [
            GenerationRequest(
                prompt=CAPTION, lyrics=lyrics, seed=i, duration=seconds, sample_rate=44100
            )
            for i in range(songs)
        ]
        with stopwatch() as total:
            results = engine.generate_many(requests, lambda stage, fraction: None)
        audio_seconds = sum(r.duration_seconds for r in results)
    frames = int(seconds * FRAME_RATE) * songs
    ar_seconds = ar_box.get("seconds", float("nan"))
    return {
        "variant": variant,
        "song_seconds": seconds,
        "songs": songs,
        "audio_seconds": round(audio_seconds, 2),
        "wall_seconds": round(total["seconds"], 2),
        "audio_per_wall": round(audio_seconds / total["seconds"], 3),
        "ar_seconds": round(ar_seconds, 2),
        "ar_ms_per_frame": round(1000 * ar_seconds / max(frames, 1), 2),
        "ar_audio_per_wall": round(frames / FRAME_RATE / ar_seconds, 3),
        "peak_gib": peak_gib(),
        "inference_steps": steps,
    }


def parity(components: dict[str, Any], device: Any, frames: int) -> dict[str, Any]:
    """diffusers' step versus our loop on the same prompt and seed (CUDA generators)."""
    import torch
    from diffusers.modular_pipelines.minimax_music3 import encoders
    from diffusers.modular_pipelines.modular_pipeline import PipelineState

    from songforge.engines.gpu_common import diffusers_reference_call
    from songforge.engines.m3_fast_loop import ARRequest, FastAutoregressiveLoop, FastLoopOptions

    lm, dd = components["language_model"], components["rvq_depth_decoder"]
    text = (
        f"<|im_start|><|caption_start|>{CAPTION}<|caption_end|><|lyrics_start|>"
        f"[start]\n{lyrics_of(480)}<|lyrics_end|><|im_end|><|audio_start|>"
    )
    ids = components["tokenizer"](text, return_tensors="pt")["input_ids"]
    unconditional = ids.clone()
    unconditional[:, 1:-2] = encoders._AUDIO_CFG_TOKEN_ID
    text_ids = torch.cat([ids, unconditional]).to(device)

    recorded: list[Any] = []
    original = encoders._sample_top_k

    def spy(logits: Any, generator: Any) -> Any:
        recorded.append(logits.detach().float().clone())
        return original(logits, generator)

    class Components:
        language_model = lm
        rvq_depth_decoder = dd
        frame_rate = FRAME_RATE

    generator = torch.Generator(device).manual_seed(7)
    state = PipelineState()
    state.set("text_ids", text_ids)
    state.set("audio_duration", frames / FRAME_RATE)
    state.set("generator", generator)
    encoders._sample_top_k = spy
    try:
        with diffusers_reference_call():
            _, state = encoders.MiniMaxMusic3AutoregressiveStep()(Components(), state)
    finally:
        encoders._sample_top_k = original
    ref_hiddens, ref_state = state.get("frame_hiddens"), generator.get_state()

    report: dict[str, Any] = {"variant": "parity", "frames": frames}
    loop = FastAutoregressiveLoop(lm, dd)
    ours: list[tuple[str, int, Any]] = []
    generator = torch.Generator(device).manual_seed(7)
    (hiddens,) = loop.generate(
        [ARRequest(text_ids, frames, generator)], FastLoopOptions(record=ours, cuda_graphs=False)
    )
    # Every logit row the reference sampled from, against ours (masked entries
    # are -inf on both sides and count as equal).
    pairs = list(zip((row for _, _, row in ours), recorded, strict=False))
    report["logit_rows_compared"] = len(pairs)
    report["eager_max_abs_logit_diff"] = max(
        float((a.float() - b).nan_to_num(0.0, 0.0, 0.0).abs().max()) for a, b in pairs
    )
    report["eager_hiddens_equal"] = bool(torch.equal(hiddens, ref_hiddens))
    report["eager_hiddens_max_diff"] = float((hiddens.float() - ref_hiddens.float()).abs().max())
    report["eager_generator_state_equal"] = bool(torch.equal(generator.get_state(), ref_state))

    generator = torch.Generator(device).manual_seed(7)
    (graph_hiddens,) = loop.generate(
        [ARRequest(text_ids, frames, generator)], FastLoopOptions(cuda_graphs=True)
    )
    report["graphs_hiddens_equal_eager"] = bool(torch.equal(graph_hiddens, hiddens))
    # The graph path attends with a mask over a bucketed length: bf16 rounding differs
    # slightly, and once one sampled code differs the songs part ways. How long they agree:
    report["graphs_frames_before_divergence"] = frames_in_agreement(graph_hiddens, ref_hiddens)
    report["reference_frames"] = int(ref_hiddens.shape[1])
    report["graphs_hiddens_max_diff"] = float(
        (graph_hiddens.float() - ref_hiddens.float()).abs().max()
    )
    report["graphs_generator_state_equal"] = bool(torch.equal(generator.get_state(), ref_state))
    return report


def frames_in_agreement(ours: Any, reference: Any) -> int:
    """Leading frames whose hidden states are within 1 % of the reference's scale."""
    count = min(int(ours.shape[1]), int(reference.shape[1]))
    diff = (ours[0, :count].float() - reference[0, :count].float()).abs().amax(dim=-1)
    scale = reference[0, :count].float().abs().amax(dim=-1).clamp_min(1e-6)
    over = (diff > 0.01 * scale).nonzero()
    return int(over[0, 0]) if over.numel() else count


# ------------------------------------------------------------------- report


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| variant | song | songs | wall | audio s / wall s | AR ms/frame | AR audio s / wall s "
        "| peak GiB | device | when |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.get("variant") in ("parity", "environment"):
            continue
        lines.append(
            f"| {row['variant']} | {row['song_seconds']:.0f} s | {row['songs']} "
            f"| {row['wall_seconds']:.1f} s | {row['audio_per_wall']:.2f}x "
            f"| {row['ar_ms_per_frame']:.1f} | {row['ar_audio_per_wall']:.2f}x "
            f"| {row['peak_gib']:.1f} | {row.get('device', '?')} | {row.get('when', '?')} |"
        )
    for row in rows:
        if row.get("variant") in ("parity", "environment"):
            facts = ", ".join(f"{k}={v}" for k, v in row.items() if k != "variant")
            lines.append(f"\n{row['variant']}: {facts}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--durations", default="60,180", help="song lengths in seconds")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=30, help="flow-matching steps per chunk")
    parser.add_argument("--parity-frames", type=int, default=100, help="0 skips the check")
    parser.add_argument("--results", type=Path, default=ROOT / "bench-results" / "gpu.jsonl")
    parser.add_argument("--report", action="store_true", help="print the table and exit")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny random models on CPU: checks this script's plumbing, measures nothing",
    )
    args = parser.parse_args(argv)

    if args.report:
        rows = [json.loads(line) for line in args.results.read_text().splitlines() if line]
        print(markdown(rows))
        return 0

    import diffusers
    import torch
    import transformers

    if args.smoke:
        device, dtype, device_name = torch.device("cpu"), torch.float32, "cpu smoke test"
    elif torch.cuda.is_available():
        device, dtype = torch.device("cuda"), torch.bfloat16
        device_name = torch.cuda.get_device_name(device)
    else:
        print("bench_gpu: no CUDA device; nothing measured", file=sys.stderr)
        return 2
    args.results.parent.mkdir(parents=True, exist_ok=True)
    stamp = {
        "device": device_name,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }

    def emit(row: dict[str, Any]) -> None:
        row = {**row, **stamp}
        print(json.dumps(row), flush=True)
        with args.results.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    started = time.perf_counter()
    components = (
        tiny_components(args.results.parent) if args.smoke else build_components(device, dtype, 0)
    )
    mask_end_token(components["language_model"])
    lm_params = param_count(components["language_model"])
    dd_params = param_count(components["rvq_depth_decoder"])
    # On CPU (--smoke) there is no meaningful floor; 1 TB/s keeps the arithmetic going.
    bandwidth = measure_bandwidth(device) if device.type == "cuda" else 1e12
    # Decoding one frame must read the language model once and the depth decoder
    # seven times (bf16: 2 bytes a parameter); at batch one that is the floor. The
    # embedding tables are only gathered (one row each), and each depth step uses
    # one of the seven codebook heads.
    lm, dd = components["language_model"], components["rvq_depth_decoder"]
    lm_read = lm_params - lm.model.embed_tokens.weight.numel()
    heads = list(dd.audio_heads)
    dd_read = dd_params - dd.audio_embeddings.weight.numel() - dd.pos_embedding.weight.numel()
    dd_read -= (len(heads) - 1) * heads[0].weight.numel()
    floor_ms = 2 * (lm_read + len(heads) * dd_read) / bandwidth * 1000
    emit(
        {
            "variant": "environment",
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "lm_params_b": round(lm_params / 1e9, 2),
            "depth_params_b": round(dd_params / 1e9, 2),
            "weights_read_per_frame_gb": round(2 * (lm_read + len(heads) * dd_read) / 1e9, 2),
            "copy_bandwidth_tb_s": round(bandwidth / 1e12, 2),
            "ar_floor_ms_per_frame": round(floor_ms, 2),
            "ar_floor_audio_per_wall": round(1000 / FRAME_RATE / floor_ms, 2),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
    )
    if args.parity_frames > 0:
        emit(parity(components, device, args.parity_frames))
    durations = [float(d) for d in args.durations.split(",") if d]
    for variant in [v for v in args.variants.split(",") if v]:
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}; choose from {VARIANTS}")
        for seconds in durations:
            emit(run_variant(variant, seconds, components, device, args.steps))
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line]
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
