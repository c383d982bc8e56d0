"""catalog.py: the built-in catalog, and what an operator's TOML file turns into."""

from __future__ import annotations

from pathlib import Path

import pytest

from songforge.catalog import BUILTIN, CatalogError, load_catalog


def _catalog_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    return path


def test_without_a_file_the_built_in_catalog_serves() -> None:
    assert load_catalog(None) is BUILTIN
    default = BUILTIN.get("minimax-music")
    assert default is not None
    # A fresh machine makes real songs: the default model runs on the CPU composer.
    assert (default.engine, default.price) == ("composer", 30)
    assert [spec.id for spec in BUILTIN] == list(BUILTIN.models)
    assert all(spec.id == model_id for model_id, spec in BUILTIN.models.items())


def test_an_entry_with_only_engine_and_price_gets_the_defaults(tmp_path: Path) -> None:
    catalog = load_catalog(
        _catalog_file(tmp_path, '[models.tiny]\nengine = "composer"\nprice = 2\n')
    )
    spec = catalog.get("tiny")
    assert spec is not None
    assert (spec.id, spec.name, spec.description, dict(spec.options)) == ("tiny", "tiny", "", {})
    assert (spec.max_duration_seconds, spec.typical_runtime_seconds) == (240.0, 20.0)
    assert spec.attribution is None


def test_every_field_of_an_entry_is_read(tmp_path: Path) -> None:
    path = _catalog_file(
        tmp_path,
        """
        [models.big]
        engine = "ace-step"
        price = 25
        name = "Big Model"
        description = "Long songs."
        max_duration_seconds = 480
        typical_runtime_seconds = 12.5
        attribution = "Made with Big"
        options = { weights_dir = "/models/big", steps = 8 }
        """,
    )
    spec = load_catalog(path).get("big")
    assert spec is not None
    assert (spec.engine, spec.price, spec.name, spec.description) == (
        "ace-step",
        25,
        "Big Model",
        "Long songs.",
    )
    assert (spec.max_duration_seconds, spec.typical_runtime_seconds) == (480.0, 12.5)
    assert spec.attribution == "Made with Big"
    assert dict(spec.options) == {"weights_dir": "/models/big", "steps": 8}


def test_models_whose_licence_requires_it_are_always_attributed(tmp_path: Path) -> None:
    path = _catalog_file(
        tmp_path,
        '[models.minimax-music]\nengine = "minimax-music3"\nprice = 30\n'
        '[models.relayed]\nengine = "sglang-omni"\nprice = 30\n'
        '[models.other]\nengine = "composer"\nprice = 1\n',
    )
    catalog = load_catalog(path)
    assert catalog.models["minimax-music"].attribution == "MiniMax-Music3"
    assert catalog.models["relayed"].attribution == "MiniMax-Music3"
    assert catalog.models["other"].attribution is None


def test_a_file_replaces_the_built_in_models_and_keeps_their_order(tmp_path: Path) -> None:
    path = _catalog_file(
        tmp_path,
        '[models.b]\nengine = "composer"\nprice = 1\n[models.a]\nengine = "composer"\nprice = 1\n',
    )
    catalog = load_catalog(path)
    assert [spec.id for spec in catalog] == ["b", "a"]
    assert catalog.get("minimax-music") is None
    assert list(load_catalog(_catalog_file(tmp_path, "# nothing yet\n"))) == []


@pytest.mark.parametrize(
    ("entry", "missing"),
    [('engine = "composer"', "price"), ("price = 3", "engine"), ("", "engine")],
)
def test_an_entry_without_what_it_needs_is_refused_by_name(
    tmp_path: Path, entry: str, missing: str
) -> None:
    path = _catalog_file(
        tmp_path, f"[models.ok]\nengine = 'composer'\nprice = 1\n[models.bad]\n{entry}\n"
    )
    with pytest.raises(CatalogError, match=rf"\[models\.bad\] needs '{missing}'") as refused:
        load_catalog(path)
    assert str(path) in str(refused.value)
