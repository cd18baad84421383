"""Experiment (not product code): a native-resolution duplication cue, fused late with the shipped model.

Round 3's duplication cue worked at 128 px, where PatchMatch's 3x3 patches are gone. This one works at
the image's own resolution (the synthetic images are 256-512 px): every 5x5 grey patch's nearest
neighbour elsewhere in the image (k-d tree on the patches' leading principal components, re-ranked by
the full patch distance, spatial neighbours within 4 px excluded), its distance against the patch's
own variance, and whether the neighbours' match offsets agree (copies move whole regions with one
offset; chance matches of natural texture do not agree). The cue is fused late with the model's
logit map, fused = model + a * cue + b, with (a, b) chosen on validation IoU (as round 14).

    python research/trace_experiment.py dump build/dm/synth build/nnf      # the model's logit maps
    python research/nnf_cue_experiment.py cue build/dm/synth build/nnf      # the cue maps, val + test
    python research/nnf_cue_experiment.py eval build/dm/synth build/nnf [--box 17]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_experiment import items_of, load_item  # noqa: E402
from trainer import metrics as M  # noqa: E402

P = 5  # patch side


def nnf_cue(rgb: np.ndarray, k: int = 8, min_shift: float = 4.0, pcs: int = 8,
            min_std: float = 2.0, coh_radius: int = 2) -> dict[str, np.ndarray]:
    """Maps at the image's resolution: 'coherent' (0..1, agreeing near-exact matches) and 'ratio'."""
    g = (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114).astype(np.float32)
    H, W = g.shape
    win = np.lib.stride_tricks.sliding_window_view(g, (P, P))  # (H-P+1, W-P+1, P, P)
    h, w = win.shape[:2]
    X = win.reshape(h * w, P * P)
    mu = X.mean(1, keepdims=True)
    sd = X.std(1)
    Xc = X - X.mean(0)
    # principal axes from a sample: the search space, full distances re-rank the candidates
    rs = np.random.default_rng(0)
    samp = Xc[rs.choice(len(Xc), min(len(Xc), 20000), replace=False)]
    _, _, vt = np.linalg.svd(samp, full_matrices=False)
    Z = (Xc @ vt[:pcs].T).astype(np.float32)
    tree = cKDTree(Z)
    # flat patches match everything by chance: not searched (and so never 'copied'); an approximate
    # search (eps=1) is 4x faster and still finds near-exact copies, which are far closer than the rest
    tex = np.flatnonzero(sd >= min_std)
    idx = np.repeat(np.arange(h * w)[:, None], k, 1)
    if len(tex):
        _, found = tree.query(Z[tex], k=k + 1, eps=1.0)
        idx[tex] = found[:, 1:]
    ys, xs = np.divmod(np.arange(h * w), w)
    cy, cx = ys[idx] - ys[:, None], xs[idx] - xs[:, None]
    far = (cy * cy + cx * cx) >= min_shift * min_shift
    d = ((X[idx] - X[:, None, :]) ** 2).mean(-1)
    d = np.where(far, d, np.inf)
    best = d.argmin(1)
    dmin = d[np.arange(len(d)), best]
    oy = np.where(np.isfinite(dmin), cy[np.arange(len(d)), best], 0).reshape(h, w)
    ox = np.where(np.isfinite(dmin), cx[np.arange(len(d)), best], 0).reshape(h, w)
    ratio = (dmin / (sd ** 2 + 4.0)).reshape(h, w)
    ok = (np.isfinite(dmin) & (sd >= min_std)).reshape(h, w)
    # offset agreement: the share of pixels within coh_radius whose match offset is within 1 px of this one
    agree = np.zeros((h, w), np.float32)
    n = 0
    for dy in range(-coh_radius, coh_radius + 1):
        for dx in range(-coh_radius, coh_radius + 1):
            if dy == 0 and dx == 0:
                continue
            sy = np.roll(oy, (dy, dx), (0, 1))
            sx = np.roll(ox, (dy, dx), (0, 1))
            so = np.roll(ok, (dy, dx), (0, 1))
            agree += ((np.abs(sy - oy) <= 1) & (np.abs(sx - ox) <= 1) & so).astype(np.float32)
            n += 1
    agree = np.where(ok, agree / n, 0.0)
    good = np.where(ok, np.exp(-ratio / 0.05), 0.0)  # near-exact copy -> 1
    coherent = agree * good
    # back to image size: a patch's value covers its whole 5x5 footprint
    pad = ((P // 2, P - 1 - P // 2), (P // 2, P - 1 - P // 2))
    out = {}
    for name, m in (("coherent", coherent), ("agree", agree), ("good", good)):
        m = np.pad(m.astype(np.float32), pad)
        out[name] = uniform_filter(m, size=P)
    return out


def cmd_cue(ds: Path, out: Path, splits=("val", "test"), limit: int | None = None):
    for split in splits:
        its = items_of(ds, split)[:limit]
        maps = {}
        t0 = time.time()
        for n, it in enumerate(its):
            rgb, _ = load_item(ds, it)
            c = nnf_cue(rgb)
            maps[it["image"]] = np.stack([c["coherent"], c["agree"], c["good"]]).astype(np.float16)
            if n % 50 == 0:
                print(split, n, len(its), f"{time.time() - t0:.0f}s", flush=True)
        np.savez_compressed(out / f"nnf-{split}.npz", **maps)


def _resize(a: np.ndarray, hw) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(a.astype(np.float32))[None, None]
    return F.interpolate(t, size=hw, mode="bilinear", align_corners=False)[0, 0].numpy()


def cmd_eval(ds: Path, out: Path, which: int = 0, box: int = 1):
    data = {}
    for split in [s for s in ("val", "test") if (out / f"nnf-{s}.npz").exists()]:
        ens = np.load(out / f"ens-{split}.npz")
        cue = np.load(out / f"nnf-{split}.npz")
        rows = []
        for it in items_of(ds, split):
            if it["image"] not in cue.files:
                continue
            _, mask = load_item(ds, it)
            e = _resize(ens[it["image"]], mask.shape)
            c = cue[it["image"]][which].astype(np.float32)
            if box > 1:  # spread the cue over its surroundings: copies come in blobs
                c = uniform_filter(c, size=box)
            rows.append((it["kind"], e, c, mask))
        data[split] = rows
    # separation per kind: mean cue inside / outside the mask
    for kind in ("copy-move", "inpaint-patchmatch", "splice", "real"):
        ins = [c[m > 0].mean() for k, e, c, m in data["val"] if k == kind and m.any()]
        outs = [c[m == 0].mean() for k, e, c, m in data["val"] if k == kind]
        print(f"{kind:20s} cue in {np.mean(ins) if ins else float('nan'):.3f}  out {np.mean(outs):.3f}")

    def score(rows, a, b):
        ious = {}
        clean = []
        for kind, e, c, mask in rows:
            z = e + a * c + b
            if kind == "real":
                clean.append(float((z <= 0).all()))
                continue
            ious.setdefault(kind, []).append(M.iou(1 / (1 + np.exp(-z)), mask))
        allv = [v for vs in ious.values() for v in vs]
        return float(np.mean(allv)), {k: round(float(np.mean(v)), 2) for k, v in ious.items()}, \
            round(float(np.mean(clean)) if clean else float("nan"), 3)

    A = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
    Bs = (-0.25, 0.0, 0.25)
    grid = [(a, b) for a in A for b in Bs]
    fits = {ab: score(data["val"], *ab)[0] for ab in grid}
    for a in A:
        print("val a", a, round(max(fits[(a, b)] for b in Bs), 2))
    best = max(grid, key=fits.get)
    res = {"best": best}
    for split in data:
        res[split] = {"model": score(data[split], 0.0, 0.0), "fused": score(data[split], *best)}
    print(json.dumps(res, indent=1))
    (out / f"nnf-eval-{which}-box{box}.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["cue", "eval"])
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--split", default="val,test")
    ap.add_argument("--which", type=int, default=0, help="0 coherent, 1 agreement, 2 closeness")
    ap.add_argument("--box", type=int, default=1, help="box filter of the cue before fusion, px")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.cmd == "cue":
        cmd_cue(a.data, a.out, tuple(a.split.split(",")), a.limit)
    else:
        cmd_eval(a.data, a.out, a.which, a.box)
