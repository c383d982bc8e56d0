"""Engine families by name, imported lazily so that torch stays out of processes
that never serve a GPU model.

A catalog entry names its engine either by family (``composer``,
``minimax-music3``, ``ace-step``, or a remote one: ``minimax-cloud``,
``sglang-omni``, ``ace-step-server``) or by an import path ``package.module:factory``
for operators who bring their own engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, cast

from songforge.engines.base import Engine, EngineFactory, EngineUnavailable

FAMILIES: dict[str, str] = {
    "composer": "songforge.engines.composer:create_engine",
    "minimax-music3": "songforge.engines.minimax_music3:create_engine",
    "ace-step": "songforge.engines.ace_step:create_engine",
    # Remote engines: relay tasks to a service that already runs the model.
    "minimax-cloud": "songforge.engines.remote.minimax_cloud:create_engine",
    "sglang-omni": "songforge.engines.remote.sglang_omni:create_engine",
    "ace-step-server": "songforge.engines.remote.ace_step_server:create_engine",
}


def resolve_factory(engine: str) -> EngineFactory:
    """Turn a catalog ``engine`` value into its factory, or raise EngineUnavailable."""
    target = FAMILIES.get(engine, engine)
    if ":" not in target:
        raise EngineUnavailable(f"unknown engine {engine!r}")
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailable(f"engine {engine!r} cannot be imported: {exc}") from exc
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise EngineUnavailable(f"engine {engine!r}: {target} is not callable")
    return cast(EngineFactory, factory)


def create_engine(engine: str, options: Mapping[str, Any]) -> Engine:
    """Build (but do not load) the engine a catalog entry names."""
    return resolve_factory(engine)(options)


def check_engine(engine: str, options: Mapping[str, Any]) -> str | None:
    """Return why this engine cannot serve here, or None when it can.

    Factories validate their options (weights directory present and complete,
    packages importable) without loading weights, so this is cheap. Nothing
    calls it at start-up: a worker builds and loads each engine it serves
    (``worker/process.py``) and logs why one cannot. This is the same verdict
    without keeping the engine, for tests and tools that only want the answer.
    """
    try:
        create_engine(engine, options)
    except EngineUnavailable as exc:
        return str(exc)
    return None
