"""The import graph of ``sem_metric/`` (issue 27): circles, upward imports, function-level imports, sizes.

Reads the source with :mod:`ast` (nothing is imported): one node per module, one edge per ``import`` /
``from ... import`` of a ``sem_metric`` module anywhere in the file (module level, inside functions and
classes alike; only ``if TYPE_CHECKING:`` blocks are left out, they never run). ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg``. Reports:

- circles: the strongly connected components of more than one module (and self-imports);
- upward imports: edges from a lower layer to a higher one in :data:`LAYERS` (the order of
  ``docs/ARCHITECTURE.md``);
- function-level imports: every import statement inside a ``def`` / ``class`` body, third-party included;
- functions over :data:`MAX_FUNCTION_LINES` lines and modules over :data:`MAX_MODULE_LINES` lines.

``python benchmarks/import_graph.py [--json]`` prints the figures; ``tests/test_import_graph.py`` holds
the package to them.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

PACKAGE = "sem_metric"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 400

# The documented layering, lowest first: a module may import its own layer or a lower one, never a
# higher one. A module takes the layer of its longest matching prefix (relative to sem_metric).
LAYERS: Tuple[Tuple[str, ...], ...] = (
    # 0: the base (versions, errors, atomic writes, device, data root, the click conventions)
    ("version", "errors", "atomic", "lazy", "data_root", "device", "_allocator", "command", "comparability"),
    # 1: label-map metrics (torch-free except context_torch)
    ("labelmap",),
    # 2: the engine's torch-free foundations: exact sums, declared states, batches (and Shape KID's states,
    #    which the registry declares)
    ("engine.exact", "engine.states", "engine.batch", "engine._lazy", "engine.skd"),
    # 3: THE metric registry (names functions by import path; imports nothing heavy)
    ("registry",),
    # 4: Sem and its classifier F
    ("sem",),
    # 5: the metric engine: SFD (engine.sfd*), Sem's engine function, the classifier stage, core, plugins
    ("engine",),
    # 6: the evaluation pipeline, streaming forms, tasks
    ("pipeline", "streaming", "torchmetrics", "distributed", "task"),
    # 7: commands
    ("cli", "cli_callbacks", "launch", "compare"),
    # 8: built on the core, never imported by it
    ("training", "reference"),
    # 9: the package's lazy public API (imports on attribute access only) and the compatibility modules that
    #    re-export names from their new homes (nothing in the package imports them)
    ("__init__", "sem.sfd", "sem.sfd_accumulator"),
)


@dataclass
class ModuleInfo:
    """One module: its file, line count, sem_metric imports (edges) and function-level imports."""

    name: str
    path: Path
    lines: int
    edges: Set[str] = field(default_factory=set)
    function_imports: List[Tuple[int, str]] = field(default_factory=list)  # (line, imported)
    long_functions: List[Tuple[str, int, int]] = field(default_factory=list)  # (qualname, line, length)


def module_name(path: Path, root: Path = ROOT) -> str:
    """``sem_metric/engine/core.py`` -> ``sem_metric.engine.core`` (a package's ``__init__`` -> the package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Visitor(ast.NodeVisitor):
    def __init__(self, info: ModuleInfo, is_package: bool, modules: Set[str]):
        self.info, self.is_package, self.modules = info, is_package, modules
        self.scope: List[str] = []

    def _target(self, name: str) -> Optional[str]:
        while name and name not in self.modules:
            name = name.rpartition(".")[0]
        return name or None

    def _record(self, node: ast.AST, imported: Iterable[str], described: str) -> None:
        if self.scope:
            self.info.function_imports.append((node.lineno, described))
        for name in imported:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                target = self._target(name)
                if target is not None and target != self.info.name:
                    self.info.edges.add(target)

    def visit_Import(self, node: ast.Import) -> None:
        names = [alias.name for alias in node.names]
        self._record(node, names, ", ".join(names))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.info.name, self.is_package, node)
        targets = []
        for alias in node.names:
            full = f"{base}.{alias.name}"
            targets.append(full if full in self.modules else base)
        self._record(node, targets, "." * node.level + (node.module or ""))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _scoped(self, node) -> None:
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        qualname = ".".join(self.scope + [node.name])
        if not isinstance(node, ast.ClassDef) and length > MAX_FUNCTION_LINES:
            self.info.long_functions.append((qualname, node.lineno, length))
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped


def read_graph(root: Path = ROOT) -> Dict[str, ModuleInfo]:
    """Parse every module under ``root``: ``{module name: ModuleInfo}``."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(p, root) for p in files}
    graph: Dict[str, ModuleInfo] = {}
    for path in files:
        text = path.read_text()
        info = ModuleInfo(module_name(path, root), path, len(text.splitlines()))
        _Visitor(info, path.name == "__init__.py", modules).visit(ast.parse(text, str(path)))
        graph[info.name] = info
    return graph


def circles(graph: Dict[str, ModuleInfo]) -> List[List[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start].edges)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in graph:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt].edges))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def layer_of(module: str) -> int:
    """The layer index of a module in :data:`LAYERS` (longest matching prefix wins)."""
    rel = module[len(PACKAGE) + 1:] if module != PACKAGE else "__init__"
    best, best_len = None, -1
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (rel == prefix or rel.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    if best is None:
        raise KeyError(f"{module}: not in import_graph.LAYERS")
    return best


def upward_imports(graph: Dict[str, ModuleInfo]) -> List[Tuple[str, str]]:
    """Edges from a lower layer to a higher one: ``[(importer, imported)]``."""
    return sorted((name, target) for name, info in graph.items() for target in info.edges
                  if layer_of(target) > layer_of(name))


def summary(graph: Dict[str, ModuleInfo]) -> dict:
    """All figures as one JSON-able dict."""
    function_imports = {name: len(info.function_imports) for name, info in graph.items() if info.function_imports}
    long_functions = sorted(((f"{name}:{q}", n) for name, info in graph.items() for q, _, n in info.long_functions),
                            key=lambda item: -item[1])
    long_modules = sorted(((name, info.lines) for name, info in graph.items() if info.lines > MAX_MODULE_LINES),
                          key=lambda item: -item[1])
    return {
        "modules": len(graph),
        "edges": sum(len(info.edges) for info in graph.values()),
        "circles": circles(graph),
        "upward_imports": upward_imports(graph),
        "function_level_imports": sum(function_imports.values()),
        "function_level_imports_by_module": dict(sorted(function_imports.items(), key=lambda kv: -kv[1])),
        "functions_over_limit": long_functions,
        "modules_over_limit": long_modules,
        "largest_function": long_functions[0] if long_functions else None,
        "largest_module": max(((name, info.lines) for name, info in graph.items()), key=lambda kv: kv[1]),
    }


def main(argv: Optional[List[str]] = None) -> int:
    """Print the figures (text, or ``--json``); exit 1 when there is a circle or an upward import."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = summary(read_graph())
    if args.json:
        print(json.dumps(figures, indent=1))
    else:
        print(f"modules {figures['modules']}, edges {figures['edges']}")
        print(f"circles: {len(figures['circles'])}")
        for component in figures["circles"]:
            print("  " + " <-> ".join(component))
        print(f"upward imports: {len(figures['upward_imports'])}")
        for a, b in figures["upward_imports"]:
            print(f"  {a} -> {b}")
        print(f"function-level imports: {figures['function_level_imports']}")
        for name, n in figures["function_level_imports_by_module"].items():
            print(f"  {n:4d} {name}")
        print(f"functions over {MAX_FUNCTION_LINES} lines: {len(figures['functions_over_limit'])}")
        for name, n in figures["functions_over_limit"]:
            print(f"  {n:4d} {name}")
        print(f"modules over {MAX_MODULE_LINES} lines: {len(figures['modules_over_limit'])}")
        for name, n in figures["modules_over_limit"]:
            print(f"  {n:4d} {name}")
    return 1 if figures["circles"] or figures["upward_imports"] else 0


if __name__ == "__main__":
    sys.exit(main())
