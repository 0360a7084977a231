"""The locks of exact versions agree with pyproject.toml's ranges and with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SERVICE_LOCK = ROOT / "requirements.lock"
TEST_LOCK = ROOT / "requirements-test.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def _pins(path: Path) -> dict[str, Version]:
    """Package name → version of every line of a lock; any other line fails the test."""
    pins: dict[str, Version] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        match = _PIN.match(line)
        assert match, f"{path.name}:{number} is not an exact pin: {line!r}"
        pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(
    ("lock", "extras"), [(SERVICE_LOCK, ()), (TEST_LOCK, ("test",))], ids=["service", "test"]
)
def test_every_declared_range_is_pinned_inside_it(lock: Path, extras: tuple[str, ...]) -> None:
    """Each dependency of pyproject.toml has a pin in the lock, and the pin is in its range."""
    pins = _pins(lock)
    for requirement in _requirements(*extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{lock.name} pins no version of {requirement.name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name} pins {requirement.name}=={pins[name]}, outside {requirement.specifier}"
        )


def test_the_test_lock_keeps_the_service_versions() -> None:
    """The tests run on exactly the versions the service is installed with."""
    service, test = _pins(SERVICE_LOCK), _pins(TEST_LOCK)
    differing = {name: (v, test.get(name)) for name, v in service.items() if test.get(name) != v}
    assert differing == {}


def test_the_locks_pin_the_installer_and_the_build_backend() -> None:
    """pip and setuptools are locked too: the project is built with no environment of its own."""
    for lock in (SERVICE_LOCK, TEST_LOCK):
        pins = _pins(lock)
        assert {"pip", "setuptools"} <= pins.keys(), lock.name
