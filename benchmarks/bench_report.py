"""Benchmark: the forensic PDF report of a 100-image case.

Targets (issue 6): under 60 s on CPU and at most 50 MB for 100 evidence items.

    python benchmarks/bench_report.py                    # 100 items of 4032x3024 (12 MP phone photos)
    python benchmarks/bench_report.py --items 20 --size 2000x1500
    python benchmarks/bench_report.py --keep /tmp/bench-case   # reuse the case folder next time

The case is built through the Case API (ingest + store_analysis, i.e. 16-bit PNG maps at full
image size) so the report reads exactly what a real case holds. Building it is slow (PNG
encoding of 100 full-size maps) and is timed separately; --keep reuses it. Prints figures;
exit status 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from declip_desktop.case import Case  # noqa: E402
from declip_desktop.report import build_report  # noqa: E402
from engine.result import AnalysisResult  # noqa: E402

TARGET_S = 60.0
TARGET_MB = 50.0
BASES = 8  # distinct photos; the others are byte-level variants (a JPEG comment), so every hash differs


def _photo(w: int, h: int, seed: int) -> Image.Image:
    """Photo-like content: smooth gradients and shapes, mild sensor noise."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img += (30 * np.sin(xx / (w / 23)) * np.cos(yy / (h / 17)))[..., None]
    # Texture at several scales (foliage, fabric, gravel ...), so JPEG sizes are like real photos'.
    for cells, amp in ((w // 64, 18.0), (w // 16, 12.0), (w // 4, 8.0)):
        t = rng.normal(0, amp, (max(2, cells * h // w), cells, 3)).astype(np.float32)
        img += np.asarray(Image.fromarray(t[..., 0], "F").resize((w, h), Image.BICUBIC))[..., None]
        img += np.asarray(Image.fromarray(t[..., 1], "F").resize((w, h), Image.BICUBIC))[..., None] * [0.3, -0.2, 0.4]
    img += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _with_comment(jpeg: bytes, text: str) -> bytes:
    payload = text.encode("ascii")
    seg = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + seg + jpeg[2:]


def _map(w: int, h: int, seed: int) -> np.ndarray:
    """A paper-mode-like map: a 256x256 decoder output with a few blobs, upsampled bilinearly."""
    rng = np.random.default_rng(seed)
    m = rng.random((256, 256), dtype=np.float32) * 0.1
    for _ in range(int(rng.integers(1, 4))):
        x, y, s = int(rng.integers(20, 200)), int(rng.integers(20, 200)), int(rng.integers(10, 40))
        m[y:y + s, x:x + s] = 0.6 + 0.4 * rng.random()
    return np.asarray(Image.fromarray(m, "F").resize((w, h), Image.BILINEAR), dtype=np.float32)


def build_case(folder: Path, n: int, w: int, h: int) -> Path:
    src = folder / "incoming"
    src.mkdir(parents=True, exist_ok=True)
    bases = []
    for b in range(min(BASES, n)):
        p = src / f"base_{b}.jpg"
        _photo(w, h, b).save(p, format="JPEG", quality=90)
        bases.append(p.read_bytes())
        p.unlink()
    paths = []
    for i in range(n):
        p = src / f"IMG_{20240000 + i}.jpg"
        p.write_bytes(_with_comment(bases[i % len(bases)], f"bench item {i}"))
        paths.append(p)
    case = Case.create(folder / "bench", title="Benchmark case — 100 photographs", number="BENCH-0001",
                       examiner="Бенчмарк Examiner 测试", organisation="DeCLIP Desktop benchmarks")
    try:
        rep = case.add_paths(paths)
        if rep.errors or len(case.evidence) != n:
            raise SystemExit(f"ingest failed: {len(case.evidence)} of {n} added, errors {rep.errors[:3]}")
        for k, ev in enumerate(case.evidence):
            prob = _map(ev.width, ev.height, k % 10)
            md = {"model_id": "bench-model", "model_name": "Benchmark model", "mode": "paper",
                  "weights": [{"file": "decoder.safetensors", "sha256": "0" * 64}], "device": "cpu",
                  "device_name": "CPU", "dtype": "float32", "precision": "exact",
                  "versions": {"app": "bench"}, "image": {"sha256": ev.sha256, "width": ev.width, "height": ev.height}}
            case.store_analysis(ev.id, AnalysisResult(prob, None, float(prob.mean()), md))
            if k % 3 == 0:
                case.set_finding(ev.id, "suspicious", note=f"Region near the top left looks pasted (item {k}).",
                                 threshold=0.5, opacity=0.5)
        return case.path
    finally:
        case.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100)
    ap.add_argument("--size", default="4032x3024", help="evidence size WxH (default: 12 MP)")
    ap.add_argument("--keep", type=Path, help="folder for the case; reused when it already holds one")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="declip-bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    case_dir = next(iter(sorted(work.glob("*.declip"))), None)
    try:
        if case_dir is None:
            t0 = time.perf_counter()
            case_dir = build_case(work, args.items, w, h)
            print(f"case setup: {args.items} items of {w}x{h} in {time.perf_counter() - t0:.1f} s (not part of the figure)")
        else:
            print(f"reusing case {case_dir}")
        out = work / "report.pdf"
        t0 = time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        info = build_report(case_dir, out)
        secs = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        mb = info.size_bytes / 1e6
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"report: {info.items} items, {info.pages} pages, {secs:.1f} s "
              f"({secs / max(1, info.items) * 1000:.0f} ms/item), {mb:.1f} MB "
              f"({info.size_bytes / max(1, info.items) / 1e3:.0f} kB/item), peak RSS {rss:.0f} MB, "
              f"CPU time {cpu:.1f} s on {os.cpu_count()} cpus (load average {os.getloadavg()[0]:.1f})")
        print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in info.timings.items()))
        ok_t, ok_s = secs < TARGET_S, mb <= TARGET_MB
        print(f"target time < {TARGET_S:.0f} s: {'PASS' if ok_t else 'FAIL'}; "
              f"target size <= {TARGET_MB:.0f} MB: {'PASS' if ok_s else 'FAIL'}")
        return 0 if ok_t and ok_s else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
