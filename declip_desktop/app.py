"""`declip-desktop [CASE_DIR]`: start the desktop app.

    declip-desktop                 the main window (restores the last window layout and reopens the last case)
    declip-desktop CASE_DIR        open (or create, for a new folder) this case
    declip-desktop --demo          open a demo case made from the bundled sample photos
    declip-desktop --self-test     headless checks for packaged builds (see declip_desktop.self_test)
"""
from __future__ import annotations

import argparse
import gc
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="declip-desktop", description="DeCLIP Desktop: see where a photo was manipulated.")
    p.add_argument("case_dir", nargs="?", help="case folder (*.declip) to open; a new folder becomes a new case")
    p.add_argument("--demo", action="store_true", help="open a demo case built from the bundled sample photos")
    p.add_argument("--self-test", action="store_true", help="run the headless self-test and exit 0 (pass) or 1")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        from engine.versions import app_version

        print(f"declip-desktop {app_version()}")
        return 0
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from declip_desktop import self_test

        return self_test.run()
    from PySide6.QtWidgets import QApplication

    window = create_window(args)
    window.show()
    # torch and Qt leave ~10^5 long-lived objects behind; freezing them keeps Python's full
    # garbage collections (which run on the GUI thread) from walking them and stalling a frame.
    gc.collect()
    gc.freeze()
    return QApplication.instance().exec()


def create_window(args: argparse.Namespace):
    """The QApplication (made if needed) and the main window for `args`, not yet shown."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        QApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
    app.setApplicationName("DeCLIP Desktop")
    app.setOrganizationName("DeCLIP")
    app.setApplicationDisplayName("DeCLIP Desktop")
    from declip_desktop.main_window import MainWindow

    window = MainWindow(args.case_dir)
    if not args.case_dir and not args.demo:
        window.cases.reopen_last()  # where the examiner left off (never creates a case)
    if args.demo and not args.case_dir:
        from declip_desktop import demo

        try:
            window.open_case(str(demo.build_demo_case()))
        except Exception as exc:  # the window still opens; the reason is shown
            window.report_error("Demo case", str(exc))
    return window

if __name__ == "__main__":
    sys.exit(main())
