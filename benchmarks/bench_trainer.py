#!/usr/bin/env python3
"""Epoch time of decoder training with the fp16 feature cache vs recomputing the features.

    python benchmarks/bench_trainer.py [--images 16] [--batch 4] [--rounds 3] [--backbone clip-vit-l14] [--decoder conv-20]

Default configuration: CLIP ViT-L/14 block 20 + conv-20, random weights (no files needed),
on the same synthetic images in both modes. The cache is filled first (not timed), as after a
first epoch. Target: cached epochs >= 1.5x faster. Prints both times and the ratio, and the cached
epoch with direct decoder convs (the trainer trains the wide 5x5 convs through Winograd on CPU).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--backbone", default="clip-vit-l14")
    ap.add_argument("--decoder", default="conv-20")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from engine.backbones import resolve_spec
    from engine.decoders import build_decoder
    from engine.hashing import file_sha256
    from trainer.features import FeatureCache, build_frozen_backbone, cached_features, compute_features
    from trainer.config import parse_decoder
    from trainer.decoder_setup import init_decoder, training_layout

    spec = resolve_spec(args.backbone)
    t0 = time.perf_counter()
    bb = build_frozen_backbone(spec, random_weights=True)
    print(f"backbone {args.backbone} built in {time.perf_counter() - t0:.1f} s; "
          f"{torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = []
        for i in range(args.images):
            p = tmp / f"img{i}.png"
            Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(p)
            paths.append(p)
        masks = torch.rand(args.images, 256, 256)
        dec_spec = parse_decoder(args.decoder, None)
        cache = FeatureCache(tmp / "cache", "bench")
        read = lambda p: Image.open(p).convert("RGB")  # noqa: E731
        cached_features(bb, spec, cache, paths, read, args.batch)  # fill once (first epoch)

        def epoch(features_fn, conv: str = "auto") -> float:
            dec = build_decoder(dec_spec, bb.out_channels, cnn=getattr(bb, "cnn", False))
            init_decoder(dec, 0.02, 0)
            dec = training_layout(dec, conv=conv).train()  # as the trainer does
            opt = torch.optim.AdamW(dec.parameters(), lr=1e-3)
            t = time.perf_counter()
            for i in range(0, args.images, args.batch):
                feats = features_fn(paths[i:i + args.batch]).float().contiguous(memory_format=torch.channels_last)
                loss = F.binary_cross_entropy_with_logits(dec(feats)[:, 0], masks[i:i + args.batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            return time.perf_counter() - t

        def from_cache(ps):
            return torch.from_numpy(np.stack([cache.get(file_sha256(p)) for p in ps]))

        def recompute(ps):
            return torch.from_numpy(compute_features(bb, spec, [read(p) for p in ps], args.batch))

        # Alternate the three kinds of epoch and take medians: on a shared machine a single epoch
        # varies by 20 % or more, and the first one also pays allocator warm-up.
        runs = {"direct": [], "cache": [], "recompute": []}
        for _ in range(args.rounds):
            runs["direct"].append(epoch(from_cache, conv="direct"))
            runs["cache"].append(epoch(from_cache))
            runs["recompute"].append(epoch(recompute))
        t_direct, t_cache, t_recompute = (statistics.median(runs[k]) for k in ("direct", "cache", "recompute"))
    n = args.images
    print(f"{args.backbone} + {args.decoder}, {n} images, batch {args.batch}, median of {args.rounds} rounds")
    print(f"epoch with feature cache : {t_cache:8.2f} s  ({t_cache / n:.2f} s/image)")
    print(f"epoch recomputing        : {t_recompute:8.2f} s  ({t_recompute / n:.2f} s/image)")
    print(f"(cached epoch with direct decoder convs, no Winograd: {t_direct:.2f} s, {t_direct / n:.2f} s/image)")
    ratio = t_recompute / t_cache
    print(f"speed-up {ratio:.2f}x (target >= 1.5x): {'PASS' if ratio >= 1.5 else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
