"""Shared harness of the cue experiments (not product code): train with extra per-image maps
appended to the cached backbone features.

`run_train(cue_grid, argv)` patches the trainer so that every cached feature grid of an image gets
`cue_grid(path)` (a (C, grid, grid) array) concatenated to its channels, then runs `declip` with
argv (e.g. train --data DS --backbone lite0 ...). The decoder's input width follows automatically.
"""
import sys

import numpy as np


def run_train(cue_grid, argv: list[str]) -> None:
    run_train_transformed(lambda f, path: np.concatenate([f, cue_grid(path)], 0), argv)


def run_train_transformed(transform, argv: list[str]) -> None:
    """Like run_train, but each image's cached (C, grid, grid) features become transform(feats, path)."""
    import trainer.validator as T

    orig = T.cached_features_by_stage

    def patched(backbone, spec, cache_root, weight_hashes, paths, *a, **kw):
        feats, caches = orig(backbone, spec, cache_root, weight_hashes, paths, *a, **kw)
        return {i: transform(f, paths[i]) for i, f in feats.items()}, caches

    T.cached_features_by_stage = patched
    from declip_desktop.cli import main

    sys.argv = ["declip"] + list(argv)
    main()


def disk_cached(cache_dir, maps_of):
    """cue_grid(path, grid=32) that computes maps_of(rgb uint8 HxWx3, grid) once per image (by SHA-256)
    and keeps it as fp16 .npy in cache_dir."""
    from pathlib import Path

    from PIL import Image

    from engine.hashing import file_sha256

    cache_dir = Path(cache_dir)

    def cue_grid(path, grid=32):
        cache_dir.mkdir(parents=True, exist_ok=True)
        f = cache_dir / f"{file_sha256(path)}.npy"
        if f.exists():
            return np.load(f)
        g = np.asarray(maps_of(np.asarray(Image.open(path).convert("RGB")), grid), np.float16)
        np.save(f, g)
        return g

    return cue_grid


def precompute(cue_grid, root, items, every: int = 200) -> None:
    """Fill the cache for the given manifest items (one thread, so a training run can share the CPU)."""
    import torch

    torch.set_num_threads(1)
    for k, it in enumerate(items):
        cue_grid(root / it["image"])
        if k % every == 0:
            print(k, len(items), flush=True)
    print("done")
