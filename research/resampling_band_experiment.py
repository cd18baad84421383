#!/usr/bin/env python3
"""Does an enlarged paste's missing high band survive the final JPEG? (issue 38, resampling, round 3)

    python research/resampling_band_experiment.py dct   build/evval/dev    # first try: 8x8 DCT bands
    python research/resampling_band_experiment.py auc   build/evval/dev    # per-window AUC, FFT band pairs
    python research/resampling_band_experiment.py rank  build/evval/dev    # region level, the paste's shape known
    python research/resampling_band_experiment.py evaluate VARIANT -- EVALUATE-ARGS...

An area enlarged by s (x1.1-1.5) holds almost nothing above 1/s of Nyquist before the final save,
while a full-band original around it does. Per window, log band powers are compared with the image's
own robust line (base.robust_line) against a lower band, so that content explains what it can.
`auc`: for each paste, the AUC of the shortfall between windows wholly inside and wholly outside the
mask, per final post-processing. `rank`: the paste's mean shortfall over its inside windows against
the same window set moved elsewhere in the image (200 shifts), the share of pastes above the 95th
percentile (compare resampling_trace_check.py for the periodic trace). `evaluate`: runs
`declip evaluate --layer resampling` with `compute` replaced by one of the round's map variants
(`band`, `band2` two-sided, `both`/`both2` the larger of p-map and band maps, `sum` (= the shipped
option cue="pmap+band"), `sumpos` (band z clipped at 0), `gate` (p-map map where the band falls
short)), e.g. `evaluate sum -- --data build/evval/dev --no-ela --sweep 0.5,0.6,0.7 --layer-param band_smooth=3`.
Only the mask and the post-processing label are read from the manifest (blind to the paste's scale).
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _auc(pos, neg):
    allv = np.concatenate([pos, neg])
    r = np.argsort(np.argsort(allv, kind="stable"), kind="stable") + 1
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _pastes(folder: Path):
    for e in json.loads((folder / "manifest.json").read_text()):
        if e["kind"] != "resampled_paste":
            continue
        y = np.asarray(Image.open(folder / e["image"]).convert("L")).astype(np.float32)
        mk = (np.asarray(Image.open(folder / e["mask"])) > 127).astype(np.float32)
        key = "resized" if "resize" in e["post"] else f"q{e['post']['jpeg_quality']}"
        yield y, mk, key


def _window_frac(mk, n, step, ny, nx):
    return np.lib.stride_tricks.sliding_window_view(mk, (n, n))[::step, ::step][:ny, :nx].mean((-1, -2))


def _print(res):
    for name, d in sorted(res.items(), key=lambda kv: -np.mean(sum(kv[1].values(), []))):
        print(f"{name:22} all {np.mean(sum(d.values(), [])):.2f} ",
              "  ".join(f"{k}: {np.mean(v):.2f} (n={len(v)})" for k, v in sorted(d.items())))


def cmd_dct(folder: Path, cell: int = 16):
    """8x8 block DCT on the JPEG grid: energy of coefficients with max(u, v) >= h against a mid band,
    per cell, against the image's line; smoothed over 3x3 cells."""
    import cv2
    from engine.evidence.base import robust_line

    k = np.arange(8)
    d8 = (np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * np.sqrt(2 / 8)).astype(np.float32)
    d8[0] /= np.sqrt(2)
    u = np.maximum(*np.meshgrid(k, k, indexing="ij"))
    res: dict = {}
    f = cell // 8
    for y, mk, key in _pastes(folder):
        h, w = (y.shape[0] // cell) * cell, (y.shape[1] // cell) * cell
        b = y[:h, :w].reshape(h // 8, 8, w // 8, 8).swapaxes(1, 2)
        p = np.einsum("ij,abjk,lk->abil", d8, b - 128.0, d8, optimize=True) ** 2
        cells = lambda a: a.reshape(h // cell, f, w // cell, f).sum((1, 3))
        frac = cells(mk[:h, :w].reshape(h // 8, 8, w // 8, 8).mean((1, 3))) / f ** 2
        for hf, mid in ((6, (2, 4)), (7, (2, 4)), (5, (1, 3)), (6, (3, 5))):
            hi = cells(p[..., u >= hf].sum(-1)) / cell ** 2
            md = cells(p[..., (u >= mid[0]) & (u <= mid[1])].sum(-1)) / cell ** 2
            lx, ly = np.log(md + 1.0), np.log(hi + 0.1)
            ok = lx > np.log(5.0)
            if ok.sum() < 10:
                continue
            st = np.where(ok, robust_line(lx[ok], ly[ok])(lx) - ly, 0).astype(np.float32)
            wsum = cv2.blur(ok.astype(np.float32), (3, 3))
            st = cv2.blur(st, (3, 3)) / np.maximum(wsum, 1e-6)
            ins, out = st[(frac > 0.99) & ok], st[(frac < 0.01) & ok]
            if len(ins) and len(out):
                res.setdefault(f"dct hi>={hf} mid{mid[0]}-{mid[1]}", {}).setdefault(key, []).append(_auc(ins, out))
    _print(res)


def cmd_auc(folder: Path, n: int = 32, step: int = 16):
    """32x32 Hann-windowed FFTs (step 16), bands as max(|ky|, |kx|) in bins of 16 = Nyquist, 8-px grid
    bins left out; shortfall = line(mid) - high; raw (sm1) and over 3x3 windows (sm3)."""
    import cv2
    from engine.evidence.base import robust_line

    win = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    iy, ix = np.meshgrid(np.abs(np.fft.fftfreq(n) * n).round().astype(int), np.arange(n // 2 + 1), indexing="ij")
    ring = np.maximum(iy, ix)
    grid = ((iy % 4 == 0) & (iy > 0)) | ((ix % 4 == 0) & (ix > 0))
    band = lambda a, b: (ring >= a) & (ring <= b) & ~grid
    mids = {"m3-6": band(3, 6), "m6-9": band(6, 9), "m7-9": band(7, 9), "m5-9": band(5, 9)}
    highs = {"h11-15": band(11, 15), "h12-15": band(12, 15), "h11-13": band(11, 13), "h10-13": band(10, 13)}
    res: dict = {}
    for y, mk, key in _pastes(folder):
        ny, nx = (y.shape[0] - n) // step + 1, (y.shape[1] - n) // step + 1
        v = np.lib.stride_tricks.sliding_window_view(y, (n, n))[::step, ::step][:ny, :nx]
        lum = v.mean((-1, -2))
        p = np.abs(np.fft.rfft2((v - lum[..., None, None]) * win)) ** 2
        frac = _window_frac(mk, n, step, ny, nx)
        lv = {k: np.log(p[..., m].mean(-1) + 1.0) for k, m in {**mids, **highs}.items()}
        for mk_, hk in itertools.product(mids, highs):
            mid, hi = lv[mk_], lv[hk]
            ok = (lum > 8) & (lum < 247) & (mid > np.log(21.0))
            if ok.sum() < 20:
                continue
            st = np.where(ok, robust_line(mid[ok], hi[ok])(mid) - hi, 0).astype(np.float32)
            for sm in (1, 3):
                s2 = st
                if sm > 1:
                    s2 = cv2.blur(st, (sm, sm)) / np.maximum(cv2.blur(ok.astype(np.float32), (sm, sm)), 1e-6)
                ins, out = s2[(frac > 0.99) & ok], s2[(frac < 0.01) & ok]
                if len(ins) and len(out):
                    res.setdefault(f"{mk_} {hk} sm{sm}", {}).setdefault(key, []).append(_auc(ins, out))
    _print(res)


def cmd_rank(folder: Path):
    """The shipped shortfall (resampling_band, 32 / 16), mean over the paste's inside windows, ranked
    among the same window set shifted elsewhere (at least half of it measurable)."""
    from engine.evidence.resampling_band import shortfall

    rng = np.random.default_rng(0)
    res: dict = {}
    for y, mk, key in _pastes(folder):
        ny, nx = (y.shape[0] - 32) // 16 + 1, (y.shape[1] - 32) // 16 + 1
        st, ok = shortfall(y, 32, 16, ny, nx)
        ins = (_window_frac(mk, 32, 16, ny, nx) > 0.99) & ok
        if ins.sum() < 2:
            continue
        iy, ix = np.nonzero(ins)
        others = []
        for _ in range(200):
            dy, dx = rng.integers(-iy.min(), ny - iy.max()), rng.integers(-ix.min(), nx - ix.max())
            sel = ok[iy + dy, ix + dx]
            if sel.mean() > 0.5 and abs(dy) + abs(dx) > 3:
                others.append(st[iy + dy, ix + dx][sel].mean())
        if len(others) >= 20:
            res.setdefault(key, []).append(float((np.array(others) < st[ins].mean()).mean()))
    for k, v in sorted(res.items()):
        v = np.array(v)
        print(f"{k}: n={len(v)} mean rank {v.mean():.2f}, above p95 {np.mean(v >= 0.95):.2f}")


def cmd_evaluate(variant: str, argv: list[str]):
    """declip evaluate with resampling.compute replaced by a variant of this round, built from the
    layer's own block statistics (32 / 16 grid)."""
    from declip_desktop import cli
    from engine.evidence import resampling as rs
    from engine.evidence.base import LayerOutput, image_score, relative_map, upsample_blocks

    def variant_compute(src, block: int = 32, sigma: float = 1.0, z_half: float = 2.5, smooth: int = 3,
                        cue: str = "pmap", band_smooth: int = 1, band_z_half: float = 2.5):
        y, h, w = src.gray(), src.height, src.width
        stat, _ = rs.pmap_statistic(y, block, sigma, smooth)
        band, ok = rs.band_statistic(y, block, band_smooth)
        grid = relative_map(stat, z_half)
        if variant in ("band", "band2", "both", "both2"):
            g = relative_map(band, band_z_half, mask=ok if ok.any() else None, two_sided=variant.endswith("2"))
            g[~ok] = 0.0
            bmap = upsample_blocks(g, block // 2, h, w, offset=block / 4)
            pmap = upsample_blocks(grid, block // 2, h, w, offset=block / 4)
            out = bmap if variant.startswith("band") else np.maximum(pmap, bmap)
        else:
            zb = rs.robust_z(band, ok)
            zb[~ok] = 0.0
            if variant == "gate":
                g = grid * (zb > 0)
            else:   # sum (= cue "pmap+band" with band_smooth = smooth), sumpos
                g = relative_map(((rs.robust_z(stat) + (np.maximum(zb, 0) if variant == "sumpos" else zb))
                                  / np.sqrt(2.0)).astype(np.float32), z_half)
            out = upsample_blocks(g.astype(np.float32), block // 2, h, w, offset=block / 4)
        return LayerOutput(map=out, score=image_score(out), parameters={"variant": variant, "band_smooth": band_smooth})

    rs.compute = variant_compute
    return cli.main(["evaluate", "--layer", "resampling", *argv])


def main() -> int:
    args = sys.argv[1:]
    if not args:
        print(__doc__)
        return 2
    if args[0] == "evaluate":
        rest = args[args.index("--") + 1:] if "--" in args else args[2:]
        return cmd_evaluate(args[1], rest)
    {"dct": cmd_dct, "auc": cmd_auc, "rank": cmd_rank}[args[0]](Path(args[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
