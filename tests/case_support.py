"""Helpers for the case tests: small real image files and a fresh case."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from declip_desktop.case import Case
from engine.result import AnalysisResult


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


def analysis_result(item, model="m1", mode="paper", seed=0, value=None, sha=None) -> AnalysisResult:
    """A random map at the item's size, as a model would return it (value: every pixel set to it;
    sha: the image digest the result claims, default the item's own)."""
    rng = np.random.default_rng(seed)
    prob = rng.random((item.height, item.width), dtype=np.float32)
    if value is not None:
        prob[:] = value
    md = {"model_id": model, "mode": mode, "weights": [{"file": "w", "sha256": "ab" * 32}],
          "image": {"sha256": sha or item.sha256}}
    return AnalysisResult(probability=prob, raw=None, score=float(prob.mean()), metadata=md)


@pytest.fixture
def two_item_case(tmp_path):
    """A case holding a.jpg (E0001) and b.png (E0002); closed after the test."""
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    make_png(tmp_path / "src" / "b.png", seed=2)
    c = new_case(tmp_path)
    c.add_paths([tmp_path / "src"])
    yield c
    c.close()


def fail_index_writes(monkeypatch) -> None:
    """Make every atomic replace of evidence.json fail as on a full disk (the ingest's index write);
    other files are written as usual. monkeypatch.undo() ends it."""
    real_replace = os.replace

    def fail_on_index(src, dst, *a, **k):
        if str(dst).endswith("evidence.json"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", fail_on_index)


def killed_ingest(case, paths, monkeypatch) -> None:
    """An ingest that logged its items and copied them, then died writing the index (as on a full
    disk): the log adds them, evidence/ holds the copies, evidence.json does not list them."""
    fail_index_writes(monkeypatch)
    try:
        with pytest.raises(OSError):
            case.add_paths(paths)
    finally:
        monkeypatch.undo()
