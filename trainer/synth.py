"""Synthetic local manipulations with pixel-exact masks, made from authentic photos.

Kind set v1: splice (object-shaped region from another photo, feathered and colour-matched),
copy-move (region moved within the image), and object removal by inpainting (PatchMatch via
pypatchmatch, OpenCV Telea, OpenCV Navier-Stokes). Kind set v2 (the default) adds Poisson-blended
and resampled splices, clone-stamp, wire/line removal and colour/contrast retouching
(trainer.synth_edits), and double JPEG: the view is JPEG-compressed before the edit and the 8x8 grid
may be shifted before the last save. Then random resizing and JPEG recompression of the whole picture,
applied to authentic "real" items too so compression is no give-away.
Photos reserved for evaluation (the sources of ../shared/benchmarks/external-v1) are refused.

Masks are exact: white (255) marks every pixel that the edit changed, and no other pixel
changed. Feathering therefore blends only inward (alpha >= 0.5 inside, 0 outside).
Splits are made by source photo group, so no photo (or scene) appears in two splits.
Output: the generic layout DS/<split>/{images,masks,real}/ plus DS/manifest.json.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from engine.atomic import write_text_atomic
from engine.cli import IMAGE_SUFFIXES
from engine.errors import DeclipError
from engine.hashing import bytes_sha256, file_sha256
from engine.stamps import utc_now

from .reserved_images import refuse_reserved
from .synth_shapes import (blob_mask, colour_match, crop_to, inward_alpha, paste, region_mask,  # noqa: F401
                           resize_pair, segment_mask)
from .write_errors import check_writable, writing

SPLITS = ("train", "val", "test")
MIN_SIDE, MAX_SIDE = 64, 4096  # output long side, and the least photo side a view can be cut from
# kind -> share of the manipulated items. v1 made every default model up to round 25; v2 is issue #37's
KIND_SETS = {
    "v1": {"splice": 0.4, "copy-move": 0.25, "inpaint-patchmatch": 0.2, "inpaint-telea": 0.075, "inpaint-ns": 0.075},
    "v2": {"splice": 0.14, "splice-poisson": 0.12, "splice-resampled": 0.10, "copy-move": 0.12, "clone-stamp": 0.10,
           "inpaint-patchmatch": 0.10, "inpaint-telea": 0.04, "inpaint-ns": 0.04, "removal-line": 0.10,
           "retouch": 0.14},
}
DEFAULT_KIND_SET = "v2"
KINDS = tuple(KIND_SETS["v1"])  # the classic kinds, made here; the others in trainer.synth_edits
KIND_WEIGHTS = tuple(KIND_SETS["v1"].values())
DONOR_KINDS = ("splice", "splice-poisson", "splice-resampled")
# The sources of ../shared/benchmarks/external-v1 (evaluation only): never in a training pool.
RESERVED_SOURCES = ("plasma-workspace-wallpapers", "lomiri-wallpapers", "/usr/share/wallpapers/",
                    "/usr/share/backgrounds/")
IMAGE_EXTS = IMAGE_SUFFIXES  # what `declip analyze` and `evaluate` take from a folder


class SynthError(DeclipError):
    """The photo folder cannot produce a data set (too few photos, nothing readable...)."""


@dataclass
class Photo:
    path: Path
    group: str
    licence: str
    attribution: str
    sha256: str
    split: str | None = None  # pinned by LICENSES.json ("train" for extra training-only photos)


# ---------------------------------------------------------------------------------------
# photos and splits

def load_photo_list(folder: Path) -> list[Photo]:
    """Photos in a folder; licences and scene groups from LICENSES.json when present."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SynthError(f"{folder}: photo folder not found")
    meta = {}
    lic_file = folder / "LICENSES.json"
    if lic_file.is_file():
        try:
            meta = {e["file"]: e for e in json.loads(lic_file.read_text())}
        except (ValueError, KeyError, TypeError) as exc:
            raise SynthError(f"{lic_file}: expected a list of {{file, licence, group}}, could not read it ({exc})")
    photos = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_EXTS or not p.is_file():
            continue
        e = meta.get(p.name, {})
        pinned = e.get("split")
        if pinned is not None and pinned not in SPLITS:
            raise SynthError(f"{lic_file}: {p.name} has split {pinned!r}; expected one of {', '.join(SPLITS)}")
        reserved = _reserved_source(p, e)
        if reserved:
            raise SynthError(f"{p}: comes from {reserved}, which is reserved for evaluation "
                             "(../shared/benchmarks/external-v1); remove it from the photo folder")
        photos.append(Photo(p, e.get("group", p.stem), e.get("licence", "unknown (not in LICENSES.json)"),
                            e.get("attribution", ""), file_sha256(p), pinned))
    # by content too: a renamed, re-encoded or resized copy of a benchmark image is still the benchmark
    refuse_reserved(((ph.path, ph.sha256) for ph in photos), str(folder))
    return photos


def _reserved_source(path: Path, entry: dict) -> str | None:
    """The reserved source a photo's full path (as given and with links resolved) or LICENSES.json entry
    names, else None: `--photos /usr/share/backgrounds` must not pass because the file names are plain."""
    text = " ".join([str(path.absolute()), str(path.resolve())]
                    + [str(entry.get(k, "")) for k in ("origin", "licence", "attribution", "source")])
    return next((r for r in RESERVED_SOURCES if r in text), None)


def split_groups(photos: list[Photo], fractions: tuple[float, float, float], seed: int) -> dict[str, list[Photo]]:
    """Assign whole groups to splits; each split gets at least one group.

    Groups pinned in LICENSES.json keep their split and stay out of the shuffle, so adding
    training-only photos leaves the val/test assignment (and so their items) exactly as before.
    """
    pins: dict[str, str] = {}
    for p in photos:
        if p.split is not None and pins.setdefault(p.group, p.split) != p.split:
            raise SynthError(f"photo group {p.group!r} is pinned to both {pins[p.group]} and {p.split}")
    groups = sorted({p.group for p in photos} - set(pins))
    if len(groups) < 3:
        raise SynthError(f"need photos from at least 3 different scenes to make train/val/test, found {len(groups)}"
                         + (f" not pinned to a split ({len(pins)} pinned)" if pins else ""))
    rng = np.random.default_rng([seed, 7])
    rng.shuffle(groups)
    n = len(groups)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise SynthError(f"split fractions {fractions} leave no scene for training ({n} scenes)")
    assign = {g: "train" for g in groups[:n_train]}
    assign.update({g: "val" for g in groups[n_train:n_train + n_val]})
    assign.update({g: "test" for g in groups[n_train + n_val:]})
    assign.update(pins)
    return {s: [p for p in photos if assign[p.group] == s] for s in SPLITS}


def _read_rgb(path: Path) -> np.ndarray:
    """The photo as the engine sees it (engine.images, via datasets.read_rgb): EXIF orientation applied,
    16-bit scaled, CMYK and transparency converted. Pillow's own convert("RGB") left a portrait photo
    lying on its side and clipped a 16-bit grey PNG to white."""
    from .datasets import read_rgb

    return np.array(read_rgb(path), dtype=np.uint8)


# ---------------------------------------------------------------------------------------
# manipulations

def splice(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, area=(0.02, 0.25)):
    h, w = host.shape[:2]
    dm = region_mask(donor, rng, area)
    sy, sx = crop_to(dm)
    patch, pm = donor[sy, sx], dm[sy, sx]
    # scale the object so its area fits the host, at most the host size
    target_area = rng.uniform(*area) * h * w
    f = math.sqrt(target_area / max(pm.sum(), 1))
    f = min(f, 0.9 * h / pm.shape[0], 0.9 * w / pm.shape[1])
    patch, pm = resize_pair(patch, pm, f)
    y = int(rng.integers(0, h - pm.shape[0] + 1))
    x = int(rng.integers(0, w - pm.shape[1] + 1))
    return paste(host, patch, pm, y, x, rng, float(rng.uniform(0.3, 1.0)))


def copy_move(host: np.ndarray, rng: np.random.Generator, area=(0.02, 0.2)):
    h, w = host.shape[:2]
    m = region_mask(host, rng, area)
    sy, sx = crop_to(m)
    patch, pm = host[sy, sx], m[sy, sx]
    f = float(rng.uniform(0.8, 1.2))
    f = min(f, 0.9 * h / pm.shape[0], 0.9 * w / pm.shape[1])
    patch, pm = resize_pair(patch, pm, f)
    if rng.random() < 0.3:
        patch, pm = patch[:, ::-1], pm[:, ::-1]
    # move far enough that the copy is not on top of its source
    for _ in range(20):
        y = int(rng.integers(0, h - pm.shape[0] + 1))
        x = int(rng.integers(0, w - pm.shape[1] + 1))
        if abs(y - sy.start) + abs(x - sx.start) > 0.3 * (pm.shape[0] + pm.shape[1]):
            break
    return paste(host, np.ascontiguousarray(patch), np.ascontiguousarray(pm), y, x, rng, 0.0)


def inpaint(host: np.ndarray, method: str, rng: np.random.Generator, area=(0.01, 0.12)):
    import cv2

    m = region_mask(host, rng, area)
    # removal covers the object with a small margin, as a user's brush would
    m = cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if method == "patchmatch":
        from patchmatch import patch_match

        out = patch_match.inpaint(host, m.astype(np.uint8) * 255, patch_size=3)
    else:
        flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
        out = cv2.inpaint(host, m.astype(np.uint8) * 255, 5, flag)
    out = np.asarray(out, np.uint8)
    out[~m] = host[~m]  # guarantee: nothing outside the mask changed
    return out, m & np.any(out != host, axis=-1)


def random_view(rgb: np.ndarray, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random crop of the photo at a random scale, long side in `size` px: more scenes per photo."""
    import cv2

    h, w = rgb.shape[:2]
    frac = float(rng.uniform(0.5, 1.0))
    ch, cw = max(32, int(h * frac)), max(32, int(w * frac))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = rgb[y:y + ch, x:x + cw]
    long_side = int(rng.integers(size[0], size[1] + 1))
    f = long_side / max(ch, cw)
    return cv2.resize(crop, (max(16, round(cw * f)), max(16, round(ch * f))),
                      interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB")).copy()


def grid_shift(img: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator, info: dict):
    """Crop 1-7 px off the top and left: the last save's 8x8 JPEG grid no longer lines up with the first."""
    dy, dx = (int(v) for v in rng.integers(0, 8, 2))
    info["grid_shift"] = [dy, dx]
    return img[dy:, dx:], None if mask is None else mask[dy:, dx:]


def finish(img: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator, jpeg_p: float = 0.7,
           info: dict | None = None):
    """Random post-resize and JPEG recompression; the mask follows the resize exactly (nearest)."""
    import cv2

    info = {"resize": 1.0, "jpeg_quality": None, **(info or {})}
    if rng.random() < 0.4:
        f = float(rng.uniform(0.6, 1.0))
        h, w = img.shape[:2]
        nh, nw = round(h * f), round(w * f)
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
        info["resize"] = round(f, 4)
    buf = io.BytesIO()
    if rng.random() < jpeg_p:
        q = int(rng.integers(60, 101))
        Image.fromarray(img).save(buf, "JPEG", quality=q)
        info["jpeg_quality"] = q
        ext = ".jpg"
    else:
        Image.fromarray(img).save(buf, "PNG")
        ext = ".png"
    return buf.getvalue(), ext, mask, info


# ---------------------------------------------------------------------------------------
# data set

def make_item(kind: str, host: np.ndarray, donor: np.ndarray | None, rng: np.random.Generator):
    if kind not in KINDS:
        from .synth_edits import make_edit

        return make_edit(kind, host, donor, rng)
    if kind == "splice":
        return splice(host, donor, rng)
    if kind == "copy-move":
        return copy_move(host, rng)
    return inpaint(host, kind.split("-", 1)[1], rng)


def synthesize(photos_dir: str | Path, out_dir: str | Path, count: int, seed: int = 0,
               fractions=(0.7, 0.15, 0.15), real_fraction: float = 0.15, size=(256, 512),
               progress: Callable[[int, int, str], None] | None = None,
               warn: Callable[[str], None] | None = None, workers: int = 1,
               kind_set: str = DEFAULT_KIND_SET) -> dict:
    """Write `count` manipulated items (+ real_fraction x count authentic ones) and the manifest.

    kind_set: "v2" (all edits, double JPEG) or "v1" (the classic five kinds, as up to round 25).

    warn: where a skipped photo is reported, one line each (default: warnings.warn).
    workers: processes that make items in parallel; the output does not depend on it."""
    warn = warn or (lambda msg: warnings.warn(msg, stacklevel=2))
    if count < 3:
        raise SynthError(f"--count must be at least 3 (one item per split), got {count}")
    lo, hi = size
    if not (MIN_SIDE <= lo <= hi <= MAX_SIDE):
        raise SynthError(f"--size {lo},{hi}: the long side's range must satisfy {MIN_SIDE} <= min <= max <= {MAX_SIDE}")
    if not 0.0 <= real_fraction <= 1.0:
        raise SynthError(f"--real-fraction {real_fraction}: expected 0..1 authentic images per manipulated one")
    if kind_set not in KIND_SETS:
        raise SynthError(f"--kinds {kind_set}: expected one of {', '.join(KIND_SETS)}")
    if not 1 <= workers <= 256:
        raise SynthError(f"--workers {workers}: expected 1..256 processes")
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        # stale files would stay beside the new ones and the manifest would not describe the folder
        raise SynthError(f"--out {out_dir}: is not an empty folder; give a new or empty folder for the data set")
    created = not out_dir.exists()
    try:
        with writing(out_dir):  # a read-only or full --out is refused before the photos are read
            out_dir.mkdir(parents=True, exist_ok=True)
            check_writable(out_dir, out_dir)
        return _synthesize_into(out_dir, photos_dir, count, seed, fractions, real_fraction, size, progress, warn,
                                workers, kind_set)
    except BaseException:
        _remove_partial(out_dir, created)  # the folder was new or empty: what is in it now is this run's
        raise


def _remove_partial(out_dir: Path, created: bool) -> None:
    """Delete an unfinished data set (its split folders and manifest), and the folder if this run made it."""
    import shutil

    for name in (*SPLITS, "manifest.json"):
        p = out_dir / name
        with contextlib.suppress(OSError):
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            out_dir.rmdir()


def _synthesize_into(out_dir: Path, photos_dir, count, seed, fractions, real_fraction, size, progress, warn,
                     workers, kind_set) -> dict:
    """synthesize() once its settings are checked and out_dir is an empty, writable folder."""
    try:
        photos = load_photo_list(Path(photos_dir))
    except OSError as exc:
        raise SynthError(f"{photos_dir}: cannot read the photo folder ({exc.strerror or exc})") from None
    _rgb_of.cache_clear()  # a photo edited since an earlier call in this process must be read afresh
    readable = []
    for p in photos:
        try:
            h, w = _rgb_of(p.path).shape[:2]  # decoded once here, reused for the items
        except Exception as exc:  # one bad photo never stops the run
            why = str(exc).removeprefix(f"{p.path}: ") if isinstance(exc, DeclipError) else type(exc).__name__
            warn(f"{p.path}: skipped, not a readable image ({why})")
            continue
        if min(h, w) < MIN_SIDE:  # too thin to crop a scene from (a 5000x3 strip, an icon)
            warn(f"{p.path}: skipped, {w}x{h} px is smaller than {MIN_SIDE} px on a side")
            continue
        readable.append(p)
    if not readable:
        raise SynthError(f"{photos_dir}: no readable photos found")
    by_split = split_groups(readable, tuple(fractions), seed)
    plan = []  # (split, index within split, is_real)
    for s, frac in zip(SPLITS, fractions):
        n = max(1, round(count * frac))
        plan += [(s, i, False) for i in range(n)]
        plan += [(s, i, True) for i in range(round(n * real_fraction))]
    jobs = [(seed, split, i, is_real, by_split[split], size, out_dir, kind_set) for split, i, is_real in plan]
    items = []
    if workers <= 1:
        results = map(_make_one, jobs)
    else:
        # every item draws from its own generator (seed, split, index), so the data set is the same
        # byte for byte whatever the number of workers; map() keeps the manifest in plan order
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: a forked copy of a process holding OpenCV or torch thread pools can hang
        pool_ex = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool_ex.map(_make_one, jobs, chunksize=8)
    try:
        with writing(out_dir):
            for k, item in enumerate(results):
                items.append(item)
                if progress:
                    progress(k + 1, len(plan), f"{item['split']} {item['kind']}")
    finally:
        _rgb_of.cache_clear()  # the decoded photos are not kept once the data set is written
        if workers > 1:
            pool_ex.shutdown(cancel_futures=True)
    from engine.versions import software_versions

    manifest = {
        "format": "declip-synth/1",
        "created_utc": utc_now(),
        "seed": seed, "count": count, "fractions": list(fractions), "real_fraction": real_fraction,
        "size": list(size), "kind_set": kind_set, "kinds": KIND_SETS[kind_set],
        "double_jpeg": kind_set != "v1",
        "mask_convention": "white (255) = manipulated; exactly the pixels the edit changed",
        "versions": software_versions(),
        "photos": [{"file": p.path.name, "group": p.group, "licence": p.licence, "attribution": p.attribution,
                    "sha256": p.sha256, "split": s} for s in SPLITS for p in by_split[s]],
        "items": items,
    }
    with writing(out_dir / "manifest.json"):
        write_text_atomic(out_dir / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


# decoded source photos, per process (a spawned worker keeps its own); bounded, so that a large photo
# folder does not pile up in memory
_rgb_of = lru_cache(maxsize=64)(_read_rgb)


def _make_one(job) -> dict:
    """One item of the plan, written to disk; returns its manifest entry. Depends only on its job."""
    seed, split, i, is_real, pool, size, out_dir, kind_set = job
    rng = np.random.default_rng([seed, SPLITS.index(split), i, int(is_real)])
    host_p = pool[int(rng.integers(len(pool)))]
    host = random_view(_rgb_of(host_p.path), rng, size)
    donor_p, kind, pre = None, "real", {}
    if kind_set != "v1" and rng.random() < 0.5:  # a JPEG photo edited and saved again: double compression
        pre["prior_jpeg_quality"] = int(rng.integers(50, 96))
        host = jpeg_roundtrip(host, pre["prior_jpeg_quality"])
    if is_real:
        img, mask = host, None
    else:
        kinds = KIND_SETS[kind_set]
        kind = str(rng.choice(list(kinds), p=list(kinds.values())))
        donor = None
        if kind in DONOR_KINDS:
            others = [p for p in pool if p.path != host_p.path] or pool
            donor_p = others[int(rng.integers(len(others)))]
            donor = random_view(_rgb_of(donor_p.path), rng, size)
        img, mask = make_item(kind, host, donor, rng)
        if mask.sum() == 0:  # edit changed nothing (flat region): use a copy-move instead
            kind = "copy-move"
            img, mask = copy_move(host, rng)
    if pre and rng.random() < 0.5:
        img, mask = grid_shift(img, mask, rng, pre)
    data, ext, mask, info = finish(img, mask, rng, info=pre)
    sub = "real" if is_real else "images"
    name = f"{split}_{i:05d}{ext}"
    (out_dir / split / sub).mkdir(parents=True, exist_ok=True)
    (out_dir / split / sub / name).write_bytes(data)
    item = {"image": f"{split}/{sub}/{name}", "split": split, "kind": kind,
            "host": host_p.path.name, "donor": donor_p.path.name if donor_p else None,
            "sha256": bytes_sha256(data), **info}
    if mask is not None:
        (out_dir / split / "masks").mkdir(parents=True, exist_ok=True)
        mname = f"{split}_{i:05d}.png"
        Image.fromarray(mask.astype(np.uint8) * 255).save(out_dir / split / "masks" / mname)
        item["mask"] = f"{split}/masks/{mname}"
        item["manipulated_fraction"] = round(float(mask.mean()), 5)
    return item
