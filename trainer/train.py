"""Decoder training on a frozen backbone, with the DeCLIP authors' recipe as defaults.

Recipe: BCE-with-logits on the 256x256 logits against soft masks resized to 256; AdamW lr 1e-3,
weight decay 0, batch 64; conv weights and BatchNorm gamma ~ N(0, 0.02); validation IoU each
epoch; after `patience` epochs without an improvement > min_delta the lr is multiplied by
`lr_factor`; stop when lr < min_lr (or at max_epochs); the best-IoU decoder is kept.
Manipulated images only, unless include_real.

Progress for GUIs: `progress(p: TrainProgress)` is called after every batch, at each feature
extraction step and at each epoch end; `cancel() -> bool` is polled between batches. A cancel or
Ctrl-C saves a resumable state (OUT/state/last.pt) and raises engine.errors.Cancelled;
`resume=True` continues it exactly (same data order, same optimiser state).

The parts: trainer.config (settings), trainer.validator (features, logits, IoU), trainer.splits
(batches), trainer.decoder_setup (first weights), trainer.calibration (threshold and scale) and
trainer.card_output (decoder file and card). This module holds the loop and its resumable state.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import signal
import threading
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from engine.atomic import write_bytes_atomic
from engine.decoders import build_decoder, decoder_state_to_module
from engine.errors import Cancelled, CheckpointError, DeclipError
from engine.network import FlipAveraged

from . import datasets as D
from .calibration import fold_logit_scale, fold_logit_shift
from .card_output import backbone_file_entries, data_fingerprint, save_decoder, training_record, write_trained_card
from .config import ProgressFn, TrainConfig, TrainProgress, check_config, parse_decoder, resume_hash, \
    resume_settings, settings_differ
from .decoder_setup import first_mismatch, init_decoder, init_record, load_init_state, split_input_modules, \
    training_layout
from .splits import AugmentedSplit, FeatureSplit, with_mirrored_view
from .stage_tuning import TunedNet, check_tune_stages, ema_source, init_stages, refuse_without_stages, save_stages
from .validator import Validator
from .write_errors import check_writable, writing

STATE_DIR = "state"

__all__ = ["STATE_DIR", "TrainConfig", "TrainProgress", "Trainer", "drop_channels", "ema_update", "mask_loss"]


def mask_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 0.0) -> torch.Tensor:
    """BCE on the 256x256 logits (the authors' loss), plus optionally a per-image soft-Dice term.

    Why Dice: edits cover a few percent of an image, so plain BCE is dominated by the easy
    background and its optimum is not the IoU optimum; Dice scores each image's region directly,
    as the IoU metric does. Images with an empty mask add only BCE (Dice is undefined there).
    On the default model's data it did not beat calibrated-bias BCE (research/default-model-log.md).
    """
    loss = F.binary_cross_entropy_with_logits(logits, target)
    if dice_weight <= 0:
        return loss
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    has = t.sum(1) > 0
    if not bool(has.any()):
        return loss
    inter = (p * t).sum(1)
    dice = 1 - (2 * inter + 1) / (p.sum(1) + t.sum(1) + 1)
    return loss + dice_weight * dice[has].mean()


def drop_channels(x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
    """Channel dropout (as nn.Dropout2d) with a mask drawn from its own seed: the same batch of the
    same epoch gets the same mask, so --seed runs and --resume stay reproducible."""
    keep = torch.rand(x.shape[0], x.shape[1], 1, 1, generator=torch.Generator().manual_seed(seed)) >= p
    return x * keep.to(x.device, x.dtype) / (1 - p)


def ema_update(avg: dict[str, torch.Tensor], live: dict[str, torch.Tensor], decay: float, step: int) -> float:
    """One step of the weight average: avg = d * avg + (1 - d) * live, in place; returns d.

    Why: with small batches the decoder's validation IoU swings by several points from one
    epoch to the next, so "keep the best epoch" partly picks noise; the average of the recent
    weights sits nearer the middle of that swing. d ramps up as (1 + step) / (10 + step) so the
    random initial weights are forgotten within the first steps. BatchNorm running statistics
    are averaged like the weights; integer buffers (batch counters) are copied.
    """
    d = min(decay, (1 + step) / (10 + step))
    for k, v in live.items():
        a = avg[k]
        if a.is_floating_point():
            a.mul_(d).add_(v.detach(), alpha=1 - d)
        else:
            a.copy_(v)
    return d


def _used(samples: list, split) -> list:
    """The samples a split really holds: those whose image and mask could be read (an augmented split
    reads its images each epoch and keeps them all)."""
    names = getattr(split, "names", None)
    if names is None:
        return samples
    kept = set(names)
    return [s for s in samples if str(s.image) in kept]


class Trainer:
    def __init__(self, cfg: TrainConfig, progress: ProgressFn | None = None,
                 cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None):
        check_config(cfg)
        self.cfg = cfg
        self.progress = progress or (lambda p: None)
        self.cancel = cancel or (lambda: False)
        self.log = log or (lambda s: None)
        self.out = Path(cfg.out)
        self.validator = Validator(cfg, self.progress, self.cancel, self.log)  # refuses a bad --backbone
        self.spec = self.validator.spec
        # --tune-stages: checked against the backbone before any data is read
        self.tuned = check_tune_stages(self.spec, cfg.tune_stages) if cfg.tune_stages else None
        if not self.tuned and cfg.init:
            refuse_without_stages(Path(cfg.init))
        self.trained: torch.nn.Module | None = None  # the final model (calibration folded in), after run()
        self.dec_spec = parse_decoder(cfg.decoder, cfg.widths, cfg.image_context, cfg.last_relu)
        self.device = self.validator.device
        self.problems = self.validator.problems  # one list: data problems seen while reading and training
        self.avg: torch.nn.Module | None = None  # the weight average, with --ema
        self._stop_requested = False  # set by Ctrl-C; the loop stops at the next batch boundary

    def prepare_backbone(self) -> str:
        """Build the frozen backbone and its feature cache; returns the cache key."""
        return self.validator.prepare_backbone()

    @property
    def backbone(self) -> torch.nn.Module:
        return self.validator.backbone

    # ---- model -----------------------------------------------------------------------------
    def build_decoder(self, c_in: int) -> torch.nn.Module:
        """The decoder this run trains, with its first weights (random or --init), in training layout."""
        dec = build_decoder(self.dec_spec, c_in, cnn=getattr(self.backbone, "cnn", False))
        init_decoder(dec, self.cfg.init_std, self.cfg.seed, self.cfg.bn_gamma_mean)
        if self.cfg.init:
            state = decoder_state_to_module(load_init_state(Path(self.cfg.init)), self.dec_spec)
            own = dec.state_dict()
            k = first_mismatch(own, state)
            if k:
                found = tuple(state[k].shape) if k in state else "nothing"
                raise CheckpointError(f"{self.cfg.init}: expected a {self.cfg.decoder} decoder for {c_in}-channel "
                                      f"features; tensor fc.{k} needs {tuple(own[k].shape)}, found {found}")
            dec.load_state_dict({k: state[k] for k in own}, strict=True)
            # hashed when loaded, not when the card is written: the folder may change during a long run
            self.init_rec = init_record(Path(self.cfg.init))
        return training_layout(dec, self.device)

    def with_tuned_stages(self, dec: torch.nn.Module) -> TunedNet:
        """The decoder behind the backbone's tuned stages (--tune-stages), which start from ImageNet or from
        an --init folder's tuned stages."""
        net = TunedNet(self.backbone, self.tuned, dec)
        self.init_stages_rec = init_stages(net, Path(self.cfg.init)) if self.cfg.init else None
        return net

    # ---- run -------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        state_path = self.out / STATE_DIR / "last.pt"
        if self.out.exists() and not self.out.is_dir():
            raise DeclipError(f"--out {self.out}: is a file; give a folder for the model")
        if resume and (self.out / "card.json").exists():
            raise DeclipError(f"{self.out}: this run has finished (card.json is there); nothing to resume")
        if resume and not state_path.is_file():
            raise DeclipError(f"{state_path}: no saved state to resume; run without --resume")
        if not resume and (self.out / "card.json").exists():
            raise DeclipError(f"{self.out}: already holds a trained model (card.json); choose another --out")
        if not resume and state_path.is_file():
            raise DeclipError(f"{self.out}: holds an interrupted run; add --resume to continue it, or choose another --out")
        if not resume and self.out.is_dir() and any(self.out.iterdir()):
            # never train over someone's files: a decoder.safetensors there would be replaced
            raise DeclipError(f"{self.out}: is not empty; choose a new or empty folder for --out")
        v = self.validator
        key = v.prepare_backbone()
        _, train_samples = v.load_split(cfg.train_split)
        if cfg.max_train:
            train_samples = train_samples[:cfg.max_train]
        _, val_samples = v.load_split(cfg.val_split, cfg.val_real)
        D.refuse_shared_images(train_samples, val_samples, cfg.train_split, cfg.val_split, v.sha256_of)
        with writing(self.out):  # after the data checks: a refused run leaves no folder
            self.out.mkdir(parents=True, exist_ok=True)
            check_writable(self.out, self.out)  # not after the features and the first epoch
        self.log(f"data: {len(train_samples)} train, {len(val_samples)} val images; backbone {key}")
        if cfg.augment:
            train = AugmentedSplit(train_samples, v, cfg.seed)  # features recomputed from augmented pixels
        else:
            train = v.features(train_samples, cfg.train_split)
            if cfg.mirror:
                train.add_mirrored(v.features(train_samples, cfg.train_split + " (mirrored)", mirrored=True), cfg.seed)
        val = v.features(val_samples, cfg.val_split)
        self.train_used = _used(train_samples, train)  # for the card's fingerprint of the files used
        # with tuned stages the cached "features" are the stages' input; the decoder reads the backbone's grid
        c_in = self.backbone.out_channels if self.tuned else int(val.feats.shape[1])
        dec = self.build_decoder(c_in)
        if self.tuned:
            dec = self.with_tuned_stages(dec)
            # round 30: the stage weights at their own lr; the plateau schedule scales both (lr_ratio)
            opt = torch.optim.AdamW([{"params": list(dec.decoder.parameters())},
                                     {"params": dec.stage_parameters(), "lr": cfg.tune_lr,
                                      "lr_ratio": cfg.tune_lr / cfg.lr}], lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.AdamW(dec.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # the weight average is a second decoder of the same form: validated, saved and kept instead of dec
        self.avg = copy.deepcopy(dec) if cfg.ema else None
        st = {"epoch": 0, "batch": 0, "lr": cfg.lr, "best_iou": -1.0, "bad": 0, "history": [],
              "loss_sum": 0.0, "steps_total": 0}
        if cfg.init:  # saved with the state, so a resumed run records the weights it really started from
            st["init"] = self.init_rec
            if self.tuned and self.init_stages_rec:
                st["init"]["stages"] = self.init_stages_rec
        best_state = None
        if resume:
            saved = torch.load(state_path, map_location="cpu", weights_only=True)
            if saved["config_hash"] != resume_hash(cfg):
                differ = settings_differ(json.loads(saved["settings"]), cfg) if "settings" in saved else ""
                raise DeclipError(f"{state_path}: saved with other training settings"
                                  + (f" ({differ})" if differ else "") + "; resume needs the same flags")
            dec.load_state_dict(saved["decoder"])
            opt.load_state_dict(saved["optimizer"])
            best_state = saved.get("best")
            if self.avg is not None:
                self.avg.load_state_dict(saved["ema"])
            st.update(json.loads(saved["status"]))
            self.log(f"resuming at epoch {st['epoch'] + 1}, batch {st['batch']}")
        self.best_state = best_state
        try:
            with self._ctrl_c_between_batches():
                best_state = self._loop(dec, opt, train, val, st, best_state)
        except Cancelled:  # stopped at a batch boundary: the saved state continues exactly
            self._save_state(dec, opt, st, self.best_state)
            raise Cancelled(f"training interrupted; state saved, continue with --resume (out: {self.out})") from None
        except KeyboardInterrupt:  # a second Ctrl-C mid-batch: keep the state saved at the last epoch's end
            raise Cancelled(f"training stopped at once; --resume continues from the last finished epoch "
                            f"(out: {self.out})") from None
        self._save_state(dec, opt, st, best_state)
        return self._write_model(dec, best_state, st, len(train), val, val_samples)

    @contextlib.contextmanager
    def _ctrl_c_between_batches(self):
        """Ctrl-C asks the loop to stop before the next batch, like the GUI's cancel.

        A KeyboardInterrupt inside a batch came after BatchNorm statistics or the optimiser step had
        changed but before the batch was counted, so a resumed run repeated that batch and no longer
        matched an uninterrupted one. A second Ctrl-C still stops at once."""
        self._stop_requested = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask(_sig, _frame):
            self._stop_requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.log("stopping after this batch (Ctrl-C again to stop at once)")

        previous = signal.signal(signal.SIGINT, ask)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _loop(self, dec, opt, train, val, st, best_state):
        cfg = self.cfg
        n = len(train)
        steps = math.ceil(n / cfg.batch_size)
        # dropout acts on the first conv's input: after an image context, so a dropped feature keeps its context map
        head, body = split_input_modules(dec) if cfg.feature_dropout > 0 else (None, dec)
        while st["epoch"] < cfg.max_epochs and st["lr"] >= cfg.min_lr:
            epoch = st["epoch"] + 1
            for g in opt.param_groups:
                g["lr"] = st["lr"] * g.get("lr_ratio", 1.0)
            order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100003 + epoch))
            dec.train()
            t0 = time.perf_counter()
            first = st["batch"]
            for b in range(first, steps):
                if self.cancel() or self._stop_requested:
                    raise Cancelled("cancelled")
                idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                feats, masks = train.batch(idx, epoch)
                x = feats.to(self.device, torch.float32)
                if head is not None:
                    x = drop_channels(head(x), cfg.feature_dropout, cfg.seed * 100003 + epoch * 10007 + b)
                logits = body(x.contiguous(memory_format=torch.channels_last))
                loss = mask_loss(logits[:, 0], masks.to(self.device, torch.float32) / 255.0, cfg.dice_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if self.avg is not None:
                    ema_update(self.avg.state_dict(), ema_source(dec), cfg.ema, st["steps_total"])
                st["loss_sum"] += float(loss.detach()) * len(idx)
                st["batch"] = b + 1
                st["steps_total"] += 1
                el = time.perf_counter() - t0
                self.progress(TrainProgress("train", epoch, cfg.max_epochs, b + 1, steps,
                                            st["loss_sum"] / min(n, (b + 1) * cfg.batch_size),
                                            st["history"][-1]["val_iou"] if st["history"] else float("nan"),
                                            st["best_iou"], st["lr"], el / (b + 1 - first) * (steps - b - 1)))
            train_loss = st["loss_sum"] / n
            kept = self.avg if self.avg is not None else dec
            val_iou, shift = self.validator.iou(kept, val)
            improved = val_iou > st["best_iou"] + cfg.min_delta
            if improved:
                st["best_iou"], st["bad"] = val_iou, 0
                best_state = {k: v.detach().cpu().clone() for k, v in kept.state_dict().items()}
                best_state["__epoch__"] = torch.tensor(epoch)
                best_state["__shift__"] = torch.tensor(shift)
                self.best_state = best_state  # what an interruption must save
            else:
                st["bad"] += 1
                if st["bad"] >= cfg.patience:
                    st["lr"] *= cfg.lr_factor
                    st["bad"] = 0
            st["history"].append({"epoch": epoch, "train_loss": round(train_loss, 6), "val_iou": round(val_iou, 4),
                                  "lr": st["lr"], "seconds": round(time.perf_counter() - t0, 2)})
            st["epoch"], st["batch"], st["loss_sum"] = epoch, 0, 0.0
            self.progress(TrainProgress("epoch", epoch, cfg.max_epochs, steps, steps, train_loss, val_iou,
                                        st["best_iou"], st["lr"], 0.0,
                                        f"epoch {epoch}: loss {train_loss:.4f}, val IoU {val_iou:.2f}"
                                        + (" (best)" if improved else "")))
            self._save_state(dec, opt, st, best_state)
        return best_state

    def _save_state(self, dec, opt, st, best_state) -> None:
        path = self.out / STATE_DIR / "last.pt"
        saved = {"decoder": dec.state_dict(), "optimizer": opt.state_dict(), "best": best_state,
                 "status": json.dumps(st), "config_hash": resume_hash(self.cfg),
                 "settings": json.dumps(resume_settings(self.cfg), default=str)}  # names a --resume mismatch
        if self.avg is not None:
            saved["ema"] = self.avg.state_dict()
        # serialised in memory, then written atomically: torch.save on a full disk raised an opaque
        # RuntimeError and left its temp file growing
        buf = io.BytesIO()
        torch.save(saved, buf)
        with writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, buf.getvalue())

    def _write_model(self, dec, best_state, st, n_train: int, val: FeatureSplit, val_samples) -> dict:
        """The best epoch's decoder, calibrated on validation (shift, and scale with calibrate_scale),
        written with its card."""
        cfg = self.cfg
        if best_state is None:
            raise DeclipError("training ended before any epoch finished; nothing to save")
        best_epoch = int(best_state.get("__epoch__", torch.tensor(0)))
        shift = float(best_state.get("__shift__", torch.tensor(0.0)))
        state = {k: v for k, v in best_state.items() if not k.startswith("__")}
        dec.load_state_dict(state)
        val_iou = st["best_iou"]
        judged, judged_split = dec, val
        if cfg.flip_average:  # judge (and calibrate) what the engine will run: both views
            judged_split = with_mirrored_view(val, self.validator.features(val_samples, cfg.val_split + " (mirrored)",
                                                                           mirrored=True))
            judged = FlipAveraged(dec)
            val_iou, shift = self.validator.iou(judged, judged_split)
            self.log(f"flip-averaged on {len(judged_split)} {cfg.val_split} images: IoU {val_iou:.2f}, "
                     f"shift {shift:+.2f}")
        decoder = dec.decoder if self.tuned else dec
        if shift:
            fold_logit_shift(decoder, shift)  # the calibrated threshold, folded into the model
        scale = 1.0
        if cfg.calibrate_scale:
            scale = self.validator.calibrated_scale(judged, judged_split)
            fold_logit_scale(decoder, scale)
            self.log(f"logit scale {scale:.3f}, fitted on {len(judged_split)} {cfg.val_split} images")
        dec.eval()
        self.trained = dec
        with writing(f"the model in {self.out}"):
            files = [save_decoder(decoder, self.dec_spec, self.out, cfg.decoder)]
            spec = self.spec
            if self.tuned:
                files.append(save_stages(dec, self.out, spec["family"]))
                spec = dict(spec, tuned_stages=list(self.tuned))
        files += backbone_file_entries(self.spec, cfg.backbone_weights)
        used = {cfg.train_split: self.train_used, cfg.val_split: _used(val_samples, val)}
        fingerprint = data_fingerprint(used, self.validator.sha256_of)
        training = training_record(cfg, st, n_train, len(val), best_epoch, shift, scale, len(self.problems),
                                   fingerprint)
        with writing(self.out / "card.json"):
            model_id = write_trained_card(cfg, self.out, spec, self.dec_spec, files, val_iou, training)
        return {"card": str(self.out / "card.json"), "model_id": model_id, "best_val_iou": st["best_iou"],
                "best_epoch": best_epoch, "epochs": st["epoch"], "problems": self.problems}
