"""Helpers for the case tests: small real image files and a fresh case."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from declip_desktop.case import Case


def make_jpeg(path: Path, seed: int = 0, size=(48, 40), quality: int = 75, exif: Image.Exif | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    kwargs = {"quality": quality}
    if exif is not None:
        kwargs["exif"] = exif
    Image.fromarray(arr).save(path, "JPEG", **kwargs)
    return path


def make_png(path: Path, seed: int = 0, size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1000)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, "PNG")
    return path


def new_case(tmp_path: Path, name: str = "case", **kw) -> Case:
    args = {"title": "Test case", "number": "2026-001", "examiner": "A. Examiner", "organisation": "Lab"}
    args.update(kw)
    return Case.create(tmp_path / name, **args)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file under folder, to prove originals are left untouched."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for f in files:
            p = Path(root) / f
            out[str(p)] = (p.read_bytes(), p.stat().st_mtime_ns)
    return out
