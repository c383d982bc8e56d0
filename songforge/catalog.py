"""The model catalog: which model ids exist, which engine serves each, and their price.

Built in below; an operator replaces it with a TOML file (``SONGFORGE_CATALOG_PATH``)::

    [models.minimax-music]
    engine = "minimax-music3"          # or "composer", "ace-step", "pkg.module:factory",
                                       # or a remote engine: "minimax-cloud", "sglang-omni",
                                       # "ace-step-server" (docs/engines.md)
    price = 30
    description = "..."
    options = { weights_dir = "/models/MiniMax-Music-3" }
    # Optional (issue 14): what the model may be asked for beyond an MP3, replacing
    # its engine family's list (FAMILY_FEATURES), and what those cost on top of
    # ``price`` (credits, default 0).
    features = ["wav", "flac", "instrumental"]
    price_stems = 10                   # with "stems": true
    price_lossless = 5                 # with "format": "wav" or "flac"

Which of them are *live* is not decided here: a model is live while a worker
that successfully built its engine is heartbeating (see services/workers.py).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What a request may ask beyond the seed's MP3 (issue 14), by the name the catalog
# uses; each is refused (400, ``param`` below) for a model that does not list it.
FEATURES = ("wav", "flac", "instrumental", "stems", "lyrics_timing")
FEATURE_FIELDS = {
    "wav": "format",
    "flac": "format",
    "instrumental": "instrumental",
    "stems": "stems",
    "lyrics_timing": "lyrics_timing",
}
LOSSLESS_FEATURES = frozenset({"wav", "flac"})

# What each engine family can really give. Any family's audio can be written as
# WAV/FLAC (the worker encodes it; for the remote ones from the upstream's own
# lossless file, MiniMax's API sending a WAV when asked: never from an MP3);
# instrumental where the model has its own switch or marker for it; stems and word
# timings only where the engine renders the voice itself (the composer). Families
# not listed (an operator's own factory) give an MP3 only unless the catalog entry
# lists ``features``.
FAMILY_FEATURES: dict[str, frozenset[str]] = {
    "composer": frozenset(FEATURES),
    "minimax-music3": frozenset({"wav", "flac", "instrumental"}),
    "ace-step": frozenset({"wav", "flac", "instrumental"}),
    "minimax-cloud": frozenset({"wav", "flac", "instrumental"}),
    "sglang-omni": frozenset({"wav", "flac", "instrumental"}),
    "ace-step-server": frozenset({"wav", "flac", "instrumental"}),
}


def family_features(engine: str) -> frozenset[str]:
    return FAMILY_FEATURES.get(engine, frozenset())


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
    # What may be asked beyond an MP3 (FEATURES); None: the engine family's list.
    supported: frozenset[str] | None = None
    # Credits on top of ``price`` for stems, and for a WAV/FLAC file.
    price_stems: int = 0
    price_lossless: int = 0

    @property
    def features(self) -> frozenset[str]:
        return self.supported if self.supported is not None else family_features(self.engine)

    def unsupported(self, wanted: frozenset[str]) -> list[str]:
        """The features of ``wanted`` this model cannot give, in FEATURES order."""
        return [name for name in FEATURES if name in wanted and name not in self.features]

    def price_note(self, wanted: frozenset[str]) -> str:
        """How ``price_for`` adds up, for the ledger ("30 song + 10 stems"); empty when
        nothing is added to the song's price."""
        parts = [f"{self.price} song"]
        if "stems" in wanted and self.price_stems:
            parts.append(f"{self.price_stems} stems")
        if wanted & LOSSLESS_FEATURES and self.price_lossless:
            parts.append(f"{self.price_lossless} lossless")
        return " + ".join(parts) if len(parts) > 1 else ""

    def price_for(self, wanted: frozenset[str]) -> int:
        """What a song with the features ``wanted`` costs."""
        price = self.price
        if "stems" in wanted:
            price += self.price_stems
        if wanted & LOSSLESS_FEATURES:
            price += self.price_lossless
        return price


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
            supported=_features(model_id, entry.get("features")),
            price_stems=_extra_price(model_id, entry, "price_stems"),
            price_lossless=_extra_price(model_id, entry, "price_lossless"),
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


def _features(model_id: str, listed: Any) -> frozenset[str] | None:
    if listed is None:
        return None
    if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
        raise ValueError(f"catalog: models.{model_id}.features must be a list of names")
    unknown = sorted(set(listed) - set(FEATURES))
    if unknown:
        raise ValueError(
            f"catalog: models.{model_id}.features: unknown {unknown[0]!r} "
            f"(known: {', '.join(FEATURES)})"
        )
    return frozenset(listed)


def _extra_price(model_id: str, entry: Mapping[str, Any], name: str) -> int:
    value = entry.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"catalog: models.{model_id}.{name} must be a whole number >= 0")
    return value
