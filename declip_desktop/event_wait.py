"""Spin the Qt event loop until a condition holds: for scripts that drive the window without
pytest-qt (scripts/screenshots.py, benchmarks/bench_gui.py). Tests use qtbot.waitUntil instead."""
from __future__ import annotations

import time
from typing import Callable


def wait_until(app, cond: Callable[[], bool], timeout: float = 300.0, poll: float = 0.005,
               settle: int = 0) -> None:
    """Process events until `cond()` is true (TimeoutError after `timeout` s), then `settle` more
    rounds so the signals the condition's change set off (repaints, follow-up slots) are delivered."""
    t0 = time.perf_counter()
    while not cond():
        app.processEvents()
        time.sleep(poll)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s")
    for _ in range(settle):
        app.processEvents()
        time.sleep(poll)
