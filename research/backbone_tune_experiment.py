"""Round 30 (issue #37): train the backbone's last two used stages with the decoder, on a CPU.

Question. Every decoder so far sat on a frozen ImageNet backbone, and rounds 26-29 ended with "features
trained for the task" as the lever left (a GPU was never lent). The Lite2 default model reads stages 3 and
4 (88 + 120 channels, stride 16). Those two stages are small enough to train on 2 cores if everything
before them (stem, stages 0-2) stays frozen and its output is cached once. Does training them with the
decoder beat the frozen backbone at equal data, recipe and seed, on our own validation data?

Arms (identical except for the one factor):
  frozen: stages 3-4 frozen (the shipped recipe: conv-4 decoder 64,32,16,8, image context, feature
          dropout 0.5, EMA 0.99, batch 16, AdamW lr 1e-3, lr x0.1 after 2 flat epochs).
  tuned:  the same, plus stages 3-4 trained with AdamW lr 1e-4 (BatchNorm statistics kept: batches of 16
          at 28x28 are too small to re-estimate them).

Data: round 26's own synthetic sets (`declip synth` kind set v2 with 40 % authentic images, and v1; the
shipped model's photo split, which it never trained on). Train = v2 train + v1 train; choose = v2 val +
v1 val; test = v2 test + v1 test, once, after the decision. external-v1 is never read here.

    python research/backbone_tune_experiment.py cache --data DIR[,DIR] --split train --out build/r30/cache
    python research/backbone_tune_experiment.py train --arm tuned --cache build/r30/cache --out build/r30/tuned
    python research/backbone_tune_experiment.py score --run build/r30/tuned --cache build/r30/cache --split val
"""
from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine.backbones.efficientnet_lite import LiteBackbone
from engine.decoders import build_decoder
from trainer.calibration import CALIBRATION_SHIFTS, iou_by_shift
from trainer.datasets import load_dataset, read_mask, read_rgb
from trainer.decoder_setup import init_decoder, split_input_modules, training_layout
from trainer.features import preprocess
from trainer.train import drop_channels, ema_update, mask_loss

SPEC = {"family": "lite2", "stages": [3, 4], "grid": 32, "input_size": 448}
DECODER = {"type": "conv", "depth": 4, "widths": [64, 32, 16, 8], "context": "image-mean"}
torch.set_num_threads(2)


def lite() -> LiteBackbone:
    return LiteBackbone(stages=SPEC["stages"], grid=SPEC["grid"], name=SPEC["family"], input_size=SPEC["input_size"])


class Stem(nn.Module):
    """Stem and stages 0-2: frozen in both arms, so their output is cached once."""

    def __init__(self, bb: LiteBackbone):
        super().__init__()
        self.conv_stem, self.bn1, self.blocks = bb.conv_stem, bb.bn1, bb.blocks[:3]

    def forward(self, x):
        return self.blocks(self.bn1(self.conv_stem(x)))


class Head(nn.Module):
    """Stages 3 and 4, each resized to the 32x32 grid, concatenated: LiteBackbone.forward from stage 2 on."""

    def __init__(self, bb: LiteBackbone):
        super().__init__()
        self.s3, self.s4 = bb.blocks[3], bb.blocks[4]

    def train(self, mode: bool = True):
        return super().train(False)  # BatchNorm statistics stay the ImageNet ones in both arms

    def forward(self, h2):
        f3 = self.s3(h2)
        f4 = self.s4(f3)
        g = SPEC["grid"]
        return torch.cat([F.interpolate(f, size=(g, g), mode="bilinear", align_corners=False) for f in (f3, f4)], 1)


class Net(nn.Module):
    def __init__(self, head: Head, dec: nn.Module):
        super().__init__()
        self.head, self.dec = head, dec
        self.ctx, self.body = split_input_modules(dec)

    def forward(self, h2, dropout_seed: int | None = None, p: float = 0.5, features: bool = False):
        # features=True: h2 is already the head's output (the frozen arm computes it once per image)
        x = self.ctx(h2 if features else self.head(h2))
        if dropout_seed is not None:
            x = drop_channels(x, p, dropout_seed)
        return self.body(x.contiguous(memory_format=torch.channels_last))


# ---- cache -------------------------------------------------------------------------------------------
@torch.inference_mode()
def cmd_cache(args) -> None:
    bb = lite()
    stem = Stem(bb).eval()
    head = Head(bb).eval()
    out = Path(args.out) / args.split
    out.mkdir(parents=True, exist_ok=True)
    samples = []
    for root in args.data.split(","):
        ds = load_dataset(Path(root), args.split)
        samples += [(Path(root).name, s) for s in ds.samples]
    views = ("plain", "mirror") if args.mirror else ("plain",)
    n = len(samples)
    h2 = {v: np.lib.format.open_memmap(out / f"h2_{v}.npy", "w+", np.float16, (n, 48, 56, 56)) for v in views}
    masks = {v: np.zeros((n, 256, 256), np.uint8) for v in views}
    meta = []
    t0 = time.perf_counter()
    for i, (set_name, s) in enumerate(samples):
        pil = read_rgb(s.image)
        m = (read_mask(s, (256, 256)) * 255 + 0.5).astype(np.uint8)
        for v in views:
            img = pil if v == "plain" else pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            x = preprocess(img, SPEC).unsqueeze(0)
            h = stem(x)
            if i == 0 and v == "plain":  # the split into stem and head is exact: the same features as the engine's
                assert torch.equal(head(h), bb(x)), "stem + head differ from LiteBackbone"
            h2[v][i] = h[0].numpy().astype(np.float16)
            masks[v][i] = m if v == "plain" else m[:, ::-1]
        meta.append({"set": set_name, "image": s.image.name, "kind": s.group or ("real" if s.mask is None else "?"),
                     "authentic": s.mask is None})
        if i % 100 == 0:
            print(f"cache {args.split} {i}/{n} {time.perf_counter() - t0:.0f}s", flush=True)
    for v in views:
        h2[v].flush()
        np.save(out / f"masks_{v}.npy", masks[v])
    (out / "meta.json").write_text(json.dumps(meta))
    print(f"cached {n} images ({', '.join(views)}) in {time.perf_counter() - t0:.0f}s")


def kinds_from_manifests(data: str) -> dict:
    """(set, image name) -> kind, from the synth manifests (load_dataset's group is the folder)."""
    out = {}
    for root in data.split(","):
        m = json.loads((Path(root) / "manifest.json").read_text())
        for it in m["items"]:
            # edits and authentic images share file names (val/images/val_00000.jpg, val/real/val_00000.jpg)
            out[(Path(root).name, Path(it["image"]).parent.name == "real", Path(it["image"]).name)] = it["kind"]
    return out


def load_split(cache: Path, split: str, view: str = "plain"):
    d = Path(cache) / split
    h2 = torch.from_numpy(np.load(d / f"h2_{view}.npy", mmap_mode="r")[:])
    masks = torch.from_numpy(np.load(d / f"masks_{view}.npy"))
    meta = json.loads((d / "meta.json").read_text())
    return h2, masks, meta


# ---- train -------------------------------------------------------------------------------------------
def build(arm: str, seed: int) -> Net:
    bb = lite()
    head = Head(bb)
    head.requires_grad_(arm == "tuned")
    dec = build_decoder(DECODER, bb.out_channels, cnn=True)
    init_decoder(dec, 0.02, seed, 1.0)
    return Net(head, training_layout(dec))


@torch.inference_mode()
def logits_of(net: Net, h2: torch.Tensor, bs: int = 32) -> torch.Tensor:
    net.eval()
    out = [net(h2[i:i + bs].float())[:, 0].float() for i in range(0, len(h2), bs)]
    net.train()
    return torch.cat(out)


def val_iou(net: Net, h2, masks) -> tuple[float, float]:
    lg = logits_of(net, h2)
    ious = iou_by_shift(lg, masks, CALIBRATION_SHIFTS).mean(0)
    best = int(ious.argmax())
    return float(ious[best]), float(CALIBRATION_SHIFTS[best])


def cmd_train(args) -> None:
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tr_h2, tr_m, _ = load_split(args.cache, "train")
    va_h2, va_m, _ = load_split(args.cache, "val")
    net = build(args.arm, args.seed)
    frozen = args.arm == "frozen"
    if frozen:  # a frozen head gives the same features every epoch: compute them once (as the trainer's cache does)
        with torch.inference_mode():
            net.head.eval()
            tr_h2 = torch.cat([net.head(tr_h2[i:i + 64].float()) for i in range(0, len(tr_h2), 64)])
        print(f"frozen head features {tuple(tr_h2.shape)}", flush=True)
    groups = [{"params": list(net.dec.parameters()), "lr": 1e-3}]
    if args.arm == "tuned":
        groups.append({"params": list(net.head.parameters()), "lr": args.backbone_lr})
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    base_lrs = [g["lr"] for g in opt.param_groups]
    avg = copy.deepcopy(net)
    n, bs, steps_total, scale, bad, best = len(tr_h2), 16, 0, 1.0, 0, -1.0
    history = []
    for epoch in range(1, args.epochs + 1):
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * scale
        order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
        net.train()
        t0, loss_sum = time.perf_counter(), 0.0
        for b in range(0, n, bs):
            idx = order[b:b + bs]
            x = tr_h2[idx].float()
            logits = net(x, dropout_seed=args.seed * 100003 + epoch * 10007 + b // bs, features=frozen)
            loss = mask_loss(logits[:, 0], tr_m[idx].float() / 255.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ema_update(avg.state_dict(), net.state_dict(), 0.99, steps_total)
            steps_total += 1
            loss_sum += float(loss.detach()) * len(idx)
            if b // bs % 20 == 0:
                print(f"  epoch {epoch} batch {b // bs}/{(n + bs - 1) // bs} loss {float(loss):.4f} "
                      f"{time.perf_counter() - t0:.0f}s", flush=True)
        iou, shift = val_iou(avg, va_h2, va_m)
        history.append({"epoch": epoch, "loss": round(loss_sum / n, 5), "val_iou": round(iou, 3), "shift": shift,
                        "lr_scale": scale, "seconds": round(time.perf_counter() - t0, 1)})
        print(json.dumps(history[-1]), flush=True)
        if iou > best + 0.05:
            best, bad = iou, 0
            torch.save({"state": avg.state_dict(), "epoch": epoch, "shift": shift}, out / "best.pt")
        else:
            bad += 1
            if bad >= 2:
                scale, bad = scale * 0.1, 0
        (out / "history.json").write_text(json.dumps({"arm": args.arm, "seed": args.seed, "backbone_lr": args.backbone_lr,
                                                      "history": history}, indent=1))


# ---- score -------------------------------------------------------------------------------------------
def load_run(run: Path) -> tuple[Net, dict, int]:
    """A run's kept weights in its arm's network, its history, and the (best validation) epoch kept."""
    hist = json.loads((run / "history.json").read_text())
    saved = torch.load(run / "best.pt", weights_only=True)
    net = build(hist["arm"], hist["seed"])
    net.load_state_dict(saved["state"])
    return net, hist, int(saved["epoch"])


def flip_logits(net: Net, cache, split: str):
    """Flip averaging, as the engine does: the mirrored view's logits mirrored back, then the mean."""
    h2p, masks, meta = load_split(cache, split, "plain")
    h2m, _, _ = load_split(cache, split, "mirror")
    return (logits_of(net, h2p) + logits_of(net, h2m).flip(-1)) / 2, masks, np.array([m["authentic"] for m in meta])


def cmd_score(args) -> None:
    from trainer.metrics import average_precision

    run = Path(args.run)
    net, _, epoch = load_run(run)
    kinds = kinds_from_manifests(args.data) if args.data else {}
    lg, mp, auth = flip_logits(net, args.cache, args.split)
    meta = json.loads((Path(args.cache) / args.split / "meta.json").read_text())
    # the shift: chosen on val (the run's own choice there is repeated for the flip-averaged logits)
    if args.split == "val":
        ious = iou_by_shift(lg, mp, CALIBRATION_SHIFTS).mean(0)
        shift = float(CALIBRATION_SHIFTS[int(ious.argmax())])
    else:
        shift = json.loads((run / "score_val.json").read_text())["shift"]
    per = iou_by_shift(lg, mp, torch.tensor([shift]))[:, 0].numpy()
    frac = ((lg + shift) > 0).flatten(1).float().mean(1).numpy()
    score = torch.sigmoid(lg + shift).flatten(1).mean(1).numpy()
    res = {"split": args.split, "shift": shift, "epoch": epoch, "n": len(meta),
           "iou_all": float(per.mean()), "iou_edits": float(per[~auth].mean()),
           "authentic_flagged": f"{int((frac[auth] > 0.01).sum())} of {int(auth.sum())}",
           "image_ap": average_precision(score, ~auth) / 100, "chance": float((~auth).mean())}
    by = {}
    for m, v in zip(meta, per):
        if not m["authentic"]:
            k = f"{m['set']}:{kinds.get((m['set'], False, m['image']), m['kind'])}"
            by.setdefault(k, []).append(float(v))
    res["by_kind"] = {k: round(float(np.mean(v)), 1) for k, v in sorted(by.items())}
    (run / f"score_{args.split}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


def cmd_calibrate(args) -> None:
    """The addendum: the shift with the best val edits IoU among those flagging <= 10 % of val authentic
    images, then test once at that shift."""
    run = Path(args.run)
    net, _, _ = load_run(run)
    res = {}
    # the second addendum's grid: the logits cluster within 0.25 of each other where authentic images
    # switch from clean to flagged, which the trainer's grid (steps of 0.25) cannot resolve
    shifts = torch.arange(0.0, 0.5001, 0.01) if args.fine else CALIBRATION_SHIFTS
    for split in ("val", "test"):
        lg, masks, auth = flip_logits(net, args.cache, split)
        ious = iou_by_shift(lg, masks, shifts).numpy()  # (N, shifts); authentic: 100 clean / 0
        flagged = (ious[auth] == 0).sum(0)
        edits = ious[~auth].mean(0)
        res[split] = (flagged, edits, int(auth.sum()))
    flagged, edits, n_auth = res["val"]
    ok = np.flatnonzero(flagged <= int(0.10 * n_auth))
    pick = int(ok[np.argmax(edits[ok])])
    out = {"shift": round(float(shifts[pick]), 4),
           "val": {"edits_iou": float(res["val"][1][pick]), "authentic_flagged": f"{int(res['val'][0][pick])} of {res['val'][2]}"},
           "test": {"edits_iou": float(res["test"][1][pick]), "authentic_flagged": f"{int(res['test'][0][pick])} of {res['test'][2]}"}}
    (run / f"calibrated{'_fine' if args.fine else ''}.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def cmd_evaluate(args) -> None:
    """Score a run as `declip evaluate` scores a model (trainer.evaluate: full-resolution maps, IoU at 0.5
    per kind, image AP of the map's mean, authentic flagged > 1 %), with the shift chosen on val."""
    from engine.preprocess import resize_map
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import MapProducer

    run = Path(args.run)
    net, hist, _ = load_run(run)
    shift = json.loads((run / "score_val.json").read_text())["shift"]
    net.eval()
    stem = Stem(lite()).eval()

    @torch.inference_mode()
    def fn(path):
        pil = read_rgb(path)
        x = preprocess(pil, SPEC).unsqueeze(0)
        both = stem(torch.cat([x, x.flip(-1)]))
        lg = net(both)[:, 0]
        prob = torch.sigmoid((lg[0] + lg[1].flip(-1)) / 2 + shift)
        full = resize_map(prob, pil.height, pil.width)   # float32 numpy, as the engine's map
        return full, float(full.mean())

    ds = load_dataset(Path(args.data), args.split)
    res = evaluate_dataset(MapProducer(f"r30-{hist['arm']}", fn), ds)
    keep = {k: res[k] for k in res if k not in ("problems", "reliability")}
    out = run / f"eval_{Path(args.data).name}_{args.split}.json"
    out.write_text(json.dumps(keep, indent=1, default=str))
    print(json.dumps(keep, indent=1, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--data", required=True)
    c.add_argument("--split", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--mirror", action="store_true")
    t = sub.add_parser("train")
    t.add_argument("--arm", choices=("frozen", "tuned"), required=True)
    t.add_argument("--cache", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--backbone-lr", type=float, default=1e-4)
    s = sub.add_parser("score")
    s.add_argument("--run", required=True)
    s.add_argument("--cache", required=True)
    s.add_argument("--split", default="val")
    s.add_argument("--data", default="")
    e = sub.add_parser("evaluate")
    e.add_argument("--run", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--split", default="test")
    k = sub.add_parser("calibrate")
    k.add_argument("--run", required=True)
    k.add_argument("--cache", required=True)
    k.add_argument("--fine", action="store_true", help="shifts 0..0.5 in steps of 0.01 (second addendum)")
    a = ap.parse_args()
    {"cache": cmd_cache, "train": cmd_train, "score": cmd_score, "evaluate": cmd_evaluate,
     "calibrate": cmd_calibrate}[a.cmd](a)


if __name__ == "__main__":
    main()
