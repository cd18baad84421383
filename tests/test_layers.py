"""Layering rules, read from the source (every import, at the top of a module or inside a function):

- which of our packages each package may import (the table below; Qt only in the GUI);
- no import cycles between modules;
- no module imports another module's `_private` names.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("engine", "trainer", "declip_desktop", "resources")
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6")

# What each part may import of ours; the longest matching prefix decides. Only the rest of
# declip_desktop (GUI and command line) may import Qt.
ALLOWED = {
    "engine": {"engine", "resources"},
    "trainer": {"engine", "trainer"},
    "declip_desktop.case": {"engine", "declip_desktop.case"},
    "declip_desktop.case.cli": {"engine", "declip_desktop.case", "declip_desktop.report"},  # `declip case report`
    "declip_desktop.report": {"engine", "declip_desktop.case", "declip_desktop.report", "resources"},
    "declip_desktop": {"engine", "trainer", "declip_desktop.case", "declip_desktop.report", "declip_desktop",
                       "resources"},
}
MAY_IMPORT_QT = {"declip_desktop"}
# Layers the imported module belongs to (the longest matching prefix).
LAYERS = ("engine", "trainer", "resources", "declip_desktop.case", "declip_desktop.report", "declip_desktop")

# Exceptions that exist today, each with the issue that removes it. A new one fails the test.
PENDING_IMPORTS: dict = {}  # (module, import) pairs allowed until the issue named beside them lands
PENDING_CYCLES: list = []    # module sets allowed to import each other until their issue lands


def _modules() -> dict[str, Path]:
    mods = {}
    for top in OURS:
        for f in (ROOT / top).rglob("*.py"):
            parts = f.relative_to(ROOT).with_suffix("").parts
            mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


MODULES = _modules()


def _longest(name: str, prefixes) -> str | None:
    hits = [p for p in prefixes if name == p or name.startswith(p + ".")]
    return max(hits, key=len) if hits else None


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`: read by type checkers, never executed."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(name: str, path: Path, runtime_only: bool = False) -> list[tuple[str, list[str]]]:
    """(imported module, names taken from it) for every import in the file; relative ones resolved.
    runtime_only: leave out the imports under `if TYPE_CHECKING:` (they form no cycle when run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _type_checking_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for a in node.names:  # `from pkg import module` imports that module
                sub = f"{base}.{a.name}"
                out.append((sub, []) if sub in MODULES else (base, [a.name]))
    return out


def _our_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_each_package_imports_only_what_the_table_allows():
    offenders = []
    for name, path in MODULES.items():
        part = _longest(name, ALLOWED)
        if part is None:  # resources/ holds data, not code with imports of ours
            continue
        for target, _ in _imports(name, path):
            top = target.split(".")[0]
            if top in QT and _longest(name, ALLOWED) not in MAY_IMPORT_QT:
                offenders.append(f"{name} imports {target} (no Qt below the GUI)")
            if top in OURS and _longest(target, LAYERS) not in ALLOWED[part]:
                if (name, _our_module(target)) not in PENDING_IMPORTS:
                    offenders.append(f"{name} imports {target}")
    assert not offenders, offenders
    assert sum(1 for n in MODULES if n.startswith(("engine.", "trainer.", "declip_desktop.case."))) > 40


def test_no_import_cycles_between_modules():
    graph = {name: {m for t, _ in _imports(name, path, runtime_only=True) if (m := _our_module(t)) and m != name}
             for name, path in MODULES.items()}
    cycles = _strongly_connected(graph)
    new = [sorted(c) for c in cycles if not any(c <= known for known in PENDING_CYCLES)]
    assert not new, f"import cycles: {new}"


def test_no_module_imports_another_modules_private_names():
    offenders = []
    tools = {f"{p.parent.name}/{p.name}": p for d in ("scripts", "benchmarks") for p in (ROOT / d).glob("*.py")}
    for name, path in {**MODULES, **tools}.items():
        for target, names in _imports(name, path):
            if target.split(".")[0] in OURS:
                offenders += [f"{name}: from {target} import {n}" for n in names if n.startswith("_")
                              and not n.startswith("__")]
    assert not offenders, offenders


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _strongly_connected(graph) == [{"a", "b", "c"}]


def test_cli_runs_without_loading_qt():
    code = ("import sys; from declip_desktop.cli import build_parser; build_parser(); "
            "import engine.detector, declip_desktop.case; "
            "print(sorted(m for m in sys.modules if m.startswith('PySide6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The graph's strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(comp)
    return found
