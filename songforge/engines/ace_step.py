"""ACE-Step 1.5 (MIT licence) through diffusers' ``AceStepPipeline``.

The fast alternative to MiniMax Music 3: a diffusion transformer that renders a
whole song in a handful of steps (8 for the turbo checkpoint). Loaded only from
the local directory the catalog names (``options.weights_dir``), never a hub.
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

log = logging.getLogger("songforge.engines.ace_step")

ENGINE = "ace-step"
INDEX_FILES = ("model_index.json",)
COMPONENTS = (
    ComponentRequirement("tokenizer", "tokenizer"),
    ComponentRequirement("text_encoder", "weights"),
    ComponentRequirement("transformer", "weights"),
    ComponentRequirement("condition_encoder", "weights"),
    ComponentRequirement("vae", "weights"),
    ComponentRequirement("scheduler", "config"),
)
MODEL_MAX_SECONDS = 600.0
MIN_SECONDS = 1.0
INSTRUMENTAL_LYRICS = "[Instrumental]"
# The pipeline's defaults for base/SFT checkpoints; turbo ones are guidance-distilled.
BASE_GUIDANCE = 7.0
TURBO_STEPS = 8
BASE_STEPS = 32


@dataclass(frozen=True)
class AceStepOptions:
    weights_dir: Path
    device: str = "auto"
    dtype: str = "auto"
    # None: 8 for turbo checkpoints, 32 for base ones.
    num_inference_steps: int | None = None
    vocal_language: str = "en"
    default_duration_seconds: float = 60.0
    max_duration_seconds: float = 240.0


def parse_options(options: Mapping[str, Any]) -> AceStepOptions:
    steps = options.get("num_inference_steps")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise EngineUnavailable(
            f"engine {ENGINE!r}: num_inference_steps must be a positive integer"
        )
    return AceStepOptions(
        weights_dir=weights_dir_option(ENGINE, options),
        device=str(options.get("device", "auto")),
        dtype=str(options.get("dtype", "auto")),
        num_inference_steps=steps,
        vocal_language=str(options.get("vocal_language", "en")),
        default_duration_seconds=float_option(options, "default_duration_seconds", 60.0),
        max_duration_seconds=min(
            float_option(options, "max_duration_seconds", 240.0), MODEL_MAX_SECONDS
        ),
    )


def create_engine(options: Mapping[str, Any]) -> AceStepEngine:
    """Validate packages, options and the weights directory; load nothing."""
    require_gpu_packages(ENGINE)
    parsed = parse_options(options)
    validate_weights_dir(ENGINE, parsed.weights_dir, INDEX_FILES, COMPONENTS)
    return AceStepEngine(parsed)


# --------------------------------------------------------------- translation


def ace_lyrics(lyrics: str) -> str:
    """Our lyrics in ACE-Step's format: lower-case section tags on their own lines.

    ACE-Step reads the tag text itself, so numbers are kept (``[verse 2]``);
    no sung text becomes its instrumental marker.
    """
    lines = parse_lyrics(lyrics)
    if not has_sung_text(lines):
        return INSTRUMENTAL_LYRICS
    return "\n".join(_ace_line(line) for line in lines)


def _ace_line(line: LyricLine) -> str:
    if line.tag is None:
        return line.text
    return f"[{line.tag} {line.number}]" if line.number is not None else f"[{line.tag}]"


def ace_caption(prompt: str) -> str:
    """ACE-Step's caption is one line of comma-separated descriptors."""
    return ", ".join(clean_prompt(prompt).split("\n"))


# -------------------------------------------------------------------- engine


class AceStepEngine:
    name = ENGINE

    def __init__(self, options: AceStepOptions) -> None:
        self.options = options
        self._pipeline: Any = None
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
        from diffusers import AceStepPipeline

        device = choose_device(self.options.device)
        dtype = choose_dtype(self.options.dtype, device)
        weights = str(self.options.weights_dir)
        try:
            with warnings.catch_warnings():
                # The VAE uses torch's deprecated weight_norm; nothing to act on here.
                warnings.filterwarnings(
                    "ignore", message=r".*weight_norm.*", category=FutureWarning
                )
                pipeline = AceStepPipeline.from_pretrained(  # type: ignore[no-untyped-call]
                    weights, local_files_only=True, dtype=dtype
                )
            pipeline.to(device)
        except Exception as exc:
            # Corrupt files, a checkpoint of another shape, no room on the device: this
            # model is not served, and the worker goes on with its other models.
            raise EngineUnavailable(f"engine {ENGINE!r}: cannot load {weights}: {exc}") from exc
        pipeline.set_progress_bar_config(disable=True)
        self._device = device
        self._pipeline = pipeline
        log.info("ACE-Step loaded from %s on %s (%s)", weights, device, dtype)

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        if self._pipeline is None:
            self.load()
        import torch

        pipeline = self._pipeline
        # An instrumental is asked the way the model knows: no sung text.
        lyrics = ace_lyrics("" if request.instrumental else request.lyrics)
        duration = song_duration(
            request,
            self.options.default_duration_seconds,
            self.options.max_duration_seconds,
            MIN_SECONDS,
        )
        turbo = bool(pipeline.is_turbo)
        steps = self.options.num_inference_steps or (TURBO_STEPS if turbo else BASE_STEPS)

        def on_step(_pipe: Any, step: int, _timestep: Any, _tensors: dict[str, Any]) -> None:
            progress("rendering", 0.9 * (step + 1) / steps)

        progress("rendering", 0.0)
        try:
            with self._lock:
                output = pipeline(
                    prompt=ace_caption(request.prompt),
                    lyrics=lyrics,
                    audio_duration=duration,
                    vocal_language=(
                        "unknown" if lyrics == INSTRUMENTAL_LYRICS else self.options.vocal_language
                    ),
                    num_inference_steps=steps,
                    # Turbo checkpoints have guidance distilled in; asking for more
                    # only makes the pipeline warn and ignore it.
                    guidance_scale=1.0 if turbo else BASE_GUIDANCE,
                    generator=make_generator(request.seed, self._device),
                    output_type="np",
                    callback_on_step_end=on_step,
                )
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationError(f"out of GPU memory: {exc}", retryable=True) from exc
        except ValueError as exc:
            raise GenerationError(f"ACE-Step cannot render this request: {exc}") from exc
        native_rate = int(pipeline.sample_rate)
        audio = pipeline_audio_to_samples(output.audios)
        progress("mixing", 1.0)
        # At the model's own rate: the worker's delivery step resamples, once.
        return AudioResult(
            samples=audio,
            sample_rate=native_rate,
            engine=ENGINE,
            metadata={
                "native_sample_rate": native_rate,
                "requested_seconds": duration,
                "inference_steps": steps,
                "turbo": turbo,
            },
        )
