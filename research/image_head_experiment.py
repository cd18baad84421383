"""Round 28: an image-level classifier on the frozen backbone's pooled features (issue #37 part 3).

    PYTHONPATH=. python research/image_head_experiment.py features   # test-split features (train/val: round 26's cache)
    PYTHONPATH=. python research/image_head_experiment.py fit --pool both   # LR head, C by photo-grouped CV on train; image AP
    PYTHONPATH=. python research/image_head_experiment.py gate --pool both  # gates chosen on val (round 27's lookup), test once

Round 27 found that no statistic of the shipped model's logit map separates weak true edits from the
false alarms on authentic photos. Here the evidence is the frozen EfficientNet-Lite2 backbone itself
(stages 3 and 4, 448 px, the shipped model's input): per channel mean, max and std over the 32x32
grid, 624 numbers per image, into a logistic regression fitted on round 26's v2 **train** split only
(700 edits + 280 authentic; C chosen by 5-fold cross-validation grouped by host photo). Its
probability q gates the shipped model's cached maps (round 27's cache, read-only): a hard gate (empty
map below c) and the product p x q (mask offset log(2q - 1)), optionally with the head's logit shifted.
The operating point is chosen on v2 val (<= 6 of 60 authentic flagged, highest IoU on the edits), val
scored by round 27's per-image offset lookup, test once with `trainer.evaluate.evaluate_dataset`.
external-v1 is never read.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYNTH = Path("/work/wt-37m/build/r26/synth")                 # round 26's v2 set (read-only)
R26_CACHE = Path("/work/wt-37m/build/r26/home/feature-cache")  # its train/val features (read-only)
R27 = Path("/work/wt-37g/build/r27")                          # round 27's logit maps and val curves (read-only)
OUT = ROOT / "build/r28"
SPEC = {"family": "lite2", "stages": [3, 4], "grid": 32, "input_size": 448}


def r27_module():
    """Round 27's scoring helpers, reading its cache in place."""
    spec = importlib.util.spec_from_file_location("r27", ROOT / "research/image_decision_experiment.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.OUT = R27
    return mod


def manifest() -> dict:
    return json.loads((SYNTH / "manifest.json").read_text())


def photo_groups(m: dict) -> dict[str, str]:
    return {p["file"]: p["group"] for p in m["photos"]}


def weight_hashes() -> list[str]:
    from engine.backbones.efficientnet_lite import packaged_weights_path
    from engine.hashing import file_sha256

    return [file_sha256(packaged_weights_path("lite2"))]


def features(check: int = 3) -> None:
    """Compute the test split's stage features into build/r28 (same keys as round 26's cache), and
    check that recomputing a few val images reproduces round 26's cached features."""
    from trainer import datasets as D
    from trainer.features import FeatureCache, backbone_key, build_frozen_backbone, cached_features_by_stage, \
        compute_features

    torch.set_num_threads(2)
    bb = build_frozen_backbone(SPEC)
    h = weight_hashes()
    items = manifest()["items"]
    val = [it for it in items if it["split"] == "val"][:check]
    fresh = compute_features(bb, SPEC, [D.read_rgb(SYNTH / it["image"]) for it in val])
    caches = [FeatureCache(R26_CACHE, backbone_key({**SPEC, "stages": [s]}, h)) for s in SPEC["stages"]]
    for it, f in zip(val, fresh):
        old = np.concatenate([c.get(it["sha256"]) for c in caches], 0).astype(np.float32)
        print(f"check {it['image']}: max |fresh - round 26 cache| = {np.abs(f.astype(np.float32) - old).max():.4g}")
    paths = [SYNTH / it["image"] for it in items if it["split"] == "test"]
    feats, _ = cached_features_by_stage(bb, SPEC, OUT / "feature-cache", h, paths, D.read_rgb, batch_size=8,
                                        progress=lambda d, t: print(f"test features {d}/{t}", flush=True))
    print(f"{len(feats)} test images")


def pooled(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, groups, image paths) of a split: per stage, per channel mean, max and std over the grid."""
    from trainer.features import FeatureCache, backbone_key

    m = manifest()
    grp = photo_groups(m)
    h = weight_hashes()
    roots = [R26_CACHE, OUT / "feature-cache"]
    X, y, g, paths = [], [], [], []
    for it in m["items"]:
        if it["split"] != split:
            continue
        parts = []
        for s in SPEC["stages"]:
            key = backbone_key({**SPEC, "stages": [s]}, h)
            f = next(a for a in (FeatureCache(r, key).get(it["sha256"]) for r in roots) if a is not None)
            f = f.astype(np.float32).reshape(f.shape[0], -1)
            mu, sd = f.mean(1), f.std(1) + 1e-6
            if POOL in ("stats", "both"):
                parts += [mu, f.max(1), sd]
            if POOL in ("outlier", "both"):
                # content-light: how far the most unusual cells of each channel stand out of the image's own spread
                zc = (f - mu[:, None]) / sd[:, None]
                top = np.sort(zc, 1)[:, -10:]
                parts += [top[:, -1], top.mean(1), np.sort(zc, 1)[:, :10].mean(1), (zc ** 4).mean(1)]
        X.append(np.concatenate(parts))
        y.append(0 if it["kind"] == "real" else 1)
        g.append(grp[it["host"]])
        paths.append(str(SYNTH / it["image"]))
    return np.stack(X), np.array(y), np.array(g), np.array(paths)


POOL = "stats"  # stats: per channel mean/max/std; outlier: within-image z-scores of the cells; both
CS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)


def make_head(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))


def fit() -> dict:
    """C by 5-fold photo-grouped CV on train (mean fold AP), refit on all of train; scores of val/test."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import GroupKFold

    X, y, g, _ = pooled("train")
    print(f"train: {len(y)} images ({y.sum()} edits), {len(set(g))} photos, {X.shape[1]} features")
    cv = {}
    for c in CS:
        aps = []
        for tr, te in GroupKFold(5).split(X, y, g):
            head = make_head(c).fit(X[tr], y[tr])
            aps.append(average_precision_score(y[te], head.decision_function(X[te])))
        cv[c] = float(np.mean(aps))
        print(f"  C={c:g}: grouped-CV image AP {100 * cv[c]:.2f} (folds {' '.join(f'{100 * a:.1f}' for a in aps)})")
    best = max(cv, key=cv.get)
    head = make_head(best).fit(X, y)
    res = {"C": best, "cv_ap": cv}
    for split in ("val", "test"):
        Xs, ys, _, ps = pooled(split)
        z = head.decision_function(Xs)
        ap = 100 * average_precision_score(ys, z)
        res[split] = {"ap": ap, "chance": 100 * ys.mean(), "z": dict(zip(ps.tolist(), z.tolist()))}
        fake = ys == 1
        pct = [int((z[~fake] >= np.percentile(z[fake], p)).sum()) for p in (50, 25)]
        print(f"{split}: head image AP {ap:.2f} (chance {100 * ys.mean():.1f}); authentic above the median edit "
              f"{pct[0]}/{(~fake).sum()}, above the lower-quartile edit {pct[1]}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"head-{POOL}.json").write_text(json.dumps(res))
    return res


def head_z(res: dict, split: str, paths) -> np.ndarray:
    return np.array([res[split]["z"][str(p)] for p in paths])


def candidates(z: np.ndarray):
    """(form, parameter, per-image logit offset) for the head's logit z (q = sigmoid(z))."""
    for c in np.unique(np.r_[np.percentile(z, np.arange(1, 100)), np.linspace(-4, 4, 81)]):
        yield "hard gate z<c", float(c), np.where(z < c, -10.0, 0.0)
    for shift in np.arange(-3.0, 6.01, 0.25):  # product p x sigmoid(z + shift): mask offset log(2q - 1)
        q = 1 / (1 + np.exp(-(z + shift)))
        with np.errstate(divide="ignore", invalid="ignore"):
            yield "product p*q", float(shift), np.where(q > 0.5, np.log(np.maximum(2 * q - 1, 1e-12)), -10.0)


def gate(budget: int = 6) -> None:
    from sklearn.metrics import average_precision_score

    r27 = r27_module()
    res = json.loads((OUT / f"head-{POOL}.json").read_text()) if (OUT / f"head-{POOL}.json").exists() else fit()
    d = r27.load_set("v2-val")
    z = head_z(res, "val", d["paths"])
    top5 = d["stats"]["top5"]
    base = r27.score(d, np.zeros(len(z)))
    print(f"val shipped: IoU {base['iou']:.2f} splice {base['splice']:.2f} flagged {base['flagged']}/{base['authentic']}")
    print(f"val image AP: head {100 * average_precision_score(d['labels'], z):.2f}, map top-5 % mean "
          f"{100 * average_precision_score(d['labels'], top5):.2f}, map mean (engine) {base['image_ap']:.2f}")
    # round 27's hard case: edits whose map evidence (top-5 % mean) is below the 90th percentile of the
    # authentic images'; does the head tell these from the authentic images?
    from sklearn.metrics import roc_auc_score
    fake = d["labels"] == 1
    weak = fake & (top5 < np.percentile(top5[~fake], 90))
    for name, sel in (("weak edits", weak), ("strong edits", fake & ~weak)):
        m = sel | ~fake
        print(f"val {name} ({int(sel.sum())}) vs authentic (60): ROC AUC head {100 * roc_auc_score(fake[m], z[m]):.1f}, "
              f"map top-5 % mean {100 * roc_auc_score(fake[m], top5[m]):.1f}")
    rows = []
    for form, par, o in candidates(z):
        rows.append((form, par, o, r27.score(d, o)))
    # the head and round 27's statistic together: gate only where both call the image authentic
    for c in np.percentile(z, np.arange(5, 96, 5)):
        for t in np.percentile(top5, np.arange(5, 96, 5)):
            o = np.where((z < c) & (top5 < t), -10.0, 0.0)
            rows.append(("head AND top5 gate", (float(c), float(t)), o, r27.score(d, o)))
    for n in sorted({0, 2, 4, 6, 9, 12, 18, 24}):
        for form in ("hard gate z<c", "product p*q", "head AND top5 gate"):
            ok = [r for r in rows if r[0] == form and r[3]["flagged"] <= n]
            if ok:
                f, p, _, s = max(ok, key=lambda r: r[3]["iou"])
                print(f"  flagged <= {n:2d} {form:20s} param {p}: IoU {s['iou']:.2f} splice {s['splice']:.2f} "
                      f"flagged {s['flagged']} image AP {s['image_ap']:.2f}")
    chosen = {}
    for form in ("hard gate z<c", "product p*q", "head AND top5 gate"):
        ok = [r for r in rows if r[0] == form and r[3]["flagged"] <= budget]
        if not ok:
            print(f"val: no {form} decision flags <= {budget} of 60 authentic images")
            continue
        f, p, o, s = max(ok, key=lambda r: r[3]["iou"])
        chosen[form] = p
        kinds = " ".join(f"{k} {v:.1f}" for k, v in s["per_kind"].items())
        print(f"val chosen {form} ({p}): IoU {s['iou']:.2f} splice {s['splice']:.2f} flagged {s['flagged']}/60 "
              f"image AP {s['image_ap']:.2f} | {kinds}")
        fake = d["labels"] == 1
        print(f"   edits emptied {int((o[fake] <= -5).sum())}/150 holding {d['iou'][fake][:, 100][o[fake] <= -5].sum() / d['iou'][fake][:, 100].sum() * 100:.0f} % of the shipped IoU")
    (OUT / "chosen.json").write_text(json.dumps(chosen))
    confirm_test(r27, res, chosen)


def confirm_test(r27, res: dict, chosen: dict) -> None:
    """The val-chosen gates on v2 test, once, with declip evaluate's scoring (round 27's `official`,
    its csv written under build/r28)."""
    from sklearn.metrics import average_precision_score

    r27.OUT = R27
    zt = np.load(R27 / "v2-test.npz")
    z = head_z(res, "test", zt["paths"])
    top5 = r27.image_stats(zt["logits"])["top5"]
    print(f"test image AP: head {100 * average_precision_score(zt['labels'], z):.2f}, map top-5 % mean "
          f"{100 * average_precision_score(zt['labels'], top5):.2f}")
    forms = {"shipped": np.zeros(len(z))}
    for form, p in chosen.items():
        if form == "hard gate z<c":
            forms[f"{form} {p:.3f}"] = np.where(z < p, -10.0, 0.0)
        elif form == "product p*q":
            q = 1 / (1 + np.exp(-(z + p)))
            forms[f"{form} shift {p}"] = np.where(q > 0.5, np.log(np.maximum(2 * q - 1, 1e-12)), -10.0)
        else:
            forms[f"{form} {p[0]:.3f}/{p[1]:.4f}"] = np.where((z < p[0]) & (top5 < p[1]), -10.0, 0.0)
    forms["round 27 gate top5 < 0.5029"] = np.where(top5 < 0.5029, -10.0, 0.0)
    for label, o in forms.items():
        m = official(r27, o)
        kinds = " ".join(f"{k} {v:.1f}" for k, v in m["iou_by_kind"].items())
        print(f"v2-test {label}: IoU {m['iou']:.2f} pixel AP {m['pixel_ap']:.2f} image AP {m['detection_ap']:.2f} "
              f"(chance {m['detection_ap_chance']:.1f}) flagged {m['authentic_flagged_count']}/{m['authentic']} | {kinds}",
              flush=True)


def official(r27, offsets: np.ndarray) -> dict:
    from engine.preprocess import resize_map
    from trainer import datasets as D
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import MapProducer
    import csv as C

    z = np.load(R27 / "v2-test.npz")
    idx = {str(p): i for i, p in enumerate(z["paths"])}

    def fn(image):
        i = idx[str(image)]
        prob = torch.sigmoid(torch.from_numpy(z["logits"][i]) + float(offsets[i]))
        h, w = (int(v) for v in z["sizes"][i])
        return resize_map(prob, h, w), float(prob.mean())

    csv = OUT / "official-v2-test.csv"
    m = evaluate_dataset(MapProducer("cached", fn), D.load_dataset(SYNTH, "test"), csv_path=csv)
    kinds = dict(zip((str(p) for p in z["paths"]), r27.kinds_of("v2", z["paths"])))
    per = {}
    with open(csv) as fh:
        for r in C.DictReader(fh):
            if r["label"] == "1":
                per.setdefault(kinds[r["image"]], []).append(float(r["iou"]))
    m["iou_by_kind"] = {k: float(np.mean(v)) for k, v in sorted(per.items())}
    return m


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["features", "fit", "gate"])
    ap.add_argument("--pool", default="stats", choices=["stats", "outlier", "both"])
    a = ap.parse_args(argv)
    global POOL
    POOL = a.pool
    torch.set_num_threads(2)
    {"features": features, "fit": fit, "gate": gate}[a.step]()


if __name__ == "__main__":
    main()
