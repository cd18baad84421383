"""What share of a PatchMatch fill does the fill stage's field mark as copied, and which area rule would
mark fills without flagging untouched views? (issue #38, round 3; research/README.md)

    python research/clones_fill_share.py fields build/clones-real      # build/r3cache/<data>/fields/*.npz (about 5 s each)
    python research/clones_fill_share.py share build/clones-real       # share of fill pixels marked, inside and outside
    python research/clones_fill_share.py sweep build/clones-real       # area rules: density, hysteresis, offset spread

The field is the fill stage's own (engine/evidence/clone_fill.py: 3x3 grid patches of spacing 2 at 1024 px,
translation-only PatchMatch, 4 iterations, offsets of at least 16 px); a pixel is *copied* when its match error
is below r x (its patch's variance + a 2-grey-level floor), it is textured and its offset agrees with its 5x5
median. Removal images and untouched views only."""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes

from engine.evidence.clone_fill import patch_features
from engine.evidence.clone_regions import working_gray
from engine.evidence.offset_field import OffsetField

CACHE = Path("build/r3cache")
FLOOR = 9 * 2.0 ** 2


def fields(folder: Path, iterations: int = 4) -> None:
    out = CACHE / folder.name / "fields"
    out.mkdir(parents=True, exist_ok=True)
    for e in json.loads((folder / "manifest.json").read_text()):
        stem = Path(e["image"]).stem
        if e["kind"] not in ("removal_patch", "authentic") or (out / f"{stem}.npz").exists():
            continue
        rgb = cv2.cvtColor(cv2.imread(str(folder / e["image"])), cv2.COLOR_BGR2RGB)
        gray, _ = working_gray(rgb, 1024)
        hole = cv2.imread(str(folder / e["mask"]), 0) > 0 if e["mask"] else np.zeros(gray.shape, bool)
        f = patch_features(gray)
        field = OffsetField(f, 16, np.random.default_rng(0))
        for it in range(iterations):
            field.propagate(1 if it % 2 == 0 else -1)
            field.random_search()
        energy = f.var(axis=-1) * 9
        dy, dx = field.dy.astype(np.float32), field.dx.astype(np.float32)
        coh = np.abs(dy - cv2.medianBlur(dy, 5)) + np.abs(dx - cv2.medianBlur(dx, 5))
        np.savez_compressed(out / f"{stem}.npz", r=(field.cost / (energy + FLOOR)).astype(np.float16),
                            coh=coh.astype(np.float16), energy=energy.astype(np.float32),
                            dy=field.dy.astype(np.int16), dx=field.dx.astype(np.int16), hole=hole)
        print(stem, flush=True)


def load(folder: Path):
    return [(p.stem, np.load(p)) for p in sorted((CACHE / folder.name / "fields").glob("*.npz"))]


def copied(d, r: float) -> np.ndarray:
    return (d["coh"] <= 1) & (d["energy"] > FLOOR) & (d["r"] < r)


def share(folder: Path) -> None:
    inside, textured, outside, untouched = [], [], [], []
    for stem, d in load(folder):
        c, hole, tex = copied(d, 0.15), d["hole"], d["energy"] > FLOOR
        if "authentic" in stem:
            untouched.append(c.mean())
            continue
        inside.append(c[hole].mean())
        outside.append(c[~hole].mean())
        if (hole & tex).any():
            textured.append(c[hole & tex].mean())
    print(f"copied: fill pixels {np.mean(inside):.3f} (textured fill pixels {np.mean(textured):.3f}), "
          f"outside fills {np.mean(outside):.3f}, untouched views {np.mean(untouched):.3f}")


def areas(density: np.ndarray, hi: float, lo: float, min_area: int = 1000) -> np.ndarray:
    seed = binary_fill_holes(density > hi)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(seed.astype(np.uint8))
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, 4] >= min_area
    seed = keep[labels]
    if lo >= hi:
        return seed
    n, labels = cv2.connectedComponents(binary_fill_holes(density > lo).astype(np.uint8))
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seed])] = True
    keep[0] = False
    return binary_fill_holes(keep[labels] | seed)


def sweep(folder: Path) -> None:
    data = load(folder)
    for r, hi, lo, win, spread in itertools.product((0.15, 0.25), (0.3, 0.4), (0.2, 0.4), (21, 31), (0, 10, 30)):
        if lo > hi:
            continue
        ious, flagged, n_auth = [], 0, 0
        for stem, d in data:
            c = copied(d, r).astype(np.float32)
            box = lambda a: cv2.blur(a, (win, win))  # noqa: E731
            den = box(c)
            if spread:   # a fill is copied from many places: the offsets of its copied pixels spread
                w = np.maximum(den, 1e-6)
                dy, dx = d["dy"].astype(np.float32), d["dx"].astype(np.float32)
                var = sum(box(c * v * v) / w - (box(c * v) / w) ** 2 for v in (dy, dx))
                den = np.where(np.sqrt(np.maximum(var, 0)) > spread, den, 0)
            m = areas(den, hi, lo)
            if "authentic" in stem:
                n_auth += 1
                flagged += bool(m.mean() > 0.01)
            else:
                ious.append((m & d["hole"]).sum() / max(1, (m | d["hole"]).sum()))
        print(f"r<{r} density>{hi} grow>{lo} box {win} spread>{spread}: removal_patch {100 * np.mean(ious):.1f} "
              f"(found {sum(i > 0.1 for i in ious)} of {len(ious)}), untouched flagged {flagged} of {n_auth}", flush=True)


if __name__ == "__main__":
    cmd, folder = sys.argv[1], Path(sys.argv[2])
    {"fields": fields, "share": share, "sweep": sweep}[cmd](folder)
