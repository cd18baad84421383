"""Round 29: fuse the default model's 5 members by agreement instead of the mean (issue #37 part 3).

    PYTHONPATH=. python research/member_fusion_experiment.py cache --sets v2-val,v2-test,v1-test
    PYTHONPATH=. python research/member_fusion_experiment.py agreement --sets v2-val
    PYTHONPATH=. python research/member_fusion_experiment.py sweep --sets v2-val
    PYTHONPATH=. python research/member_fusion_experiment.py confirm --sets v2-test,v1-test --cands mean,gated3

`cache`: each member's flip-averaged logit map (N,5,256,256) for a split of round 26's synth sets.
The shipped ensemble is one grouped decoder whose final conv sums the members' last features / 5;
the input of that conv is caught with a hook and split per member (member i's logit = its share of
the conv x 5 + the ensemble's one bias), so the members' mean is the shipped logit (checked against
the engine's own decode). `agreement`: how alike the members' flagged pixels are on authentic images
and on the edits. `sweep`: the pre-registered candidates (the log, round 29) scored with
trainer.evaluate.evaluate_dataset; `confirm`: chosen candidates on other splits. external-v1 is never
read here.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "research"))
# round 27's synth sets (round 26's folders) and its reading of their manifest's kinds
from image_decision_experiment import SETS, ious_by_kind, kinds_of  # noqa: E402

MODEL = ROOT / "resources/models/declip-lite2-default"
R27 = Path("/work/wt-37g/build/r27")  # round 27's cache of the shipped (mean) logits, read-only
OUT = ROOT / "build/r29"
N_MEMBERS = 5
SPLICE = {"v2": ("splice", "splice-poisson", "splice-resampled"), "v1": ("splice",)}


def cache(name: str) -> Path:
    from engine import Detector
    from engine.images import load_image
    from trainer import datasets as D

    set_name, split = name.split("-")
    out = OUT / f"{name}.npz"
    if out.exists():
        return out
    OUT.mkdir(parents=True, exist_ok=True)
    ds = D.load_dataset(SETS[set_name], split)
    det = Detector.from_model(str(MODEL), device="cpu", precision="exact")
    last = det.net.decoder[-1]
    assert isinstance(last, torch.nn.Conv2d) and last.in_channels == 8 * N_MEMBERS
    w, b = last.weight.detach(), last.bias.detach()
    width = last.in_channels // N_MEMBERS
    caught: list[torch.Tensor] = []
    hook = last.register_forward_pre_hook(lambda m, inp: caught.append(inp[0].detach().clone()))
    members, paths, labels, sizes, worst = [], [], [], [], 0.0
    samples = ds.samples
    for start in range(0, len(samples), 8):
        chunk = samples[start:start + 8]
        loaded = [load_image(s.image) for s in chunk]
        batch = torch.stack([det.preprocess(x) for x in loaded])
        caught.clear()
        with torch.inference_mode():
            feats = det.extract_features(batch)
            lg = det.net.decode(feats).float()[:, 0]
            assert len(caught) == 2, "expected the plain and the mirrored view"
            per = []
            for i in range(N_MEMBERS):
                sl = slice(i * width, (i + 1) * width)
                views = [F.conv2d(h[:, sl], w[:, sl] * N_MEMBERS, b, padding=2)[:, 0] for h in caught]
                per.append((views[0] + views[1].flip(-1)) / 2)
            per = torch.stack(per, 1)
        worst = max(worst, float((per.mean(1) - lg).abs().max()))
        for s, x, m in zip(chunk, loaded, per.numpy()):
            members.append(m.astype(np.float32))
            paths.append(str(s.image))
            labels.append(s.label)
            sizes.append((x.height, x.width))
        print(f"{name}: {min(start + 8, len(samples))}/{len(samples)} (|members' mean - engine logit| max {worst:.2e})",
              flush=True)
    hook.remove()
    members = np.stack(members)
    ref = np.load(R27 / f"{name}.npz")
    assert list(ref["paths"]) == paths
    print(f"{name}: members' mean vs round 27's cached logits: max |diff| {np.abs(members.mean(1) - ref['logits']).max():.2e}")
    np.savez(out, members=members, paths=np.array(paths), labels=np.array(labels), sizes=np.array(sizes))
    return out


# ---- fusions ------------------------------------------------------------------------------------

def fuse(z: torch.Tensor, kind: str, param: float | None = None) -> torch.Tensor:
    """z: (..., M, H, W) member logits -> (..., H, W) fused logit."""
    mean = z.mean(-3)
    if kind == "mean":
        return mean
    srt = z.sort(-3).values
    if kind == "min":
        return srt.select(-3, 0)
    if kind == "quantile":  # param r: the (r+1)-th lowest
        return srt.select(-3, int(param))
    if kind == "mean-kstd":
        return mean - float(param) * z.std(-3, unbiased=False)
    if kind == "gated":  # the mean where at least m members are above 0
        q = srt.select(-3, z.shape[-3] - int(param))
        return torch.where(q > 0, mean, torch.minimum(mean, q))
    raise ValueError(kind)


def drop_small(fused: np.ndarray, area: int) -> np.ndarray:
    """Regions (8-connected) of the map above 0 smaller than `area` pixels are set to min(value, 0)."""
    from scipy import ndimage

    if area <= 0:
        return fused
    lab, n = ndimage.label(fused > 0, structure=np.ones((3, 3)))
    if n == 0:
        return fused
    sizes = np.bincount(lab.ravel())
    small = (sizes < area)[lab] & (lab > 0)
    out = fused.copy()
    out[small] = np.minimum(out[small], 0.0)
    return out


FUSIONS = ([("mean", None), ("min", None), ("quantile", 1), ("quantile", 2)]
           + [("mean-kstd", k) for k in (0.25, 0.5, 0.75, 1.0)] + [("gated", m) for m in (2, 3, 4, 5)])
AREAS = (0, 64, 256, 1024)


def cand_name(kind, param, area) -> str:
    p = "" if param is None else f"{param:g}"
    return f"{kind}{p}" + (f"+A{area}" if area else "")


def parse_cand(s: str):
    base, _, a = s.partition("+A")
    for kind, param in FUSIONS:
        if cand_name(kind, param, 0) == base:
            return kind, param, int(a or 0)
    raise ValueError(s)


def fused_maps(z: dict, kind, param, area) -> np.ndarray:
    f = fuse(torch.from_numpy(z["members"]), kind, param).numpy()
    return np.stack([drop_small(m, area) for m in f]) if area else f


def official(name: str, z: dict, maps: np.ndarray, tag: str) -> dict:
    """`declip evaluate`'s scoring of cached fused logit maps (resized as the engine resizes them;
    image score = the 256x256 map's mean probability, the engine's image score)."""
    from engine.preprocess import resize_map
    from trainer import datasets as D
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import MapProducer

    set_name, split = name.split("-")
    idx = {str(p): i for i, p in enumerate(z["paths"])}

    def fn(image):
        i = idx[str(image)]
        prob = torch.sigmoid(torch.from_numpy(maps[i]))
        h, w = (int(v) for v in z["sizes"][i])
        return resize_map(prob, h, w), float(prob.mean())

    ds = D.load_dataset(SETS[set_name], split)
    csv = OUT / "csv" / f"{name}-{tag}.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    m = evaluate_dataset(MapProducer("cached", fn), ds, csv_path=csv)
    per = ious_by_kind(csv, set_name, z["paths"])
    spl = [v for k in SPLICE[set_name] for v in per.get(k, [])]
    return {"iou": m["iou"], "splice": float(np.mean(spl)), "pixel_ap": m["pixel_ap"], "image_ap": m["detection_ap"],
            "flagged": m["authentic_flagged_count"], "authentic": m["authentic"],
            "per_kind": {k: float(np.mean(v)) for k, v in sorted(per.items())}}


class FastScorer:
    """The figures the rule uses (IoU over the edits, per kind, splice IoU, authentic flagged, image AP),
    computed as evaluate_dataset computes them (same resize, masks, metrics and rounding) but without
    pixel AP, F1 and the CSV, with the masks read once: the sweep's 52 candidates in minutes, not an
    hour. Checked equal to `official` on the candidates both scored (the log)."""

    def __init__(self, name: str, z: dict):
        from trainer import datasets as D

        set_name, split = name.split("-")
        ds = D.load_dataset(SETS[set_name], split)
        by_path = {str(s.image): s for s in ds.samples}
        self.z, self.set_name = z, set_name
        self.kinds = kinds_of(set_name, z["paths"])
        self.gt = [D.read_mask(by_path[str(p)], (int(w), int(h))) for p, (h, w) in zip(z["paths"], z["sizes"])]

    def __call__(self, maps: np.ndarray) -> dict:
        from engine.preprocess import resize_map
        from trainer import metrics as M

        iou, flagged, scores = [], [], []
        for i, (h, w) in enumerate(self.z["sizes"]):
            prob = torch.sigmoid(torch.from_numpy(maps[i]))
            scores.append(round(float(prob.mean()), 6))
            full = np.asarray(resize_map(prob, int(h), int(w)), np.float32)
            iou.append(round(M.iou(full, self.gt[i], M.THRESHOLD), 4))
            flagged.append(round(float((full > M.THRESHOLD).mean()) * 100.0, 4))
        iou, flagged, labels = np.array(iou), np.array(flagged), self.z["labels"]
        fake = labels == 1
        per = {k: float(iou[(self.kinds == k) & fake].mean()) for k in sorted(set(self.kinds[fake]))}
        return {"iou": M.mean_ignoring_nan(iou[fake]), "splice": float(iou[np.isin(self.kinds, SPLICE[self.set_name])].mean()),
                "pixel_ap": float("nan"), "image_ap": M.detection_metrics(scores, list(labels))["ap"],
                "flagged": int((flagged[~fake] > 1.0).sum()), "authentic": int((~fake).sum()), "per_kind": per}


def line(name, tag, r) -> str:
    kinds = " ".join(f"{k} {v:.1f}" for k, v in r["per_kind"].items())
    return (f"{name} {tag:18s} IoU {r['iou']:.2f} splice {r['splice']:.2f} flagged {r['flagged']}/{r['authentic']} "
            f"image AP {r['image_ap']:.2f} pixel AP {r['pixel_ap']:.2f} | {kinds}")


def sweep(name: str) -> None:
    z = dict(np.load(OUT / f"{name}.npz"))
    fast = FastScorer(name, z)
    results = {}
    for kind, param in FUSIONS:
        for area in AREAS:
            tag = cand_name(kind, param, area)
            results[tag] = fast(fused_maps(z, kind, param, area))
            print(line(name, tag, results[tag]), flush=True)
    (OUT / f"sweep-{name}.json").write_text(json.dumps(results, indent=1))
    base = results["mean"]
    ok = {t: r for t, r in results.items()
          if r["iou"] >= base["iou"] - 1.0 and r["splice"] >= base["splice"] - 2.0}
    print(f"eligible by the rule ({len(ok)} of {len(results)}):")
    for t, r in sorted(ok.items(), key=lambda kv: (kv[1]["flagged"], -kv[1]["iou"])):
        print("  " + line(name, t, r))
    best = min(ok.items(), key=lambda kv: (kv[1]["flagged"], -kv[1]["iou"]))
    print(f"chosen: {best[0]}; (a) needs flagged <= {base['flagged'] / 2:g}: "
          f"{'met' if best[1]['flagged'] <= base['flagged'] / 2 else 'NOT met'}")


def centred(name: str) -> None:
    """Post hoc (not in the pre-registered rule): the members' own biases are not stored (the ensemble
    keeps their mean), so member i may sit systematically above or below the others. Shift each member
    by minus its mean offset from the members' mean over all v2-val pixels (the shifts sum to 0, so the
    mean is unchanged) and rescore the agreement fusions."""
    v = np.load(OUT / "v2-val.npz")["members"]
    shift = -(v - v.mean(1, keepdims=True)).mean(axis=(0, 2, 3))
    print(f"per-member shifts from v2 val: {np.round(shift, 3)}")
    z = dict(np.load(OUT / f"{name}.npz"))
    z["members"] = z["members"] + shift[None, :, None, None].astype(np.float32)
    fast = FastScorer(name, z)
    for kind, param in [("mean", None), ("min", None), ("quantile", 1), ("gated", 3), ("gated", 4), ("gated", 5)]:
        for area in (0, 1024):
            tag = cand_name(kind, param, area)
            print(line(name, "centred " + tag, fast(fused_maps(z, kind, param, area))), flush=True)


def confirm(names: list[str], cands: list[str]) -> None:
    for name in names:
        z = dict(np.load(OUT / f"{name}.npz"))
        for tag in ["mean"] + [c for c in cands if c != "mean"]:
            kind, param, area = parse_cand(tag)
            print(line(name, tag, official(name, z, fused_maps(z, kind, param, area), tag)), flush=True)


class MemberMaps:
    """Per-member flip-averaged logits of one image, by the same hook as `cache` (for folders not cached)."""

    def __init__(self):
        from engine import Detector

        self.det = Detector.from_model(str(MODEL), device="cpu", precision="exact")
        last = self.det.net.decoder[-1]
        self.w, self.b, self.width = last.weight.detach(), last.bias.detach(), last.in_channels // N_MEMBERS
        self.caught: list[torch.Tensor] = []
        last.register_forward_pre_hook(lambda m, inp: self.caught.append(inp[0].detach().clone()))

    def __call__(self, image):
        from engine.images import load_image

        x = load_image(image)
        self.caught.clear()
        with torch.inference_mode():
            lg = self.det.net.decode(self.det.extract_features(self.det.preprocess(x)[None])).float()[0, 0]
            per = []
            for i in range(N_MEMBERS):
                sl = slice(i * self.width, (i + 1) * self.width)
                v = [F.conv2d(h[:, sl], self.w[:, sl] * N_MEMBERS, self.b, padding=2)[0, 0] for h in self.caught]
                per.append((v[0] + v[1].flip(-1)) / 2)
        per = torch.stack(per)
        assert float((per.mean(0) - lg).abs().max()) < 1e-4
        return per.numpy(), (x.height, x.width)


def external(folder: Path, cands: list[str]) -> None:
    """ONE evaluation pass over a benchmark folder, after the decision: today's mean and the chosen
    candidate(s) scored from the same per-member logits. Nothing is chosen here."""
    from engine.preprocess import resize_map
    from trainer import datasets as D
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import MapProducer

    ds = D.load_dataset(folder, "test")
    mm, memo = MemberMaps(), {}

    def producer(tag):
        kind, param, area = parse_cand(tag)

        def fn(image):
            key = image if isinstance(image, bytes) else str(image)
            if key not in memo:
                if isinstance(image, bytes):  # a layout that hands over the file's bytes
                    import io
                    from PIL import Image
                    image = Image.open(io.BytesIO(image)).convert("RGB")
                memo[key] = mm(image)
            z, (h, w) = memo[key]
            f = fuse(torch.from_numpy(z)[None], kind, param)[0].numpy()
            f = drop_small(f, area) if area else f
            prob = torch.sigmoid(torch.from_numpy(f))
            return resize_map(prob, h, w), float(prob.mean())
        return MapProducer(f"fusion:{tag}", fn)

    for tag in ["mean"] + [c for c in cands if c != "mean"]:
        m = evaluate_dataset(producer(tag), ds, csv_path=OUT / "csv" / f"external-{tag}.csv")
        print(f"external {tag}: IoU {m['iou']:.2f} image AP {m['detection_ap']:.4f} (chance {m['detection_ap_chance']:.3f}) "
              f"pixel AP {m['pixel_ap']:.2f} authentic flagged {m['authentic_flagged_count']}/{m['authentic']}", flush=True)
        (OUT / f"external-{tag}.json").write_text(json.dumps(m, indent=1, default=str))


def agreement(name: str) -> None:
    """Are false alarms member-specific? Per pixel of the 256 map: members above 0."""
    z = np.load(OUT / f"{name}.npz")
    set_name = name.split("-")[0]
    from trainer import datasets as D

    ds = D.load_dataset(SETS[set_name], name.split("-")[1])
    by_path = {str(s.image): s for s in ds.samples}
    members, labels = z["members"], z["labels"]
    on = members > 0  # (N,5,H,W)
    count = on.sum(1)
    mean_on = members.mean(1) > 0
    rows = {"authentic: flagged pixels of the mean": [], "edits: true positives of the mean": [],
            "edits: false positives of the mean": []}
    jacc = {"authentic": [], "edit": []}
    for i, p in enumerate(z["paths"]):
        if labels[i]:
            gt = np.asarray(D.read_mask(by_path[str(p)], (256, 256))) > 0.5
            rows["edits: true positives of the mean"].append(count[i][mean_on[i] & gt])
            rows["edits: false positives of the mean"].append(count[i][mean_on[i] & ~gt])
        else:
            rows["authentic: flagged pixels of the mean"].append(count[i][mean_on[i]])
        js = []
        for a in range(N_MEMBERS):
            for b in range(a + 1, N_MEMBERS):
                u = (on[i, a] | on[i, b]).sum()
                if u:
                    js.append((on[i, a] & on[i, b]).sum() / u)
        if js:
            jacc["edit" if labels[i] else "authentic"].append(np.mean(js))
    for k, v in rows.items():
        c = np.concatenate(v) if v else np.zeros(0)
        share = lambda m: 100.0 * float((c >= m).mean()) if len(c) else float("nan")
        print(f"{name} {k}: {len(c)} px; flagged by all 5 {share(5):.1f} %, >= 4 {share(4):.1f} %, "
              f">= 3 {share(3):.1f} %, >= 2 {share(2):.1f} %")
    for k, v in jacc.items():
        print(f"{name} {k} images: members' pairwise Jaccard of pixels above 0, mean over images {np.mean(v):.3f} "
              f"(median {np.median(v):.3f}, {len(v)} images with any)")
    # per authentic image: flagged share under the mean, and under 'all 5 agree'
    h = 256 * 256
    for m in (3, 4, 5):
        fl_mean = [(mean_on[i].sum() / h) > 0.01 for i in range(len(labels)) if not labels[i]]
        fl_m = [((mean_on[i] & (count[i] >= m)).sum() / h) > 0.01 for i in range(len(labels)) if not labels[i]]
        print(f"{name} authentic images with > 1 % at the 256 map: mean {sum(fl_mean)}, mean AND >= {m} members {sum(fl_m)}")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["cache", "agreement", "sweep", "confirm", "external", "centred"])
    ap.add_argument("--folder", default="")
    ap.add_argument("--sets", default="v2-val")
    ap.add_argument("--cands", default="")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    sets = a.sets.split(",")
    if a.step == "cache":
        for s in sets:
            print(cache(s))
    elif a.step == "agreement":
        for s in sets:
            agreement(s)
    elif a.step == "sweep":
        sweep(sets[0])
    elif a.step == "centred":
        centred(sets[0])
    elif a.step == "external":
        external(Path(a.folder), [c for c in a.cands.split(",") if c])
    else:
        confirm(sets, [c for c in a.cands.split(",") if c])


if __name__ == "__main__":
    main()
