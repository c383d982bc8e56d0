"""How a catalog model is described to API users (GET /api/v1/models, model pages)."""

from __future__ import annotations

from typing import Any

from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES
from songforge.catalog import ModelSpec
from songforge.services.music_request import (
    DEFAULT_BITRATE,
    DEFAULT_SAMPLE_RATE,
    DURATION_MIN,
    LYRICS_MAX,
    PROMPT_MAX,
    SEED_MAX,
)


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
    ]


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
    }
