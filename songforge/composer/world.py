"""Access to the WORLD vocoder (pyworld's compiled module).

pyworld 0.3.5's ``__init__`` imports ``pkg_resources`` only to read its own
version; recent setuptools no longer ships that module and older ones warn on
import (which the test suite turns into errors). The compiled extension itself
needs neither, so it is loaded directly from the installed package.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType


@cache
def world() -> ModuleType:
    """The pyworld extension module (dio, stonemask, cheaptrick, d4c, synthesize)."""
    existing = sys.modules.get("pyworld.pyworld")
    if existing is not None:
        return existing
    spec = importlib.util.find_spec("pyworld")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("pyworld is not installed")
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"pyworld{suffix}"
            if path.exists():
                ext_spec = importlib.util.spec_from_file_location("pyworld.pyworld", path)
                if ext_spec is None or ext_spec.loader is None:
                    continue
                module = importlib.util.module_from_spec(ext_spec)
                ext_spec.loader.exec_module(module)
                return module
    raise ImportError("pyworld's compiled module was not found")
