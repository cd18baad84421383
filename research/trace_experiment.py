"""Experiment (not product code): a learned low-level trace stream at the image's own resolution.

The Lite0 backbone sees ImageNet features of the photo squashed to 448 px; it cannot see the
pixel statistics an edit leaves (the missing noise of a Telea fill, the resampling of a rescaled
copy, the seams of a PatchMatch mosaic). This trains a small fully convolutional net on the raw
pixels of the training images (first layer constrained to high-pass filters, so it reads
residuals rather than content), then measures it alone and fused with the shipped model's logits.

Round 14 of research/default-model-log.md (DS = build/dm/synth):

    python research/trace_experiment.py dump DS OUT                        # shipped model's logits, val+test
    python research/trace_experiment.py train DS OUT --width 48 --epochs 8  # trace net -> OUT/trace.pt
    python research/trace_experiment.py eval DS OUT --width 48             # alone and fused -> OUT/trace-eval.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trainer import metrics as M  # noqa: E402


def items_of(ds: Path, split: str) -> list[dict]:
    man = json.loads((ds / "manifest.json").read_text())
    return [i for i in man["items"] if i["split"] == split]


def load_item(ds: Path, it: dict) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(ds / it["image"]) as im:
        rgb = np.asarray(im.convert("RGB"))
    if it.get("mask"):
        with Image.open(ds / it["mask"]) as m:
            mask = (np.asarray(m.convert("L")) > 127).astype(np.float32)
    else:
        mask = np.zeros(rgb.shape[:2], np.float32)
    return rgb, mask


# ---------------------------------------------------------------------------------------------
# the trace net

class ZeroSumConv(nn.Conv2d):
    """Each kernel's weights sum to zero: it can only respond to variation (a residual), not to
    a region's colour or brightness, so the net learns traces rather than the photos' content."""

    def forward(self, x):
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


def block(cin, cout, dil=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dil, dilation=dil), nn.GroupNorm(8, cout), nn.ReLU(inplace=True))


class TraceNet(nn.Module):
    """Residual filters at full resolution -> 1/8-resolution trace features -> each cell also
    against the image's mean -> one logit per 8x8 cell."""

    def __init__(self, width=32):
        super().__init__()
        w = width
        self.res = ZeroSumConv(3, 16, 5, padding=2)
        self.down = nn.Sequential(
            nn.Conv2d(16, w, 4, stride=4), nn.GroupNorm(8, w), nn.ReLU(inplace=True),     # 1/4
            block(w, w), block(w, w),
            nn.Conv2d(w, 2 * w, 2, stride=2), nn.GroupNorm(8, 2 * w), nn.ReLU(inplace=True),  # 1/8
            block(2 * w, 2 * w), block(2 * w, 2 * w, dil=2), block(2 * w, 2 * w, dil=4),
        )
        self.head = nn.Sequential(block(4 * w, 2 * w), nn.Conv2d(2 * w, 1, 3, padding=1))

    def forward(self, x):
        r = self.res(x)
        f = self.down(torch.abs(r) * 0.5 + r * 0.5)  # leaky-rectified residuals
        f = torch.cat([f, f - f.mean(dim=(2, 3), keepdim=True)], 1)
        return self.head(f)  # (B,1,H/8,W/8)


def to_input(rgb: np.ndarray) -> torch.Tensor:
    h, w = rgb.shape[:2]
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float()[None] / 255.0
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


def trace_logits(net: TraceNet, rgb: np.ndarray) -> torch.Tensor:
    """Logits at the image's size (H,W)."""
    h, w = rgb.shape[:2]
    out = net(to_input(rgb))
    return F.interpolate(out, scale_factor=8, mode="bilinear", align_corners=False)[0, 0, :h, :w]


# ---------------------------------------------------------------------------------------------

def cmd_dump(ds: Path, out: Path):
    from engine import Detector

    det = Detector.from_model("resources/models/declip-lite2-default", device="cpu")
    for split in ("val", "test"):
        its = items_of(ds, split)
        logits = {}
        for k, it in enumerate(its):
            rgb, _ = load_item(ds, it)
            batch = det.preprocess(Image.fromarray(rgb))[None]
            with torch.inference_mode():
                lg = det.net.decode(det.extract_features(batch)).float()[0, 0]
            logits[it["image"]] = lg.numpy().astype(np.float16)
            if k % 50 == 0:
                print(split, k, len(its), flush=True)
        np.savez_compressed(out / f"ens-{split}.npz", **logits)


def cmd_train(ds: Path, out: Path, epochs: int, max_n: int | None, width: int, lr: float, accum: int, seed: int):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    its = items_of(ds, "train")
    if max_n:
        its = [its[i] for i in rng.permutation(len(its))[:max_n]]
    net = TraceNet(width)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * len(its) // accum
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps + 1, pct_start=0.1)
    val = items_of(ds, "val")
    val = [val[i] for i in np.random.default_rng(1).permutation(len(val))[:160]]
    log = []
    for ep in range(epochs):
        net.train()
        t0, tot, n = time.time(), 0.0, 0
        for k, i in enumerate(rng.permutation(len(its))):
            rgb, mask = load_item(ds, its[i])
            if rng.random() < 0.5:
                rgb, mask = rgb[:, ::-1], mask[:, ::-1]
            x = to_input(rgb)
            m = torch.from_numpy(np.ascontiguousarray(mask))[None, None]
            m = F.pad(m, (0, x.shape[-1] - m.shape[-1], 0, x.shape[-2] - m.shape[-2]), mode="replicate")
            target = F.avg_pool2d(m, 8)
            loss = F.binary_cross_entropy_with_logits(net(x), target)
            (loss / accum).backward()
            tot += float(loss)
            n += 1
            if (k + 1) % accum == 0:
                opt.step()
                opt.zero_grad()
                sched.step()
            if k % 200 == 0:
                print(f"ep {ep} {k}/{len(its)} loss {tot / n:.4f} {time.time() - t0:.0f}s", flush=True)
        r = evaluate_trace(net, ds, val)
        log.append({"epoch": ep, "loss": tot / n, "seconds": time.time() - t0, **r})
        print(json.dumps(log[-1]), flush=True)
        torch.save(net.state_dict(), out / "trace.pt")
        (out / "trace-log.json").write_text(json.dumps(log, indent=1))


@torch.inference_mode()
def evaluate_trace(net, ds, its, shifts=(-1.0, 0.0, 1.0, 2.0, 3.0)):
    net.eval()
    by = {s: [] for s in shifts}
    kinds = []
    for it in its:
        rgb, mask = load_item(ds, it)
        lg = trace_logits(net, rgb).numpy()
        if it["kind"] == "real":
            continue
        kinds.append(it["kind"])
        for s in shifts:
            by[s].append(M.iou(1 / (1 + np.exp(-(lg + s))), mask))
    best = max(shifts, key=lambda s: np.mean(by[s]))
    per_kind = {k: round(float(np.mean([v for v, kk in zip(by[best], kinds) if kk == k])), 2) for k in sorted(set(kinds))}
    net.train()
    return {"val_iou": round(float(np.mean(by[best])), 2), "shift": best, "per_kind": per_kind}


@torch.inference_mode()
def cmd_eval(ds: Path, out: Path, width: int, fit_split: str = "val"):
    """Trace alone and fused with the ensemble: fused = ens + a*trace + b, (a, b) fitted on val IoU."""
    net = TraceNet(width)
    net.load_state_dict(torch.load(out / "trace.pt"))
    net.eval()
    data = {}
    for split in ("val", "test"):
        ens = np.load(out / f"ens-{split}.npz")
        rows = []
        for it in items_of(ds, split):
            rgb, mask = load_item(ds, it)
            h, w = mask.shape
            e = torch.from_numpy(ens[it["image"]].astype(np.float32))[None, None]
            e = F.interpolate(e, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
            t = trace_logits(net, rgb).numpy()
            rows.append((it["kind"], e, t, mask))
        data[split] = rows
    grid = [(a, b) for a in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5) for b in (-0.75, -0.5, -0.25, 0.0, 0.25)]

    def score(rows, a, b, only_trace=False):
        ious = {}
        for kind, e, t, mask in rows:
            if kind == "real":
                continue
            z = (a * t + b) if only_trace else (e + a * t + b)
            ious.setdefault(kind, []).append(M.iou(1 / (1 + np.exp(-z)), mask))
        allv = [v for vs in ious.values() for v in vs]
        return float(np.mean(allv)), {k: round(float(np.mean(v)), 2) for k, v in ious.items()}

    res = {}
    best = max(grid, key=lambda ab: score(data[fit_split], *ab)[0])
    for split in ("val", "test"):
        res[split] = {"ensemble": score(data[split], 0.0, 0.0), "fused": score(data[split], *best),
                      "trace_alone": max((score(data[split], 1.0, b, True) for b in (-1, 0, 1, 2, 3)),
                                         key=lambda r: r[0])}
    res["fused_params"] = best
    # how much each trace weight costs or gains on the fitting split (its best offset each)
    res["fit_split_iou_by_weight"] = {str(a): round(max(score(data[fit_split], a, b)[0]
                                                        for b in (-0.75, -0.5, -0.25, 0.0, 0.25)), 2)
                                      for a in (0.0, 0.25, 0.5, 1.0)}
    print(json.dumps(res, indent=1))
    (out / "trace-eval.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["dump", "train", "eval"])
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--max", type=int, default=None)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--accum", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(2)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.cmd == "dump":
        cmd_dump(a.data, a.out)
    elif a.cmd == "train":
        cmd_train(a.data, a.out, a.epochs, a.max, a.width, a.lr, a.accum, a.seed)
    else:
        cmd_eval(a.data, a.out, a.width)
