"""The package's imports point one way.

Every ``import`` of a zoo module, at module level or inside a function, is read
from the source with ``ast`` (nothing is imported), and:

- no zoo module reaches itself again through them (no cycle);
- the design's nevers hold: models, layers and data never reach the engine;
  layers never reach models; the engine never reaches the CLI or compare, and
  reaches models only through the registry (never imports a model module itself);
- every module sits in one layer of :data:`LAYERS` (README's layout, bottom to
  top) and imports only from its own layer or those below: registry <
  checkpoint < pretrained < factory (create_model) < engine < publish, compare.

A package whose ``__init__`` imports its own modules with a ``pkgutil`` walk (the
model families, the datasets) counts as importing each of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import zoo

PACKAGE = Path(zoo.__file__).parent


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = ["zoo", *path.relative_to(package).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """``module -> zoo modules it imports`` (module level and inside functions)."""
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name == "zoo" or a.name.startswith("zoo."))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target != "zoo" and not target.startswith("zoo."):
                    continue
                for alias in node.names:  # `from . import rundir` imports the module zoo.rundir
                    sub = f"{target}.{alias.name}"
                    edges.add(sub if sub in files else target)
        if is_package and "pkgutil.iter_modules(__path__)" in source:
            edges.update(m for m in files if m.startswith(name + ".") and m.count(".") == name.count(".") + 1)
        edges.discard(name)
        graph[name] = {e for e in edges if e in files}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for w in graph.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


GRAPH = import_graph()

# README's layout, bottom to top. A module (or package, with everything in it)
# imports only from its own layer and those below.
LAYERS = [
    ("zoo.errors", "zoo.atomic", "zoo.version", "zoo.constants", "zoo.features"),
    ("zoo.registry", "zoo.manifest"),
    ("zoo.rundir",),
    ("zoo.checkpoint",),
    ("zoo.pretrained",),
    ("zoo.layers", "zoo.models"),
    ("zoo.factory", "zoo.preprocess", "zoo.data"),
    ("zoo.summary", "zoo.engine"),
    ("zoo.publish", "zoo.compare", "zoo.reproduce"),
    ("zoo.export", "zoo.cli"),
    ("zoo",),  # the package's __init__: the public API, re-exported
]


def layer_of(module: str) -> int:
    """The layer of the longest name in LAYERS that ``module`` is or is inside."""
    best = None
    for i, names in enumerate(LAYERS):
        for name in names:
            if within(module, name) and (best is None or len(name) > len(best[1])):
                best = (i, name)
    assert best is not None, f"{module} is in no layer of LAYERS (place it there and in README's layout)"
    return best[0]


def test_the_graph_is_read_from_the_source():
    # Function-level imports count: the worker entry imports the runner at module
    # level, the factory imports the model families as a package walk.
    assert "zoo.compare.runner" in GRAPH["zoo.compare.worker"]
    assert "zoo.models.lenet" in GRAPH["zoo.models"]
    assert "zoo.data.vision" in GRAPH["zoo.data"]
    assert "zoo.registry" in GRAPH["zoo.models.lenet"]


def test_no_import_cycle():
    assert find_cycles(GRAPH) == []


def test_a_cycle_is_found_inside_functions_too(tmp_path):
    """The checker itself: a cycle closed by an import inside a function fails it."""
    pkg = tmp_path / "zoo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import x\n    return x\n")
    graph = import_graph(pkg)
    assert graph["zoo.a"] == {"zoo.sub.b"} and graph["zoo.sub.b"] == {"zoo.a"}
    assert find_cycles(graph) == [["zoo.a", "zoo.sub.b"]]


@pytest.mark.parametrize(
    "lower,never",
    [
        (("zoo.models", "zoo.layers", "zoo.data"), ("zoo.engine", "zoo.cli", "zoo.compare", "zoo.publish")),
        (("zoo.layers",), ("zoo.models", "zoo.registry")),
        (("zoo.engine",), ("zoo.cli", "zoo.compare", "zoo.publish")),
        (("zoo.registry", "zoo.manifest", "zoo.rundir", "zoo.atomic", "zoo.errors"),
         ("zoo.checkpoint", "zoo.pretrained", "zoo.factory", "zoo.engine", "zoo.models")),
        (("zoo.checkpoint",), ("zoo.pretrained", "zoo.factory", "zoo.engine")),
        (("zoo.pretrained",), ("zoo.factory", "zoo.engine")),
        (("zoo.factory",), ("zoo.engine", "zoo.publish")),
    ],
)
def test_the_designs_nevers(lower, never):
    bad = {m: sorted(w for w in reach(GRAPH, m) if within(w, *never))
           for m in GRAPH if within(m, *lower)}
    assert {m: w for m, w in bad.items() if w} == {}


def test_imports_point_down_the_layers():
    upward = sorted(f"{m} -> {w}" for m, edges in GRAPH.items() for w in edges if layer_of(w) > layer_of(m))
    assert upward == []


def test_the_engine_reaches_models_only_through_the_registry():
    direct = {m: sorted(w for w in GRAPH[m] if within(w, "zoo.models", "zoo.layers"))
              for m in GRAPH if within(m, "zoo.engine")}
    assert {m: w for m, w in direct.items() if w} == {}


def test_compare_modules_import_no_private_names():
    """The modules of zoo.compare use each other (and the rest of zoo) through public names."""
    bad = []
    for path in sorted((PACKAGE / "compare").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("zoo")):
                bad += [f"{path.name}: {a.name}" for a in node.names if a.name.startswith("_") and a.name != "__version__"]
    assert bad == []
