"""Experiment (not product code): edge-aware refinement of the shipped model's map by the image.

The decoder's map is built on a 32x32 grid (Lite0 stage 3+4 cells of 16 px at 448 px) and resized
bilinearly, so its edges fall anywhere inside a cell while the edit's edges follow the photo's
(a pasted object's outline, a filled region's border). A guided filter (He, Sun and Tang, ECCV
2010) makes the map locally an affine function of the image's colours, so a soft edge of the map
snaps to the nearest colour edge of the photo without moving where there is none.

Round 16 of research/default-model-log.md (DS = build/dm/synth, LOGITS from trace_experiment.py dump):

    python research/refine_experiment.py grid DS LOGITS --split val --limit 200
    python research/refine_experiment.py eval DS LOGITS --radius R --eps E [--on prob|logit] [--guide rgb|grey]
    python research/refine_experiment.py ceiling DS LOGITS --split val   # what no post-processing can beat
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from trace_experiment import items_of, load_item  # noqa: E402

from trainer import metrics as M  # noqa: E402


def box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the (2r+1)^2 window, clipped at the borders, for (C,H,W); O(1) per pixel."""
    c, h, w = x.shape
    s = F.pad(x.double(), (1, 0, 1, 0)).cumsum(1).cumsum(2)
    ys = torch.arange(h)
    xs = torch.arange(w)
    y0, y1 = (ys - r).clamp(0, h), (ys + r + 1).clamp(0, h)
    x0, x1 = (xs - r).clamp(0, w), (xs + r + 1).clamp(0, w)
    tot = s[:, y1][:, :, x1] - s[:, y0][:, :, x1] - s[:, y1][:, :, x0] + s[:, y0][:, :, x0]
    n = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    return (tot / n).float()


def guided_grey(guide: torch.Tensor, p: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    i = guide.mean(0, keepdim=True)
    mi, mp = box(i, r), box(p, r)
    a = (box(i * p, r) - mi * mp) / (box(i * i, r) - mi * mi + eps)
    b = mp - a * mi
    return box(a, r) * i + box(b, r)


def guided_rgb(guide: torch.Tensor, p: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """Colour guided filter: per pixel a 3x3 covariance solve (guide (3,H,W) in [0,1], p (1,H,W))."""
    mi = box(guide, r)                                    # (3,H,W)
    mp = box(p, r)                                        # (1,H,W)
    cov_ip = box(guide * p, r) - mi * mp                  # (3,H,W)
    idx = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    prods = torch.stack([guide[a] * guide[b] for a, b in idx])
    var = box(prods, r) - torch.stack([mi[a] * mi[b] for a, b in idx])
    h, w = p.shape[1:]
    sig = torch.empty(h, w, 3, 3)
    for k, (a, b) in enumerate(idx):
        sig[..., a, b] = var[k]
        sig[..., b, a] = var[k]
    sig = sig + eps * torch.eye(3)
    a_coef = torch.linalg.solve(sig, cov_ip.permute(1, 2, 0)[..., None])[..., 0].permute(2, 0, 1)  # (3,H,W)
    b_coef = mp - (a_coef * mi).sum(0, keepdim=True)
    return (box(a_coef, r) * guide).sum(0, keepdim=True) + box(b_coef, r)


def refine(rgb: np.ndarray, logit256: np.ndarray, r: float, eps: float, on: str, guide_kind: str,
           shift: float = 0.0) -> np.ndarray:
    """Probability at the image's size after refinement (bilinear resize first, as the engine).

    r is the radius in grid cells (the map's 32x32 cells, in this image's pixels), so it scales
    with the image instead of being a fixed number of pixels."""
    h, w = rgb.shape[:2]
    lg = torch.from_numpy(logit256.astype(np.float32))[None, None]
    # the engine resizes probabilities, not logits
    prob = F.interpolate(torch.sigmoid(lg), size=(h, w), mode="bilinear", align_corners=False)[0].clamp(1e-6, 1 - 1e-6)
    if r <= 0:
        return torch.sigmoid(prob.logit() + shift)[0].numpy()
    g = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    src = prob if on == "prob" else prob.clamp(1e-4, 1 - 1e-4).logit()
    rpx = max(1, round(r * (h * w) ** 0.5 / 32))
    out = (guided_rgb if guide_kind == "rgb" else guided_grey)(g, src, rpx, eps)
    if on == "prob":
        out = out.clamp(1e-6, 1 - 1e-6).logit()
    return torch.sigmoid(out + shift)[0].numpy()


def load(ds: Path, logits: Path, split: str, limit: int | None):
    its = items_of(ds, split)
    lg = np.load(logits / f"ens-{split}.npz")
    rows = []
    for it in its[:limit] if limit else its:
        rgb, mask = load_item(ds, it)
        rows.append((it, rgb, mask, lg[it["image"]]))
    return rows


def score(rows, **kw) -> dict:
    by_kind: dict[str, list] = {}
    ious, clean = [], []
    for it, rgb, mask, lg in rows:
        p = refine(rgb, lg, **kw)
        if mask.any():
            v = M.iou(p, mask)
            ious.append(v)
            by_kind.setdefault(it.get("kind", "?"), []).append(v)
        else:
            clean.append(float(not (p > 0.5).any()))
    return {"iou": float(np.mean(ious)), "clean": float(np.mean(clean)) if clean else None,
            "kinds": {k: round(float(np.mean(v)), 2) for k, v in sorted(by_kind.items())}}


def cmd_grid(a):
    rows = load(a.ds, a.logits, a.split, a.limit)
    base = score(rows, r=0, eps=0, on="prob", guide_kind="grey")
    print("base", json.dumps(base), flush=True)
    res = [{"r": 0, **base}]
    for guide, on, r, eps, shift in itertools.product(a.guides, a.ons, a.radii, a.eps, a.shifts):
        t0 = time.perf_counter()
        s = score(rows, r=r, eps=eps, on=on, guide_kind=guide, shift=shift)
        res.append({"guide": guide, "on": on, "r": r, "eps": eps, "shift": shift, **s})
        print(guide, on, r, eps, shift, round(s["iou"], 2), s["clean"], s["kinds"],
              f"{time.perf_counter() - t0:.0f}s", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


def cmd_eval(a):
    out = {}
    for split in ("val", "test"):
        rows = load(a.ds, a.logits, split, None)
        out[split] = {"model": score(rows, r=0, eps=0, on="prob", guide_kind="grey"),
                      "refined": score(rows, r=a.radius, eps=a.eps, on=a.on, guide_kind=a.guide, shift=a.shift)}
        print(split, json.dumps(out[split]), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


def cmd_ceiling(a):
    """Two upper bounds: the true mask pooled to the map's grid and resized back (a perfect decoder
    at this resolution), and the shipped map thresholded at each image's own best logit (a perfect
    per-image threshold rule)."""
    rows = [r for r in load(a.ds, a.logits, a.split, a.limit) if r[2].any()]
    grid = {g: [] for g in (16, 28, 32, 56)}
    oracle, base = {}, {}
    for it, rgb, mask, lg in rows:
        h, w = mask.shape
        t = torch.from_numpy(mask)[None, None]
        for g in grid:
            up = F.interpolate(F.adaptive_avg_pool2d(t, (g, g)), size=(h, w), mode="bilinear", align_corners=False)
            grid[g].append(M.iou(up[0, 0].numpy(), mask))
        p = refine(rgb, lg, r=0, eps=0, on="prob", guide_kind="grey").astype(np.float64)
        logit = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
        kind = it.get("kind", "?")
        base.setdefault(kind, []).append(M.iou(p, mask))
        oracle.setdefault(kind, []).append(max(M.iou(logit, mask, threshold=t) for t in np.linspace(-3, 2, 26)))
    mean = lambda d: float(np.mean([v for vs in d.values() for v in vs]))  # noqa: E731
    out = {"perfect_at_grid": {g: round(float(np.mean(v)), 2) for g, v in grid.items()},
           "model": round(mean(base), 2), "best_threshold_per_image": round(mean(oracle), 2),
           "by_kind": {k: [round(float(np.mean(base[k])), 1), round(float(np.mean(oracle[k])), 1)] for k in sorted(base)}}
    print(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grid")
    g.add_argument("ds", type=Path)
    g.add_argument("logits", type=Path)
    g.add_argument("--split", default="val")
    g.add_argument("--limit", type=int)
    g.add_argument("--guides", nargs="+", default=["rgb"])
    g.add_argument("--ons", nargs="+", default=["prob"])
    g.add_argument("--radii", nargs="+", type=float, default=[0.5, 1, 2])
    g.add_argument("--eps", nargs="+", type=float, default=[1e-3, 1e-2])
    g.add_argument("--shifts", nargs="+", type=float, default=[0.0])
    g.add_argument("--json")
    e = sub.add_parser("eval")
    e.add_argument("ds", type=Path)
    e.add_argument("logits", type=Path)
    e.add_argument("--radius", type=float, required=True)
    e.add_argument("--eps", type=float, required=True)
    e.add_argument("--on", default="prob")
    e.add_argument("--guide", default="rgb")
    e.add_argument("--shift", type=float, default=0.0)
    e.add_argument("--json")
    c = sub.add_parser("ceiling")
    c.add_argument("ds", type=Path)
    c.add_argument("logits", type=Path)
    c.add_argument("--split", default="val")
    c.add_argument("--limit", type=int)
    a = ap.parse_args()
    torch.set_num_threads(1)
    {"grid": cmd_grid, "eval": cmd_eval, "ceiling": cmd_ceiling}[a.cmd](a)


if __name__ == "__main__":
    main()
