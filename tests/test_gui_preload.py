"""The model loads on a worker when a case opens, and the first analysis uses that load."""
from __future__ import annotations

from tests.gui_support import (close_window, drop_paths, isolated_qsettings, make_window, tiny_model,  # noqa: F401
                               wait_ingest, write_photos)


def _count_loads(monkeypatch) -> list:
    from engine.detector import Detector

    calls: list = []
    real = Detector.from_model.__func__

    def counting(cls, *args, **kwargs):
        calls.append(args)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Detector, "from_model", classmethod(counting))
    return calls


def test_case_open_preloads_the_model_and_analyse_reuses_it(qtbot, tmp_path, tiny_model, monkeypatch):
    monkeypatch.delenv("DECLIP_NO_PRELOAD", raising=False)
    calls = _count_loads(monkeypatch)
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 2))
    wait_ingest(qtbot, w)
    assert w.case is not None
    qtbot.waitUntil(lambda: not w.runner.active("preload") and bool(calls), timeout=120000)
    assert len(calls) == 1  # loaded once, before any Analyse
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        w.analyze_all()
    assert blocker.args == [2, 0]
    assert len(calls) == 1  # the analysis found the model loaded
    close_window(w)


def test_preload_can_be_turned_off(qtbot, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("DECLIP_NO_PRELOAD", "1")
    calls = _count_loads(monkeypatch)
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 1))
    wait_ingest(qtbot, w)
    assert w.case is not None and not w.runner.active("preload") and not calls
    close_window(w)
