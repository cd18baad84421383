"""Layering rules: engine, trainer, case and report never import Qt (static scan + a live import)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QT = ("PySide6", "PyQt5", "PyQt6", "shiboken6")
NO_QT = ["engine", "trainer", "declip_desktop/case", "declip_desktop/report"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_headless_packages_have_no_qt_imports():
    offenders = []
    for pkg in NO_QT:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            names = _imports(f)
            bad = [n for n in names if n.split(".")[0] in QT]
            if pkg in ("engine", "trainer"):  # the lower layers never reach up into the front-end
                bad += [n for n in names if n.split(".")[0] == "declip_desktop"]
            offenders += [f"{f.relative_to(ROOT)}: {n}" for n in bad]
    assert not offenders, offenders
    assert sum(1 for pkg in NO_QT for _ in (ROOT / pkg).rglob("*.py")) > 20  # the scan saw the code


def test_cli_runs_without_loading_qt():
    code = ("import sys; from declip_desktop.cli import build_parser; build_parser(); "
            "import engine.detector, declip_desktop.case; "
            "print(sorted(m for m in sys.modules if m.startswith('PySide6')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
