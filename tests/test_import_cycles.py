"""No import cycle between edgematte's parts (its sub-packages and top-level modules).

Every module of the package is read with ``ast``; every ``import``/``from ... import`` counts,
including those inside functions (lazy imports still tie the parts together). Dependencies must
point one way, e.g. cli -> matter -> pipeline -> runtime/kernels -> errors/types, and export ->
runtime, never runtime -> export.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Set, Tuple

import edgematte

PACKAGE = Path(edgematte.__file__).resolve().parent
ROOT = "edgematte"

#: edges (importer part, imported part) that other work still has to remove, with the reason
KNOWN_EDGES: Dict[Tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _part(module: str) -> str:
    """``edgematte.runtime.trt`` -> ``edgematte.runtime``; ``edgematte.matter`` -> itself."""
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> List[Tuple[str, int]]:
    """(imported edgematte module, line) for every import in ``path``, nested ones included."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names if alias.name.split(".")[0] == ROOT]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != ROOT:
                continue
            for alias in node.names:  # `from . import runtime` imports the submodule
                sub = f"{target}.{alias.name}"
                found.append((sub if _is_module(sub) else target, node.lineno))
    return found


def part_graph() -> Dict[str, Dict[str, List[str]]]:
    """part -> imported part -> ["file:line", ...] (imports within one part are left out)."""
    graph: Dict[str, Dict[str, List[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _part(_module_name(path))
        for target, line in _imports(path):
            target_part = _part(target)
            if target_part != source and source != ROOT and target_part != ROOT:
                graph[source][target_part].append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return graph


def _cycles(graph: Dict[str, Dict[str, List[str]]]) -> List[List[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_walker_sees_nested_and_relative_imports():
    graph = part_graph()
    # runtime/__init__.py imports its backends lazily by name, but export imports runtime at the top
    assert "edgematte.runtime" in graph["edgematte.export"]
    # matter.py imports the runtime inside a function
    assert "edgematte.runtime" in graph["edgematte.matter"]


def test_no_import_cycle_between_parts():
    graph = part_graph()
    for (source, target), _reason in KNOWN_EDGES.items():
        graph.get(source, {}).pop(target, None)
    problems = []
    for component in _cycles(graph):
        edges = [
            f"  {a} -> {b} ({', '.join(graph[a][b][:3])})" for a in component for b in component if b in graph.get(a, {})
        ]
        problems.append(f"cycle between {component}:\n" + "\n".join(edges))
    assert not problems, "\n".join(problems)
