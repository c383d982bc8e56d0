"""How a catalog model is described to API users (GET /api/v1/models, model pages)."""

from __future__ import annotations

from typing import Any

from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES
from songforge.audio.output_format import LOSSLESS_BIT_DEPTH
from songforge.catalog import FEATURES, ModelSpec
from songforge.services.music_request import (
    DEFAULT_BITRATE,
    DEFAULT_SAMPLE_RATE,
    DURATION_MIN,
    LYRICS_MAX,
    PROMPT_MAX,
    SEED_MAX,
)

# Issue 14's switches, described where a model supports them.
SWITCH_DESCRIPTIONS = {
    "instrumental": "true: no voice, even when lyrics are given",
    "stems": "true: also the lead vocal and the instrumental as files in the same format",
    "lyrics_timing": "true: when each lyric line and word is sung, and an LRC file",
}


def model_parameters(spec: ModelSpec) -> list[dict[str, Any]]:
    return [
        {
            "name": "model",
            "type": "string",
            "required": True,
            "description": f"Model id: {spec.id}",
        },
        {
            "name": "prompt",
            "type": "string",
            "required": True,
            "description": "Style and mood of the song",
            "min_length": 1,
            "max_length": PROMPT_MAX,
        },
        {
            "name": "lyrics",
            "type": "string",
            "required": False,
            "description": "Lyrics to sing, with optional section tags such as [Verse] and "
            "[Chorus]; empty or absent makes an instrumental",
            "max_length": LYRICS_MAX,
        },
        {
            "name": "bitrate",
            "type": "integer",
            "required": False,
            "default": DEFAULT_BITRATE,
            "enum": list(ALLOWED_BITRATES),
            "description": "MP3 bitrate in bits per second",
        },
        {
            "name": "sample_rate",
            "type": "integer",
            "required": False,
            "default": DEFAULT_SAMPLE_RATE,
            "enum": list(ALLOWED_SAMPLE_RATES),
            "description": "Output sample rate in Hz",
        },
        {
            "name": "seed",
            "type": "integer",
            "required": False,
            "minimum": 0,
            "maximum": SEED_MAX,
            "description": "Same seed and input give the same song (default: derived from "
            "the prompt and lyrics)",
        },
        {
            "name": "duration",
            "type": "number",
            "required": False,
            "minimum": DURATION_MIN,
            "maximum": spec.max_duration_seconds,
            "description": "Upper bound on the song length in seconds",
        },
        *extension_parameters(spec),
    ]


FEATURE_LABELS = {
    "wav": "WAV",
    "flac": "FLAC",
    "instrumental": "instrumental switch",
    "stems": "stems",
    "lyrics_timing": "timed lyrics (LRC)",
}


def feature_labels(spec: ModelSpec) -> list[str]:
    """The model's features in words, for people (the dashboard's model pages)."""
    return [FEATURE_LABELS[name] for name in FEATURES if name in spec.features]


def extension_parameters(spec: ModelSpec) -> list[dict[str, Any]]:
    """The issue-14 fields this model takes (the others it refuses)."""
    found: list[dict[str, Any]] = []
    lossless = [name for name in ("wav", "flac") if name in spec.features]
    if lossless:
        found.append(
            {
                "name": "format",
                "type": "string",
                "required": False,
                "default": "mp3",
                "enum": ["mp3", *lossless],
                "description": f"The file: mp3, or {LOSSLESS_BIT_DEPTH}-bit "
                f"{' or '.join(lossless)} at sample_rate (bitrate is for MP3 only)",
            }
        )
    for name, description in SWITCH_DESCRIPTIONS.items():
        if name in spec.features:
            found.append(
                {
                    "name": name,
                    "type": "boolean",
                    "required": False,
                    "default": False,
                    "description": description,
                }
            )
    return found


def model_view(spec: ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "description": spec.description,
        "price": spec.price,
        "price_unit": "credits",
        "endpoint": "/api/v1/audio/music",
        "parameters": model_parameters(spec),
        "limits": {
            "prompt_max_chars": PROMPT_MAX,
            "lyrics_max_chars": LYRICS_MAX,
            "max_duration_seconds": spec.max_duration_seconds,
        },
        "attribution": spec.attribution,
        "features": [name for name in FEATURES if name in spec.features],
        "price_stems": spec.price_stems,
        "price_lossless": spec.price_lossless,
    }
