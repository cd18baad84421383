"""The second GUI review's defects: a damaged file marked in the evidence list, the Problems list
of a closed case, mode names that say what they do, one device label, the list's full finding
status and dot legend, the model names, one sentence per file not added, the dense clones' fill
areas, and the zoom readout."""
from __future__ import annotations

import shutil

from PySide6.QtCore import Qt

from tests.gui_support import (case_window, close_window, drop_paths, find, isolated_qsettings,  # noqa: F401
                               make_window, tiny_model, truncated_jpeg, wait_analysis, wait_ingest,
                               write_photos)


def _row_texts(w, eid):
    m = w.evidenceModel
    idx = m.index(m.row_of(eid))
    return m.data(idx), m.data(idx, Qt.ItemDataRole.ToolTipRole)


def test_a_damaged_file_is_marked_in_the_evidence_list_with_its_reason(qtbot, tmp_path):
    w = case_window(qtbot, tmp_path, 1, [truncated_jpeg(tmp_path / "in")])
    broken = next(r for r in w.evidenceModel.rows() if r.name == "broken.jpg")
    good = next(r for r in w.evidenceModel.rows() if r.name != "broken.jpg")
    text, tip = _row_texts(w, broken.id)
    assert "⚠ file may be damaged" in text
    assert "end-of-image marker missing" in tip  # the reason, in full
    assert "damaged" not in _row_texts(w, good.id)[0]
    # its thumbnail cannot be made: the row says so instead of a blank square
    qtbot.waitUntil(lambda: w.evidenceModel.get(broken.id).thumbnail is not None
                    or w.evidenceModel.get(broken.id).thumb_error is not None, timeout=20000)
    assert w.evidenceModel.get(broken.id).thumbnail is None
    assert "preview cannot be shown: cannot make a thumbnail (image file is truncated" in _row_texts(w, broken.id)[1]
    # the mark is kept when the case is opened again
    path = w.case.path
    w.cases.close_case()
    w.open_case(str(path))
    assert "⚠ file may be damaged" in _row_texts(w, w.evidenceModel.get(broken.id).id)[0]
    close_window(w)


def test_the_placeholder_thumbnail_differs_from_a_blank_one():
    from declip_desktop.evidence_model import EvidenceRow, _badged_icon

    blank = _badged_icon(EvidenceRow(id="E1", name="a.jpg")).pixmap(96, 96).toImage()
    failed = _badged_icon(EvidenceRow(id="E1", name="a.jpg", thumb_error="cannot decode")).pixmap(96, 96).toImage()
    assert blank != failed  # the failed one carries the "preview cannot be shown" text
    warned = _badged_icon(EvidenceRow(id="E1", name="a.jpg", warning="truncated")).pixmap(96, 96).toImage()
    assert warned.pixelColor(88, 12).red() > 180 and warned.pixelColor(88, 12).green() < 90  # the red mark


def test_one_sentence_per_file_not_added_and_the_hash_only_in_the_tooltip(qtbot, tmp_path):
    photos = write_photos(tmp_path / "in", 1)
    copy = tmp_path / "in" / "photo_copy.jpg"
    shutil.copy(photos[0], copy)
    (tmp_path / "in" / "notes.txt").write_text("hello")
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, [tmp_path / "in"])
    wait_ingest(qtbot, w)
    panel = find(w, "errorList")
    texts = panel.texts("ingest")
    dup = next(t for t in texts if "photo" in t and "identical" in t)
    first = w.case.evidence[0]
    assert dup.count("not added") == 1 and f"identical to {first.id} ({first.file_name})" in dup
    assert first.sha256 not in dup  # the 64-character hash wrapped mid-string
    item = next(panel.item(i) for i in range(panel.count()) if panel.item(i).text() == dup)
    assert first.sha256 in item.toolTip()
    assert "notes.txt was not added: not an image (format not recognised)." in texts
    close_window(w)


def test_the_problems_list_is_cleared_when_the_case_closes_or_another_opens(qtbot, tmp_path):
    w = case_window(qtbot, tmp_path, 1, [truncated_jpeg(tmp_path / "in")])
    panel = find(w, "errorList")
    assert panel.texts("ingest") and w._docks["problems"].isVisible()
    w.cases.close_case()
    assert panel.count() == 0 and not w._docks["problems"].isVisible()
    # again, then open another case without closing first
    w.open_case(str(tmp_path / "case.declip"))
    drop_paths(w, [truncated_jpeg(tmp_path / "in3", "broken3.jpg")])
    wait_ingest(qtbot, w)
    assert any("broken3.jpg" in t for t in panel.texts())
    w.open_case(str(tmp_path / "other.declip"), create=True)
    assert panel.count() == 0
    close_window(w)


def test_the_list_row_has_the_whole_finding_status_and_the_dot_is_explained(qtbot, tmp_path):
    from PySide6.QtGui import QFontMetrics

    w = case_window(qtbot, tmp_path, 1)
    eid = w.evidenceModel.rows()[0].id
    w.evidenceModel.update(eid, status="manipulation confirmed", score=0.93)
    text, tip = _row_texts(w, eid)
    assert "manipulation confirmed" in text.splitlines()  # a line of its own, not after the score
    assert "finding: manipulation confirmed" in tip
    assert "red = manipulation confirmed" in tip and "grey = not reviewed" in tip  # the dot's legend
    # each line fits beside the thumbnail in the list as laid out at 1280 px
    lst = w.evidenceList
    room = lst.viewport().width() - lst.iconSize().width() - 16
    fm = QFontMetrics(lst.font())
    assert all(fm.horizontalAdvance(line) <= room for line in text.splitlines()[1:]), (room, text)
    close_window(w)


def test_a_small_photo_is_said_to_be_enlarged_and_the_modes_explain_themselves(qtbot):
    from declip_desktop.analysis_modes import working_resolution
    from declip_desktop.docks.analysis_dock import AnalysisPanel

    small = working_resolution(451, 300, "tiled", 448)
    assert small.startswith("451 x 300 enlarged to 673 x 448 (scale 1.49)")
    own = working_resolution(451, 300, "tiled-full", 448)
    assert "x the working-size" not in own  # it is not slower: fewer pixels than the working size
    assert own.endswith("the working-size mode enlarges it to 673 x 448")
    assert working_resolution(1024, 768, "tiled", 448).startswith("1024 x 768 analysed at 1024 x 768 (scale 1.00)")
    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    c = panel.modeCombo
    tips = [c.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(c.count())]
    assert all(tips) and "small ones are enlarged" in tips[c.findData("tiled")]
    c.setCurrentIndex(c.findData("tiled-full"))
    assert "own pixels" in c.toolTip()


def test_the_device_label_is_the_engines_from_the_start(qtbot, tmp_path, tiny_model):
    import re

    w = case_window(qtbot, tmp_path, 1)
    before = w.analysisPanel.deviceLabel.text()
    assert re.fullmatch(r"CPU \(\d+ threads?\)", before) or "CPU" not in before  # a GPU: its name
    assert w.deviceStatus.text() == f"Device: {before}"
    w.analyze_all()
    wait_analysis(qtbot, w)
    result = w.case.analyses(w.case.evidence[0].id)[0].record["result"]
    ran_on = (result.get("metadata") or {}).get("device_name")
    assert ran_on == before  # the engine's name for it, unchanged by the first analysis
    assert w.analysisPanel.deviceLabel.text() == before and w.deviceStatus.text() == f"Device: {before}"
    close_window(w)


def test_a_long_model_name_is_elided_with_its_whole_name_in_the_tooltip(qtbot):
    from tests.gui_support import shown_analysis_panel

    panel = shown_analysis_panel(qtbot)
    c = panel.modelCombo
    name = "DeCLIP-Lite2 default (splices, copy-move, classical inpainting) (default)"
    c.blockSignals(True)  # as fill_models fills it
    c.addItem(name, "m")
    c.setCurrentIndex(0)
    c.blockSignals(False)
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    QApplication.sendEvent(c, QHelpEvent(QEvent.Type.ToolTip, QPoint(5, 5), c.mapToGlobal(QPoint(5, 5))))
    assert QToolTip.text() == name
    # the long mode names do not widen the panel either
    for combo in (c, panel.modeCombo):
        assert combo.minimumSizeHint().width() < 250
    QToolTip.hideText()
    shown = c.shown_text()
    assert shown.endswith("…") and shown[:-1] and name.startswith(shown[:-1])
    c.showPopup()
    assert c.view().width() >= c.view().sizeHintForColumn(0)  # the open list shows the name whole
    c.hidePopup()


def test_models_not_installed_are_readable_and_say_so(qtbot, tiny_model):
    from PySide6.QtGui import QColor

    from declip_desktop.dialogs.model_manager import ModelManagerDialog

    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    items = [dlg.modelList.item(i) for i in range(dlg.modelList.count())]
    absent = [it for it in items if "not installed" in it.text()]
    assert absent, "the catalogue lists releases that are not installed"
    text = dlg.modelList.palette().color(dlg.modelList.foregroundRole())
    for it in absent:
        colour = it.foreground().color() if it.foreground().style() != Qt.BrushStyle.NoBrush else text
        assert colour != QColor(Qt.GlobalColor.gray) and colour.lightness() < 100  # not pale grey
        assert it.font().italic()


def test_the_clone_fill_areas_are_listed_and_boxed_with_what_they_are(qtbot):
    from PySide6.QtWidgets import QGraphicsSimpleTextItem

    from declip_desktop.docks.layer_panel import LayerPanel
    from declip_desktop.layer_graphics import ClonePairsItem

    pair = {"source_bbox": [10, 10, 60, 60], "target_bbox": [200, 10, 250, 60], "rotation_deg": 0.0, "scale": 1.0,
            "transform": [[1, 0, 190], [0, 1, 0]]}
    fill = {"bbox": [376, 128, 451, 171], "area": 1804, "density": 0.4787}  # the review's unboxed edge area
    md = {"layer": "clones", "parameters": {"method": "dense"}, "details": {"pairs": [pair], "fills": [fill]}}
    panel = LayerPanel()
    qtbot.addWidget(panel)
    panel.show_layer(md)
    lst = panel.clonePairsList
    assert lst.count() == 2 and lst.item(0).text().startswith("S1 ↔ T1")
    assert lst.item(1).text() == "F1: patch fill, x 376–451, y 128–171 px"
    tip = lst.item(1).toolTip()
    assert "no single source" in tip and "48% of its pixels copied" in tip
    chosen = []
    panel.pairChosen.connect(chosen.append)
    lst.setCurrentRow(1)
    assert chosen == [1]  # after the pairs: the controller draws fill 1 thicker
    tags = lambda item: sorted(c.text() for c in item.childItems() if isinstance(c, QGraphicsSimpleTextItem))  # noqa: E731
    drawn = ClonePairsItem([pair], selected=1, fills=[fill])
    assert tags(drawn) == ["F1", "S1", "T1"]
    assert tags(ClonePairsItem([pair])) == ["S1", "T1"]
    thick = [c.pen().width() for c in drawn.childItems() if hasattr(c, "rect") and c.rect().x() == 376]
    assert thick == [4]


def test_the_zoom_level_is_shown_and_fit_says_when_it_enlarges(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "case.declip")
    w.resize(1920, 1080)
    drop_paths(w, write_photos(tmp_path / "in", 1, size=(451, 300)))
    wait_ingest(qtbot, w)
    view = w.imageView
    qtbot.waitUntil(lambda: view.image is not None, timeout=30000)
    label = find(w, "zoomLabel")
    qtbot.waitUntil(lambda: label.isVisible(), timeout=5000)
    assert view.scale_factor() > 1.0  # Fit enlarges this small photo...
    assert label.text() == f"Fit · {view.scale_factor() * 100:.0f} % (enlarged)"  # ...and says so
    w.actionActualSize.trigger()
    assert label.text() == "100 %"
    w.actionZoomOut.trigger()
    assert label.text() == "80 %"
    # the readout sits in the view's corner, inside it
    assert view.rect().contains(label.geometry())
    w.cases.close_case()
    assert not label.isVisible()  # no image: no zoom
    close_window(w)
