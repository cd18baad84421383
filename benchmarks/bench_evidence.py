"""Benchmark: each evidence layer on one 12 MP JPEG (4000x3000), on this machine's CPU.

Targets (issue 38): ela, noise <= 1.5 s; dq <= 2 s; ghost, resampling <= 5 s; clones keypoints
<= 5 s; clones dense at its default working scale <= 30 s.

    python benchmarks/bench_evidence.py                 # makes build/bench/evidence-12mp.jpg once
    python benchmarks/bench_evidence.py --image PHOTO.jpg --repeat 3 [--layers ela,ghost]

The test photo is the bundled sample `resources/samples/coffee.jpg` (CC0) enlarged to 4000x3000
with a little added grain, saved at JPEG quality 90. Times are wall-clock for
`engine.evidence.run(layer, path)` (decode included), best of --repeat, beside the process's CPU
time (all threads; on a machine shared with other work it is the steadier figure, and on an idle
machine an upper bound of the wall time of single-threaded code), with the glibc heap settings that
`declip` and the GUI apply (engine.heap; --glibc-defaults leaves them out). Prints a table; exit
status 1 when a target is missed (by wall time).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = [("ela", {}, 1.5), ("noise", {}, 1.5), ("dq", {}, 2.0), ("ghost", {}, 5.0), ("resampling", {}, 5.0),
           ("resampling", {"cue": "pmap+band"}, 5.0), ("clones", {"method": "keypoints"}, 5.0), ("clones", {"method": "dense"}, 30.0)]


def make_photo(path: Path) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(ROOT / "resources" / "samples" / "coffee.jpg") as im:
        big = im.convert("RGB").resize((4000, 3000), Image.LANCZOS)
    arr = np.asarray(big).astype(np.float32)
    arr += np.random.default_rng(0).normal(0, 2.0, arr.shape)
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", type=Path, default=ROOT / "build" / "bench" / "evidence-12mp.jpg")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--layers", default=None, help="only these layers, comma separated (e.g. ela,ghost)")
    ap.add_argument("--glibc-defaults", action="store_true",
                    help="keep glibc's heap defaults instead of the app's settings (engine.heap), to compare")
    args = ap.parse_args()
    from engine import evidence
    from engine.heap import reuse_large_blocks

    # the app's processes (`declip`, the GUI) run with these settings, so the layers are timed with them
    print(f"glibc heap settings: {None if args.glibc_defaults else reuse_large_blocks()}")

    path = make_photo(args.image)
    with Image.open(path) as im:
        size = im.size
    print(f"image: {path} ({size[0]}x{size[1]}, {size[0] * size[1] / 1e6:.1f} MP)")
    print(f"{'layer':24} {'time s':>8} {'cpu s':>7} {'target s':>9}  working scale / notes")
    missed = 0
    wanted = set(args.layers.split(",")) if args.layers else None
    for name, params, target in TARGETS:
        if wanted is not None and name not in wanted:
            continue
        best, cpu, res = float("inf"), float("inf"), None
        for _ in range(max(1, args.repeat)):
            t0, c0 = time.perf_counter(), time.process_time()
            res = evidence.run(name, path, **params)
            best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        label = name + (f" ({next(iter(params.values()))})" if params else "")
        note = res.metadata["parameters"].get("working_scale", "")
        ok = best <= target
        missed += not ok
        print(f"{label:24} {best:8.2f} {cpu:7.2f} {target:9.1f}  {note}{'' if ok else '  MISSED'}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
