"""The event contract stands apart from its JetStream driver, and the driver from the application.

``events/`` (the contract: event types, codec, catalogue, mapper) imports nothing of
``events.jetstream``; ``events/jetstream/`` imports nothing of ``projections``, ``replay`` or
``service``; every module of both is under 500 lines; and ``PERSISTENCE_MODULE=events.jetstream``
finds the factory the way eventsourcing looks for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from eventsourcing.persistence import InfrastructureFactory

import events.jetstream
from events.jetstream.factory import JetStreamFactory
from tests.support.paths import REPO_ROOT

EVENTS = REPO_ROOT / "events"


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports at module level or inside functions (not for typing only)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_contract_does_not_import_the_driver() -> None:
    for path in sorted(EVENTS.glob("*.py")):
        driver = {
            m
            for m in _imports(path)
            if m == "events.jetstream" or m.startswith("events.jetstream.")
        }
        assert not driver, f"{path.name} imports {sorted(driver)}"


def test_the_driver_imports_nothing_of_the_application() -> None:
    for path in sorted((EVENTS / "jetstream").glob("*.py")):
        upward = {
            m for m in _imports(path) if m.split(".")[0] in {"projections", "replay", "service"}
        }
        assert not upward, f"jetstream/{path.name} imports {sorted(upward)}"


def test_every_module_is_under_500_lines() -> None:
    for path in sorted(EVENTS.rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines < 500, f"{path.relative_to(EVENTS.parent)} has {lines} lines"


def test_the_persistence_module_names_its_factory() -> None:
    # eventsourcing resolves PERSISTENCE_MODULE to a module and takes the one concrete
    # InfrastructureFactory subclass among its attributes (InfrastructureFactory.construct).
    found = {
        member
        for member in vars(events.jetstream).values()
        if isinstance(member, type)
        and issubclass(member, InfrastructureFactory)
        and not getattr(member, "__parameters__", None)
    }
    assert found == {JetStreamFactory}
