"""Case benchmark: time to ingest 100 images and to open a case of 1,000 images.

    python benchmarks/bench_case.py [--ingest 100] [--open-items 1000] [--size 1600x1200] [--keep DIR]

Prints figures (targets: a 1,000-image case opens in < 1 s). The images are synthetic JPEGs
with camera-like EXIF so the evidence index has a realistic size.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from declip_desktop.case import Case  # noqa: E402


def make_images(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1).astype(np.int16)
    total = 0
    for i in range(n):
        exif = Image.Exif()
        exif[0x010F] = "BenchCam"
        exif[0x0110] = f"Model {i % 7}"
        exif[0x0131] = "bench 1.0"
        exif[0x0132] = "2026:01:01 12:00:00"
        exif[0x010E] = f"bench image {i}"  # unique bytes per file, so none is a duplicate
        noise = rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
        arr = np.clip(base + noise, 0, 255).astype(np.uint8)
        p = folder / f"IMG_{i:05d}.jpg"
        Image.fromarray(arr).save(p, "JPEG", quality=85, exif=exif)
        total += p.stat().st_size
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ingest", type=int, default=100, help="images for the ingest timing")
    ap.add_argument("--open-items", type=int, default=1000, help="evidence items in the case to open")
    ap.add_argument("--size", default="1600x1200", help="WxH of the ingest images")
    ap.add_argument("--repeat", type=int, default=5, help="open timings to take")
    ap.add_argument("--keep", help="build in this folder and keep it (default: a temp folder, removed)")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="declip-bench-case-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        # 1. Ingest N realistic-size images.
        src = root / "src_ingest"
        nbytes = make_images(src, args.ingest, (w, h))
        case = Case.create(root / "ingest", title="bench", number="1", examiner="bench")
        t0 = time.perf_counter()
        rep = case.add_paths([src])
        t_ingest = time.perf_counter() - t0
        case.close()
        assert len(rep.added) == args.ingest, [str(i) for i in rep.issues[:3]]
        print(f"ingest {args.ingest} images ({w}x{h} JPEG, {nbytes / 1e6:.1f} MB): {t_ingest:.2f} s "
              f"({1000 * t_ingest / args.ingest:.1f} ms/image, {nbytes / 1e6 / t_ingest:.1f} MB/s)")

        # 2. A case of M items (small images: the open time depends on the index, not pixel count).
        src2 = root / "src_open"
        make_images(src2, args.open_items, (96, 72), seed=1)
        big = Case.create(root / "big", title="bench", number="2", examiner="bench")
        t0 = time.perf_counter()
        rep = big.add_paths([src2])
        assert len(rep.added) == args.open_items, [str(i) for i in rep.issues[:3]]
        t_build = time.perf_counter() - t0
        for it in big.evidence[:50]:
            big.set_finding(it.id, "no finding", note="checked")
        big.close()
        index_kb = (root / "big.declip" / "evidence.json").stat().st_size / 1024
        print(f"build a {args.open_items}-item case (ingest of small JPEGs): {t_build:.2f} s; "
              f"evidence.json {index_kb:.0f} KiB")
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            c = Case.open(root / "big")
            n = len(c.evidence)
            times.append(time.perf_counter() - t0)
            c.close()
        print(f"open a {n}-item case: median {statistics.median(times) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.1f} ms over {args.repeat} runs (target < 1000 ms)")
        with Case.open(root / "big") as c:
            t0 = time.perf_counter()
            c.analyses()
            t_scan = time.perf_counter() - t0
            t0 = time.perf_counter()
            c.thumbnail(c.evidence[0].id, 256)
            t_thumb = time.perf_counter() - t0
            t0 = time.perf_counter()
            rep = c.verify()
            t_verify = time.perf_counter() - t0
        print(f"list analyses: {t_scan * 1000:.1f} ms; first thumbnail: {t_thumb * 1000:.1f} ms; "
              f"verify {n} items: {t_verify:.2f} s (ok={rep.ok})")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
