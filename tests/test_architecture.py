"""Imports run one way (docs/architecture.md): core ← write side and search ← HTTP service ← CLI.

Every module's imports are read from its source (ast), lazy ones inside functions and ``TYPE_CHECKING``
blocks included: an import that is only deferred is still a dependency.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.unit

# Where each package's source lives (pyproject's package-dir: indexer/ and service/ install under talksearch).
SOURCES = {"talksearch": ROOT / "talksearch", "talksearch.indexer": ROOT / "indexer",
           "talksearch.service": ROOT / "service"}

# Layers, bottom up: a module may import its own package and the layers below, never above nor across.
LAYERS = [
    ("core", 0), ("talksearch.indexer", 1), ("talksearch.search", 1), ("talksearch.service", 2),
    ("talksearch.cli", 3),
]
ALSO_CLI = {"talksearch.__main__"}  # `python -m talksearch`: the command too
GLOBAL_NAMES = {"service", "indexer"}  # the folders' names; an installed talksearch does not claim them


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for file in folder.rglob("*.py"):
            parts = list(file.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = file
    return found


def group(module: str) -> str:
    if module in ALSO_CLI:
        return "talksearch.cli"
    for name, _ in LAYERS:
        if module == name or module.startswith(name + "."):
            return name
    return "core"


def level(module: str) -> int:
    return dict(LAYERS)[group(module)]


def imports(module: str, file: Path, known: set[str]) -> set[str]:
    """The talksearch modules ``module`` imports (``from a import b`` names module ``a.b`` when there is one)."""
    tree = ast.parse(file.read_text(), str(file))
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names}
            names.update(submodules)
            if not submodules <= known:  # ``from package import module`` alone does not depend on the package's names
                names.add(base)
    targets = set()
    for name in names:
        if name.split(".")[0] in GLOBAL_NAMES:
            targets.add(name)  # reported below: the folders are not packages of their own
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            targets.add(name)
    return targets


def graph() -> dict[str, set[str]]:
    found = modules()
    return {module: imports(module, file, set(found)) for module, file in found.items()}


def test_modules_are_found_under_their_installed_names():
    found = modules()
    assert {"talksearch.library", "talksearch.search.ranking", "talksearch.indexer.pipeline",
            "talksearch.service.app", "talksearch.service.routes.search", "talksearch.cli"} <= set(found)


def test_no_module_imports_upward_or_across():
    wrong = []
    for module, targets in graph().items():
        for target in targets:
            if target.split(".")[0] in GLOBAL_NAMES:
                wrong.append(f"{module} imports {target} (the installed name is talksearch.{target})")
            elif level(target) > level(module) or (level(target) == level(module) and group(target) != group(module)):
                wrong.append(f"{module} ({group(module)}) imports {target} ({group(target)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    edges = graph()
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_search_runs_without_fastapi():
    code = ("import sys, talksearch.search, talksearch.search.ranking, talksearch.search.snippets; "
            "web = sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')); "
            "assert not web, web")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


SQL = re.compile(r"\b(SELECT|INSERT INTO|DELETE FROM|UPDATE \w+ SET|CREATE (TABLE|INDEX|VIRTUAL|TRIGGER)|DROP TABLE|PRAGMA)\b"
                 r"|\bMATCH \?")


def test_sql_is_written_only_in_the_library_package():
    """The library owns its format: every SQL statement and FTS5 expression is in talksearch.library."""
    files = {m: f for m, f in modules().items() if not m.startswith("talksearch.library")}
    files.update({f"bench.{f.stem}": f for f in (ROOT / "bench").glob("*.py")})
    found = []
    for module, file in files.items():
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
                found.append(f"{module}:{node.lineno}: {node.value[:60]!r}")
            elif isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "executescript"):
                found.append(f"{module}:{node.lineno}: .{node.attr}(...)")
    assert not found, "\n".join(found)
