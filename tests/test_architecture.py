"""The layering ARCHITECTURE.md describes, checked on the source (the AST, nothing is imported).

* No import cycle between modules. Every import counts: at module level, inside functions, and
  under ``if TYPE_CHECKING:`` (a cycle hidden there still ties the modules together, and comes
  back the day someone moves the import).
* The core (``mnas_pred/`` outside ``mnas_pred/cli/``) imports no stage package, and the stages
  import downwards only (``search`` may import the other two stages; they import only the core).
* No source file is over ~400 lines (such a file has more than one job).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("mnas_pred", "device_profiler", "predictors", "search")
STAGES = ("device_profiler", "predictors", "search")
#: The stages each stage may import (ARCHITECTURE.md's diagram).
STAGE_IMPORTS = {"device_profiler": set(), "predictors": set(), "search": {"device_profiler", "predictors"}}
MAX_LINES = 400


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the four packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _module_files()


def _imported_names(module: str, path: Path) -> set[str]:
    """Every dotted name ``module`` imports, relative imports resolved. ``from a import b`` gives
    ``a.b`` when that is a module of the project, else ``a`` (``b`` is a name defined in ``a``)."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                names.add(f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in MODULES else prefix)
    return names


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports. An import names the most specific module that
    exists (``import a.b.c`` is an edge to ``a.b.c``, not to the packages ``a`` and ``a.b``,
    whose ``__init__`` run first but are the package's own business)."""
    graph = {}
    for module, path in MODULES.items():
        targets = set()
        for name in _imported_names(module, path):
            parts = name.split(".")
            while parts and ".".join(parts) not in MODULES:
                parts.pop()
            if parts and ".".join(parts) != module:
                targets.add(".".join(parts))
        graph[module] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_every_package_is_walked():
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert "mnas_pred.cli" in MODULES and "predictors._base" in MODULES


def test_the_walk_sees_function_level_and_type_checking_imports(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from device_profiler.records import Measurement\n"
        "def f():\n    from . import sibling\n    import search.runner\n"
    )
    names = _imported_names("mnas_pred.store", path)
    # mnas_pred.sibling is no module: the name is one defined by the package
    assert names == {"device_profiler.records", "mnas_pred", "search.runner", "typing"}


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    graph = _graph()
    cycles = _cycles(graph)
    described = [" <-> ".join(c) + "  (" + "; ".join(f"{m} imports {', '.join(sorted(graph[m] & set(c)))}" for m in c) + ")"
                 for c in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(described)


def test_the_core_imports_no_stage_package():
    graph = _graph()
    offenders = [
        f"{module} imports {', '.join(sorted(t for t in targets if t.split('.')[0] in STAGES))}"
        for module, targets in sorted(graph.items())
        if module.split(".")[0] == "mnas_pred" and not (module + ".").startswith("mnas_pred.cli.")
        and any(t.split(".")[0] in STAGES for t in targets)
    ]
    assert not offenders, "the core (mnas_pred/ outside cli/) imports a stage:\n" + "\n".join(offenders)


def test_stages_import_downwards_only():
    graph = _graph()
    offenders = []
    for module, targets in sorted(graph.items()):
        stage = module.split(".")[0]
        if stage in STAGE_IMPORTS:
            wrong = sorted(t for t in targets if t.split(".")[0] in STAGES and t.split(".")[0] not in STAGE_IMPORTS[stage] | {stage})
            if wrong:
                offenders.append(f"{module} imports {', '.join(wrong)}")
    assert not offenders, "a stage imports a stage above or beside it:\n" + "\n".join(offenders)


def test_no_source_file_is_over_400_lines():
    long = {str(path.relative_to(REPO)): n for path in MODULES.values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines (more than one job each): " + ", ".join(
        f"{p} ({n})" for p, n in sorted(long.items(), key=lambda kv: -kv[1]))
