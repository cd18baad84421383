"""The case package must stay usable headless: importing it (and its CLI) loads no Qt."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_case_package_imports_no_qt():
    code = ("import sys; import declip_desktop.case, declip_desktop.case.cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_qt_in_case_sources():
    for src in (ROOT / "declip_desktop" / "case").glob("*.py"):
        text = src.read_text(encoding="utf-8")
        assert "PySide" not in text and "PyQt" not in text, src
