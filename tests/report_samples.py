"""Synthetic evidence for the report tests and benchmark: photos-like JPEGs with EXIF and maps."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from engine.result import AnalysisResult


def make_photo(path: Path, w: int = 640, h: int = 480, seed: int = 0, exif: bool = True) -> str:
    """A smooth, photo-like JPEG with a few EXIF tags; returns its SHA-256."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([
        128 + 90 * np.sin(xx / (37 + seed % 11) + seed),
        128 + 80 * np.cos(yy / (29 + seed % 7)),
        128 + 60 * np.sin((xx + yy) / 53),
    ], axis=-1)
    base += rng.normal(0, 6, base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    kw = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "TestCam"
        ex[0x0110] = f"Model {seed}"
        ex[0x0131] = "DeCLIP test suite"
        ex[0x0132] = "2024:05:06 07:08:09"
        kw["exif"] = ex.tobytes()
    img.save(path, format="JPEG", quality=88, **kw)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_result(w: int, h: int, sha: str | None, seed: int = 0, blobs: int = 2, mode: str = "paper") -> AnalysisResult:
    """A probability map with `blobs` bright rectangles on a low background, plus engine-like metadata."""
    rng = np.random.default_rng(seed)
    prob = np.clip(rng.normal(0.06, 0.03, (h, w)), 0, 1).astype(np.float32)
    for b in range(blobs):
        bw, bh = w // (4 + b), h // (5 + b)
        x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        prob[y0:y0 + bh, x0:x0 + bw] = 0.95 - 0.15 * b
    md = {
        "model_id": "tiny-test", "model_name": "Tiny test model",
        "model": {"id": "tiny-test", "name": "Tiny test model", "version": "1", "backbone": "tiny ViT",
                  "feature_layer": "block 1", "decoder": "conv-4", "input": {"size": 224},
                  "license": "Apache-2.0", "training_data": "synthetic splices (test only)"},
        "weights": [{"role": "decoder", "file": "decoder.safetensors", "sha256": "ab" * 32},
                    {"role": "clip-vit", "file": "backbone.safetensors", "sha256": "cd" * 32}],
        "mode": mode, "device": "cpu", "device_name": "CPU", "dtype": "float32", "precision": "exact",
        "versions": {"app": "0.1.0", "torch": "2.4.0", "open_clip": "2.29.0", "pillow": "11.0.0"},
        "timings": {"backbone_s": 0.12, "decoder_s": 0.03},
        "image": {"name": "x.jpg", "sha256": sha, "width": w, "height": h, "format": "JPEG", "notes": []},
        "created_utc": "2026-11-28T17:00:00Z",
    }
    if mode == "tiled":
        md["tiling"] = {"tile_size": 224, "stride": 112, "scale": 1.0, "scaled_size": [w, h], "tiles": 12}
    return AnalysisResult(probability=prob, raw=None, score=float(prob.mean()), metadata=md)
