"""The lock (requirements/*.txt) against pyproject.toml and the installed environment.

scripts/install installs each lock file with ``--no-deps``, so a lock that misses a
dependency installs a broken environment on a clean machine while a developer's older venv
still works. These checks catch that here, on any machine, before CI does.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("build", "app", "dev", "gpu")
# Left out of the lock on purpose (scripts/lock-deps): GPU machines keep their own torch; and
# tinysoundfont's optional pyaudio does not build here (scripts/pip-nodeps.txt).
UNLOCKED = {"torch", "pyaudio"}


def read_lock(name: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert match, f"requirements/{name}.txt: not an exact pin: {line!r}"
        pins[canonicalize_name(match[1])] = match[2]
    return pins


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def nodeps_requirements() -> list[Requirement]:
    lines = (ROOT / "scripts" / "pip-nodeps.txt").read_text().splitlines()
    return [Requirement(x) for x in (line.split("#")[0].strip() for line in lines) if x]


def test_no_package_is_pinned_twice() -> None:
    seen: dict[str, str] = {}
    for lock in LOCKS:
        for name in read_lock(lock):
            assert name not in seen, f"{name} is pinned in {seen.get(name)}.txt and {lock}.txt"
            seen[name] = lock


@pytest.mark.parametrize(
    ("group", "locks"),
    [("dependencies", ("app",)), ("dev", ("app", "dev")), ("gpu", ("app", "dev", "gpu"))],
)
def test_every_declared_dependency_is_pinned_within_its_range(
    group: str, locks: tuple[str, ...]
) -> None:
    project = pyproject()["project"]
    assert isinstance(project, dict)
    extras = project["optional-dependencies"]
    declared = project[group] if group == "dependencies" else extras[group]
    requirements = [Requirement(text) for text in declared]
    if group == "dependencies":
        requirements += nodeps_requirements()
    pins: dict[str, str] = {}
    for lock in locks:
        pins.update(read_lock(lock))
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name in UNLOCKED:
            continue
        assert name in pins, f"{requirement} is declared in pyproject but not in the lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"the lock pins {name}=={pins[name]}, outside pyproject's {requirement}"
        )


def test_build_system_is_pinned() -> None:
    build = read_lock("build")
    for text in pyproject()["build-system"]["requires"]:  # type: ignore[index]
        requirement = Requirement(text)
        assert requirement.specifier.contains(build[canonicalize_name(requirement.name)])


def test_each_lock_holds_the_dependencies_of_what_it_pins() -> None:
    """The closure check: every installed pin's own requirements are pinned too."""
    environment = {k: str(v) for k, v in default_environment().items()}
    available: dict[str, str] = {}
    for lock in LOCKS:
        pins = read_lock(lock)
        available.update(pins)
        for name, version in pins.items():
            try:
                dist = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                pytest.skip(f"{name} is not installed here (gpu set without --test?)")
            assert dist.version == version, (
                f"{name} {dist.version} is installed but the lock says {version}: "
                "run scripts/install --test"
            )
            for text in dist.requires or []:
                requirement = Requirement(text)
                wanted = canonicalize_name(requirement.name)
                if requirement.marker and not requirement.marker.evaluate(
                    {**environment, "extra": ""}
                ):
                    continue
                if wanted in UNLOCKED:
                    continue
                assert wanted in available, (
                    f"{name} needs {requirement}, which {lock}.txt and the locks before it lack"
                )
                assert requirement.specifier.contains(available[wanted], prereleases=True), (
                    f"{name} needs {requirement}; the lock pins {available[wanted]}"
                )
