"""The catalog's issue-14 fields: features by engine family, the operator's override,
and extra prices."""

from __future__ import annotations

from pathlib import Path

import pytest

from songforge.catalog import BUILTIN, FAMILY_FEATURES, FEATURES, ModelSpec, load_catalog


def _load(tmp_path: Path, entry: str) -> ModelSpec:
    path = tmp_path / "catalog.toml"
    path.write_text(f"[models.m]\nprice = 30\n{entry}\n")
    return load_catalog(path).models["m"]


def test_families_default_and_the_operator_overrides(tmp_path: Path) -> None:
    composer = _load(tmp_path, 'engine = "composer"')
    assert composer.features == frozenset(FEATURES)
    cloud = _load(tmp_path, 'engine = "minimax-cloud"')
    assert cloud.features == {"wav", "flac", "instrumental"}
    own = _load(tmp_path, 'engine = "pkg.module:factory"')
    assert own.features == frozenset()
    listed = _load(tmp_path, 'engine = "pkg.module:factory"\nfeatures = ["wav", "stems"]')
    assert listed.features == {"wav", "stems"}
    off = _load(tmp_path, 'engine = "composer"\nfeatures = []')
    assert off.features == frozenset()
    assert BUILTIN.models["minimax-music"].features == frozenset(FEATURES)
    assert set(FAMILY_FEATURES["ace-step"]) == {"wav", "flac", "instrumental"}


def test_unsupported_and_prices(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        'engine = "ace-step"\nprice_stems = 10\nprice_lossless = 5',
    )
    wanted = frozenset({"flac", "stems", "instrumental"})
    assert spec.unsupported(wanted) == ["stems"]
    assert spec.price_for(wanted) == 45
    assert spec.price_note(wanted) == "30 song + 10 stems + 5 lossless"
    assert spec.price_for(frozenset({"instrumental"})) == 30
    assert spec.price_note(frozenset({"instrumental"})) == ""
    free = _load(tmp_path, 'engine = "composer"')
    assert free.price_note(wanted) == "" and free.price_for(wanted) == 30


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('engine = "composer"\nfeatures = ["mp4"]', "unknown 'mp4'"),
        ('engine = "composer"\nfeatures = "stems"', "list of names"),
        ('engine = "composer"\nprice_stems = -1', "price_stems"),
        ('engine = "composer"\nprice_lossless = 1.5', "price_lossless"),
        ('engine = "composer"\nprice_lossless = true', "price_lossless"),
    ],
)
def test_bad_catalog_entries_are_refused_at_load(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _load(tmp_path, entry)
