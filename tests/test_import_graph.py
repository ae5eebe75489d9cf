"""No import cycle between THUNES's modules, nor between its packages (`thunes.data`,
`thunes.cli`...): a layer that imports back from a layer above it can no longer be read,
tested or replaced on its own.

The graph is read from the sources (ast), not from a run, so it sees every import. A
function-local import counts: it only delays the dependency (to skip an import's cost until
it is needed), the module still cannot work without the other. An import under
`if TYPE_CHECKING:` does not: it never runs, it only names a type.
"""

from __future__ import annotations

import ast
from collections import deque
from itertools import pairwise
from pathlib import Path

import thunes

Graph = dict[str, set[str]]

ALLOWED: set[frozenset[str]] = set()
"""Package cycles tolerated while someone removes them: one `frozenset` of packages each,
commented with the module edges that make it, e.g. (gone since e3c1109 moved the order rows
to domain/) thunes.engine <-> thunes.strategy, by thunes.strategy.signal_rules ->
thunes.engine.broker_core and thunes.engine.batch_loop -> thunes.strategy.grid. A cycle that
grows beyond its entry fails, and so does an entry that is no longer a cycle. Not one:
thunes.engine.batch_loop <-> thunes.engine.replay, whose one way is under TYPE_CHECKING."""


def _is_type_checking(test: ast.expr) -> bool:
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
    return name == "TYPE_CHECKING"


def _imported(node: ast.AST, package: str) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import under `node` that runs."""
    found: list[tuple[str, list[str]]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                found += _imported(ast.Module([branch], []), package)
            continue
        if isinstance(child, ast.Import):
            found += [(alias.name, []) for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:  # relative: from the package, `level - 1` packages up
                parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.append((base, [alias.name for alias in child.names]))
        found += _imported(child, package)
    return found


def import_graph(root: Path) -> Graph:
    """Each module of the package at `root` and the package's modules it imports."""
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: Graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for module, imported in _imported(ast.parse(path.read_text()), package):
            targets = [f"{module}.{item}" for item in imported if f"{module}.{item}" in names]
            deps |= set(targets) if targets else {module}
        graph[name] = {dep for dep in deps if dep in names and dep != name}
    return graph


def by_package(graph: Graph) -> tuple[Graph, dict[tuple[str, str], str]]:
    """The graph between `thunes.X` (a subpackage or a top-level module), and for each
    package edge one module edge that makes it, to name it in a failure."""
    packages: Graph = {}
    because: dict[tuple[str, str], str] = {}
    for module, deps in sorted(graph.items()):
        source = ".".join(module.split(".")[:2])
        packages.setdefault(source, set())
        for dep in sorted(deps):
            target = ".".join(dep.split(".")[:2])
            if target != source:
                packages[source].add(target)
                because.setdefault((source, target), f"{module} -> {dep}")
    return packages, because


def _reachable(graph: Graph, start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for there in graph[todo.pop()] - seen:
            seen.add(there)
            todo.append(there)
    return seen


def _shortest_cycle(graph: Graph, start: str) -> list[str]:
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for there in sorted(graph[here]):
            if there == start:
                path = [here]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if there not in came_from:
                came_from[there] = here
                queue.append(there)
    raise ValueError(f"{start} is on no cycle")


def cycles(graph: Graph) -> list[tuple[frozenset[str], list[str]]]:
    """Each group of nodes that reach one another, with one shortest cycle through it."""
    reach = {node: _reachable(graph, node) for node in graph}
    found, done = [], set()
    for node in sorted(graph):
        if node in reach[node] and node not in done:
            group = frozenset(other for other in reach[node] if node in reach[other])
            done |= group
            found.append((group, _shortest_cycle(graph, node)))
    return found


GRAPH = import_graph(Path(thunes.__file__).parent)


def test_no_module_imports_itself_back() -> None:
    found = [" -> ".join(cycle) for _, cycle in cycles(GRAPH)]
    assert not found, "import cycles between thunes modules:\n" + "\n".join(found)


def test_no_package_imports_itself_back_but_the_allowed() -> None:
    packages, because = by_package(GRAPH)
    found = cycles(packages)
    shown = [
        " -> ".join(cycle) + "".join(f"\n    {because[step]}" for step in pairwise(cycle))
        for group, cycle in found
        if group not in ALLOWED
    ]
    assert not shown, "import cycles between thunes packages:\n" + "\n".join(shown)
    gone = [sorted(group) for group in ALLOWED - {group for group, _ in found}]
    assert not gone, f"no longer cycles, remove them from ALLOWED: {gone}"


def test_the_graph_sees_local_imports_and_skips_type_checking(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    sources = {
        "__init__.py": "",
        "a.py": "from . import b\nfrom pkg.c import THING\n",
        "b.py": "def later():\n    import pkg.a\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\n"
        "THING = 1\n",
    }
    for name, text in sources.items():
        (package / name).write_text(text)
    graph = import_graph(package)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b", "pkg.c"}, "pkg.b": {"pkg.a"}, "pkg.c": set()}
    assert cycles(graph) == [(frozenset({"pkg.a", "pkg.b"}), ["pkg.a", "pkg.b", "pkg.a"])]
