"""Shapes and blending of `declip synth`: object-like regions and pastes whose masks are exact.

Masks are exact: white marks every pixel that an edit changed, and no other pixel changed.
Feathering therefore blends only inward (alpha >= 0.5 inside, 0 outside).
"""
from __future__ import annotations

import math

import numpy as np

# ---------------------------------------------------------------------------------------
# shapes

def blob_mask(h: int, w: int, rng: np.random.Generator, area: float) -> np.ndarray:
    """A smooth star-shaped blob (random Fourier radius) of about `area` x image area."""
    n = 256
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(1, 6):  # low harmonics: object-like outlines, not noise
        r += rng.uniform(0, 0.35 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.3, None)
    aspect = rng.uniform(0.6, 1.6)
    scale = math.sqrt(area * h * w / (np.pi * np.mean(r ** 2) * 1.0))
    rx, ry = scale * r * math.sqrt(aspect), scale * r / math.sqrt(aspect)
    cx = rng.uniform(rx.max(), max(rx.max() + 1, w - rx.max()))
    cy = rng.uniform(ry.max(), max(ry.max() + 1, h - ry.max()))
    pts = np.stack([cx + rx * np.cos(theta), cy + ry * np.sin(theta)], 1).round().astype(np.int32)
    import cv2

    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [pts], 1)
    return m.astype(bool)


def segment_mask(rgb: np.ndarray, rng: np.random.Generator, area: tuple[float, float]) -> np.ndarray | None:
    """A real object-like region: one or a few adjacent Felzenszwalb segments of the photo."""
    from skimage.segmentation import felzenszwalb

    h, w = rgb.shape[:2]
    seg = felzenszwalb(rgb, scale=float(rng.uniform(100, 400)), sigma=0.8, min_size=int(0.005 * h * w))
    ids, counts = np.unique(seg, return_counts=True)
    frac = counts / (h * w)
    ok = ids[(frac >= area[0]) & (frac <= area[1])]
    if ok.size == 0:
        return None
    m = seg == rng.choice(ok)
    # drop regions that touch the border on a long stretch: they read as background, not objects
    border = np.concatenate([m[0], m[-1], m[:, 0], m[:, -1]]).mean()
    return None if border > 0.15 else m


def region_mask(rgb: np.ndarray, rng: np.random.Generator, area: tuple[float, float]) -> np.ndarray:
    h, w = rgb.shape[:2]
    if rng.random() < 0.5:
        m = segment_mask(rgb, rng, area)
        if m is not None and m.sum() > 0:
            return m
    return blob_mask(h, w, rng, float(rng.uniform(*area)))


# ---------------------------------------------------------------------------------------
# blending

def inward_alpha(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Feather that stays inside the mask: 0 outside, >= 0.5 on the rim, 1 deep inside."""
    import cv2

    if sigma <= 0:
        return mask.astype(np.float32)
    g = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)
    return np.where(mask, 0.5 + 0.5 * np.clip((g - 0.5) * 2, 0, 1), 0).astype(np.float32)


def colour_match(src: np.ndarray, ref: np.ndarray, strength: float) -> np.ndarray:
    """Shift src's per-channel mean/std in Lab towards ref's (pixels N x 3 uint8)."""
    import cv2

    s = cv2.cvtColor(src[None].astype(np.uint8), cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    r = cv2.cvtColor(ref[None].astype(np.uint8), cv2.COLOR_RGB2LAB)[0].astype(np.float32)
    ms, ss = s.mean(0), s.std(0) + 1e-3
    mr, sr = r.mean(0), r.std(0) + 1e-3
    matched = (s - ms) / ss * sr + mr
    out = s + strength * (matched - s)
    out = np.clip(out, 0, 255).astype(np.uint8)
    return cv2.cvtColor(out[None], cv2.COLOR_LAB2RGB)[0]


def paste(host: np.ndarray, patch: np.ndarray, mask: np.ndarray, y: int, x: int, rng: np.random.Generator,
          match: float) -> tuple[np.ndarray, np.ndarray]:
    """Blend patch[mask] into host at (y, x); returns the image and the exact changed mask."""
    ph, pw = mask.shape
    out = host.copy()
    target = out[y:y + ph, x:x + pw]
    patch = patch.copy()
    if match > 0:
        ring = ~mask  # host pixels around the object in its box: the local colour context
        ref = target[ring] if ring.sum() > 20 else target.reshape(-1, 3)
        patch[mask] = colour_match(patch[mask], ref, match)
    alpha = inward_alpha(mask, float(rng.uniform(0.0, 2.5)))[..., None]
    blended = (alpha * patch + (1 - alpha) * target).round().astype(np.uint8)
    target[...] = blended
    full = np.zeros(host.shape[:2], bool)
    # exact: a mask pixel only counts if its value actually changed
    changed = np.any(out[y:y + ph, x:x + pw] != host[y:y + ph, x:x + pw], axis=-1)
    full[y:y + ph, x:x + pw] = mask & changed
    return out, full


def crop_to(mask: np.ndarray) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    return slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)


def resize_pair(img: np.ndarray, mask: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = mask.shape
    nh, nw = max(2, round(h * f)), max(2, round(w * f))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    mask = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    return img, mask
