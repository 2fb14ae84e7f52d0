"""The shape of the house, checked: no import circles among the project's modules, and no
stage importing another stage (a stage reads what the earlier ones left in the context or the
build folder; `build` is the one orchestrator). Imports under `if TYPE_CHECKING:` never run and
do not count."""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline import stages

REPO = Path(__file__).resolve().parents[2]


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST) -> list[ast.AST]:
    """Import nodes outside `if TYPE_CHECKING:` blocks."""
    found = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (at module level or inside functions)."""
    files = {_module(p): p for top in ("pipeline", "edge") for p in (REPO / top).rglob("*.py")}
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in files else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in files and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "stages" else None


def test_no_import_circles() -> None:
    assert _cycles(import_graph()) == []


def test_no_stage_imports_another_stage() -> None:
    crossing = [(m, d) for m, deps in import_graph().items() for d in deps
                if _stage_of(m) and _stage_of(d) and _stage_of(m) != _stage_of(d)]
    assert crossing == []


def test_every_stage_is_a_module_of_one_folder_with_one_contract() -> None:
    import inspect

    for name in stages.ORDER:
        run = stages.module(name).run
        assert list(inspect.signature(run).parameters) == ["ctx", "opts", "reporter"], name
        assert hasattr(stages.module(name), "Options"), name


def test_the_checks_catch_what_they_look_for() -> None:
    """The detectors themselves: a circle and a crossing in a made-up graph are found."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _stage_of("pipeline.stages.convert.recover") == "convert"
    assert _stage_of("pipeline.gate.metrics") is None
