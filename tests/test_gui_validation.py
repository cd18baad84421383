"""Help -> Validate installation: the validation runs in a worker and the dialog shows its result."""
from __future__ import annotations

from tests.gui_support import close_window, isolated_qsettings, make_window  # noqa: F401


def test_help_menu_runs_validation_in_a_worker_and_shows_fail_per_item(qtbot, tmp_path, monkeypatch):
    from declip_desktop.dialogs.validation import ValidationDialog
    from engine.golden import latest_record, load_golden
    from engine.testing import make_tiny_model_dir

    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "home"))
    w = make_window(qtbot)
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Help")
    assert w.actionValidate in help_menu.actions()
    # a model with no recorded golden maps cannot pass: a quick FAIL that still writes a record
    tiny = make_tiny_model_dir(tmp_path / "tiny")
    dlg = ValidationDialog(w.runner, w, model=str(tiny))
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    text = dlg.details.toPlainText()
    assert "Validation FAIL" in text and "no golden references" in text
    assert text.count("FAIL") >= len(load_golden()["items"])
    assert dlg.status.text() == "Validation FAIL" and latest_record()["result"] == "FAIL"
    dlg.reject()
    close_window(w)
