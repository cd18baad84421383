"""Model manager, trainer dialog, report export, About."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.gui_support import (close_window, drop_paths, isolated_qsettings, make_window,  # noqa: F401
                               tiny_model, wait_ingest, write_photos)


def test_model_manager_imports_official_checkpoint_with_clip_weights(qtbot, tmp_path):
    from declip_desktop.dialogs.model_manager import ModelManagerDialog
    from engine.store import ModelStore
    from engine.testing import make_official_checkpoint

    ckpt = make_official_checkpoint(tmp_path / "ViT_layer0_conv-4_test.pth", arch="vit", layer=0,
                                    clip_path=tmp_path / "ViT-L-14.pt", seed=1)
    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    before = dlg.modelList.count()
    with qtbot.waitSignal(dlg.imported, timeout=180000) as blocker:
        dlg.import_files(str(ckpt), [str(tmp_path / "ViT-L-14.pt")])
    mid = blocker.args[0]
    assert dlg.modelList.count() == before + 1
    assert dlg.current_id() == mid
    html = dlg.details.toHtml()
    assert "Licence" in html and "Intended use" in html
    dlg.set_default()
    assert ModelStore().default_id == mid
    assert "★" in dlg.modelList.currentItem().text()
    dlg.verify()
    assert "match their SHA-256" in dlg.status.text()


def test_model_manager_reports_a_bad_file_clearly(qtbot, tmp_path):
    from declip_desktop.dialogs.model_manager import ModelManagerDialog

    bogus = tmp_path / "not_a_checkpoint.pth"
    bogus.write_bytes(b"hello")
    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    n = dlg.modelList.count()
    with qtbot.waitSignal(dlg.importFailed, timeout=60000) as blocker:
        dlg.import_files(str(bogus), [])
    assert "not_a_checkpoint.pth" in blocker.args[0]
    assert "Import failed" in dlg.status.text()
    assert dlg.modelList.count() == n


def test_model_manager_lists_catalogue_cards_with_licences(qtbot):
    from declip_desktop.dialogs.model_manager import ModelManagerDialog

    dlg = ModelManagerDialog()
    qtbot.addWidget(dlg)
    ids = [dlg.modelList.item(i).data(256) for i in range(dlg.modelList.count())]
    assert "declip-vit-lama" in ids
    dlg.modelList.setCurrentRow(ids.index("declip-vit-lama"))
    assert "CC BY-NC-SA" in dlg.details.toPlainText()
    assert not dlg.defaultButton.isEnabled()  # not imported: cannot be the default
    assert "mirror image" not in dlg.details.toPlainText()  # an official model analyses one view
    # the embedded default averages each image with its mirror image: the details say so
    dlg.modelList.setCurrentRow(ids.index("declip-lite2-default"))
    assert "the map is the mean of the image's and its mirror image's" in dlg.details.toPlainText()


TINY = {"family": "lite0", "stages": [1], "grid": 8, "input_size": 64}


@pytest.fixture
def photo_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        base = np.zeros((120, 160, 3), np.uint8)
        base[..., i % 3] = rng.integers(60, 200)
        base += rng.integers(0, 50, base.shape, dtype=np.uint8)
        Image.fromarray(base).save(folder / f"p{i}.png")
    return folder


def test_trainer_dialog_synthesises_trains_and_adds_the_model(qtbot, tmp_path, photo_folder):
    from declip_desktop.dialogs.trainer import TrainerDialog
    from engine.store import ModelStore

    dlg = TrainerDialog()
    qtbot.addWidget(dlg)
    dlg.useSynth.setChecked(True)
    dlg.photosEdit.setText(str(photo_folder))
    dlg.synthOutEdit.setText(str(tmp_path / "ds"))
    dlg.synthCount.setValue(12)
    dlg.backboneCombo.setEditText(json.dumps(TINY))
    dlg.decoderCombo.setCurrentText("conv-4")
    dlg.widths = [4, 4, 4, 4]
    dlg.epochsSpin.setValue(2)
    dlg.batchSpin.setValue(4)
    dlg.outEdit.setText(str(tmp_path / "my-model"))
    dlg.flipCheck.setChecked(True)
    with qtbot.waitSignal(dlg.trainingFinished, timeout=300000) as blocker:
        dlg.startButton.click()
    result = blocker.args[0]
    assert result is not None, dlg.statusLabel.text()
    assert result["imported_id"] == "my-model"
    stored = {e.card.id: e.card for e in ModelStore().list()}
    assert "my-model" in stored and stored["my-model"].flip_average  # the dialog's flip checkbox
    assert len(dlg.chart.iou) == 2 and dlg.chart.loss
    assert "added to the model store" in dlg.statusLabel.text()


def _trainer_dialog(qtbot, tmp_path, backbone: str):
    """The trainer dialog with its folders filled in (nothing is read until Start) and a backbone chosen."""
    from declip_desktop.dialogs.trainer import TrainerDialog

    dlg = TrainerDialog()
    qtbot.addWidget(dlg)
    dlg.dataEdit.setText(str(tmp_path / "ds"))
    dlg.outEdit.setText(str(tmp_path / "m"))
    dlg.backboneCombo.setCurrentText(backbone)
    return dlg


def test_trainer_dialog_recipe_fills_the_settings_and_reaches_the_config(qtbot, tmp_path):
    dlg = _trainer_dialog(qtbot, tmp_path, "lite0")
    _, authors = dlg.config()
    assert (authors["decoder"], authors["batch_size"], authors["ema"], authors["calibrate_bias"]) == ("conv-20", 64,
                                                                                                       0.0, False)
    assert authors["backbone"]["grid"] == 16 and authors["recipe"] == "authors"

    dlg.recipeCombo.setCurrentIndex(dlg.recipeCombo.findData("small-data"))
    assert (dlg.decoderCombo.currentText(), dlg.batchSpin.value(), dlg.epochsSpin.value()) == ("conv-4", 16, 12)
    assert "default model" in dlg.recipeNote.text()
    dlg.seedSpin.setValue(7)
    dlg.flipCheck.setChecked(True)
    dlg.initEdit.setText(str(tmp_path / "start"))
    _, small = dlg.config()
    assert small["recipe"] == "small-data" and small["widths"] == [64, 32, 16, 8]
    assert (small["ema"], small["feature_dropout"], small["image_context"], small["patience"]) == (0.99, 0.5,
                                                                                                   "image-mean", 2)
    assert (small["backbone"]["grid"], small["backbone"]["input_size"]) == (32, 448)
    assert (small["seed"], small["flip_average"], small["init"]) == (7, True, str(tmp_path / "start"))
    dlg.batchSpin.setValue(32)  # a shown control the user changes wins over the recipe
    dlg.decoderCombo.setCurrentText("conv-12")
    _, changed = dlg.config()
    assert changed["batch_size"] == 32 and changed["decoder"] == "conv-12" and changed["widths"] is None
    assert changed["ema"] == 0.99


def test_trainer_dialog_offers_stage_training_for_lite_backbones_only(qtbot, tmp_path):
    from declip_desktop.dialogs.trainer import TrainerDialog

    dlg = TrainerDialog()
    qtbot.addWidget(dlg)
    dlg.dataEdit.setText(str(tmp_path / "ds"))
    dlg.outEdit.setText(str(tmp_path / "m"))
    dlg.recipeCombo.setCurrentIndex(dlg.recipeCombo.findData("small-data"))
    dlg.backboneCombo.setCurrentText("lite2")
    _, plain = dlg.config()
    assert plain["tune_stages"] is None
    dlg.tuneCheck.setChecked(True)
    assert not dlg.augmentCheck.isEnabled()  # the trainer refuses augmentation with tuned stages
    _, tuned = dlg.config()
    assert tuned["tune_stages"] == [3, 4] and tuned["backbone"]["stages"] == [3, 4]
    dlg.backboneCombo.setEditText("lit")  # half typed: no error, nothing offered
    assert not dlg.tuneCheck.isEnabled() and not dlg.tuneCheck.isChecked()
    dlg.backboneCombo.setCurrentText("clip-vit-l14")
    assert not dlg.tuneCheck.isEnabled()
    # a typed Lite spec whose feature stages cannot be tuned is refused at Start, in the dialog's words
    dlg.backboneCombo.setEditText(json.dumps({"family": "lite0", "stages": [1, 4], "grid": 16}))
    dlg.tuneCheck.setChecked(True)
    assert dlg.start() is None
    assert "Stage training" in dlg.statusLabel.text() and "frozen" in dlg.statusLabel.text()


def test_trainer_dialog_offers_a_decoder_without_the_last_relu_for_conv_decoders(qtbot, tmp_path):
    dlg = _trainer_dialog(qtbot, tmp_path, "lite2")
    assert dlg.config()[1]["last_relu"] is True
    dlg.signedCheck.setChecked(True)
    assert dlg.config()[1]["last_relu"] is False
    dlg.decoderCombo.setCurrentText("linear")
    assert not dlg.signedCheck.isEnabled() and dlg.config()[1]["last_relu"] is True


def test_trainer_dialog_refuses_missing_settings(qtbot):
    from declip_desktop.dialogs.trainer import TrainerDialog

    dlg = TrainerDialog()
    qtbot.addWidget(dlg)
    assert dlg.start() is None
    assert "folder" in dlg.statusLabel.text()
    assert dlg.startButton.isEnabled()


def test_export_report_writes_a_pdf_and_logs_it(qtbot, tmp_path, tiny_model):
    from declip_desktop import report_export

    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 2))
    wait_ingest(qtbot, w)
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analyze_all()
    out = tmp_path / "out" / "report.pdf"
    out.parent.mkdir()
    with qtbot.waitSignal(w.reportExported, timeout=180000) as blocker:
        report_export.export_report(w, out)
    assert Path(blocker.args[0]) == out and out.read_bytes()[:5] == b"%PDF-"
    assert any(e.get("action") == "report_exported" for e in w.case.audit_entries())
    close_window(w)


def test_about_dialog_lists_versions_and_licences(qtbot):
    from declip_desktop.dialogs.about import AboutDialog

    dlg = AboutDialog()
    qtbot.addWidget(dlg)
    text = dlg.findChild(type(dlg.layout().itemAt(0).widget()), "aboutText").toPlainText()
    assert "PySide6" in text and "torch" in text and "LGPL" in text and "Apache-2.0" in text
    assert "jpeglib" in text and "MPL-2.0" in text and "opencv" in text   # the evidence layers' libraries too


def test_about_names_a_licence_for_every_runtime_dependency():
    # The frozen app ships every dependency; About listed 8 of 24 (no OpenCV, SciPy, jpeglib's MPL, C2PA ...).
    import re
    import tomllib
    from pathlib import Path

    from declip_desktop.dialogs.about import LICENCES

    deps = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in deps}
    covered = {dist.lower() for _, _, dist in LICENCES if dist}
    assert names - covered == set(), f"no licence shown in About for {sorted(names - covered)}"


def test_trainer_dialog_defaults_to_a_backbone_that_can_run_and_checks_before_starting(qtbot, tmp_path):
    """The CLIP backbones need weight files that are not installed: the default is one that runs,
    and a CLIP choice is refused before any data is synthesised, in the dialog's words."""
    from declip_desktop.dialogs.trainer import TrainerDialog, backbone_problem

    dlg = TrainerDialog()
    qtbot.addWidget(dlg)
    assert backbone_problem(dlg.backboneCombo.currentText(), []) is None
    assert dlg.backboneCombo.currentText().startswith("lite")
    photos = tmp_path / "photos"
    write_photos(photos, 3)
    dlg.useSynth.setChecked(True)
    dlg.photosEdit.setText(str(photos))
    dlg.synthOutEdit.setText(str(tmp_path / "ds"))
    dlg.outEdit.setText(str(tmp_path / "m"))
    dlg.backboneCombo.setCurrentText("clip-vit-l14")
    assert dlg.start() is None
    text = dlg.statusLabel.text()
    assert "CLIP ViT-L/14 weight file" in text and "Backbone weights" in text and "--backbone" not in text
    assert not (tmp_path / "ds").exists()  # nothing synthesised before the refusal
    dlg.backboneCombo.setCurrentText("lite0")
    dlg.photosEdit.setText(str(tmp_path / "nowhere"))
    assert dlg.start() is None and "does not exist" in dlg.statusLabel.text()
