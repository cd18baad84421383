"""The model combo's releases that are not installed, and the offer made when a user picks one:
download it (model_download) or import a pack (model_manager). Kept apart from both dialogs so
neither imports the other."""
from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from declip_desktop.dialogs.model_download import DownloadDialog
from declip_desktop.dialogs.model_manager import ModelManagerDialog

RELEASE_PREFIX = "release:"  # model combo data for a release that is not installed
NOT_INSTALLED = " (not installed)"


def add_release_items(combo, entries) -> None:
    """List releases that are not installed after the ready models, marked as such."""
    for e in entries:
        if e.status == "not imported" and e.location == "catalogue":
            combo.addItem(e.card.name + NOT_INSTALLED, RELEASE_PREFIX + e.card.id)


def watch_model_combo(combo, window, refresh) -> None:
    """Offer a download or a pack when the user picks a release that is not installed."""
    last = {"data": combo.currentData()}

    def changed(index: int) -> None:
        data = combo.itemData(index)
        if isinstance(data, str) and data.startswith(RELEASE_PREFIX):
            # after the signal returns: the offer is modal
            QTimer.singleShot(0, lambda: offer_release(window, combo, index, last["data"], refresh))
        else:
            last["data"] = data

    combo.currentIndexChanged.connect(changed)


def offer_release(window, combo, index: int, previous, refresh) -> None:
    """A not-installed release was picked: offer to download it or import a pack, then go back."""
    data = combo.itemData(index)
    if not isinstance(data, str) or not data.startswith(RELEASE_PREFIX):
        return
    model_id = data[len(RELEASE_PREFIX):]
    combo.setCurrentIndex(max(combo.findData(previous), 0))  # never analyse with a model that is absent
    box = QMessageBox(QMessageBox.Icon.Question, "Model not installed",
                      f"{combo.itemText(index).removesuffix(NOT_INSTALLED)} is not installed on this computer.", parent=window)
    box.setObjectName("releaseOfferBox")
    box.setInformativeText("Download it (needs a network connection; you will be shown its licence first), "
                           "or import a .declipmodel pack brought from a connected machine.")
    download = box.addButton("Download…", QMessageBox.ButtonRole.AcceptRole)
    pack = box.addButton("Import pack…", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is download:
        dlg = DownloadDialog(window, select=model_id)
        dlg.finished.connect(lambda *_: refresh())
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()
    elif box.clickedButton() is pack:
        dlg = ModelManagerDialog(window)
        dlg.finished.connect(lambda *_: refresh())
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()
        dlg.import_pack()
