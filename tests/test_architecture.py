"""The package's shape (issue 10): every import points down, so there is no import cycle;
and no class grows past ``MAX_CLASS_LINES``.

Read from the source with ``ast``, not by importing: an import inside a function, or under
``TYPE_CHECKING``, is an edge as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "aiohttpbase"
MODULES = {path.stem for path in PACKAGE.glob("*.py")}
#: About 300 lines, with a margin: a class this long has more than one job.
MAX_CLASS_LINES = 340


def imported_modules(path: Path) -> set[str]:
    """The aiohttpbase modules ``path`` imports, wherever in the file the import is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:  # from . import x: x may be a module
                found.update(alias.name for alias in node.names)
            elif node.level == 1 and node.module is not None:
                found.add(node.module.split(".")[0])
            elif node.level == 0 and node.module is not None:
                package, _, rest = node.module.partition(".")
                if package == "aiohttpbase":
                    if rest:
                        found.add(rest.split(".")[0])
                    else:  # from aiohttpbase import x
                        found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                package, _, rest = alias.name.partition(".")
                if package == "aiohttpbase" and rest:
                    found.add(rest.split(".")[0])
    return found & MODULES - {path.stem}


def import_graph() -> dict[str, set[str]]:
    return {path.stem: imported_modules(path) for path in sorted(PACKAGE.glob("*.py"))}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected part of ``graph`` that has one (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    parts: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            part = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                part.add(member)
                if member == node:
                    break
            if len(part) > 1 or node in graph.get(node, ()):
                parts.append(part)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_within(graph, part) for part in parts]


def _cycle_within(graph: dict[str, set[str]], part: set[str]) -> list[str]:
    """A path from the first module of ``part`` back to itself, staying inside ``part``."""
    start = min(part)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & part):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start} in {sorted(part)}")  # pragma: no cover


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["e", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(
        "from . import logs, config as settings\n"
        "from .server import HTTPServer\n"
        "import aiohttpbase.static\n"
        "def later():\n"
        "    from ._supervisor import WorkerSupervisor\n"
        "if False:\n"
        "    from .handlers import BaseHTTPRequestHandler\n"
    )
    assert imported_modules(source) == {"logs", "config", "server", "static", "_supervisor", "handlers"}


def test_no_import_cycle() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles among aiohttpbase modules:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_no_class_is_too_long() -> None:
    too_long = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.ClassDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_long.append(f"{path.name}: {node.name} is {length} lines")
    assert not too_long, f"classes over {MAX_CLASS_LINES} lines:\n" + "\n".join(too_long)
