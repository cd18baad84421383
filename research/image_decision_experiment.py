"""Round 27: an image-level decision on top of the default model's pixel map (issue #37 part 3).

    PYTHONPATH=. python research/image_decision_experiment.py cache --sets v2-val,v2-test
    PYTHONPATH=. python research/image_decision_experiment.py curves --sets v2-val
    PYTHONPATH=. python research/image_decision_experiment.py sweep --sets v2-val
    PYTHONPATH=. python research/image_decision_experiment.py confirm --sets v2-test --stat top5 --thresholds 0.5029

`cache`: the shipped model's final logit map (256x256, flip-averaged, calibrated scale; what
`Detector.decode` turns into probabilities with a sigmoid, checked equal) for every image of a split
of round 26's synth sets (SETS; paths of that round's worktree), kept in build/r27/<set>-<split>.npz.
`curves`: per image, IoU at 0.5 and the share of pixels above 0.5 at the image's size, for the map
sigmoid(logit + o) over a grid of per-image logit offsets o, so that any decision mapping an image to
one offset is scored by a lookup. `sweep`: statistics x logistic fits x decision forms on one split
(fit and choose on val only). `confirm`: chosen gates scored with `declip evaluate`'s own
trainer.evaluate.evaluate_dataset, beside the shipped model. External-v1 is never read here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL = ROOT / "resources/models/declip-lite2-default"
SETS = {"v2": Path("/work/wt-37m/build/r26/synth"), "v1": Path("/work/wt-37m/build/r26/synth-v1")}
OUT = ROOT / "build/r27"
OFFSETS = np.round(np.r_[np.arange(-1.0, 0.5001, 0.01)], 4)  # the maps' logits top out near 0.7


def cache(set_name: str, split: str) -> Path:
    from engine import Detector
    from engine.images import load_image
    from trainer import datasets as D

    out = OUT / f"{set_name}-{split}.npz"
    if out.exists():
        return out
    ds = D.load_dataset(SETS[set_name], split)
    det = Detector.from_model(str(MODEL), device="cpu", precision="exact")
    logits, paths, labels, kinds, sizes = [], [], [], [], []
    samples = ds.samples
    for start in range(0, len(samples), 8):
        chunk = samples[start:start + 8]
        loaded = [load_image(s.image) for s in chunk]
        batch = torch.stack([det.preprocess(x) for x in loaded])
        with torch.inference_mode():
            feats = det.extract_features(batch)
            lg = det.net.decode(feats.to(det.device)).float()[:, 0]
            probs = det.decode(feats)
        # the cached logit is exactly what the engine's probability map is the sigmoid of
        assert torch.equal(torch.sigmoid(lg), probs), "logit cache does not reproduce Detector.decode"
        for s, x, l in zip(chunk, loaded, lg.numpy()):
            logits.append(l.astype(np.float32))
            paths.append(str(s.image))
            labels.append(s.label)
            kinds.append(s.group if s.label else "authentic")
            sizes.append((x.height, x.width))
        print(f"{set_name}-{split}: {min(start + 8, len(samples))}/{len(samples)}", flush=True)
    np.savez(out, logits=np.stack(logits), paths=np.array(paths), labels=np.array(labels),
             kinds=np.array(kinds), sizes=np.array(sizes), masks=np.array([str(s.mask) for s in samples]))
    return out


def curves(set_name: str, split: str) -> Path:
    """IoU at 0.5 and flagged share per image for sigmoid(logit + o), o on OFFSETS, at the image's size."""
    from engine.preprocess import resize_map
    from trainer import datasets as D
    from trainer import metrics as M

    out = OUT / f"{set_name}-{split}-curves.npz"
    if out.exists():
        return out
    z = np.load(OUT / f"{set_name}-{split}.npz")
    ds = D.load_dataset(SETS[set_name], split)
    by_path = {str(s.image): s for s in ds.samples}
    iou = np.zeros((len(z["paths"]), len(OFFSETS)), np.float32)
    flagged = np.zeros_like(iou)
    for i, (p, lg, (h, w)) in enumerate(zip(z["paths"], z["logits"], z["sizes"])):
        gt = D.read_mask(by_path[str(p)], (int(w), int(h)))
        t = torch.from_numpy(lg)
        for j, o in enumerate(OFFSETS):
            prob = resize_map(torch.sigmoid(t + float(o)), int(h), int(w))
            iou[i, j] = M.iou(prob, gt)
            flagged[i, j] = float((prob > M.THRESHOLD).mean()) * 100.0
        if i % 50 == 0:
            print(f"curves {set_name}-{split}: {i}/{len(z['paths'])}", flush=True)
    np.savez(out, offsets=OFFSETS, iou=iou, flagged=flagged)
    return out




# ---- step 2: image statistics and decisions, scored from the cached curves -----------------------

def image_stats(logits: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate image statistics of (N,256,256) final logit maps; each grows with edit evidence."""
    from scipy import ndimage

    n = len(logits)
    flat = logits.reshape(n, -1)
    srt = np.sort(flat, axis=1)[:, ::-1]
    k1, k5 = flat.shape[1] // 100, flat.shape[1] // 20
    out = {"mean_logit": flat.mean(1), "mean_prob": (1 / (1 + np.exp(-flat))).mean(1),
           "top1": srt[:, :k1].mean(1), "top5": srt[:, :k5].mean(1), "max": srt[:, 0],
           "area": (flat > 0).mean(1)}
    for k in (9, 17, 33):
        out[f"max_s{k}"] = np.array([ndimage.uniform_filter(l, k, mode="nearest").max() for l in logits])
    # the largest connected area above 0.5 and the mean logit in it: a compact, strong blob
    big, strength = [], []
    for l in logits:
        lab, m = ndimage.label(l > 0)
        if m == 0:
            big.append(0.0)
            strength.append(float(l.max()))
            continue
        sizes = ndimage.sum(np.ones_like(l), lab, range(1, m + 1))
        j = int(np.argmax(sizes)) + 1
        big.append(float(sizes[j - 1]) / l.size)
        strength.append(float(l[lab == j].mean()))
    out["largest_area"] = np.array(big)
    out["largest_strength"] = np.array(strength)
    return out


def kinds_of(set_name: str, paths) -> np.ndarray:
    """Each image's edit kind from the synth manifest (the generic layout does not carry it)."""
    root = SETS[set_name]
    items = json.loads((root / "manifest.json").read_text())["items"]
    kind = {str(root / it["image"]): it["kind"] for it in items}
    return np.array(["authentic" if kind[str(p)] == "real" else kind[str(p)] for p in paths])


def load_set(name: str) -> dict:
    z = np.load(OUT / f"{name}.npz")
    c = np.load(OUT / f"{name}-curves.npz")
    d = {k: z[k] for k in ("logits", "paths", "labels")}
    d["kinds"] = kinds_of(name.split("-")[0], d["paths"])
    d.update(iou=c["iou"], flagged=c["flagged"], offsets=c["offsets"])
    d["stats"] = image_stats(d["logits"])
    # the engine's image score (the map's mean at 256x256) for every offset of the grid, by lookup
    d["mean_prob"] = np.stack([(1 / (1 + np.exp(-(d["logits"] + o)))).reshape(len(d["logits"]), -1).mean(1)
                               for o in d["offsets"]], 1)
    return d


SPLICE_KINDS = ("splice", "splice-poisson", "splice-resampled")


def score(d: dict, offsets: np.ndarray, product_q: np.ndarray | None = None) -> dict:
    """Figures of a per-image logit offset (one per image): mean IoU on the edits, per kind, authentic
    flagged (> 1 % of pixels), image AP of the adjusted map's mean (the engine's image score)."""
    from trainer import metrics as M

    grid = d["offsets"]
    j = np.clip(np.rint((np.asarray(offsets) - grid[0]) / 0.01).astype(int), 0, len(grid) - 1)
    rows = np.arange(len(j))
    iou, flg = d["iou"][rows, j], d["flagged"][rows, j]
    fake = d["labels"] == 1
    s = d["mean_prob"][rows, j]
    if product_q is not None:  # p' = p * q: the same masks as offset log(2q-1), but another score
        s = d["mean_prob"][:, int(np.argmin(np.abs(grid)))] * product_q
    out = {"iou": float(iou[fake].mean()), "flagged": int((flg[~fake] > 1.0).sum()), "authentic": int((~fake).sum()),
           "image_ap": M.detection_metrics(s, d["labels"])["ap"],
           "splice": float(iou[np.isin(d["kinds"], SPLICE_KINDS)].mean())}
    out["per_kind"] = {k: float(iou[d["kinds"] == k].mean()) for k in sorted(set(d["kinds"][fake]))}
    return out


def fit_lr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """p(edited | image) = sigmoid(a * x + b), plain (almost unregularised) logistic regression."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e4, max_iter=1000).fit(x[:, None], y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def decisions(z: np.ndarray):
    """(family, parameter, per-image offset, product q or None) for the image logit z = a*s + b.
    Gate points c are the 1st..99th percentiles of z over the images (the LR slope can be small)."""
    q = 1 / (1 + np.exp(-z))
    with np.errstate(divide="ignore", invalid="ignore"):
        o = np.where(q > 0.5, np.log(np.maximum(2 * q - 1, 1e-12)), -10.0)
    yield "product p*q", 1.0, o, q
    for lam in (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0):
        yield "offset lam*log q", lam, lam * np.log(q), None
    for pct in range(1, 100):
        c = float(np.percentile(z, pct))
        yield "hard gate z<c", c, np.where(z < c, -10.0, 0.0), None
        for k in (1.0, 3.0, 10.0):  # offset per unit of z, z scaled to unit spread first
            yield f"hinge k={k}", c, np.minimum(0.0, k * (z - c) / z.std()), None


def sweep(fit: str = "v2-val") -> None:
    d = load_set(fit)
    base = score(d, np.zeros(len(d["labels"])))
    print(f"shipped on {fit}: IoU {base['iou']:.2f} splice {base['splice']:.2f} flagged {base['flagged']}/{base['authentic']} "
          f"image AP {base['image_ap']:.2f}")
    y = d["labels"]
    results = []
    from trainer import metrics as M
    for name, s in d["stats"].items():
        a, b = fit_lr(s, y)
        z = a * s + b
        ap = M.detection_metrics(s, y)["ap"]
        print(f"  stat {name:18s} image AP of the statistic alone {ap:6.2f}  LR a={a:.3f} b={b:.3f}")
        for fam, par, o, q in decisions(z):
            r = score(d, o, q)
            results.append(dict(stat=name, a=a, b=b, family=fam, param=float(par), **r))
    (OUT / f"sweep-{fit}.json").write_text(json.dumps(dict(base=base, results=results), indent=1))
    ok = [r for r in results if r["flagged"] <= 0.1 * r["authentic"]]
    print(f"{len(ok)} of {len(results)} decisions flag <= 10 % of the authentic images; best by IoU:")
    for r in sorted(ok, key=lambda r: -r["iou"])[:15]:
        print(f"  {r['stat']:16s} {r['family']:18s} {r['param']:6.2f}  IoU {r['iou']:.2f} splice {r['splice']:.2f} "
              f"flagged {r['flagged']} image AP {r['image_ap']:.2f}")
    print("trade-off (best IoU per authentic-flagged count, any statistic and decision):")
    for n in range(0, base["flagged"] + 1, 3):
        cand = [r for r in results if r["flagged"] <= n]
        if cand:
            r = max(cand, key=lambda r: r["iou"])
            print(f"  flagged <= {n:2d}: IoU {r['iou']:.2f} splice {r['splice']:.2f} AP {r['image_ap']:.2f} "
                  f"({r['stat']}, {r['family']} {r['param']:.2f})")


def gate_offsets(d: dict, stat: str, threshold: float | None) -> np.ndarray:
    """The hard gate: images whose statistic is below `threshold` get an empty map (offset -10)."""
    if threshold is None:
        return np.zeros(len(d["labels"]))
    return np.where(d["stats"][stat] < threshold, -10.0, 0.0)


def official(set_name: str, split: str, offsets: np.ndarray) -> dict:
    """`declip evaluate`'s own scoring (trainer.evaluate.evaluate_dataset) of the cached maps with a
    per-image logit offset: map = sigmoid(logit + offset) resized as the engine resizes it, score =
    its 256x256 mean (the engine's image score). Adds IoU per kind from the synth manifest."""
    from engine.preprocess import resize_map
    from trainer import datasets as D
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import MapProducer

    z = np.load(OUT / f"{set_name}-{split}.npz")
    idx = {str(p): i for i, p in enumerate(z["paths"])}

    def fn(image):
        i = idx[str(image)]
        prob = torch.sigmoid(torch.from_numpy(z["logits"][i]) + float(offsets[i]))
        h, w = (int(v) for v in z["sizes"][i])
        return resize_map(prob, h, w), float(prob.mean())

    ds = D.load_dataset(SETS[set_name], split)
    csv = OUT / f"official-{set_name}-{split}.csv"
    m = evaluate_dataset(MapProducer("cached", fn), ds, csv_path=csv)
    m["iou_by_kind"] = {k: float(np.mean(v)) for k, v in sorted(ious_by_kind(csv, set_name, z["paths"]).items())}
    return m


def ious_by_kind(csv_path: Path, set_name: str, paths) -> dict[str, list[float]]:
    """The edits' per-image IoUs of an evaluate_dataset CSV, grouped by the synth manifest's kind."""
    import csv as C

    kinds = dict(zip((str(p) for p in paths), kinds_of(set_name, paths)))
    per: dict[str, list[float]] = {}
    with open(csv_path) as fh:
        for r in C.DictReader(fh):
            if r["label"] == "1":
                per.setdefault(kinds[r["image"]], []).append(float(r["iou"]))
    return per


def confirm(stat: str, thresholds: list[float], sets: list[str]) -> None:
    """The val-chosen gates (threshold on the statistic) scored officially on other splits, beside
    the shipped model (no gate)."""
    for name in sets:
        set_name, split = name.split("-")
        d = {"labels": np.load(OUT / f"{name}.npz")["labels"],
             "stats": image_stats(np.load(OUT / f"{name}.npz")["logits"])}
        for t in [None] + thresholds:
            m = official(set_name, split, gate_offsets(d, stat, t))
            kinds = " ".join(f"{k} {v:.1f}" for k, v in m["iou_by_kind"].items())
            label = "shipped" if t is None else f"{stat} < {t:.4f} gated"
            print(f"{name} {label}: IoU {m['iou']:.2f} pixel AP {m['pixel_ap']:.2f} image AP {m['detection_ap']:.2f} "
                  f"(chance {m['detection_ap_chance']:.1f}) flagged {m['authentic_flagged_count']}/{m['authentic']} | {kinds}",
                  flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["cache", "curves", "sweep", "confirm"])
    ap.add_argument("--sets", default="v2-val,v2-test,v1-val,v1-test")
    ap.add_argument("--stat", default="top5")
    ap.add_argument("--thresholds", default="", help="gate thresholds on --stat, comma-separated")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    if a.step == "sweep":
        return sweep(a.sets.split(",")[0])
    if a.step == "confirm":
        return confirm(a.stat, [float(t) for t in a.thresholds.split(",") if t], a.sets.split(","))
    for item in a.sets.split(","):
        s, split = item.split("-")
        print((cache if a.step == "cache" else curves)(s, split))


if __name__ == "__main__":
    main()
