"""Shared helpers for the GUI tests: isolated settings, a tiny model, photos, drops, waits."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

_TINY_CACHE: dict[str, Path] = {}


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path):
    """QSettings in a per-test folder, whatever format or scope any code asks for (own MonkeyPatch: a
    test's monkeypatch.undo() must not bring the dialogs back)."""
    folder = tmp_path / "qsettings"
    folder.mkdir()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DECLIP_NO_DIALOGS", "1")  # errors go to the status bar, no message boxes
        yield folder


@pytest.fixture
def tiny_model(tmp_path_factory):
    """A tiny random model imported into this test's store and made the default."""
    from engine.store import ModelStore
    from engine.testing import make_tiny_model_dir

    if "dir" not in _TINY_CACHE:
        _TINY_CACHE["dir"] = make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "tiny-test")
    store = ModelStore()
    store.import_path(_TINY_CACHE["dir"])
    store.default_id = "tiny-test"
    return "tiny-test"


def write_photos(folder: Path, n: int, size=(320, 240), prefix="photo") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(list(folder.iterdir())) + n)
    out = []
    for i in range(n):
        w, h = size
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        arr[h // 4: h // 2, w // 4: w // 2] = (200, 40 + 10 * i, 40)
        p = folder / f"{prefix}{i:02d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        out.append(p)
    return out


def truncated_jpeg(folder: Path, name="broken.jpg") -> Path:
    good = write_photos(folder / "_src", 1, prefix="src")[0]
    data = good.read_bytes()
    p = folder / name
    p.write_bytes(data[: len(data) // 3])
    return p


def drop_paths(widget, paths) -> QDropEvent:
    """What a real drag does: enter (Qt then routes the drop to whoever accepted it), then drop."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drag was refused"
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted(), "the drop was not handled"
    return event


def make_window(qtbot, case_path=None):
    from declip_desktop.main_window import MainWindow

    w = MainWindow(str(case_path) if case_path else None)
    qtbot.addWidget(w)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def case_window(qtbot, tmp_path, n_photos: int, extra=()):
    """A window on a new case holding n_photos generated photos (plus `extra` files), ingested."""
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", n_photos) + list(extra))
    wait_ingest(qtbot, w)
    return w


def window_on_clones(qtbot, tmp_path):
    """A window on a new case holding the constructed copy-move photo (tests/evidence_cases.py),
    selected and on screen; returns (window, evidence id)."""
    from tests.evidence_cases import clones_case

    data, suffix, *_ = clones_case()
    photo = tmp_path / "in" / f"cat{suffix}"
    photo.parent.mkdir()
    photo.write_bytes(data)
    win = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(win, [photo])
    wait_ingest(qtbot, win)
    eid = win.case.evidence[0].id
    win.display.select(eid)
    qtbot.waitUntil(lambda: win.imageView.image is not None, timeout=30000)
    return win, eid


def choose_layer(qtbot, win, layer: str) -> None:
    """Pick `layer` in the overlay dock's selector and wait until it is drawn."""
    with qtbot.waitSignal(win.layers.layerShown, timeout=120000):
        win.layerPanel.set_layer(layer)


def shown_analysis_panel(qtbot):
    """The Analysis dock's panel alone, shown at a dock's narrow size (330 x 400)."""
    from declip_desktop.docks.analysis_dock import AnalysisPanel

    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    panel.resize(330, 400)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def find(w, name: str):
    """The window's widget named `name` (objectName), as automation finds it."""
    from PySide6.QtWidgets import QWidget

    widget = w.findChild(QWidget, name)
    assert widget is not None, f"no widget named {name}"
    return widget


def wait_ingest(qtbot, w, timeout=60000):
    qtbot.waitUntil(lambda: not w.ingest.busy, timeout=timeout)


def wait_analysis(qtbot, w, timeout=120000):
    qtbot.waitUntil(lambda: not w.analysis.running, timeout=timeout)


def wait_overlay(qtbot, w, timeout=60000):
    qtbot.waitUntil(lambda: w.imageView.overlay_item is not None, timeout=timeout)


def close_window(w):
    w.close()
    QApplication.processEvents()


class GapMeter:
    """Measures the longest gap between ticks of a 5 ms QTimer: an event-loop stall."""

    def __init__(self, interval_ms: int = 5):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = None
        self.max_gap = 0.0
        self.ticks = 0
        self.long_gaps: list[tuple[float, float]] = []  # (seconds after start, gap ms)
        self.t0 = time.perf_counter()

    def _tick(self):
        now = time.perf_counter()
        if self.last is not None:
            gap = now - self.last
            self.max_gap = max(self.max_gap, gap)
            if gap > 0.05:
                self.long_gaps.append((round(self.last - self.t0, 3), round(gap * 1000, 1)))
        self.last = now
        self.ticks += 1

    def start(self):
        self.t0 = self.last = time.perf_counter()
        self.timer.start()

    def stop(self):
        self.timer.stop()
        self._tick()
