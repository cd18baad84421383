"""The edits of `declip synth`'s second kind set (v2): the edits examiners meet beyond plain splices.

Poisson-blended splices, resampled (rescaled and rotated) pastes, clone-stamp dabs, thin wire and
line removal, and colour or contrast retouching inside a region (issue #37, part 3). Each returns
(image, mask) where the mask is exact: every pixel the edit changed and no other.
Double JPEG is not an edit here: trainer.synth compresses the view before the edit and may shift the
8x8 grid before the final save, for authentic items too, so neither is a give-away.
"""
from __future__ import annotations

import math

import numpy as np

from .synth_shapes import crop_to, inward_alpha, paste, region_mask, resize_pair


def _exact(host: np.ndarray, out: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels outside `region` are put back, so the mask (region & changed) is exact."""
    out = np.asarray(out, np.uint8).copy()
    out[~region] = host[~region]
    return out, region & np.any(out != host, axis=-1)


def _object_from(donor: np.ndarray, host_shape, rng: np.random.Generator, area) -> tuple[np.ndarray, np.ndarray]:
    """An object-shaped patch of `donor` and its mask, scaled to cover about `area` of the host."""
    h, w = host_shape[:2]
    dm = region_mask(donor, rng, area)
    sy, sx = crop_to(dm)
    patch, pm = donor[sy, sx], dm[sy, sx]
    f = math.sqrt(rng.uniform(*area) * h * w / max(pm.sum(), 1))
    f = min(f, 0.8 * h / pm.shape[0], 0.8 * w / pm.shape[1])
    return resize_pair(patch, pm, f)


def poisson_splice(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, area=(0.02, 0.2)):
    """An object from another photo blended with cv2.seamlessClone (gradient-domain: no colour seam)."""
    import cv2

    h, w = host.shape[:2]
    patch, pm = _object_from(donor, host.shape, rng, area)
    pad = 3  # seamlessClone needs the mask off the patch border
    patch = cv2.copyMakeBorder(np.ascontiguousarray(patch), pad, pad, pad, pad, cv2.BORDER_REFLECT)
    pm = np.pad(pm, pad)
    ph, pw = pm.shape
    if ph >= h - 2 or pw >= w - 2:
        return paste(host, patch, pm, 0, 0, rng, 0.5) if ph <= h and pw <= w else (host.copy(), np.zeros((h, w), bool))
    y = int(rng.integers(1, h - ph))
    x = int(rng.integers(1, w - pw))
    flag = cv2.MIXED_CLONE if rng.random() < 0.25 else cv2.NORMAL_CLONE
    try:
        out = cv2.seamlessClone(patch, host, pm.astype(np.uint8) * 255, (x + pw // 2, y + ph // 2), flag)
    except cv2.error:  # degenerate masks: a plain paste is still a splice
        return paste(host, patch, pm, y, x, rng, 0.5)
    # seamlessClone places the mask's bounding box centred on the point; rebuild where that box went
    ys, xs = np.nonzero(pm)
    by, bx = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    oy, ox = y + ph // 2 - by // 2 - ys.min(), x + pw // 2 - bx // 2 - xs.min()
    region = np.zeros((h, w), bool)
    yy, xx = ys + oy, xs + ox
    ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
    region[yy[ok], xx[ok]] = True
    return _exact(host, out, region)


def resampled_paste(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, area=(0.02, 0.2)):
    """A region rescaled and rotated before it is pasted (from another photo, or from this one)."""
    import cv2

    patch, pm = _object_from(donor, host.shape, rng, area)
    angle = float(rng.uniform(-35, 35))
    scale = float(rng.uniform(0.7, 1.4))
    ph, pw = pm.shape
    rot = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, scale)
    c, s = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = int(ph * s + pw * c) + 2, int(ph * c + pw * s) + 2
    rot[0, 2] += nw / 2 - pw / 2
    rot[1, 2] += nh / 2 - ph / 2
    interp = [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST][int(rng.integers(3))]
    patch = cv2.warpAffine(np.ascontiguousarray(patch), rot, (nw, nh), flags=interp, borderMode=cv2.BORDER_REFLECT)
    pm = cv2.warpAffine(pm.astype(np.uint8), rot, (nw, nh), flags=cv2.INTER_NEAREST).astype(bool)
    h, w = host.shape[:2]
    f = min(1.0, 0.9 * h / nh, 0.9 * w / nw)
    if f < 1.0:
        patch, pm = resize_pair(patch, pm, f)
    if not pm.any():
        return host.copy(), np.zeros((h, w), bool)
    y = int(rng.integers(0, h - pm.shape[0] + 1))
    x = int(rng.integers(0, w - pm.shape[1] + 1))
    return paste(host, patch, pm, y, x, rng, float(rng.uniform(0.0, 1.0)))


def _dabs(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Round brush dabs along a short random walk, as a clone-stamp user paints."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    r = max(3, int(rng.uniform(0.03, 0.08) * max(h, w)))
    y, x = float(rng.uniform(r, h - r)), float(rng.uniform(r, w - r))
    for _ in range(int(rng.integers(4, 16))):
        cv2.circle(m, (int(x), int(y)), r, 1, -1)
        a = rng.uniform(0, 2 * np.pi)
        y = float(np.clip(y + r * 0.9 * math.sin(a), r, h - r))
        x = float(np.clip(x + r * 0.9 * math.cos(a), r, w - r))
    return m.astype(bool)


def clone_stamp(host: np.ndarray, rng: np.random.Generator):
    """Soft-edged dabs filled from an offset spot of the same photo (Photoshop's clone stamp)."""
    import cv2

    h, w = host.shape[:2]
    m = _dabs(h, w, rng)
    dist = rng.uniform(0.1, 0.35) * max(h, w)
    a = rng.uniform(0, 2 * np.pi)
    shift = np.float32([[1, 0, dist * math.cos(a)], [0, 1, dist * math.sin(a)]])
    src = cv2.warpAffine(host, shift, (w, h), borderMode=cv2.BORDER_REFLECT)
    alpha = inward_alpha(m, float(rng.uniform(0.5, 4.0)))[..., None]
    out = (alpha * src + (1 - alpha) * host).round().astype(np.uint8)
    return _exact(host, out, m)


def _strokes(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """1-3 thin curved strokes (quadratic Bezier curves) across part of the image: wires, cables, lines."""
    import cv2

    m = np.zeros((h, w), np.uint8)
    t = np.linspace(0, 1, 64)[:, None]
    for _ in range(int(rng.integers(1, 4))):
        p0, p1, p2 = (rng.uniform([0, 0], [w, h]) for _ in range(3))
        pts = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2).round().astype(np.int32)
        thick = int(rng.integers(2, max(3, round(0.012 * max(h, w))) + 1))
        cv2.polylines(m, [pts], False, 1, thick)
    return m.astype(bool)


def line_removal(host: np.ndarray, rng: np.random.Generator):
    """A wire or line removed: thin strokes inpainted with OpenCV Telea or Navier-Stokes."""
    import cv2

    h, w = host.shape[:2]
    m = _strokes(h, w, rng)
    flag = cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS
    out = cv2.inpaint(host, m.astype(np.uint8) * 255, int(rng.integers(2, 6)), flag)
    return _exact(host, out, m)


def _retouched(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The whole image with one colour or tone change, strong enough to be a deliberate retouch."""
    import cv2

    op = int(rng.integers(4))
    f = img.astype(np.float32)
    if op == 0:  # hue shift
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.int16)
        hsv[..., 0] = (hsv[..., 0] + int(rng.choice([-1, 1]) * rng.integers(6, 40))) % 180
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if op == 1:  # saturation
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 1] *= rng.choice([rng.uniform(0.2, 0.7), rng.uniform(1.3, 2.0)])
        return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    if op == 2:  # brightness / contrast
        a, b = rng.uniform(0.7, 1.4), rng.uniform(-35, 35)
        return np.clip((f - 128) * a + 128 + b, 0, 255).astype(np.uint8)
    gains = rng.uniform(0.8, 1.2, 3)  # colour cast
    return np.clip(f * gains, 0, 255).astype(np.uint8)


def retouch(host: np.ndarray, rng: np.random.Generator, area=(0.02, 0.25)):
    """Colour or contrast changed inside an object-shaped region, feathered inward."""
    m = region_mask(host, rng, area)
    edited = _retouched(host, rng)
    alpha = inward_alpha(m, float(rng.uniform(0.0, 4.0)))[..., None]
    out = (alpha * edited + (1 - alpha) * host).round().astype(np.uint8)
    return _exact(host, out, m)


def make_edit(kind: str, host: np.ndarray, donor: np.ndarray | None, rng: np.random.Generator):
    """(image, exact mask) of one v2 kind; `donor` is another photo's view (used by the splices)."""
    if kind == "splice-poisson":
        return poisson_splice(host, donor, rng)
    if kind == "splice-resampled":
        return resampled_paste(host, donor if rng.random() < 0.7 else host, rng)
    if kind == "clone-stamp":
        return clone_stamp(host, rng)
    if kind == "removal-line":
        return line_removal(host, rng)
    if kind == "retouch":
        return retouch(host, rng)
    raise ValueError(f"unknown edit kind {kind!r}")


__all__ = ["make_edit", "poisson_splice", "resampled_paste", "clone_stamp", "line_removal", "retouch"]
