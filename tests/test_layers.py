"""The four packages are layers that only point down: events < projections < replay < service.

The import graph is built from the source with ``ast`` (``import x``, ``from x import y``,
relative imports, imports inside functions; not those under ``if TYPE_CHECKING:``, which
never run). A module may import its own layer or one below; a module-level import cycle
(imports that run when the module loads) fails too, wherever it is. Each failure names the
modules and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

LAYERS = ("events", "projections", "replay", "service")
"""Lowest first: each package may import the ones before it, never one after it."""


@dataclass(frozen=True)
class Import:
    """One import statement's target, as the importing module sees it."""

    importer: str
    imported: str
    line: int
    module_level: bool
    """Runs when the importer loads (not inside a function)."""


def modules(root: Path) -> dict[str, Path]:
    """Every module of the four packages under ``root``, by dotted name."""
    found: dict[str, Path] = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(body: list[ast.stmt], module_level: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every statement in ``body`` and the blocks within, with whether it runs on import."""
    for node in body:
        yield node, module_level
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.orelse, module_level)
            continue
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _statements(node.body, False)
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _statements(getattr(node, field, []), module_level)
        for handler in getattr(node, "handlers", []):
            yield from _statements(handler.body, module_level)
        for case in getattr(node, "cases", []):
            yield from _statements(case.body, module_level)


def imports(root: Path) -> list[Import]:
    """Every import between modules of the four packages under ``root``."""
    known = modules(root)

    def target(name: str) -> str | None:
        """The innermost known module ``name`` is or lies in (``a.b.C`` → ``a.b``)."""
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    found: list[Import] = []
    for importer, path in known.items():
        package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, module_level in _statements(tree.body, True):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                names = [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                imported = target(name)
                if imported is not None and imported != importer:
                    found.append(Import(importer, imported, node.lineno, module_level))
    return found


def _layer(module: str) -> int:
    return LAYERS.index(module.partition(".")[0])


def upward_imports(root: Path) -> list[str]:
    """``importer:line imports imported``, for each import of a higher layer."""
    found = [
        f"{i.importer}:{i.line} imports {i.imported} "
        f"({i.imported.partition('.')[0]} is above {i.importer.partition('.')[0]})"
        for i in imports(root)
        if _layer(i.imported) > _layer(i.importer)
    ]
    return list(dict.fromkeys(found))  # ``from a import b, c``: one line, one finding


def module_level_cycles(root: Path) -> list[tuple[list[str], list[str]]]:
    """Per set of modules tied by module-level imports: one cycle (``[a, b, …, a]``) and
    every module of the set."""
    graph: dict[str, set[str]] = {m: set() for m in modules(root)}
    for i in imports(root):
        if i.module_level:
            graph[i.importer].add(i.imported)
    cycles = []
    for component in _strongly_connected(graph):
        if len(component) > 1:
            start = min(component)
            cycles.append((_cycle_through(start, graph, component), sorted(component)))
    return sorted(cycles)


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (the graph is deep enough for recursion to hurt)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: set[str] = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _cycle_through(start: str, graph: dict[str, set[str]], within: set[str]) -> list[str]:
    """The shortest path from ``start`` back to itself inside ``within`` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for successor in sorted(graph[node] & within):
                if successor == start:
                    back = [node]  # node, its predecessor, … , start
                    while back[-1] != start:
                        back.append(came_from[back[-1]])
                    return [*reversed(back), start]
                if successor not in came_from:
                    came_from[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"{start} is in a cycle of {sorted(within)} but none was found")


def test_no_package_imports_a_higher_layer() -> None:
    """events imports none of the other three; projections neither replay nor service;
    replay not service. Imports inside functions count: they run too, only later."""
    upward = upward_imports(REPO_ROOT)
    assert not upward, "imports of a higher layer:\n  " + "\n  ".join(upward)


def test_no_module_level_import_cycle() -> None:
    """No module needs, while it loads, a module that needs it while that one loads."""
    cycles = module_level_cycles(REPO_ROOT)
    assert not cycles, "module-level import cycles:\n  " + "\n  ".join(
        f"{' -> '.join(cycle)} (tied together: {', '.join(members)})" for cycle, members in cycles
    )


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The checks find what they look for: a relative, a from-, a plain and a function-level
    import, and not one under TYPE_CHECKING."""
    for package in LAYERS:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "events" / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import other\n"
        "if TYPE_CHECKING:\n"
        "    from service.top import Thing\n"
        "def later():\n"
        "    import replay.middle\n"
    )
    (tmp_path / "events" / "other.py").write_text("from events.low import x\n")
    (tmp_path / "replay" / "middle.py").write_text("")
    (tmp_path / "service" / "top.py").write_text("import projections\n")

    found = {(i.importer, i.imported, i.module_level) for i in imports(tmp_path)}

    assert found == {
        ("events.low", "events.other", True),
        ("events.low", "replay.middle", False),
        ("events.other", "events.low", True),
        ("service.top", "projections", True),
    }
    assert upward_imports(tmp_path) == [
        "events.low:6 imports replay.middle (replay is above events)"
    ]
    assert module_level_cycles(tmp_path) == [
        (["events.low", "events.other", "events.low"], ["events.low", "events.other"])
    ]
