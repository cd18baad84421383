"""Drag-and-drop and ingest in the main window."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent
from PySide6.QtWidgets import QApplication

from tests.gui_support import (find, close_window, drop_paths, isolated_qsettings, make_window,  # noqa: F401
                               tiny_model, wait_ingest, write_photos)


def test_drop_file_urls_ingests_them(qtbot, tmp_path):
    photos = write_photos(tmp_path / "in", 3)
    notes = tmp_path / "in" / "notes.txt"
    notes.write_text("not a photo")
    w = make_window(qtbot, tmp_path / "case.declip")
    assert w.acceptDrops()
    drop_paths(w, photos + [notes])
    wait_ingest(qtbot, w)
    names = [r.name for r in w.evidenceModel.rows()]
    assert names == [p.name for p in photos]
    assert [it.file_name for it in w.case.evidence] == names
    errors = [find(w, "errorList").item(i).text() for i in range(find(w, "errorList").count())]
    assert any("notes.txt" in e for e in errors)
    # the originals are untouched and the first image is shown
    assert all(p.exists() for p in photos)
    qtbot.waitUntil(lambda: w.imageView.image is not None, timeout=20000)
    close_window(w)


def test_drop_on_a_child_widget_reaches_the_window(qtbot, tmp_path):
    photos = write_photos(tmp_path / "in", 2)
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w.imageView.viewport(), photos[:1])
    drop_paths(w.evidenceList.viewport(), photos[1:])
    wait_ingest(qtbot, w)
    assert sorted(r.name for r in w.evidenceModel.rows()) == sorted(p.name for p in photos)
    close_window(w)


def test_duplicates_and_folders(qtbot, tmp_path):
    photos = write_photos(tmp_path / "folder" / "sub", 2)
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, [tmp_path / "folder"])
    wait_ingest(qtbot, w)
    assert w.evidenceModel.rowCount() == 2
    drop_paths(w, [photos[0]])  # same content again
    wait_ingest(qtbot, w)
    assert w.evidenceModel.rowCount() == 2
    errors = [find(w, "errorList").item(i).text() for i in range(find(w, "errorList").count())]
    assert any(photos[0].name in e for e in errors)
    close_window(w)


def test_drag_enter_accepts_files_only(qtbot, tmp_path):
    photo = write_photos(tmp_path / "in", 1)[0]
    w = make_window(qtbot, tmp_path / "case.declip")
    for urls, accepted in (([QUrl.fromLocalFile(str(photo))], True), ([QUrl("https://example.org/x.jpg")], False)):
        mime = QMimeData()
        mime.setUrls(urls)
        ev = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                             Qt.KeyboardModifier.NoModifier)
        ev.setAccepted(False)
        QApplication.sendEvent(w, ev)
        assert ev.isAccepted() is accepted
    close_window(w)


def test_drop_without_a_case_offers_to_create_one(qtbot, tmp_path):
    photos = write_photos(tmp_path / "in", 2)
    w = make_window(qtbot)
    asked = []

    def answer(pending):
        asked.append(list(pending))
        return {"path": str(tmp_path / "new case"), "title": "Drop case", "number": "42", "examiner": "Ann"}

    w.ask_new_case = answer
    drop_paths(w, photos)
    wait_ingest(qtbot, w)
    assert asked and len(asked[0]) == 2
    assert w.case is not None and w.case.title == "Drop case"
    assert w.evidenceModel.rowCount() == 2
    close_window(w)


def test_declining_the_new_case_loses_nothing(qtbot, tmp_path):
    photos = write_photos(tmp_path / "in", 1)
    w = make_window(qtbot)
    w.ask_new_case = lambda pending: None
    drop_paths(w, photos)
    assert w.case is None
    assert photos[0].exists()
    close_window(w)
