"""`declip analyze` and `declip models ...`."""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from .cards import FLIP_AVERAGE_TEXT
from .errors import DeclipError, ImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".dib",
                  ".ppm", ".pgm", ".pbm", ".tga", ".jp2", ".j2k", ".ico", ".pcx", ".sgi"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse images and write probability maps, overlays and results.json",
                       description="Analyse images. Exit 0 if every image was analysed, 1 if any failed "
                                   "(the rest are still written), 2 on a usage error.")
    src = p.add_argument_group("model (default: the default model of the store)")
    src.add_argument("--model", metavar="ID", help="model id from `declip models list`, or a model folder")
    src.add_argument("--checkpoint", metavar="PATH", help="an official DeCLIP .pth or an own model folder")
    src.add_argument("--backbone-weights", metavar="PATH", action="append", default=[],
                     help="CLIP weights for --checkpoint (ViT-L-14.pt; add RN50.pt for fusion models)")
    p.add_argument("--mode", choices=["paper", "tiled"], default="paper",
                   help="paper: the published 224-px squash; tiled: overlapping windows, full resolution")
    p.add_argument("--precision", choices=["auto", "exact", "fast"], default="auto",
                   help="exact = fp32; fast = bf16 on CPU / fp16 on GPU (auto: fast on GPU, exact on CPU)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--raw", action="store_true", help="also write the raw 256x256 decoder map as .raw.npy")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--tile-stride", type=int, default=None, help="tiled mode: window stride in pixels")
    p.add_argument("--tile-scale", type=float, default=None, help="tiled mode: image scale (default: auto)")
    p.add_argument("--cmap", default="inferno", help="overlay colour map")
    p.add_argument("--opacity", type=float, default=0.5, help="overlay opacity 0..1")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.set_defaults(func=cmd_analyze, _parser=p)

    m = sub.add_parser("models", help="list, show, import, verify and remove models")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    ls = msub.add_parser("list", help="list known models and their state")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_models_list)
    sh = msub.add_parser("show", help="show a model card")
    sh.add_argument("id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_models_show)
    im = msub.add_parser("import", help="import an official DeCLIP .pth (with CLIP weights) or a trained model folder")
    im.add_argument("path")
    im.add_argument("--backbone-weights", action="append", default=[], metavar="PATH")
    im.add_argument("--id", dest="model_id")
    im.add_argument("--name")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_models_import)
    ve = msub.add_parser("verify", help="re-hash a model's files against its card (exit 1 on mismatch)")
    ve.add_argument("id")
    ve.add_argument("--json", action="store_true")
    ve.set_defaults(func=cmd_models_verify)
    rm = msub.add_parser("remove", help="remove an imported model")
    rm.add_argument("id")
    rm.set_defaults(func=cmd_models_remove)
    de = msub.add_parser("default", help="show or set the default model")
    de.add_argument("id", nargs="?")
    de.set_defaults(func=cmd_models_default)


# ---- analyze ----------------------------------------------------------------------------------
def expand_inputs(inputs: list[str]) -> list[Path]:
    """Named files are taken as given; folders contribute their image files, recursively, sorted."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def _unique_stem(path: Path, used: set[str]) -> str:
    stem = path.stem or "image"
    cand, n = stem, 2
    while cand in used:
        cand, n = f"{stem}-{n}", n + 1
    used.add(cand)
    return cand


def _check_model_args(args) -> None:
    if args.model and args.checkpoint:
        args._parser.error("use either --model or --checkpoint, not both")
    if args.backbone_weights and not args.checkpoint:
        args._parser.error("--backbone-weights goes with --checkpoint")


def make_detector(args):
    from .detector import Detector

    _check_model_args(args)
    if args.checkpoint:
        return Detector.from_files(args.checkpoint, args.backbone_weights, device=args.device, precision=args.precision)
    return Detector.from_model(args.model, device=args.device, precision=args.precision)


def cmd_analyze(args) -> int:
    from .images import load_image
    from .mapio import save_probability_png
    from .overlay import COLORMAPS, render_overlay
    from .atomic import write_text_atomic

    if args.cmap not in COLORMAPS:
        args._parser.error(f"unknown colour map {args.cmap!r}; choose one of {', '.join(COLORMAPS)}")
    if args.batch_size < 1:
        args._parser.error("--batch-size must be at least 1")
    _check_model_args(args)  # usage errors before anything is written
    files = expand_inputs(args.inputs)
    if not files:
        print("declip: error: no image files found in the given inputs", file=sys.stderr)
        return 1
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeclipError(f"{out}: cannot create output folder ({exc.strerror})") from None
    t0 = time.perf_counter()
    det = make_detector(args)
    print(f"declip: model {det.card.id} on {det.device_name} ({str(det.dtype).replace('torch.', '')}), "
          f"{len(files)} image(s), mode {args.mode}", file=sys.stderr)
    used: set[str] = set()
    items: list[dict] = []
    failures = 0
    tile_args = {"tile_stride": args.tile_stride, "tile_scale": args.tile_scale} if args.mode == "tiled" else {}
    for start in range(0, len(files), args.batch_size):
        chunk = files[start:start + args.batch_size]
        loaded = []
        for f in chunk:
            try:
                loaded.append(load_image(f))
            except ImageError as exc:
                loaded.append(exc)
        good = [x for x in loaded if not isinstance(x, ImageError)]
        if args.mode == "tiled":
            results = iter([_tiled_one(det, x, tile_args) for x in good])
        else:
            results = iter(det.analyze_many(good, mode="paper", batch_size=args.batch_size))
        for f, x in zip(chunk, loaded):
            entry: dict = {"file": str(f)}
            res = x if isinstance(x, ImageError) else next(results)
            n = len(items) + 1
            if isinstance(res, ImageError):
                failures += 1
                entry.update({"sha256": getattr(x, "sha256", None), "error": str(res)})
                print(f"declip: error: {res}", file=sys.stderr)
                items.append(entry)
                continue
            stem = _unique_stem(f, used)
            prob_name, ov_name = f"{stem}.prob.png", f"{stem}.overlay.png"
            try:
                save_probability_png(out / prob_name, res.probability)
                ov = render_overlay(np.asarray(x.rgb), res.probability, cmap=args.cmap, opacity=args.opacity)
                Image.fromarray(ov).save(out / ov_name)
                outputs = {"probability": prob_name, "overlay": ov_name}
                if args.raw and res.raw is not None:
                    np.save(out / f"{stem}.raw.npy", res.raw.astype(np.float32))
                    outputs["raw"] = f"{stem}.raw.npy"
            except OSError as exc:
                failures += 1
                entry["error"] = f"{f}: cannot write outputs ({exc})"
                print(f"declip: error: {entry['error']}", file=sys.stderr)
                items.append(entry)
                continue
            entry.update({"sha256": x.sha256, "width": x.width, "height": x.height, "score": res.score,
                          "flagged_fraction_at_0.5": res.flagged_fraction(0.5), "outputs": outputs,
                          "metadata": res.metadata, "error": None})
            items.append(entry)
            print(f"[{n}/{len(files)}] {f.name}: score {res.score:.4f}", file=sys.stderr)
    summary = {
        "tool": "declip analyze",
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": det.describe(),
        "mode": args.mode,
        "parameters": {"precision": args.precision, "device": args.device, "batch_size": args.batch_size,
                       "tile_stride": args.tile_stride, "tile_scale": args.tile_scale, "cmap": args.cmap,
                       "opacity": args.opacity},
        "model_load_s": det.load_seconds,
        "total_s": time.perf_counter() - t0,
        "analysed": len(items) - failures,
        "failed": failures,
        "items": items,
    }
    write_text_atomic(out / "results.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(f"declip: {len(items) - failures} analysed, {failures} failed; results in {out / 'results.json'}",
          file=sys.stderr)
    return 1 if failures else 0


def _tiled_one(det, loaded, tile_args):
    def progress(done, total, what):
        print(f"  {loaded.name}: {what} {done}/{total}", file=sys.stderr, flush=True)

    try:
        return det.analyze(loaded, mode="tiled", progress=progress, **tile_args)
    except ImageError as exc:
        return exc


# ---- models -----------------------------------------------------------------------------------
def _store():
    from .store import ModelStore

    return ModelStore()


def cmd_models_list(args) -> int:
    store = _store()
    entries = store.list()
    default = store.default_id
    if args.json:
        print(json.dumps([dict(e.card.to_dict(), status=e.status, location=e.location,
                               default=e.card.id == default) for e in entries], indent=2, ensure_ascii=False))
        return 0
    print(f"{'':2}{'ID':40} {'STATUS':14} {'BACKBONE':34} DECODER")
    for e in entries:
        mark = "* " if e.card.id == default else "  "
        print(f"{mark}{e.card.id:40} {e.status:14} {e.card.backbone_name[:34]:34} {e.card.decoder_name}")
    print(f"\n* default model. Store: {store.home}")
    return 0


def cmd_models_show(args) -> int:
    e = _store().find(args.id)
    if args.json:
        print(json.dumps(dict(e.card.to_dict(), status=e.status, location=e.location), indent=2, ensure_ascii=False))
        return 0
    c = e.card
    rows = [("id", c.id), ("name", c.name), ("status", f"{e.status} ({e.location})"), ("backbone", c.backbone_name),
            ("feature layer", c.feature_layer), ("decoder", c.decoder_name),
            ("input", f"{c.input.get('size')} px, {c.input.get('resize')}, mean {c.input.get('mean')}, std {c.input.get('std')}"
                      + (f"; {FLIP_AVERAGE_TEXT}" if c.flip_average else "")),
            ("license", c.license), ("training data", c.training_data), ("intended use", c.intended_use),
            ("limitations", c.limitations)]
    for k, v in rows:
        print(f"{k:>14}: {v}")
    for f in c.files:
        print(f"{'file':>14}: [{f['role']}] {f['name']} sha256={f.get('sha256') or '(recorded at import)'}")
    if c.metrics:
        print(f"{'metrics':>14}: {json.dumps(c.metrics)}")
    return 0


def cmd_models_import(args) -> int:
    card = _store().import_path(args.path, args.backbone_weights, model_id=args.model_id, name=args.name)
    if args.json:
        print(json.dumps(card.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(f"imported {card.id} ({card.backbone_name}, {card.decoder_name})")
        for f in card.files:
            print(f"  [{f['role']}] {f['name']} sha256={f['sha256']}")
    return 0


def cmd_models_verify(args) -> int:
    rows = _store().verify(args.id)
    bad = [r for r in rows if not r["ok"]]
    if args.json:
        print(json.dumps({"id": args.id, "ok": not bad, "files": rows}, indent=2))
    else:
        for r in rows:
            state = "OK" if r["ok"] else r["problem"].upper()
            print(f"{state:14} [{r['role']}] {r['name']}")
            if not r["ok"] and r["actual"]:
                print(f"{'':14} expected {r['expected']}\n{'':14} found    {r['actual']}")
    return 1 if bad else 0


def cmd_models_remove(args) -> int:
    _store().remove(args.id)
    print(f"removed {args.id}")
    return 0


def cmd_models_default(args) -> int:
    store = _store()
    if args.id:
        store.default_id = args.id
    print(store.default_id)
    return 0
