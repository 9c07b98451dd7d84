"""The package's layout rules (docs/ARCHITECTURE.md), checked statically on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vea_augment"
MAX_MODULE_LINES = 400
TORCH_FREE = ("method", "schemas")

#: The rooms of docs/ARCHITECTURE.md from the foundation up: a room imports only rooms
#: of a lower rank (the package root's lazy API is left out: it imports nothing on load).
ROOM_RANKS = {
    "_version": 0,
    "_lazy": 0,
    "errors": 0,
    "fallback": 1,
    "schemas": 1,
    "method": 1,
    "options": 2,
    "models": 3,
    "testing": 3,
    "data": 4,
    "attribution": 5,
    "answering": 5,
    "steps": 6,
    "reports": 7,
    "distributed": 7,
    "jobs": 8,
    "demo": 9,
    "selfcheck": 9,
    "cli": 10,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at module level or inside functions;
    ``from package import name`` counts ``package.name`` too (it may be a submodule)."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports. Importing ``a.b.c`` also runs ``a`` and
    ``a.b``'s ``__init__``, so those count as imported too."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets: set[str] = set()
        for name in imported_names(path):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in MODULES and prefix != module and not module.startswith(prefix + "."):
                    targets.add(prefix)
        graph[module] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_function_level_imports_count():
    source = Path(__file__).with_name("synthetic_images.py")
    assert "numpy" in imported_names(source)
    analysis_job = MODULES["vea_augment.cli.analyze"]
    assert "vea_augment.jobs.analyze" in imported_names(analysis_job)


def test_no_import_cycle_in_the_package():
    assert find_cycles(import_graph()) == []


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_room_has_a_rank():
    assert {room_of(module) for module in MODULES} - {None} == set(ROOM_RANKS)


def test_rooms_import_only_the_rooms_below_them():
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if (here := room_of(module)) is not None
        and (there := room_of(target)) is not None
        and here != there
        and ROOM_RANKS[there] >= ROOM_RANKS[here]
    )
    assert upward == []


@pytest.mark.parametrize("room", TORCH_FREE)
def test_the_math_and_the_contracts_never_import_torch(room):
    offenders = {
        module: sorted(
            name for name in imported_names(path) if name.split(".")[0] in {"torch", "transformers"}
        )
        for module, path in MODULES.items()
        if module.startswith(f"vea_augment.{room}")
    }
    assert {module: names for module, names in offenders.items() if names} == {}


def test_no_module_is_longer_than_the_limit():
    lengths = {
        module: len(path.read_text(encoding="utf-8").splitlines())
        for module, path in MODULES.items()
    }
    assert {module: n for module, n in lengths.items() if n > MAX_MODULE_LINES} == {}
