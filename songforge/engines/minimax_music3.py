"""MiniMax Music 3 (open weights, community licence) through diffusers' modular pipeline.

The catalog entry names a local checkpoint directory (``options.weights_dir``);
nothing is ever fetched from a hub. ``create_engine`` only checks that the
packages and the directory are there; ``load`` reads the weights once per worker
process; ``generate`` renders one song.

The autoregressive stage runs through songforge.engines.m3_fast_loop unless
``options.ar_loop = "reference"``: same sampling, fewer host round trips, and
several songs per weight read (``generate_many``).

Products that use this model must show the attribution "MiniMax-Music3"
(docs/gpu-engines.md); the adapter reports it in every result's metadata.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Mapping, Sequence
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
    diffusers_reference_call,
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
    # Songs the worker may render together (they share every weight read).
    max_batch: int = 1


def parse_options(options: Mapping[str, Any]) -> MiniMaxMusic3Options:
    ar_loop = str(options.get("ar_loop", "fast"))
    if ar_loop not in AR_LOOPS:
        raise EngineUnavailable(f"engine {ENGINE!r}: ar_loop must be one of {AR_LOOPS}")
    steps = options.get("num_inference_steps", 30)
    if not isinstance(steps, int) or steps < 1:
        raise EngineUnavailable(
            f"engine {ENGINE!r}: num_inference_steps must be a positive integer"
        )
    max_batch = options.get("max_batch", 1)
    if not isinstance(max_batch, int) or not 1 <= max_batch <= 64:
        raise EngineUnavailable(f"engine {ENGINE!r}: max_batch must be an integer from 1 to 64")
    return MiniMaxMusic3Options(
        weights_dir=weights_dir_option(ENGINE, options),
        max_batch=max_batch,
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
    """One loaded MiniMax Music 3 pipeline.

    With the fast loop the pipeline runs in three stages: tokenize (diffusers'
    block), the autoregressive stage (m3_fast_loop, several songs at once), and
    flow matching plus vocoder (diffusers' blocks). The reference path calls the
    whole diffusers pipeline unchanged.
    """

    name = ENGINE

    def __init__(self, options: MiniMaxMusic3Options) -> None:
        self.options = options
        self._pipeline: Any = None
        self._stages: _Stages | None = None
        self._device: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_pipeline(
        cls, pipeline: Any, options: MiniMaxMusic3Options, device: Any
    ) -> MiniMaxMusic3Engine:
        """An engine around a pipeline already in memory (the GPU benchmark builds one)."""
        engine = cls(options)
        engine._adopt(pipeline, device)
        return engine

    @property
    def loaded(self) -> bool:
        return self._pipeline is not None

    @property
    def ar_loop(self) -> str:
        return "fast" if self._stages is not None else "reference"

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
            # load_components logs and skips a component it cannot read; refuse to
            # run half a model.
            missing = [c.name for c in COMPONENTS if getattr(pipeline, c.name, None) is None]
            if missing:
                raise EngineUnavailable(
                    f"engine {ENGINE!r}: {weights}: could not load {', '.join(missing)} "
                    "(see the log)"
                )
            self._adopt(pipeline, device)
        except EngineUnavailable:
            raise
        except Exception as exc:
            # Corrupt files, a checkpoint of another shape, no room on the device: this
            # model is not served, and the worker goes on with its other models.
            raise EngineUnavailable(f"engine {ENGINE!r}: cannot load {weights}: {exc}") from exc
        log.info(
            "MiniMax Music 3 loaded from %s on %s (%s), %s loop",
            weights,
            device,
            dtype,
            self.ar_loop,
        )

    def _adopt(self, pipeline: Any, device: Any) -> None:
        pipeline.to(device)
        _disable_progress_bars(pipeline._blocks)
        self._device = device
        if self.options.ar_loop == "fast":
            self._stages = _build_stages(pipeline, self.options.cuda_graphs)
        self._pipeline = pipeline

    @property
    def max_batch(self) -> int:
        return self.options.max_batch

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        return self.generate_many([request], progress)[0]

    def generate_many(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback
    ) -> list[AudioResult]:
        """Render several songs; with the fast loop their autoregressive stages share
        every weight read (the part of the work that is bound by memory bandwidth)."""
        if self._pipeline is None:
            self.load()
        import torch

        inputs = [self._model_inputs(request) for request in requests]
        progress("composing", 0.0)
        try:
            with self._lock:
                if self._stages is None:
                    audios = [self._reference_render(i) for i in inputs]
                else:
                    audios = self._staged_render(self._stages, inputs, progress)
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationError(f"out of GPU memory: {exc}", retryable=True) from exc
        except ValueError as exc:
            raise GenerationError(f"MiniMax Music 3 cannot render this request: {exc}") from exc
        progress("mixing", 0.95)
        native_rate = int(self._pipeline.sampling_rate)
        results = []
        for model_inputs, audio in zip(inputs, audios, strict=True):
            # At the model's own rate: the worker's delivery step resamples, once.
            results.append(
                AudioResult(
                    samples=pipeline_audio_to_samples(audio),
                    sample_rate=native_rate,
                    engine=ENGINE,
                    metadata={
                        "attribution": ATTRIBUTION,
                        "native_sample_rate": native_rate,
                        "requested_seconds": model_inputs.duration,
                        "ar_loop": self.ar_loop,
                    },
                )
            )
        progress("mixing", 1.0)
        return results

    def _model_inputs(self, request: GenerationRequest) -> _ModelInputs:
        # An instrumental is asked the way the model knows: no sung text.
        lyrics = m3_lyrics("" if request.instrumental else request.lyrics)
        return _ModelInputs(
            caption=m3_caption(request.prompt, instrumental=lyrics == INSTRUMENTAL_LYRICS),
            lyrics=lyrics,
            duration=song_duration(
                request,
                self.options.default_duration_seconds,
                self.options.max_duration_seconds,
                MIN_SECONDS,
            ),
            generator=make_generator(request.seed, self._device),
        )

    def _reference_render(self, inputs: _ModelInputs) -> Any:
        with diffusers_reference_call():
            return self._pipeline(
                prompt=inputs.caption,
                lyrics=inputs.lyrics,
                audio_duration=inputs.duration,
                generator=inputs.generator,
                num_inference_steps=self.options.num_inference_steps,
                output_type="np",
                output="audios",
            )

    def _staged_render(
        self, stages: _Stages, inputs: Sequence[_ModelInputs], report: ProgressCallback
    ) -> list[Any]:
        from songforge.engines import m3_fast_loop

        frame_rate = float(self._pipeline.frame_rate)
        ar_requests = []
        for item in inputs:
            text_ids = stages.tokenize(prompt=item.caption, lyrics=item.lyrics, output="text_ids")
            max_frames = min(int(item.duration * frame_rate), m3_fast_loop.MAX_AUDIO_FRAMES)
            ar_requests.append(m3_fast_loop.ARRequest(text_ids, max_frames, item.generator))
        options = m3_fast_loop.FastLoopOptions(
            cuda_graphs=self.options.cuda_graphs,
            progress=lambda done, total: report("composing", 0.7 * done / total),
        )
        frame_hiddens = stages.loop.generate(ar_requests, options)
        audios = []
        for index, (item, hiddens) in enumerate(zip(inputs, frame_hiddens, strict=True)):
            report("rendering", 0.7 + 0.25 * index / len(inputs))
            audios.append(
                stages.render(
                    frame_hiddens=hiddens,
                    generator=item.generator,
                    num_inference_steps=self.options.num_inference_steps,
                    output_type="np",
                    output="audios",
                )
            )
        return audios


@dataclass
class _ModelInputs:
    caption: str
    lyrics: str
    duration: float
    generator: Any


@dataclass
class _Stages:
    tokenize: Any
    loop: Any
    render: Any


def _disable_progress_bars(block: Any) -> None:
    # ModularPipeline.set_progress_bar_config reaches only the top-level blocks;
    # the denoising loop is nested two levels down. Worker logs want no tqdm bars.
    if hasattr(block, "set_progress_bar_config"):
        block.set_progress_bar_config(disable=True)
    for child in getattr(block, "sub_blocks", {}).values():
        _disable_progress_bars(child)


def _build_stages(pipeline: Any, cuda_graphs: bool) -> _Stages | None:
    """Split the loaded pipeline around its autoregressive stage, or None to run it whole.

    The stages are diffusers' own blocks (tokenize; denoise and decode) on the
    same component objects, so nothing is copied and only the loop in between
    is ours.
    """
    from diffusers.modular_pipelines import SequentialPipelineBlocks
    from diffusers.modular_pipelines.minimax_music3.decoders import (
        MiniMaxMusic3VocoderDecodeStep,
    )
    from diffusers.modular_pipelines.minimax_music3.encoders import (
        MiniMaxMusic3TokenizeStep,
    )
    from diffusers.modular_pipelines.minimax_music3.modular_blocks_minimax_music3 import (
        MiniMaxMusic3CoreDenoiseStep,
    )

    from songforge.engines import m3_fast_loop

    reason = m3_fast_loop.check_supported(pipeline.language_model)
    if reason is not None:
        log.warning("fast autoregressive loop not used: %s", reason)
        return None
    pipeline_class = type(pipeline)

    def stage(blocks: dict[str, type], components: tuple[str, ...]) -> Any:
        # from_blocks_dict instantiates the block classes itself.
        part = pipeline_class(blocks=SequentialPipelineBlocks.from_blocks_dict(blocks))
        part.update_components(**{name: getattr(pipeline, name) for name in components})
        _disable_progress_bars(part._blocks)
        return part

    return _Stages(
        tokenize=stage({"tokenize": MiniMaxMusic3TokenizeStep}, ("tokenizer",)),
        loop=m3_fast_loop.FastAutoregressiveLoop(
            pipeline.language_model, pipeline.rvq_depth_decoder
        ),
        render=stage(
            {"denoise": MiniMaxMusic3CoreDenoiseStep, "decode": MiniMaxMusic3VocoderDecodeStep},
            ("condition_encoder", "transformer", "scheduler", "guider", "vocoder"),
        ),
    )
