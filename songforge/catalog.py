"""The model catalog: which model ids exist, which engine serves each, and their price.

Built in below; an operator replaces it with a TOML file (``SONGFORGE_CATALOG_PATH``)::

    [models.minimax-music]
    engine = "minimax-music3"          # or "composer", "ace-step", "pkg.module:factory",
                                       # or a remote engine: "minimax-cloud", "sglang-omni",
                                       # "ace-step-server" (docs/engines.md)
    price = 30
    description = "..."
    options = { weights_dir = "/models/MiniMax-Music-3" }

Which of them are *live* is not decided here: a model is live while a worker
that successfully built its engine is heartbeating (see services/workers.py).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    id: str
    engine: str
    price: int
    name: str
    description: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # Longest song the engine is asked for, in seconds.
    max_duration_seconds: float = 240.0
    # What a product using the model must show (licence attribution), if anything.
    attribution: str | None = None
    # Seconds one song is expected to take before any has finished here (for the ETA).
    typical_runtime_seconds: float = 20.0


@dataclass(frozen=True)
class Catalog:
    models: Mapping[str, ModelSpec]

    def get(self, model_id: str) -> ModelSpec | None:
        return self.models.get(model_id)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.models.values())


MINIMAX_DESCRIPTION = (
    "Lyrics-driven song generation: a style prompt plus lyrics in, a finished song with a "
    "sung vocal out, as MP3 at the bitrate and sample rate you choose."
)

BUILTIN = Catalog(
    models={
        # Out of the box minimax-music runs on the embedded CPU composer so that a
        # fresh machine makes real songs; pointing it at the MiniMax Music 3 weights
        # is a one-line change of `engine` (and `options.weights_dir`).
        "minimax-music": ModelSpec(
            id="minimax-music",
            engine="composer",
            price=30,
            name="MiniMax Music",
            description=MINIMAX_DESCRIPTION,
            typical_runtime_seconds=15.0,
        ),
        "ace-step-1.5": ModelSpec(
            id="ace-step-1.5",
            engine="ace-step",
            price=20,
            name="ACE-Step 1.5",
            description="Fast open-weight song generation (ACE-Step 1.5) on GPU workers.",
            options={"weights_dir": "data/models/ace-step-1.5"},
            typical_runtime_seconds=10.0,
        ),
    }
)


# What every [models.<id>] entry must say.
REQUIRED_FIELDS = ("engine", "price")


class CatalogError(ValueError):
    """The catalog file lacks what a model entry needs (said with the file and model)."""


# Licences that require products to credit the model, by engine family.
REQUIRED_ATTRIBUTION = {"minimax-music3": "MiniMax-Music3", "sglang-omni": "MiniMax-Music3"}


def load_catalog(path: Path | None) -> Catalog:
    """The built-in catalog, or the one in ``path`` (a TOML file) when given."""
    if path is None:
        return BUILTIN
    with open(path, "rb") as handle:
        raw = tomllib.load(handle)
    for model_id, entry in raw.get("models", {}).items():
        missing = [name for name in REQUIRED_FIELDS if name not in entry]
        if missing:
            raise CatalogError(f"{path}: [models.{model_id}] needs {missing[0]!r}")
    models: dict[str, ModelSpec] = {}
    for model_id, entry in raw.get("models", {}).items():
        models[model_id] = ModelSpec(
            id=model_id,
            engine=str(entry["engine"]),
            price=int(entry["price"]),
            name=str(entry.get("name", model_id)),
            description=str(entry.get("description", "")),
            options=dict(entry.get("options", {})),
            max_duration_seconds=float(entry.get("max_duration_seconds", 240.0)),
            attribution=entry.get("attribution") or REQUIRED_ATTRIBUTION.get(str(entry["engine"])),
            typical_runtime_seconds=float(entry.get("typical_runtime_seconds", 20.0)),
        )
    return Catalog(models=models)
