"""MiniMax Music 3 (open weights, community licence) through diffusers' modular pipeline.

The catalog entry names a local checkpoint directory (``options.weights_dir``);
nothing is ever fetched from a hub. ``create_engine`` only checks that the
packages and the directory are there; ``load`` reads the weights once per worker
process; ``generate`` renders one song.

The autoregressive stage runs through songforge.engines.m3_fast_loop unless
``options.ar_loop = "reference"``: same sampling, fewer host round trips.

Products that use this model must show the attribution "MiniMax-Music3"
(docs/gpu-engines.md); the adapter reports it in every result's metadata.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songforge.engines.base import (
    AudioResult,
    EngineUnavailable,
    GenerationError,
    GenerationRequest,
    ProgressCallback,
)
from songforge.engines.gpu_common import (
    ComponentRequirement,
    LyricLine,
    choose_device,
    choose_dtype,
    clean_prompt,
    deliver,
    enforce_offline,
    float_option,
    has_sung_text,
    make_generator,
    parse_lyrics,
    pipeline_audio_to_samples,
    require_gpu_packages,
    song_duration,
    validate_weights_dir,
    weights_dir_option,
)

log = logging.getLogger("songforge.engines.minimax_music3")

ENGINE = "minimax-music3"
ATTRIBUTION = "MiniMax-Music3"
INDEX_FILES = ("modular_model_index.json", "model_index.json")
COMPONENTS = (
    ComponentRequirement("tokenizer", "tokenizer"),
    ComponentRequirement("language_model", "weights"),
    ComponentRequirement("rvq_depth_decoder", "weights"),
    ComponentRequirement("condition_encoder", "weights"),
    ComponentRequirement("transformer", "weights"),
    ComponentRequirement("vocoder", "weights"),
    ComponentRequirement("scheduler", "config"),
)
# The pipeline caps the autoregressive stage at 9000 frames of 1/25 s.
MODEL_MAX_SECONDS = 360.0
# One frame; shorter asks make the pipeline refuse.
MIN_SECONDS = 1.0
AR_LOOPS = ("fast", "reference")
INSTRUMENTAL_LYRICS = "[inst]"
INSTRUMENTAL_CAPTION = "instrumental, no vocals"


@dataclass(frozen=True)
class MiniMaxMusic3Options:
    weights_dir: Path
    device: str = "auto"
    dtype: str = "auto"
    ar_loop: str = "fast"
    cuda_graphs: bool = True
    num_inference_steps: int = 30
    default_duration_seconds: float = 60.0
    max_duration_seconds: float = MODEL_MAX_SECONDS


def parse_options(options: Mapping[str, Any]) -> MiniMaxMusic3Options:
    ar_loop = str(options.get("ar_loop", "fast"))
    if ar_loop not in AR_LOOPS:
        raise EngineUnavailable(f"engine {ENGINE!r}: ar_loop must be one of {AR_LOOPS}")
    steps = options.get("num_inference_steps", 30)
    if not isinstance(steps, int) or steps < 1:
        raise EngineUnavailable(
            f"engine {ENGINE!r}: num_inference_steps must be a positive integer"
        )
    return MiniMaxMusic3Options(
        weights_dir=weights_dir_option(ENGINE, options),
        device=str(options.get("device", "auto")),
        dtype=str(options.get("dtype", "auto")),
        ar_loop=ar_loop,
        cuda_graphs=bool(options.get("cuda_graphs", True)),
        num_inference_steps=steps,
        default_duration_seconds=float_option(options, "default_duration_seconds", 60.0),
        max_duration_seconds=min(
            float_option(options, "max_duration_seconds", MODEL_MAX_SECONDS), MODEL_MAX_SECONDS
        ),
    )


def create_engine(options: Mapping[str, Any]) -> MiniMaxMusic3Engine:
    """Validate packages, options and the weights directory; load nothing."""
    require_gpu_packages(ENGINE)
    parsed = parse_options(options)
    validate_weights_dir(ENGINE, parsed.weights_dir, INDEX_FILES, COMPONENTS)
    return MiniMaxMusic3Engine(parsed)


# --------------------------------------------------------------- translation


def m3_lyrics(lyrics: str) -> str:
    """Our lyrics in MiniMax Music 3's contract: each tag alone on its line, lower-case.

    The checkpoint drops any text that shares a line with a leading tag, so
    ``[Verse] hello`` must become two lines. Its tags are the bare section names,
    so ``[Verse 2]`` is sent as ``[verse]``. No sung text means an instrumental.
    """
    lines = parse_lyrics(lyrics)
    if not has_sung_text(lines):
        return INSTRUMENTAL_LYRICS
    return "\n".join(_m3_line(line) for line in lines)


def _m3_line(line: LyricLine) -> str:
    return f"[{line.tag}]" if line.tag is not None else line.text


def m3_caption(prompt: str, instrumental: bool) -> str:
    """The description as the caption: one statement per line, no template tokens."""
    caption = clean_prompt(prompt)
    if instrumental and "instrumental" not in caption.lower():
        caption = f"{caption}\n{INSTRUMENTAL_CAPTION}"
    return caption


# -------------------------------------------------------------------- engine


class MiniMaxMusic3Engine:
    name = ENGINE

    def __init__(self, options: MiniMaxMusic3Options) -> None:
        self.options = options
        self._pipeline: Any = None
        self._fast_step: Any = None
        self._device: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    def load(self) -> None:
        with self._lock:
            if self._pipeline is None:
                self._load()

    def _load(self) -> None:
        enforce_offline()
        require_gpu_packages(ENGINE)
        from diffusers import ModularPipeline as loader

        device = choose_device(self.options.device)
        dtype = choose_dtype(self.options.dtype, device)
        weights = str(self.options.weights_dir)
        try:
            with warnings.catch_warnings():
                # The vocoder uses torch's deprecated weight_norm; nothing to act on here.
                warnings.filterwarnings(
                    "ignore", message=r".*weight_norm.*", category=FutureWarning
                )
                pipeline = loader.from_pretrained(  # type: ignore[no-untyped-call]
                    weights, local_files_only=True
                )
                pipeline.load_components(dtype=dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EngineUnavailable(f"engine {ENGINE!r}: cannot load {weights}: {exc}") from exc
        # load_components logs and skips a component it cannot read; refuse to run
        # half a model.
        missing = [c.name for c in COMPONENTS if getattr(pipeline, c.name, None) is None]
        if missing:
            raise EngineUnavailable(
                f"engine {ENGINE!r}: {weights}: could not load {', '.join(missing)} (see the log)"
            )
        pipeline.to(device)
        _disable_progress_bars(pipeline._blocks)
        self._device = device
        if self.options.ar_loop == "fast":
            self._fast_step = _install_fast_step(pipeline, self.options.cuda_graphs)
        self._pipeline = pipeline
        log.info("MiniMax Music 3 loaded from %s on %s (%s)", weights, device, dtype)

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        if self._pipeline is None:
            self.load()
        import torch

        lyrics = m3_lyrics(request.lyrics)
        instrumental = lyrics == INSTRUMENTAL_LYRICS
        caption = m3_caption(request.prompt, instrumental)
        duration = song_duration(
            request,
            self.options.default_duration_seconds,
            self.options.max_duration_seconds,
            MIN_SECONDS,
        )
        generator = make_generator(request.seed, self._device)
        progress("composing", 0.0)
        if self._fast_step is not None:
            self._fast_step.progress = lambda done, total: progress("composing", 0.7 * done / total)
        try:
            with self._lock:
                audios = self._pipeline(
                    prompt=caption,
                    lyrics=lyrics,
                    audio_duration=duration,
                    generator=generator,
                    num_inference_steps=self.options.num_inference_steps,
                    output_type="np",
                    output="audios",
                )
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationError(f"out of GPU memory: {exc}", retryable=True) from exc
        except ValueError as exc:
            raise GenerationError(f"MiniMax Music 3 cannot render this request: {exc}") from exc
        finally:
            if self._fast_step is not None:
                self._fast_step.progress = None
        progress("mixing", 0.95)
        native_rate = int(self._pipeline.sampling_rate)
        samples = deliver(pipeline_audio_to_samples(audios), native_rate, request.sample_rate)
        progress("mixing", 1.0)
        return AudioResult(
            samples=samples,
            sample_rate=request.sample_rate,
            engine=ENGINE,
            metadata={
                "attribution": ATTRIBUTION,
                "native_sample_rate": native_rate,
                "requested_seconds": duration,
                "ar_loop": "fast" if self._fast_step is not None else "reference",
            },
        )


def _disable_progress_bars(block: Any) -> None:
    # ModularPipeline.set_progress_bar_config reaches only the top-level blocks;
    # the denoising loop is nested two levels down. Worker logs want no tqdm bars.
    if hasattr(block, "set_progress_bar_config"):
        block.set_progress_bar_config(disable=True)
    for child in getattr(block, "sub_blocks", {}).values():
        _disable_progress_bars(child)


def _install_fast_step(pipeline: Any, cuda_graphs: bool) -> Any:
    """Put the fast autoregressive step in place of diffusers' own, or return None.

    The step is a subclass of the reference block, so it declares the same
    inputs, outputs and components; only its loop differs.
    """
    from diffusers.modular_pipelines.minimax_music3.encoders import (
        MiniMaxMusic3AutoregressiveStep,
    )

    from songforge.engines import m3_fast_loop

    reason = m3_fast_loop.check_supported(pipeline.language_model)
    try:
        blocks = pipeline._blocks.sub_blocks["semantic_generator"].sub_blocks
        reference = blocks["generate"]
    except (AttributeError, KeyError):
        reason = "the pipeline's block layout is not the one diffusers 0.42 ships"
    else:
        if not isinstance(reference, MiniMaxMusic3AutoregressiveStep):
            reason = f"unexpected autoregressive block {type(reference).__name__}"
    if reason is not None:
        log.warning("fast autoregressive loop not used: %s", reason)
        return None

    step = _fast_step_class()()
    step.loop = m3_fast_loop.FastAutoregressiveLoop(
        pipeline.language_model, pipeline.rvq_depth_decoder
    )
    step.cuda_graphs = cuda_graphs
    step.progress = None
    blocks["generate"] = step
    return step


def _fast_step_class() -> Any:
    import torch
    from diffusers.modular_pipelines.minimax_music3.encoders import (
        MiniMaxMusic3AutoregressiveStep,
    )

    from songforge.engines import m3_fast_loop

    class FastAutoregressiveStep(MiniMaxMusic3AutoregressiveStep):  # type: ignore[misc]
        loop: m3_fast_loop.FastAutoregressiveLoop
        cuda_graphs: bool
        progress: m3_fast_loop.FrameProgress | None

        @torch.no_grad()  # type: ignore[untyped-decorator]
        def __call__(self, components: Any, state: Any) -> tuple[Any, Any]:
            block_state: Any = self.get_block_state(state)
            self.check_inputs(block_state)  # type: ignore[no-untyped-call]
            max_frames = min(
                int(block_state.audio_duration * components.frame_rate),
                m3_fast_loop.MAX_AUDIO_FRAMES,
            )
            if max_frames == 0:
                raise ValueError(
                    f"`audio_duration` {block_state.audio_duration} is shorter than one frame"
                )
            request = m3_fast_loop.ARRequest(
                block_state.text_ids, max_frames, block_state.generator
            )
            options = m3_fast_loop.FastLoopOptions(
                cuda_graphs=self.cuda_graphs, progress=self.progress
            )
            (block_state.frame_hiddens,) = self.loop.generate([request], options)
            self.set_block_state(state, block_state)
            return components, state

    return FastAutoregressiveStep
