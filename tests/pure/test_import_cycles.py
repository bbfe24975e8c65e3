"""No import cycle between livecart's modules, read from the source.

A cycle makes the order of imports matter (a name is missing when the other module is
half-initialized) and hides which module owns a piece: move the shared piece to the
module that should own it. Every import counts, wherever it is written: at the top,
inside a function, or under ``if TYPE_CHECKING:`` (a type-only cycle is still two
modules that each need the other; a ``Protocol`` in the module that uses it breaks it).

The graph is built with ``ast`` from the folders of pyproject.toml's package map
(``chat/`` is ``livecart.chat``), so it sees the modules as installed without importing
any of them.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def package_map() -> dict[str, Path]:
    """pyproject.toml's ``package-dir``: installed package -> folder in the repository."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        mapped: dict[str, str] = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {package: ROOT / folder for package, folder in mapped.items()}


def source_modules() -> dict[str, Path]:
    """Every installed module's name -> its file (a package's is its ``__init__.py``)."""
    modules: dict[str, Path] = {}
    for package, folder in package_map().items():
        for path in sorted(folder.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _known(name: str, modules: Mapping[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules (``a.b.C`` -> ``a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> dict[str, int]:
    """The modules of ours that ``name`` imports, anywhere in its file -> first line."""
    found: dict[str, int] = {}
    is_package = path.name == "__init__.py"

    def add(target: str | None, line: int) -> None:
        if target is not None and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_known(alias.name, modules), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if not is_package:
                    base.pop()
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                add(submodule if submodule in modules else _known(source, modules), node.lineno)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    modules = source_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def strong_components(graph: Mapping[str, Mapping[str, object]]) -> list[set[str]]:
    """The graph's strongly connected components (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def enter(node: str) -> Iterator[str]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        return iter(sorted(graph.get(node, ())))

    def close(node: str) -> None:
        if low[node] != index[node]:
            return
        component = set()
        while (member := stack.pop()) != node:
            on_stack.discard(member)
            component.add(member)
        on_stack.discard(node)
        components.append(component | {node})

    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, enter(start))]
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    work.append((target, enter(target)))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                close(node)
    return components


def shortest_cycle(graph: Mapping[str, Mapping[str, object]], component: set[str]) -> list[str]:
    """The shortest way from the component's first module back to itself inside it."""
    first = min(component)
    paths = {first: [first]}
    queue = [first]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph.get(node, ())):
            if target == first:
                return [*paths[node], first]
            if target in component and target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{first}: a component without a cycle")


def cycles(graph: Mapping[str, Mapping[str, object]]) -> Iterator[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component that has one."""
    for component in strong_components(graph):
        first = min(component)
        if len(component) == 1 and first not in graph.get(first, ()):
            continue
        yield shortest_cycle(graph, component)


def test_the_finder_finds_a_cycle_and_only_cycles() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"e": 1}}
    assert sorted(cycles(graph)) == [["a", "b", "c", "a"], ["e", "e"]]
    assert list(cycles({"a": {"b": 1}, "b": {}})) == []


def test_the_graph_sees_every_part_and_every_kind_of_import() -> None:
    graph = import_graph()
    for part in ("chat", "checkout", "streamer", "web", "loadtest", "client"):
        assert any(name.startswith(f"livecart.{part}.") for name in graph), part
    assert "livecart.chat.hub" in graph["livecart.web.app"]  # a top-level import
    assert "livecart.streamer.cluster" in graph["livecart.streamer.service"]  # TYPE_CHECKING
    assert "livecart.loadtest.runner" in graph["livecart.loadtest.cli"]  # inside a function


def test_no_module_imports_itself_back() -> None:
    graph = import_graph()
    found = [
        " -> ".join(
            f"{module} (line {graph[module][after]})" if after else module
            for module, after in zip(cycle, [*cycle[1:], None], strict=True)
        )
        for cycle in cycles(graph)
    ]
    assert not found, "import cycles:\n" + "\n".join(found)
