"""What the GPU engine adapters (MiniMax Music 3, ACE-Step) share.

Nothing here imports torch or diffusers at module level: a catalog entry that
names a GPU engine imports this module in every process that checks the
catalog, including API-only processes installed without the ``gpu`` extra.
The checks that run at start-up (packages importable, weights directory
complete) are plain file-system and ``importlib`` look-ups.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from songforge.engines.base import EngineUnavailable, GenerationRequest
from songforge.section_tags import parse_section_tag

if TYPE_CHECKING:
    import torch

GPU_PACKAGES = ("torch", "diffusers", "transformers")
INSTALL_HINT = "install the GPU extra: pip install 'songforge[gpu]'"

# Files that hold a component's weights, in the layouts diffusers and
# transformers write (single file, sharded with an index, or legacy pickles).
_WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "*.bin", "*.bin.index.json")
_CONFIG_FILES = ("config.json", "scheduler_config.json", "tokenizer_config.json")
# Tokenizers keep their vocabulary in one of these instead of weights.
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


@dataclass(frozen=True)
class ComponentRequirement:
    """One sub-folder a pipeline needs: its name and what kind of files prove it is there."""

    name: str
    kind: str  # "weights" | "tokenizer" | "config"


def require_gpu_packages(engine: str) -> None:
    """Raise EngineUnavailable unless torch, diffusers and transformers are importable.

    ``find_spec`` answers without importing, so this stays cheap enough for
    start-up checks of every catalog entry.
    """
    missing = [name for name in GPU_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineUnavailable(
            f"engine {engine!r} needs {', '.join(missing)}, which is not installed; {INSTALL_HINT}"
        )


def weights_dir_option(engine: str, options: Mapping[str, Any]) -> Path:
    raw = options.get("weights_dir")
    if not raw or not isinstance(raw, str | os.PathLike):
        raise EngineUnavailable(
            f"engine {engine!r} needs options.weights_dir in its catalog entry: the local "
            "directory holding the model's weights (hub downloads are disabled)"
        )
    return Path(raw).expanduser()


# diffusers 0.42.1's MiniMax Music 3 semantic step (encoders.py) calls
# ``Qwen3Model.forward(past_key_values=...)``; transformers 5.24 renamed that keyword to
# ``cache`` and warns (FutureWarning) until 5.40 removes it, which the ``gpu`` extra's range
# excludes. The call is diffusers' own, so the warning is silenced only around our calls into
# diffusers' reference blocks, never process-wide: a deprecation in our code still fails the tests.
_DIFFUSERS_PAST_KEY_VALUES = r"`past_key_values` is deprecated and will be removed"


@contextmanager
def diffusers_reference_call() -> Iterator[None]:
    """Run diffusers' reference MiniMax Music 3 blocks without their known deprecation warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=_DIFFUSERS_PAST_KEY_VALUES, category=FutureWarning
        )
        yield


def validate_weights_dir(
    engine: str,
    weights_dir: Path,
    index_files: tuple[str, ...],
    components: Iterable[ComponentRequirement],
) -> None:
    """Raise EngineUnavailable, naming what is missing, unless the directory is complete.

    A half-copied checkpoint would otherwise fail minutes into loading (or, worse,
    make diffusers try the network), so the check runs before any weights are read.
    """
    if not weights_dir.is_dir():
        raise EngineUnavailable(
            f"engine {engine!r}: weights directory {weights_dir} does not exist"
        )
    candidates = (weights_dir / name for name in index_files)
    index = next((path for path in candidates if path.is_file()), None)
    if index is None:
        raise EngineUnavailable(
            f"engine {engine!r}: {weights_dir} is not a pipeline checkpoint "
            f"(no {' or '.join(index_files)})"
        )
    try:
        json.loads(index.read_text())
    except (OSError, ValueError) as exc:
        raise EngineUnavailable(f"engine {engine!r}: {index} is unreadable: {exc}") from exc
    problems = [
        problem
        for component in components
        if (problem := _component_problem(weights_dir, component)) is not None
    ]
    if problems:
        raise EngineUnavailable(
            f"engine {engine!r}: weights directory {weights_dir} is incomplete: "
            + "; ".join(problems)
        )


def _component_problem(weights_dir: Path, component: ComponentRequirement) -> str | None:
    folder = weights_dir / component.name
    if not folder.is_dir():
        return f"{component.name}/ is missing"
    names = {path.name for path in folder.iterdir()}
    if component.kind == "tokenizer":
        if not names.intersection(_TOKENIZER_FILES):
            return f"{component.name}/ has no tokenizer files ({', '.join(_TOKENIZER_FILES)})"
        return None
    if not names.intersection(_CONFIG_FILES):
        return f"{component.name}/ has no config file"
    if component.kind == "weights" and not any(
        any(folder.glob(pattern)) for pattern in _WEIGHT_PATTERNS
    ):
        return f"{component.name}/ has no weight files (*.safetensors or *.bin)"
    return None


def enforce_offline() -> None:
    """Make every Hugging Face library refuse the network in this process.

    huggingface_hub reads these once, when it is first imported, so they are set
    before the first torch/diffusers import; the loaders are also called with
    ``local_files_only=True`` for processes that imported them earlier.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def choose_device(option: object) -> torch.device:
    import torch

    name = str(option or "auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EngineUnavailable(f"device {name!r} was asked for but CUDA is not available")
    return device


def choose_dtype(option: object, device: torch.device) -> torch.dtype:
    """bf16 on GPUs (the checkpoints' own precision); fp32 on CPU, where bf16 is slow."""
    import torch

    name = str(option or "auto")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    dtypes = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
    if name not in dtypes:
        raise EngineUnavailable(f"dtype {name!r} is not one of {sorted(dtypes)}")
    return dtypes[name]


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A generator on the execution device, so sampling never waits on the host."""
    import torch

    return torch.Generator(device=device).manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)


def float_option(options: Mapping[str, Any], key: str, default: float) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise EngineUnavailable(f"option {key}={value!r} is not a number") from exc
    if number <= 0:
        raise EngineUnavailable(f"option {key}={value!r} must be positive")
    return number


def song_duration(
    request: GenerationRequest, default_seconds: float, max_seconds: float, min_seconds: float
) -> float:
    """The length to ask the model for: the user's hint within the model's limits."""
    wanted = request.duration if request.duration is not None else default_seconds
    return float(min(max(wanted, min_seconds), max_seconds))


def pipeline_audio_to_samples(audios: Any) -> npt.NDArray[np.float32]:
    """(batch, channels, samples) array or tensor from a pipeline -> (frames, channels) float32."""
    if hasattr(audios, "detach"):
        audios = audios.detach().float().cpu().numpy()
    array = np.asarray(audios, dtype=np.float32)
    if array.ndim == 3:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"expected (channels, samples) audio, got shape {array.shape}")
    samples = np.ascontiguousarray(array.T)
    return np.clip(np.nan_to_num(samples, nan=0.0), -1.0, 1.0).astype(np.float32)


# A bracketed candidate; songforge.section_tags decides whether it is a tag
# (the one list that validation uses too).
_TAG_RE = re.compile(r"\[([^\[\]\n]*)\]")
# Special tokens of the Qwen tokenizers both models use; user text must never
# carry them into the prompt template (they would end the caption or lyrics early).
_SPECIAL_TOKEN_RE = re.compile(r"<\|[^|<>]*\|>")


def strip_special_tokens(text: str) -> str:
    return _SPECIAL_TOKEN_RE.sub(" ", text)


@dataclass(frozen=True)
class LyricLine:
    """One line of parsed lyrics: a section tag (lower-case name, number) or sung text."""

    tag: str | None = None
    number: int | None = None
    text: str = ""


def parse_lyrics(lyrics: str) -> list[LyricLine]:
    """Split our lyrics into tag lines and text lines.

    A tag may share its line with text (``[Verse] hello``) or another tag; both
    models drop text that follows a tag on the same line, so tags are split out
    here. Unknown bracketed words are kept as sung text.
    """
    lines: list[LyricLine] = []
    for raw in strip_special_tokens(lyrics).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        rest = raw
        while rest.strip():
            match = _TAG_RE.search(rest)
            tag = parse_section_tag(match.group(1)) if match is not None else None
            if match is None or tag is None:
                lines.append(LyricLine(text=" ".join(rest.split())))
                break
            before = rest[: match.start()]
            if before.strip():
                lines.append(LyricLine(text=" ".join(before.split())))
            lines.append(LyricLine(tag=tag[0], number=tag[1]))
            rest = rest[match.end() :]
    return lines


def has_sung_text(lines: Iterable[LyricLine]) -> bool:
    return any(line.tag is None and line.text for line in lines)


def clean_prompt(prompt: str) -> str:
    """The user's description with special tokens removed and whitespace tidied."""
    text = strip_special_tokens(prompt)
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)
