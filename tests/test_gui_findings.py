"""Findings (status, note, threshold, opacity) persist in the case and its audit log;
settings (recent cases, window state, preferences) persist per user."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from declip_desktop import settings
from tests.gui_support import (find, close_window, drop_paths, isolated_qsettings, make_window,  # noqa: F401
                               wait_ingest, write_photos)


def _select(qtbot, w, row):
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(row))
    qtbot.waitUntil(lambda: find(w, "findingStatusCombo").isEnabled(), timeout=5000)


def test_findings_persist_after_reopening(qtbot, tmp_path):
    case_dir = tmp_path / "case.declip"
    photos = write_photos(tmp_path / "in", 2)
    w = make_window(qtbot, case_dir)
    drop_paths(w, photos)
    wait_ingest(qtbot, w)
    _select(qtbot, w, 1)
    find(w, "thresholdSlider").setValue(63)
    find(w, "opacitySlider").setValue(35)
    find(w, "findingStatusCombo").setCurrentIndex(find(w, "findingStatusCombo").findData("suspicious"))
    find(w, "findingNoteEdit").setPlainText("Cloned region left of the door — ✓ checked")
    with qtbot.waitSignal(w.findingSaved, timeout=10000):
        w.findingPanel.saveFindingButton.click()
    assert w.evidenceModel.rows()[1].status == "suspicious"
    close_window(w)

    w2 = make_window(qtbot, case_dir)
    assert w2.evidenceModel.rowCount() == 2
    assert w2.evidenceModel.rows()[1].status == "suspicious"
    _select(qtbot, w2, 1)
    assert find(w2, "findingStatusCombo").currentData() == "suspicious"
    assert find(w2, "findingNoteEdit").toPlainText() == "Cloned region left of the door — ✓ checked"
    assert find(w2, "thresholdSlider").value() == 63 and find(w2, "opacitySlider").value() == 35
    f = w2.case.finding(w2.case.evidence[1].id)
    assert (f.status, f.threshold, f.opacity) == ("suspicious", 0.63, 0.35)
    entries = [e for e in w2.case.audit_entries() if e.get("action") == "finding_set"]
    assert entries and entries[-1]["details"]["note"].startswith("Cloned region")
    close_window(w2)


def test_finding_autosaves_when_switching_images(qtbot, tmp_path):
    case_dir = tmp_path / "case.declip"
    photos = write_photos(tmp_path / "in", 2)
    w = make_window(qtbot, case_dir)
    drop_paths(w, photos)
    wait_ingest(qtbot, w)
    _select(qtbot, w, 0)
    find(w, "findingNoteEdit").setPlainText("typed, never saved by hand")
    with qtbot.waitSignal(w.findingSaved, timeout=10000):
        _select(qtbot, w, 1)
    first = w.case.evidence[0].id
    assert w.case.finding(first).note == "typed, never saved by hand"
    close_window(w)


def test_ctrl_s_saves_the_finding(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 1))
    wait_ingest(qtbot, w)
    _select(qtbot, w, 0)
    find(w, "findingStatusCombo").setCurrentIndex(find(w, "findingStatusCombo").findData("no finding"))
    assert w.actionSaveFinding.shortcut() == QKeySequence(QKeySequence.StandardKey.Save)
    with qtbot.waitSignal(w.findingSaved, timeout=10000):
        w.actionSaveFinding.trigger()
    assert w.case.finding(w.case.evidence[0].id).status == "no finding"
    close_window(w)


def test_recent_cases_and_window_state_are_remembered(qtbot, tmp_path):
    case_dir = tmp_path / "case.declip"
    w = make_window(qtbot, case_dir)
    w.resize(1111, 777)
    w._docks["metadata"].hide()
    close_window(w)
    assert settings.recent_cases()[0] == str(case_dir.resolve())
    assert isinstance(settings.qsettings().value("window/state"), QByteArray)

    w2 = make_window(qtbot)
    assert w2.size().width() == 1280  # make_window resizes after restore; the restore itself:
    w2.restoreGeometry(settings.qsettings().value("window/geometry"))
    assert not w2._docks["metadata"].isVisible()
    actions = [a.text() for a in w2.recentMenu.actions()]
    assert str(case_dir.resolve()) in actions
    w2.recentMenu.actions()[0].trigger()
    assert w2.case is not None and w2.case.path.resolve() == case_dir.resolve()
    close_window(w2)


def test_preferences_file_is_readable_json_and_survives_bad_values(tmp_path):
    prefs = settings.Preferences(colormap="viridis", opacity=0.3, threshold=0.7)
    prefs.save()
    text = settings.Preferences.path().read_text(encoding="utf-8")
    assert '"colormap": "viridis"' in text
    assert settings.Preferences.load().threshold == 0.7
    settings.Preferences.path().write_text('{"threshold": "high", "opacity": 1, "unknown": 3}')
    loaded = settings.Preferences.load()
    assert loaded.threshold == 0.5 and loaded.opacity == 1.0
    settings.Preferences.path().write_text("{not json")
    assert settings.Preferences.load() == settings.Preferences()
    # an earlier precision menu saved dtype names, which the engine refuses: read as exact/fast
    for old, new in (("fp32", "exact"), ("fp16", "fast"), ("bf16", "fast"), ("exact", "exact"), ("auto", "auto")):
        settings.Preferences.path().write_text(f'{{"precision": "{old}"}}')
        assert settings.Preferences.load().precision == new


def test_overlay_preferences_are_restored(qtbot, tmp_path):
    w = make_window(qtbot)
    find(w, "colormapCombo").setCurrentIndex(find(w, "colormapCombo").findData("cividis"))
    find(w, "thresholdSlider").setValue(42)
    close_window(w)
    w2 = make_window(qtbot)
    assert find(w2, "colormapCombo").currentData() == "cividis" and find(w2, "thresholdSlider").value() == 42
    close_window(w2)


def test_shortcuts_and_object_names(qtbot):
    w = make_window(qtbot)
    for name in ("evidenceList", "imageView", "thresholdSlider", "opacitySlider", "colormapCombo",
                 "displayModeCombo", "analyzeButton", "analyzeAllButton", "cancelButton", "progressBar",
                 "scoreLabel", "metadataView", "findingStatusCombo", "findingNoteEdit"):
        widget = w.findChild(QApplication.instance().__class__.__mro__[0].__base__.__base__ if False else object, name)
        assert widget is not None, name
        assert widget.accessibleName(), name
    for name in ("actionNewCase", "actionOpenCase", "actionExportReport", "actionImportModel", "actionTrain"):
        assert w.findChild(object, name) is not None, name
    keys = {a.objectName(): [s.toString() for s in a.shortcuts()] for a in w.actions()}
    assert "Ctrl+N" in keys["actionNewCase"] and "Ctrl+O" in keys["actionOpenCase"]
    assert "Ctrl+Q" in keys["actionQuit"] and "F" in keys["actionFit"]
    assert "+" in keys["actionZoomIn"] and "-" in keys["actionZoomOut"] and "0" in keys["actionActualSize"]
    assert find(w, "thresholdSlider").minimum() == 0 and find(w, "thresholdSlider").maximum() == 100
    close_window(w)


def test_o_key_toggles_original_only(qtbot, tmp_path):
    from declip_desktop.overlay_style import DisplayMode
    from tests.gui_support import case_window

    w = case_window(qtbot, tmp_path, 1)  # the toggle acts on a shown image: off without one
    w.display.select(w.case.evidence[0].id)
    assert w.actionToggleOriginal.isEnabled()
    w.overlayPanel.set_mode(DisplayMode.MASK)
    assert [k.toString() for k in w.actionToggleOriginal.shortcuts()] == ["O"]
    w.actionToggleOriginal.trigger()  # what the O key does (offscreen windows are not always active)
    assert find(w, "displayModeCombo").currentData() == DisplayMode.ORIGINAL.value
    assert w.actionToggleOriginal.isChecked()
    w.actionToggleOriginal.trigger()
    assert find(w, "displayModeCombo").currentData() == DisplayMode.MASK.value
    assert not w.actionToggleOriginal.isChecked()
    close_window(w)
