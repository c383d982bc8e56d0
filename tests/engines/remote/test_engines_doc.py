"""Every catalog example in docs/engines.md loads, and its remote engines build."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from songforge.catalog import load_catalog
from songforge.engines.registry import create_engine
from songforge.engines.remote.base import is_relay_engine

ROOT = Path(__file__).resolve().parents[3]
TOML = re.compile(r"```toml\n(.*?)```", re.DOTALL)
EXAMPLES = TOML.findall((ROOT / "docs/engines.md").read_text())


def test_engines_doc_has_an_example_per_engine() -> None:
    engines = {load_catalog_text(text).engine for text in EXAMPLES}
    assert {"composer", "minimax-cloud", "sglang-omni", "ace-step-server"} <= engines


def load_catalog_text(text: str):  # type: ignore[no-untyped-def]
    path = Path(__import__("tempfile").mkdtemp()) / "catalog.toml"
    path.write_text(text)
    (spec,) = load_catalog(path)
    return spec


@pytest.mark.parametrize("text", EXAMPLES)
def test_documented_catalog_examples_load(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIMAX_API_KEY", "sk-doc-example")
    monkeypatch.setenv("ACESTEP_API_KEY", "ace-doc-example")
    spec = load_catalog_text(text)
    if spec.engine in ("minimax-cloud", "sglang-omni", "ace-step-server"):
        engine = create_engine(spec.engine, spec.options)
        assert is_relay_engine(engine)
        assert engine.name.startswith(spec.engine + "/")
