"""The data a training run iterates over: features and masks of one split, batch by batch.

FeatureSplit holds cached features in memory (optionally with a mirrored view); AugmentedSplit
recomputes features from augmented pixels every epoch (--augment). Both give `batch(idx, epoch)`.
Every random draw is seeded by (seed, epoch, sample), independent of batching, so --seed runs and
--resume stay exact.
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageFilter

from engine.decoder_spec import OUT_SIZE
from engine.errors import DeclipError

from . import datasets as D
from .features import preprocess


def mask256(sample: D.Sample, size: tuple[int, int], problems: list[str]) -> np.ndarray:
    """The sample's mask at the decoder's 256x256 output size, as uint8 (255 = manipulated, soft edges
    kept); what reading it noticed (resized, colour, empty) is appended to problems."""
    m = D.read_mask(sample, size, problems)
    t = torch.from_numpy(m)[None, None]
    t = F.interpolate(t, size=(OUT_SIZE, OUT_SIZE), mode="bilinear", align_corners=False)[0, 0]
    return (t.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


class FeatureSplit:
    """Features (fp16, N x C x g x g) and 256x256 uint8 masks of one split, held in memory."""

    def __init__(self, feats: np.ndarray, masks: np.ndarray, names: list[str]):
        self.feats = torch.from_numpy(feats)
        self.masks = torch.from_numpy(masks)
        self.names = names
        self.mirrored: FeatureSplit | None = None  # with --mirror: the same images' mirrored view
        self.mirror_seed = 0

    def __len__(self) -> int:
        return len(self.names)

    def add_mirrored(self, other: FeatureSplit, seed: int) -> None:
        """With --mirror: each epoch, each sample is drawn plain or mirrored with even odds (seeded)."""
        if other.names != self.names:  # an image readable once but not twice: mirror only where both exist
            keep, keep_o = matched_views(self, other)
            self.feats, self.masks = self.feats[keep], self.masks[keep]
            self.names = [self.names[i] for i in keep]
            other.feats, other.masks = other.feats[keep_o], other.masks[keep_o]
            other.names = [other.names[i] for i in keep_o]
        self.mirrored, self.mirror_seed = other, seed

    def batch(self, idx: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 features and uint8 masks of the samples idx; with a mirrored view, each sample is
        drawn plain or mirrored with even odds."""
        feats, masks = self.feats[idx].float(), self.masks[idx]
        m = self.mirrored
        if m is not None:
            # one draw per sample and epoch, independent of batching, so --seed and --resume stay exact
            flip = torch.rand(len(self), generator=torch.Generator().manual_seed(self.mirror_seed * 100003 + epoch + 7))[idx] < 0.5
            feats[flip], masks[flip] = m.feats[idx[flip]].float(), m.masks[idx[flip]]
        return feats, masks


def matched_views(plain: FeatureSplit, mirrored: FeatureSplit) -> tuple[list[int], list[int]]:
    """Indices into each split of the images both hold, paired by name, in the plain split's order
    (an image can be readable once but not twice)."""
    at = {n: i for i, n in enumerate(mirrored.names)}
    keep = [i for i, n in enumerate(plain.names) if n in at]
    return keep, [at[plain.names[i]] for i in keep]


def with_mirrored_view(plain: FeatureSplit, mirrored: FeatureSplit) -> FeatureSplit:
    """Each image's plain and mirrored features stacked on the channels (the engine's layout for flip
    averaging), with the plain masks; an image readable only once is left out."""
    keep, keep_m = matched_views(plain, mirrored)
    feats = torch.cat([plain.feats[keep], mirrored.feats[keep_m]], 1)
    return FeatureSplit(feats.numpy(), plain.masks[keep].numpy(), [plain.names[i] for i in keep])


class AugmentedSplit:
    """Training split with augmentation: pixels are augmented each epoch, features recomputed.

    source: the run's Validator (its backbone, device, masks and problem log)."""

    def __init__(self, samples: list[D.Sample], source, seed: int):
        self.samples = samples
        self.source = source
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def batch(self, idx: torch.Tensor, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ms = [], []
        for i in idx.tolist():
            s = self.samples[i]
            rng = np.random.default_rng([self.seed, epoch, i])
            try:
                im = D.read_rgb(s.image)
            except DeclipError as exc:
                self.source.problem(f"{exc}; sample skipped this epoch")
                continue
            ms.append(torch.from_numpy(self.source.mask_with_notes(s, im.size, once=True)))
            xs.append(preprocess(augment(im, rng), self.source.spec))
        if not xs:
            raise D.DatasetError("a whole training batch was unreadable")
        with torch.no_grad():
            feats = self.source.backbone(torch.stack(xs).to(self.source.device))
        # same fp16 rounding as cached features, so both paths see the same kind of input
        return feats.half().float(), torch.stack(ms)


def augment(im, rng: np.random.Generator):
    """The authors' optional augmentations, each with probability 0.5: blur, colour jitter, JPEG."""
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
