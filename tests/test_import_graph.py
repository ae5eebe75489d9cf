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
from thunes.paths import CONF_DIR

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


def _imported(node: ast.AST, package: str, at_import: bool = False) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import under `node` that runs; with
    `at_import`, those that run when the module is imported (a function's import waits)."""
    found: list[tuple[str, list[str]]] = []
    for child in ast.iter_child_nodes(node):
        if at_import and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                found += _imported(ast.Module([branch], []), package, at_import)
            continue
        if isinstance(child, ast.Import):
            found += [(alias.name, []) for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:  # relative: from the package, `level - 1` packages up
                parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.append((base, [alias.name for alias in child.names]))
        found += _imported(child, package, at_import)
    return found


def _modules(root: Path) -> dict[str, Path]:
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(root: Path, at_import: bool = False, others: bool = False) -> Graph:
    """Each module of the package at `root` and the package's modules it imports; with
    `at_import`, only the imports its own import runs; with `others`, other packages'
    modules too (by the names imported, `numpy.typing`)."""
    names = _modules(root)
    graph: Graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for module, imported in _imported(ast.parse(path.read_text()), package, at_import):
            targets = [f"{module}.{item}" for item in imported if f"{module}.{item}" in names]
            deps |= set(targets) if targets else {module}
        ours = {dep for dep in deps if dep in names and dep != name}
        parents = {dep.rpartition(".")[0] for dep in ours if "." in dep}  # run first
        graph[name] = ours | (parents - {name}) if at_import else ours
        if others:
            graph[name] |= {dep for dep in deps if dep.partition(".")[0] != root.name}
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


STARTS_WITHOUT = ("pandas", "scipy", "vectorbt")
"""What paper and live trading start without: a second or more each (pandas ~1 s CPU with
pyarrow; scipy.linalg ~0.7 s, which numba's BLAS probe no longer imports, see jit_cache;
vectorbt several). The issue's goal is `thunes mode=paper` at its first event in 2 s."""

_NOT_PAPER = ("thunes.data.tick_sources", "thunes.sweep.callbacks")
"""Config targets a paper or live run on candles never builds: book ticks come as a frame
(the scalper's), a sweep's report."""


def _paper_and_live_starts() -> set[str]:
    """The modules `thunes mode=paper|live` imports: the CLI, both modes, the venue feed,
    and the module of every `_target_` in conf/ that such a run may build."""
    targets = {
        line.split(":", 1)[1].strip().rpartition(".")[0]
        for path in CONF_DIR.rglob("*.yaml")
        for line in path.read_text().splitlines()
        if line.strip().startswith("_target_:")
    }
    starts = {"thunes.cli", "thunes.modes.paper", "thunes.modes.venue", "thunes.feeds.ccxt_feed"}
    return (starts | targets) - set(_NOT_PAPER)


def test_paper_and_live_start_without_pandas_scipy_or_vectorbt() -> None:
    """Read from the sources: what their imports at module level load, THUNES's modules
    followed; a function's own import waits for its call (a backtest's pandas)."""
    loaded = import_graph(Path(thunes.__file__).parent, at_import=True, others=True)
    came_from: dict[str, str] = {start: "" for start in _paper_and_live_starts()}
    todo = sorted(came_from)
    while todo:
        here = todo.pop()
        for there in sorted(loaded.get(here, set()) - came_from.keys()):
            came_from[there] = here
            todo.append(there)
    chains = []
    for module in sorted(m for m in came_from if m.partition(".")[0] in STARTS_WITHOUT):
        chain = [module]
        while came_from[chain[-1]]:
            chain.append(came_from[chain[-1]])
        chains.append(" <- ".join(chain))
    assert not chains, "paper and live import at start:\n" + "\n".join(chains)
