"""Round 31 (issue #37): no ReLU before the last conv, against the logit ceiling.

Round 30 found that every map of the default recipe tops out at the last conv's bias (its inputs pass a
ReLU and ~98 % of its weights are negative), so no global threshold keeps authentic images clean. This
script trains the same member with that ReLU replaced by an identity, and scores both arms with a shift
calibrated on authentic validation images (the rule is in research/default-model-log.md, round 31).

  train ARGS...          `declip train ARGS` with the decoder's last ReLU replaced by an identity
  check --run DIR --data SYNTH
                         the engine's loaded model, patched as the scoring patches it, against the
                         training module (same logits), and unpatched (different logits)
  maps --relu DIR --norelu DIR --data ROOT --split S --out DIR
                         one pass: each image's flip-averaged 256x256 logit map, both arms from the same
                         backbone features (stored as .npy with an index)
  sweep --maps DIR --split S          authentic flagged and edits IoU over the shift grid, per arm
  choose --maps DIR                   the rule's shift per arm, from the val sweep
  curve --maps DIR                    the val trade-off table (authentic flagged against edits IoU)
  score --maps DIR --split S          exact figures at the chosen shifts (trainer.evaluate)
  ceiling --maps DIR --split S --relu DIR --norelu DIR
                         each image's largest logit, and the last conv's bias and weight signs
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

ARMS = ("relu", "norelu")
# the rule's grid: fine enough for a ceiling a few hundredths wide, coarse enough to see both ends
SHIFTS = np.unique(np.round(np.concatenate([np.arange(-100, 101) / 100.0, np.arange(-24, 25) * 0.25]), 4))


def drop_last_relu(module: nn.Module) -> str:
    """Replace the module's last nn.ReLU (in registration order) with an identity; returns its name.

    In a conv-4 decoder that is the ReLU after the 8-channel conv-BN, before the upsample and the
    final 5x5 conv: with it gone, the final conv sees signed features (round 13's one-off)."""
    found = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.ReLU)]
    if not found:
        raise SystemExit("no ReLU in the decoder")
    name = found[-1][0]
    parent = module.get_submodule(name.rsplit(".", 1)[0]) if "." in name else module
    setattr(parent, name.rsplit(".", 1)[-1], nn.Identity())
    return name


# ---- training ----------------------------------------------------------------------------------
def cmd_train(argv: list[str]) -> int:
    """The trainer unchanged except where it builds the decoder: the loop, EMA, best epoch and folded
    shift are the product's. The EMA copy is a deepcopy of the patched module, so it is patched too."""
    from declip_desktop import cli
    from trainer import train as T

    original = T.Trainer.build_decoder

    def build_without_last_relu(self, c_in):
        dec = original(self, c_in)
        name = drop_last_relu(dec)
        self.log(f"round 31: decoder module {name} (the ReLU before the last conv) replaced by an identity")
        return dec

    T.Trainer.build_decoder = build_without_last_relu
    return cli.main(["train", *argv])


# ---- the engine's model, as declip evaluate runs it -------------------------------------------
def detector(run: str, arm: str, flip: bool = True):
    """The run's model through the engine (fp32 on CPU), flip-averaged as the shipped model is; the
    norelu arm with the same ReLU removed from the loaded decoder."""
    from engine import Detector
    from engine.loading import clear_network_cache

    clear_network_cache()   # the engine reuses a loaded net per model; this one is patched, so it is its own
    det = Detector.from_model(Path(run), device="cpu", precision="exact")
    det.net.flip_average = flip
    if arm == "norelu":
        drop_last_relu(det.net.decoder)
    return det


def training_module(run: str, arm: str, c_in: int) -> nn.Module:
    """The decoder as the trainer held it (BatchNorm unfolded, direct convs), from the run's file."""
    from engine.cards import ModelCard
    from engine.decoders import build_decoder, decoder_state_to_module
    from engine.network import FlipAveraged
    from engine.weights import load_state_file
    from trainer.card_output import DECODER_FILE

    card = ModelCard.load(Path(run))
    spec = card.decoder
    dec = build_decoder(spec, c_in, cnn=True)
    state = decoder_state_to_module(load_state_file(card.path_of("decoder") or Path(run) / DECODER_FILE), spec)
    dec.load_state_dict(state, strict=True)
    if arm == "norelu":
        drop_last_relu(dec)
    return FlipAveraged(dec).eval()


def cmd_check(args) -> None:
    from engine.images import load_image
    from trainer.datasets import load_dataset

    ds = load_dataset(Path(args.data), "val")
    det = detector(args.run, "norelu")
    plain = detector(args.run, "relu")
    x = torch.stack([det.preprocess(load_image(s.image)) for s in ds.samples[:4]])
    feats = det.extract_features(x)
    with torch.inference_mode():
        engine = det.net.decode(feats).float()
        unpatched = plain.net.decode(feats).float()
        ref = training_module(args.run, "norelu", feats.shape[1] // 2)(feats.float())
    d = float((engine - ref).abs().max())
    d_plain = float((unpatched - ref).abs().max())
    print(f"patched engine vs training module: max |dlogit| {d:.2e}; unpatched engine: {d_plain:.2e}")
    if d > 1e-3 or d_plain < 1e-2:
        raise SystemExit("check failed")


# ---- one pass: the logit maps ------------------------------------------------------------------
def cmd_maps(args) -> None:
    from engine.images import load_image
    from trainer.datasets import load_dataset

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = load_dataset(Path(args.data), args.split)
    flip = not args.plain
    dets = {"relu": detector(args.relu, "relu", flip), "norelu": detector(args.norelu, "norelu", flip)}
    if dets["relu"].card.backbone != dets["norelu"].card.backbone:
        raise SystemExit("the arms' backbones differ; features cannot be shared")
    index, maps = [], {a: [] for a in ARMS}
    bs = 8
    for start in range(0, len(ds.samples), bs):
        chunk = ds.samples[start:start + bs]
        loaded = [load_image(s.image) for s in chunk]
        x = torch.stack([dets["relu"].preprocess(im) for im in loaded])
        feats = dets["relu"].extract_features(x)   # both views when the nets are flip-averaged
        for a in ARMS:
            with torch.inference_mode():
                maps[a].append(dets[a].net.decode(feats).float()[:, 0].cpu().numpy())
        for s, im in zip(chunk, loaded):
            index.append({"image": str(s.image), "width": im.width, "height": im.height, "label": s.label,
                          "group": s.group})
        print(f"maps {args.split} {start + len(chunk)}/{len(ds.samples)}", file=sys.stderr, flush=True)
    for a in ARMS:
        np.save(out / f"{args.split}_{a}.npy", np.concatenate(maps[a]).astype(np.float32))
    (out / f"{args.split}_index.json").write_text(json.dumps({"data": args.data, "split": args.split,
                                                              "runs": {"relu": args.relu, "norelu": args.norelu}, "flip_average": flip,
                                                              "images": index}, indent=0))


def load_maps(maps_dir: Path, split: str):
    idx = json.loads((maps_dir / f"{split}_index.json").read_text())
    return idx, {a: np.load(maps_dir / f"{split}_{a}.npy", mmap_mode="r") for a in ARMS}


def dataset_of(idx: dict):
    from trainer.datasets import load_dataset

    ds = load_dataset(Path(idx["data"]), idx["split"])
    if [str(s.image) for s in ds.samples] != [r["image"] for r in idx["images"]]:
        raise SystemExit("the data set changed since the maps were made")
    return ds


# ---- the sweep ---------------------------------------------------------------------------------
def cmd_sweep(args) -> None:
    """Per arm and grid shift: authentic images flagged (> 1 % of pixels) and mean IoU of the edits.

    The full-resolution map (sigmoid, then the engine's resize) is thresholded at sigmoid(-s), which is
    the shift s folded into the logit except at interpolated pixels; counting pixels above each threshold
    in sorted values scores the whole grid from one map per image."""
    from engine.preprocess import resize_map
    from trainer import metrics as M
    from trainer.datasets import read_mask

    maps_dir = Path(args.maps)
    idx, maps = load_maps(maps_dir, args.split)
    ds = dataset_of(idx)
    thr = 1.0 / (1.0 + np.exp(SHIFTS))                  # sigmoid(-s)
    res = {}
    for a in ARMS:
        edits, flagged = [], []
        for i, (s, rec) in enumerate(zip(ds.samples, idx["images"])):
            w, h = rec["width"], rec["height"]
            prob = resize_map(torch.sigmoid(torch.from_numpy(np.array(maps[a][i]))), h, w).astype(np.float32).ravel()
            gt = M._binary(read_mask(s, (w, h))).ravel()
            pg, pb = np.sort(prob[gt]), np.sort(prob[~gt])
            tp = len(pg) - np.searchsorted(pg, thr, side="right")
            fp = len(pb) - np.searchsorted(pb, thr, side="right")
            if s.label:
                union = len(pg) + fp
                edits.append(np.where(union > 0, tp / np.maximum(union, 1) * 100.0, 100.0))
            else:
                flagged.append((tp + fp) / prob.size * 100.0 > 1.0)
        res[a] = {"edits_iou": np.mean(edits, 0).tolist(), "authentic_flagged": np.sum(flagged, 0).astype(int).tolist(),
                  "authentic": len(flagged), "edits": len(edits)}
        print(f"sweep {args.split} {a} done", file=sys.stderr, flush=True)
    (maps_dir / f"sweep_{args.split}.json").write_text(json.dumps({"shifts": SHIFTS.tolist(), **res}))


def choose(sweep: dict, arm: str) -> dict:
    """The rule: the highest edits IoU among shifts flagging at most floor(10 %) of the authentic
    images; ties to fewer flagged, then to the smaller shift."""
    shifts = np.array(sweep["shifts"])
    iou = np.array(sweep[arm]["edits_iou"])
    flagged = np.array(sweep[arm]["authentic_flagged"])
    limit = int(0.10 * sweep[arm]["authentic"])
    ok = [i for i in range(len(shifts)) if flagged[i] <= limit]
    best = min(ok, key=lambda i: (-round(float(iou[i]), 9), int(flagged[i]), float(shifts[i])))
    return {"shift": float(shifts[best]), "limit": limit, "val_edits_iou_sweep": float(iou[best]),
            "val_authentic_flagged_sweep": int(flagged[best]), "authentic": sweep[arm]["authentic"]}


def cmd_curve(args) -> None:
    """The val trade-off: for each number of authentic images allowed to be flagged, the best edits IoU
    over the grid (and its shift), per arm; markdown rows for the log."""
    sweep = json.loads((Path(args.maps) / f"sweep_{args.split}.json").read_text())
    shifts = np.array(sweep["shifts"])
    n = sweep["relu"]["authentic"]
    print(f"| authentic flagged at most (of {n}) | " + " | ".join(f"`{a}`: edits IoU (shift)" for a in ARMS) + " |")
    for k in (0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 20, 30, n):
        cells = []
        for a in ARMS:
            iou, fl = np.array(sweep[a]["edits_iou"]), np.array(sweep[a]["authentic_flagged"])
            ok = np.flatnonzero(fl <= k)
            i = int(ok[np.argmax(iou[ok])])
            cells.append(f"{iou[i]:.1f} ({shifts[i]:+.2f}, {int(fl[i])} flagged)")
        print(f"| {k} | " + " | ".join(cells) + " |")


def cmd_table(args) -> None:
    """Markdown rows from score_*.json files (one column per arm)."""
    for f in args.files:
        d = json.loads(Path(f).read_text())
        print(f"\n{f}\n| figure | " + " | ".join(f"`{a}`" for a in ARMS) + " |\n|---|---|---|")
        rows = [("logit shift", lambda r: f"{r['shift']:+.2f}"), ("IoU, edits", lambda r: f"{r['iou']:.2f}"),
                ("pixel AP", lambda r: f"{r['pixel_ap']:.2f}"),
                ("authentic flagged", lambda r: f"{r.get('authentic_flagged_count')} of {r.get('authentic')}"),
                ("image AP (chance)", lambda r: f"{r.get('detection_ap', float('nan')):.2f} ({r.get('detection_ap_chance', float('nan')):.1f})")]
        kinds = sorted(d[ARMS[0]].get("per_group_iou", {}))
        rows += [(f"IoU {k}", lambda r, k=k: f"{r['per_group_iou'][k]:.1f}") for k in kinds]
        for name, fmt in rows:
            print(f"| {name} | " + " | ".join(fmt(d[a]) for a in ARMS) + " |")


def cmd_kinds(args) -> None:
    """IoU per edit kind from score CSVs, the kinds read from the synth manifest (the loader's group is
    the folder name)."""
    import csv

    man = json.loads((Path(args.data) / "manifest.json").read_text())
    kind = {str((Path(args.data) / it["image"]).resolve()): it["kind"] for it in man["items"]}
    for f in args.csvs:
        per: dict[str, list[float]] = {}
        for r in csv.DictReader(open(f)):
            if r["label"] == "1":
                per.setdefault(kind[str(Path(r["image"]).resolve())], []).append(float(r["iou"]))
        print(f, " | ".join(f"{k} {np.mean(v):.1f} ({len(v)})" for k, v in sorted(per.items())))


def cmd_choose(args) -> None:
    maps_dir = Path(args.maps)
    sweep = json.loads((maps_dir / "sweep_val.json").read_text())
    out = {a: choose(sweep, a) for a in ARMS}
    (maps_dir / "chosen.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


# ---- exact figures at the chosen shifts ---------------------------------------------------------
def cmd_score(args) -> None:
    """trainer.evaluate on the stored maps: the shift added to the logit, then the sigmoid and the
    engine's resize, the image score the 256x256 map's mean (as Detector.analyze in paper mode)."""
    from engine.preprocess import resize_map
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import MapProducer

    maps_dir = Path(args.maps)
    idx, maps = load_maps(maps_dir, args.split)
    ds = dataset_of(idx)
    chosen = json.loads((maps_dir / "chosen.json").read_text())
    row_of = {r["image"]: i for i, r in enumerate(idx["images"])}
    out = {}
    for a in ARMS:
        shift = float(args.shift) if args.shift is not None else chosen[a]["shift"]

        def fn(path, a=a, shift=shift):
            i = row_of[str(path)]
            prob = torch.sigmoid(torch.from_numpy(np.array(maps[a][i])) + shift)
            rec = idx["images"][i]
            return resize_map(prob, rec["height"], rec["width"]), float(prob.mean())

        name = f"score_{args.split}" + ("" if args.shift is None else f"_shift{float(args.shift):+.2f}")
        res = evaluate_dataset(MapProducer(f"r31-{a}", fn), ds, csv_path=maps_dir / f"{name}_{a}.csv")
        out[a] = {"shift": shift, **{k: res[k] for k in res if k not in ("problems", "reliability")}}
        print(f"{args.split} {a} shift {shift:+.2f}: edits IoU {res['iou']:.2f}, authentic flagged "
              f"{res.get('authentic_flagged_count')} of {res.get('authentic')}, image AP {res.get('detection_ap', float('nan')):.2f}",
              flush=True)
    (maps_dir / f"{name}.json").write_text(json.dumps(out, indent=1, default=str))


# ---- is there still a ceiling? ------------------------------------------------------------------
def last_conv(run: str) -> dict:
    from engine.weights import load_state_file

    state = load_state_file(Path(run) / "decoder.safetensors")
    key = max((k for k in state if k.endswith(".weight") and state[k].ndim == 4 and state[k].shape[0] == 1),
              key=lambda k: int(k.split(".")[1]))
    w, b = state[key], state[key.replace("weight", "bias")]
    return {"key": key, "bias": float(b.reshape(-1)[0]), "weights_negative_pct": float((w < 0).float().mean() * 100)}


def cmd_ceiling(args) -> None:
    maps_dir = Path(args.maps)
    idx, maps = load_maps(maps_dir, args.split)
    labels = np.array([r["label"] for r in idx["images"]])
    out = {}
    for a, run in (("relu", args.relu), ("norelu", args.norelu)):
        mx = np.asarray(maps[a]).reshape(len(labels), -1).max(1).astype(np.float64)
        vals, counts = np.unique(np.round(mx, 2), return_counts=True)
        mode = float(vals[np.argmax(counts)])
        near = np.abs(mx - mode) <= 0.02
        q = lambda v: [round(float(x), 3) for x in np.quantile(v, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1])]
        out[a] = {"last_conv": last_conv(run), "most_common_max": mode,
                  "within_0.02_of_it": {"edits": f"{int(near[labels == 1].sum())} of {int((labels == 1).sum())}",
                                        "authentic": f"{int(near[labels == 0].sum())} of {int((labels == 0).sum())}"},
                  "max_logit_quantiles_0_10_25_50_75_90_100": {"edits": q(mx[labels == 1]),
                                                               "authentic": q(mx[labels == 0])}}
    (maps_dir / f"ceiling_{args.split}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "train":
        return cmd_train(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--run", required=True)
    c.add_argument("--data", required=True)
    m = sub.add_parser("maps")
    for flag in ("--relu", "--norelu", "--data", "--split", "--out"):
        m.add_argument(flag, required=True)
    m.add_argument("--plain", action="store_true", help="the plain view only (the round's time cut)")
    s = sub.add_parser("sweep")
    s.add_argument("--maps", required=True)
    s.add_argument("--split", default="val")
    v = sub.add_parser("curve")
    v.add_argument("--maps", required=True)
    v.add_argument("--split", default="val")
    t = sub.add_parser("table")
    t.add_argument("files", nargs="+")
    q = sub.add_parser("kinds")
    q.add_argument("--data", required=True)
    q.add_argument("csvs", nargs="+")
    k = sub.add_parser("choose")
    k.add_argument("--maps", required=True)
    e = sub.add_parser("score")
    e.add_argument("--maps", required=True)
    e.add_argument("--split", required=True)
    e.add_argument("--shift", default=None, help="one shift for both arms instead of the chosen ones")
    g = sub.add_parser("ceiling")
    for flag in ("--maps", "--relu", "--norelu"):
        g.add_argument(flag, required=True)
    g.add_argument("--split", default="val")
    a = ap.parse_args()
    {"check": cmd_check, "maps": cmd_maps, "sweep": cmd_sweep, "choose": cmd_choose, "score": cmd_score,
     "ceiling": cmd_ceiling, "curve": cmd_curve, "table": cmd_table, "kinds": cmd_kinds}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
