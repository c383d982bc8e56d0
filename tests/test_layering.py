"""The packages import downwards only (docs/decisions/0011-one-application-core.md).

Each package of ``songforge`` has a layer; a module may import its own package and
packages of lower layers, never a higher one or a neighbour on its own layer. So the
rules (services) know nothing of HTTP, the API nothing of the dashboard or the
worker, and the database layer nothing above it. Every import counts: at the top of
a module, inside a function, or under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import songforge

PACKAGE = Path(songforge.__file__).parent

LAYERS: dict[str, int] = {
    # Leaves: import nothing of songforge but each other's plain helpers.
    "text_safety": 0,
    "section_tags": 0,
    "settings": 0,
    "metrics": 0,
    "catalog": 0,
    "audio": 0,
    "client": 0,  # the client is installed and used without the server
    # The engine protocol's plain types (request, result, timed lyrics): it imports
    # nothing of songforge, so the composer may speak in its types.
    "engines.base": 0,
    "db": 1,
    "composer": 1,
    # The typed task input and the timed-lyrics forms: plain values over audio's
    # output format and the engine protocol's types, read by services and workers.
    "task_input": 1,
    "timed_lyrics": 1,
    "engines": 2,
    "services": 3,
    "storage": 4,  # retention reads task statuses
    "context": 5,
    # The HTTP error envelope (ApiError): for the HTTP layers only, never a service.
    "errors": 6,
    "api": 7,
    "worker": 7,
    "dashboard": 8,  # a UI over the API's pieces (envelope, task view, error mapping)
    "bootstrap": 9,
    "app": 9,
    "cli": 10,
}


def _unit(module: str) -> str:
    """The layered unit of a ``songforge.x.y`` module name: ``x.y`` when that has a
    layer of its own, else ``x``."""
    parts = module.split(".")
    if len(parts) > 2 and f"{parts[1]}.{parts[2]}" in LAYERS:
        return f"{parts[1]}.{parts[2]}"
    return parts[1]


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1:
            found.append((".".join(parts), path))
    return found


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    names = []
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            names.append((node.lineno, target))
    return [(line, name) for line, name in names if name.startswith("songforge.")]


def test_every_unit_has_a_layer() -> None:
    units = {_unit(module) for module, _ in _modules()}
    assert units <= set(LAYERS), f"give these a layer in LAYERS: {sorted(units - set(LAYERS))}"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=lambda value: str(value))
def test_imports_go_downwards(module: str, path: Path) -> None:
    unit = _unit(module)
    # A unit without a layer is reported once, by test_every_unit_has_a_layer.
    below = LAYERS.get(unit, -1)
    upward = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for line, name in _imports(module, path)
        if _unit(name) != unit and LAYERS.get(_unit(name), below) >= below
    ]
    assert upward == []


def test_the_rule_sees_an_upward_import(tmp_path: Path) -> None:
    # The check above must be able to fail: a service importing the API is caught.
    fake = tmp_path / "songforge" / "services" / "leak.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("def f():\n    from songforge.api.deps import Caller\n")
    [(line, name)] = _imports("songforge.services.leak", fake)
    assert (line, name) == (2, "songforge.api.deps")
    assert LAYERS[_unit(name)] >= LAYERS["services"]


def test_the_api_works_without_the_dashboard(tmp_path: Path) -> None:
    # In a fresh interpreter where the dashboard package cannot be imported: the
    # migrations run, the first run creates the admin, and the API answers.
    script = textwrap.dedent(
        f"""
        import sys
        from importlib.abc import MetaPathFinder

        class NoDashboard(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "songforge.dashboard" or name.startswith("songforge.dashboard."):
                    raise ImportError("no dashboard here")
                return None

        sys.meta_path.insert(0, NoDashboard())

        from starlette.testclient import TestClient
        from songforge.app import create_app
        from songforge.bootstrap import bootstrap_if_empty
        from songforge.context import AppContext
        from songforge.settings import Settings

        settings = Settings(
            data_dir="{tmp_path / "data"}",
            database_url="sqlite:///{tmp_path / "songforge.db"}",
            secret_key="layering-test-secret",
            workers=0,
        )
        context = AppContext.from_settings(settings)
        app = create_app(settings, context=context)
        first = bootstrap_if_empty(context.db, 100)
        assert first is not None
        with TestClient(app) as client:
            auth = {{"Authorization": f"Bearer {{first.api_key}}"}}
            assert client.get("/api/v1/tasks", headers=auth).status_code == 200
            assert client.get("/dashboard").status_code == 404
        assert not any(name.startswith("songforge.dashboard") for name in sys.modules)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
