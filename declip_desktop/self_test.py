"""Hook for `declip-desktop --self-test` (owned by packaging, issue 7).

The packaging work replaces `run()` with the full check (embedded model, sample analysis,
overlay, case, PDF). This minimal version proves the GUI stack imports and a window builds
offscreen, so the flag works from source today.
"""
from __future__ import annotations

import os
import sys
import tempfile


def run() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    checks: list[tuple[str, bool, str]] = []
    try:
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication(sys.argv[:1])
        with tempfile.TemporaryDirectory() as tmp:
            os.environ.setdefault("DECLIP_CONFIG_HOME", os.path.join(tmp, "config"))
            from declip_desktop.main_window import MainWindow

            w = MainWindow()
            w.close()
            app.processEvents()
        checks.append(("main window builds offscreen", True, ""))
    except Exception as exc:
        checks.append(("main window builds offscreen", False, f"{type(exc).__name__}: {exc}"))
    ok = all(c[1] for c in checks)
    for name, passed, detail in checks:
        print(f"[{'ok' if passed else 'FAIL'}] {name}" + (f": {detail}" if detail else ""))
    return 0 if ok else 1
