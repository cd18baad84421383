"""The model manager's Download / Import pack / Export pack, against a local bucket server (no network)."""
from __future__ import annotations


import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from engine.fetch import release_cards
from engine.hashing import file_sha256
from engine.store import ModelStore
from engine.testing import make_tiny_model_dir
from tests.fetch_support import bucket, served, write_cards  # noqa: F401  (fixtures)
from tests.gui_support import close_window, isolated_qsettings, make_window  # noqa: F401

VIT_PATH = "/bitdefender_ml_artifacts/declip/backbone_VIT/ViT_layer20_conv-20_ldm.pth"


@pytest.fixture
def released(served, tmp_path):
    """(server, release cards pointing at it, files)."""
    srv, files = served
    return srv, release_cards(write_cards(files, tmp_path / "cards", srv.url)), files


def _dialog(qtbot, catalogue, select="declip-vit-ldm"):
    from declip_desktop.dialogs.model_download import DownloadDialog

    dlg = DownloadDialog(catalogue=catalogue, select=select)
    qtbot.addWidget(dlg)
    return dlg


def test_download_dialog_lists_releases_and_downloads_with_progress(qtbot, released):
    srv, catalogue, files = released
    dlg = _dialog(qtbot, catalogue)
    assert dlg.table.rowCount() == 2
    row = [dlg.table.item(0, c).text() for c in range(5)]
    assert "MB" in row[1] and "CC BY-NC-SA 4.0" in row[2] and "MIT" in row[2] and "Dolos" in row[3]
    assert row[4] == "not installed" and dlg.selected_ids() == ["declip-vit-ldm"]
    shown = []
    dlg.confirm_licence = lambda parent, text: shown.append(text) or True
    messages = []
    with qtbot.waitSignal(dlg.downloaded, timeout=120000) as done:
        job = dlg.start()
        job.signals.progress.connect(lambda d, t, m: messages.append(m))
    assert done.args == [["declip-vit-ldm"]]
    assert "CC BY-NC-SA 4.0" in shown[0]
    assert any("/s" in m and "MB" in m for m in messages)  # bytes and rate reported
    assert dlg.progress.value() == 1000 and "Installed and verified" in dlg.status.text()
    assert dlg.table.item(0, 4).text() == "installed"
    card = ModelStore().get("declip-vit-ldm")
    assert card.file("decoder")["licence_accepted"]["how"] == "dialog"


def test_declined_licence_downloads_nothing(qtbot, released):
    srv, catalogue, files = released
    dlg = _dialog(qtbot, catalogue)
    dlg.confirm_licence = lambda parent, text: False
    assert dlg.start() is None and dlg.job is None
    assert "declined" in dlg.status.text() and srv.requests == []


def test_licence_dialog_buttons(qtbot):
    from declip_desktop.dialogs.model_download import ask_licence

    def press(name):
        def click():
            box = QApplication.activeModalWidget()
            assert box is not None and box.objectName() == "licenceDialog"
            box.findChild(type(box.acceptButton), name).click()
        QTimer.singleShot(50, click)

    press("declineLicenceButton")
    assert ask_licence(None, "MIT") is False
    press("acceptLicenceButton")
    assert ask_licence(None, "MIT") is True


def test_cancel_stops_the_download_and_keeps_the_partial_file(qtbot, released):
    srv, catalogue, files = released
    srv.throttle = 1_000_000
    dlg = _dialog(qtbot, catalogue)
    dlg.confirm_licence = lambda p, t: True
    job = dlg.start()
    assert dlg.cancelButton.isEnabled() and not dlg.downloadButton.isEnabled()
    qtbot.waitUntil(lambda: dlg.progress.value() > 0, timeout=60000)
    with qtbot.waitSignal(job.signals.cancelled, timeout=60000):
        qtbot.mouseClick(dlg.cancelButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.job is None, timeout=10000)
    assert "cancelled" in dlg.status.text()
    store = ModelStore()
    assert store.find("declip-vit-ldm").status == "not imported"
    parts = list((store.home / "downloads").glob("*.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < files["vit"].stat().st_size


def test_model_manager_exports_and_imports_packs_and_shows_first_seen(qtbot, released, tmp_path, monkeypatch):
    from declip_desktop.dialogs.model_manager import ModelManagerDialog, card_html
    from engine.fetch import fetch_models

    srv, catalogue, files = released
    fetch_models(["declip-vit-ldm"], catalogue=catalogue, accept=True)
    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    dlg.refresh(select="declip-vit-ldm")
    assert "first seen" in dlg.details.toPlainText() and "not published" in dlg.details.toPlainText()
    assert "published" in card_html(ModelStore().find("declip-vit-ldm"), "")
    assert dlg.exportPackButton.isEnabled()
    releases = dlg.open_download()  # the shipped release cards
    assert releases.table.rowCount() == 9 and releases.selected_ids() == ["declip-vit-ldm"]
    releases.close()
    out = tmp_path / "vit.declipmodel"
    job = dlg.export_pack(str(out))
    qtbot.waitUntil(lambda: job.done.is_set(), timeout=60000)
    qtbot.waitUntil(lambda: "SHA-256" in dlg.status.text(), timeout=5000)
    assert file_sha256(out) in dlg.status.text()
    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "airgapped"))
    with qtbot.waitSignal(dlg.imported, timeout=120000) as got:
        dlg.import_pack(str(out))
    assert got.args == ["declip-vit-ldm"]
    assert ModelStore().find("declip-vit-ldm").status == "ready"
    bad = tmp_path / "bad.declipmodel"
    bad.write_bytes(b"junk")
    with qtbot.waitSignal(dlg.importFailed, timeout=60000) as failed:
        dlg.import_pack(str(bad))
    assert "not a zip" in failed.args[0]


def test_picking_a_release_that_is_not_installed_offers_download_or_pack(qtbot, tmp_path):
    tiny = make_tiny_model_dir(tmp_path / "tiny", model_id="tiny-ready")
    ModelStore().import_path(tiny)
    w = make_window(qtbot)
    combo = w.analysisPanel.modelCombo
    before = combo.currentData()
    idx = combo.findData("release:declip-vit-ldm")
    assert idx > 0 and "not installed" in combo.itemText(idx)
    seen = []

    def answer():
        box = QApplication.activeModalWidget()
        seen.append(box.objectName() if box else None)
        texts = [b.text() for b in box.buttons()] if box else []
        seen.append(texts)
        box.reject()

    QTimer.singleShot(200, answer)
    combo.setCurrentIndex(idx)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=10000)
    assert seen[0] == "releaseOfferBox" and "Download…" in seen[1] and "Import pack…" in seen[1]
    assert combo.currentData() == before  # analysis never runs with a model that is not there
    close_window(w)
