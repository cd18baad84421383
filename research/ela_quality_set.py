#!/usr/bin/env python3
"""Authentic photos last saved at a JPEG quality close to ELA's own (90), for `ela` round 6.

    python research/ela_quality_set.py PHOTOS_DIR OUT_DIR [--seed 6]

Each training-pool photo gives one view (a crop with a long side of 768-1024 px, larger photos
reduced first, as `evidence_val_data.py` does), saved as a "camera original" at JPEG q95 (Pillow's
default 4:2:0), then re-saved once more as an editor's export would be, at quality 88, 90, 92 or 95
with 4:2:0 or 4:4:4 chroma (GIMP's default export: quality 90, 4:4:4). Nothing is edited: every
item is authentic. Photos are split in the same two halves by name hash as `evidence_val_data.py`
(`dev` to tune, `check` to confirm). Writes OUT_DIR/{dev,check}/q{Q}_{444|420}/manifest.json (the
benchmark layout) with images/.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from evidence_val_data import _view

SETTINGS = [(q, s) for q in (88, 90, 92, 95) for s in (0, 2)]   # Pillow subsampling: 0 = 4:4:4, 2 = 4:2:0


def _camera(rgb: np.ndarray) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=95)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=6)
    a = ap.parse_args()
    photos = sorted(p for p in Path(a.photos).iterdir() if p.suffix.lower() in (".jpg", ".png"))
    entries: dict[Path, list] = {}
    for p in photos:
        half = "dev" if int(hashlib.sha256(p.name.encode()).hexdigest(), 16) % 2 else "check"
        # one view per photo, the same for every setting, drawn from the photo's own name
        rng = np.random.default_rng([a.seed, int(hashlib.sha256(p.name.encode()).hexdigest()[:8], 16)])
        cam = _camera(_view(np.asarray(Image.open(p).convert("RGB")), rng))
        for q, s in SETTINGS:
            folder = Path(a.out) / half / f"q{q}_{'444' if s == 0 else '420'}"
            (folder / "images").mkdir(parents=True, exist_ok=True)
            Image.fromarray(cam).save(folder / "images" / f"{p.stem}.jpg", "JPEG", quality=q, subsampling=s)
            entries.setdefault(folder, []).append(
                {"image": f"images/{p.stem}.jpg", "mask": None, "source_mask": None, "kind": "authentic",
                 "manipulated": False, "host": p.name,
                 "post": {"camera_quality": 95, "jpeg_quality": q, "subsampling": "4:4:4" if s == 0 else "4:2:0"}})
    for folder, items in sorted(entries.items()):
        (folder / "manifest.json").write_text(json.dumps(items, indent=1))
        print(f"{folder.parent.name}/{folder.name}: {len(items)} authentic")


if __name__ == "__main__":
    main()
