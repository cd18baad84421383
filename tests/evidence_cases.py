"""Constructed images with known answers for the evidence layers (small, so the tests take seconds).

Each maker returns (file bytes, suffix, ground-truth mask). The scene is a crop of scikit-image's
bundled photos (public domain / CC0), which were never JPEG-compressed."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def scene(name: str = "astronaut", size: tuple[int, int] = (256, 320)) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    h, w = size
    return np.ascontiguousarray(img[:h, :w, :3])


def encode(rgb: np.ndarray, fmt: str = "PNG", quality: int = 90) -> bytes:
    buf = io.BytesIO()
    kw = {"quality": quality, "subsampling": 0} if fmt == "JPEG" else {}
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()


def box_mask(shape, y0, x0, h, w) -> np.ndarray:
    m = np.zeros(shape[:2], bool)
    m[y0:y0 + h, x0:x0 + w] = True
    return m


def ela_case():
    """Background saved at q90, a 96x96 region saved at q60 instead; the result stored losslessly."""
    base = scene()
    out = decode(encode(base, "JPEG", 90))
    low = decode(encode(base, "JPEG", 60))
    m = box_mask(base.shape, 80, 120, 96, 96)
    out[m] = low[m]
    return encode(out, "PNG"), ".png", m


def ghost_case():
    """A 96x96 region first saved at q60 (on the 8x8 grid), the whole image then saved at q90."""
    base = scene()
    low = decode(encode(base, "JPEG", 60))
    out = base.copy()
    m = box_mask(base.shape, 80, 120, 96, 96)
    out[m] = low[m]
    return encode(out, "JPEG", 90), ".jpg", m


def noise_case(sigma: float = 8.0):
    """A 96x96 region with added Gaussian noise; stored losslessly."""
    base = scene("astronaut", (256, 320))
    m = box_mask(base.shape, 80, 120, 96, 96)
    rng = np.random.default_rng(0)
    noisy = base.astype(np.float32) + rng.normal(0, sigma, base.shape)
    out = base.copy()
    out[m] = np.clip(noisy[m], 0, 255).astype(np.uint8)
    return encode(out, "PNG"), ".png", m


def dq_case():
    """The whole image saved at q60, a 96x96 aligned region replaced by never-compressed pixels,
    then saved at q90: the region is compressed once, the rest twice."""
    base = scene()
    out = decode(encode(base, "JPEG", 60))
    m = box_mask(base.shape, 80, 120, 96, 96)
    out[m] = base[m]
    return encode(out, "JPEG", 90), ".jpg", m


def clones_case(angle: float = 20.0, flat_core: int = 0):
    """A disc of radius 40 copied 180 px to the right, rotated by `angle` degrees; PNG.
    `flat_core` > 0 first paints a flat grey disc of that radius at the source's centre (a copy whose
    middle has no texture to correlate). Returns (bytes, suffix, union of source and target, source, target)."""
    import cv2

    base = scene("chelsea", (256, 384))
    h, w = base.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, r, dx = 150, 80, 40, 180
    if flat_core:
        base[(yy - cy) ** 2 + (xx - cx) ** 2 <= flat_core ** 2] = (120, 110, 100)
    src = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    tgt = (yy - cy) ** 2 + (xx - cx - dx) ** 2 <= r * r
    rot = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, 1.0)
    rot[0, 2] += dx                      # rotate about the source centre, then move right
    moved = cv2.warpAffine(base, rot, (w, h), flags=cv2.INTER_LINEAR)
    out = base.copy()
    out[tgt] = moved[tgt]
    return encode(out, "PNG"), ".png", src | tgt, src, tgt


def near_copy_case(angle: float = 20.0):
    """A disc of radius 40 of the coffee photo copied only 50 px to the right, rotated by `angle` degrees,
    so that the copy covers a quarter of its own source; PNG. Returns (bytes, suffix, union of source
    and target)."""
    import cv2

    base = scene("coffee", (256, 384))
    h, w = base.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, r, dx = 150, 90, 40, 50
    src = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    tgt = (yy - cy) ** 2 + (xx - cx - dx) ** 2 <= r * r
    rot = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, 1.0)
    rot[0, 2] += dx
    out = base.copy()
    out[tgt] = cv2.warpAffine(base, rot, (w, h), flags=cv2.INTER_LINEAR)[tgt]
    return encode(out, "PNG"), ".png", src | tgt


def scaled_copy_case(angle: float = 20.0, scale: float = 1.1, name: str = "chelsea", size: tuple[int, int] = (300, 451),
                     radius: int = 56):
    """A scikit-image photo (by default the whole chelsea, 300x451) with a disc of `radius` at a third of its height
    and a quarter of its width copied to two thirds and three quarters, rotated by `angle` degrees and rescaled by
    `scale`; JPEG q90. Returns (bytes, suffix, union of source and target)."""
    import cv2

    base = scene(name, size)
    h, w = base.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx, r = h // 3, w // 4, radius
    src = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    warp = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, scale)
    warp[0, 2] += 3 * w // 4 - cx
    warp[1, 2] += 2 * h // 3 - cy
    tgt = cv2.warpAffine(src.astype(np.uint8), warp, (w, h), flags=cv2.INTER_NEAREST) > 0
    out = base.copy()
    out[tgt] = cv2.warpAffine(base, warp, (w, h), flags=cv2.INTER_LINEAR)[tgt]
    return encode(out, "JPEG", 90), ".jpg", src | tgt


def low_texture_copy_case(seed: int = 1):
    """A sky-like view (smooth gradient, grain of 2 grey levels) with a disc of radius 50 copied 240 px
    to the right, rotated 15 degrees; JPEG q90. Too little contrast for 1.2's keypoints.
    Returns (bytes, suffix, union of source and target)."""
    import cv2

    h, w = 320, 480
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grain = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.0)
    grain *= 2.0 / grain.std()
    base = np.stack([150 + xx / w * 40 + grain, 170 + yy / h * 30 + grain, 210 - yy / h * 20 + grain], -1)
    cy, cx, r, dx = 160, 110, 50, 240
    src = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    tgt = (yy - cy) ** 2 + (xx - cx - dx) ** 2 <= r * r
    rot = cv2.getRotationMatrix2D((float(cx), float(cy)), 15.0, 1.0)
    rot[0, 2] += dx
    out = base.copy()
    out[tgt] = cv2.warpAffine(base, rot, (w, h), flags=cv2.INTER_LINEAR)[tgt]
    return encode(np.clip(out, 0, 255).round().astype(np.uint8), "JPEG", 90), ".jpg", src | tgt


def flat_copy_case(grain: float = 0.9, copy: bool = True):
    """As low_texture_copy_case, with grain of 0.9 grey levels in a PNG: the keypoints on the enlarged view
    still match the copy, but its fine detail is below the dense check's variance floor, so only
    clones 1.4's difference confirmation finds it; copy=False gives the same view untouched.
    Returns (bytes, suffix, union of source and target)."""
    import cv2

    h, w = 320, 480
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    noise = cv2.GaussianBlur(np.random.default_rng(1).normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.0)
    noise *= grain / noise.std()
    base = np.stack([150 + xx / w * 40 + noise, 170 + yy / h * 30 + noise, 210 - yy / h * 20 + noise], -1)
    cy, cx, r, dx = 160, 110, 50, 240
    src = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    tgt = (yy - cy) ** 2 + (xx - cx - dx) ** 2 <= r * r
    out = base.copy()
    if copy:
        rot = cv2.getRotationMatrix2D((float(cx), float(cy)), 15.0, 1.0)
        rot[0, 2] += dx
        out[tgt] = cv2.warpAffine(base, rot, (w, h), flags=cv2.INTER_LINEAR)[tgt]
    both = src | tgt if copy else np.zeros((h, w), bool)
    return encode(np.clip(out, 0, 255).round().astype(np.uint8), "PNG"), ".png", both


def checker_case(cell: int = 16):
    """A grey checkerboard (cells of `cell` px), 192 x 256 PNG: a pattern that repeats by design and holds
    no copy. Returns (bytes, suffix, empty mask)."""
    y, x = np.mgrid[0:192, 0:256]
    board = ((((x // cell) + (y // cell)) % 2) * 180 + 40).astype(np.uint8)
    return encode(np.repeat(board[..., None], 3, -1), "PNG"), ".png", np.zeros((192, 256), bool)


def fill_case(chunk: int = 32):
    """A 64x64 hole filled, as an exemplar inpainting does, with a mosaic of chunk x chunk blocks each
    copied unrotated from a different place of the same photo; JPEG q90. Returns (bytes, suffix, hole)."""
    base = scene("chelsea", (256, 320))
    rng = np.random.default_rng(3)
    out = base.copy()
    y0, x0, n = 96, 200, 64
    for by in range(y0, y0 + n, chunk):
        for bx in range(x0, x0 + n, chunk):
            sy, sx = int(rng.integers(8, 256 - chunk - 8)), int(rng.integers(8, 180))
            out[by:by + chunk, bx:bx + chunk] = base[sy:sy + chunk, sx:sx + chunk]
    return encode(out, "JPEG", 90), ".jpg", box_mask(base.shape, y0, x0, n, n)


def resampling_case(factor: float = 1.5):
    """A 64x64 block enlarged x`factor` (bilinear) and pasted at another place; PNG."""
    import cv2

    base = scene("chelsea", (256, 320))
    block = base[60:124, 150:214]
    big = cv2.resize(block, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    out = base.copy()
    bh, bw = big.shape[:2]
    out[140:140 + bh, 10:10 + bw] = big
    return encode(out, "PNG"), ".png", box_mask(base.shape, 140, 10, bh, bw)


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    return float((pred & gt).sum() / max((pred | gt).sum(), 1))
