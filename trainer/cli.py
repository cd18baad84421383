"""`declip synth`, `declip train`, `declip ensemble`, `declip mix`, `declip evaluate`: registered on the main
`declip` parser."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from engine.cli import device_arg
from engine.decoder_spec import CONTEXTS
from engine.errors import Cancelled, DeclipError

from .recipes import DEFAULT_RECIPE, RECIPES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="make a training set of synthetic manipulations from authentic photos")
    p.add_argument("--photos", required=True, type=Path, help="folder of authentic photos (LICENSES.json optional)")
    p.add_argument("--out", required=True, type=Path, help="new data set folder")
    p.add_argument("--count", required=True, type=int, help="number of manipulated images (all splits)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split", default="0.7,0.15,0.15", help="train,val,test fractions of photo groups")
    p.add_argument("--real-fraction", type=float, default=0.15, help="authentic images per manipulated image")
    p.add_argument("--size", default="256,512", help="min,max long side of the output images")
    p.add_argument("--kinds", default="v2", choices=["v1", "v2"],
                   help="edit kinds: v2 (default) adds Poisson/resampled splices, clone-stamp, line removal, "
                        "retouching and double JPEG to v1's splice, copy-move and inpainting")
    p.add_argument("--workers", type=int, default=1,
                   help="processes making items in parallel (the data set is the same for any number)")
    p.set_defaults(func=cmd_synth, _parser=p)

    p = sub.add_parser("train", help="train a decoder on a frozen backbone (authors' recipe by default)",
                       description="Defaults marked 'small-data:' apply with --recipe small-data; a flag given "
                                   "explicitly always wins over the recipe.")
    p.add_argument("--data", required=True, type=Path, help="data set: generic/synth, or a Dolos root")
    p.add_argument("--recipe", default=DEFAULT_RECIPE, choices=list(RECIPES),
                   help="authors = the published settings (large data sets); small-data = the default model's "
                        "recipe (docs/default-model.md). See trainer/recipes.py")
    p.add_argument("--backbone", default="lite0",
                   help="clip-vit-l14, clip-rn50, fusion, lite0, lite1, lite2, or a JSON backbone spec")
    p.add_argument("--stages", default=None, help="lite0/1/2: feature stages, e.g. 3,4 (default from the preset; small-data: 3,4)")
    p.add_argument("--grid", type=int, default=None, help="lite0/1/2: feature grid side (default 16; small-data: 32)")
    p.add_argument("--input-size", type=int, default=None, help="lite0/1/2: input side in pixels (default 224/240/260; small-data: 448)")
    p.add_argument("--layer", type=int, default=None, help="CLIP ViT block / RN50 layer (default 20 / 3)")
    p.add_argument("--backbone-weights", action="append", default=[], metavar="PATH",
                   help="CLIP weights file (repeat for fusion); lite0/1/2 need none")
    p.add_argument("--decoder", default=None, help="conv-N (N = 4, 12, 20) or linear (default conv-20; small-data: conv-4)")
    p.add_argument("--widths", default=None,
                   help="conv channel plan, four numbers (default 512,256,128,64; small-data: 64,32,16,8)")
    p.add_argument("--out", required=True, type=Path, help="output model folder (card.json + weights)")
    p.add_argument("--init", type=Path, help="start from an official .pth or own model folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=None, help="(default 64; small-data: 16)")
    p.add_argument("--init-std", type=float, default=0.02)
    p.add_argument("--bn-gamma-mean", type=float, default=None,
                   help="BatchNorm gamma init mean (default 0, the method facts; small-data: 1, identity scale)")
    p.add_argument("--patience", type=int, default=None,
                   help="epochs without improvement before lr decay (default 5; small-data: 2)")
    p.add_argument("--min-delta", type=float, default=0.1, help="IoU points that count as an improvement")
    p.add_argument("--lr-factor", type=float, default=0.1)
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--max-epochs", type=int, default=None, help="(default 400; small-data: 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", action="store_true", help="blur/jitter/JPEG augmentation (bypasses the cache)")
    p.add_argument("--include-real", action="store_true", help="also train on authentic images (empty masks)")
    p.add_argument("--val-real", action=argparse.BooleanOptionalAction, default=None,
                   help="also validate on authentic images (clean when <= 1 %% of pixels are flagged); "
                        "default: as --include-real")
    p.add_argument("--calibrate-bias", action=argparse.BooleanOptionalAction, default=None,
                   help="fold the best-IoU threshold on validation into the final bias (not in the paper; "
                        "small-data: on)")
    p.add_argument("--calibrate-scale", action=argparse.BooleanOptionalAction, default=None,
                   help="after the threshold, scale the final logit (masks at 0.5 unchanged) so that the map's "
                        "probabilities match validation pixel frequencies (not in the paper; small-data: on)")
    p.add_argument("--dice-weight", type=float, default=0.0,
                   help="add this times a per-image soft-Dice loss to BCE (0 = the authors' BCE only)")
    p.add_argument("--feature-dropout", type=float, default=None, metavar="P",
                   help="drop whole feature channels with probability P in training (default 0, the paper's "
                        "recipe; small-data: 0.5)")
    p.add_argument("--image-context", nargs="?", const="image-mean", default=None, choices=[*CONTEXTS, "none"],
                   help="the conv decoder also sees each feature cell minus the image's mean of that channel "
                        "(not in the paper; doubles the first conv's input; small-data: image-mean; "
                        "'none' turns it off)")
    p.add_argument("--no-last-relu", dest="last_relu", action="store_false",
                   help="no ReLU before the conv decoder's last conv, so the map can rank evidence above the "
                        "last conv's bias (not in the paper; research/default-model-log.md, round 31)")
    p.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="validate and keep an exponential moving average of the weights, e.g. 0.99 "
                        "(default 0 = off, the paper's recipe; small-data: 0.99)")
    p.add_argument("--mirror", action="store_true",
                   help="also train on left-right mirrored copies (features cached too; not in the paper)")
    p.add_argument("--flip-average", action="store_true",
                   help="the model's map is the mean of the image's and its mirror image's (twice the backbone "
                        "time; training is unchanged, the final threshold is calibrated on both views)")
    p.add_argument("--tune-stages", default=None, metavar="N[,M]",
                   help="lite0/1/2: also train these feature stages (the last ones, e.g. 3,4) with the decoder; "
                        "the stem and earlier stages stay frozen and their output is cached once (round 30: 7.5 min an "
                        "epoch for 1463 Lite2 images on 2 CPU cores, 4.5 frozen); the model folder gains "
                        "backbone_stages.safetensors")
    p.add_argument("--tune-lr", type=float, default=1e-4,
                   help="with --tune-stages: AdamW lr of the tuned stages' weights (default 1e-4, scaled with "
                        "--lr by the plateau decay)")
    p.add_argument("--max-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--generators", default=None, help="Dolos generators to train on, comma separated")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder (default DECLIP_HOME/feature-cache)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--device", default="cpu", type=device_arg)
    p.add_argument("--id", dest="model_id", default=None, help="model id for the card (default: --out name)")
    p.add_argument("--name", default=None)
    p.add_argument("--export-official", type=Path, default=None, metavar="PTH",
                   help="also write the decoder in the official DeCLIP .pth layout")
    p.set_defaults(func=cmd_train, _parser=p)

    p = sub.add_parser("ensemble", help="combine trained decoders of one form into one model (mean of their logits)")
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL_DIR", help="two or more `declip train` folders")
    p.add_argument("--out", required=True, type=Path, help="output model folder (card.json + weights)")
    p.add_argument("--data", type=Path, default=None,
                   help="data set whose validation split calibrates the combined threshold (as --calibrate-bias)")
    p.add_argument("--val-split", default="val")
    p.add_argument("--flip-average", action="store_true",
                   help="the model's map is the mean of the image's and its mirror image's (twice the backbone "
                        "time; --data then calibrates on both views)")
    p.add_argument("--calibrate-scale", action="store_true",
                   help="with --data: after the threshold, scale the combined logit (masks at 0.5 unchanged) so "
                        "that the map's probabilities match validation pixel frequencies")
    p.add_argument("--select", type=int, default=None, metavar="N",
                   help="with --data: the folders are candidates; keep at most N of them, chosen one by one by "
                        "the validation IoU of their mean (forward selection; the best-scoring prefix is kept)")
    p.add_argument("--include-real", action="store_true",
                   help="with --data: selection and threshold also score the authentic validation images "
                        "(100 when nothing is flagged, else 0), so false alarms count against a candidate")
    p.add_argument("--authentic-budget", type=float, default=None, metavar="SHARE",
                   help="with --data and --include-real: the threshold is the one with the best IoU on the edits "
                        "among those flagging at most SHARE of the authentic validation images, e.g. 0.1 (round "
                        "31; meant for members trained with --no-last-relu)")
    p.add_argument("--id", dest="model_id", default=None, help="model id for the card (default: --out name)")
    p.add_argument("--name", default=None)
    p.add_argument("--device", default="cpu", type=device_arg)
    p.set_defaults(func=cmd_ensemble)

    p = sub.add_parser("mix", help="combine whole models on different EfficientNet-Lite backbones into one model "
                                   "(weighted sum of their logits)")
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL_DIR",
                   help="two to four model folders (`declip train` or `declip ensemble`) with the same input and grid")
    p.add_argument("--out", required=True, type=Path, help="output model folder (card.json + weights)")
    p.add_argument("--data", type=Path, default=None,
                   help="data set whose validation split fits the weights, the threshold and the logit scale")
    p.add_argument("--val-split", default="val")
    p.add_argument("--weights", default=None, metavar="W,W",
                   help="the parts' weights, one per model (default: fitted with --data for two models, else equal)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file size)")
    p.add_argument("--id", dest="model_id", default=None, help="model id for the card (default: --out name)")
    p.add_argument("--name", default=None)
    p.add_argument("--device", default="cpu", type=device_arg)
    p.set_defaults(func=cmd_mix)

    p = sub.add_parser("evaluate", help="localisation/detection metrics of a model on a data set",
                       description="Data sets: synth/generic, Dolos, AutoSplice, or a benchmark folder with a "
                                   "manifest.json list (../shared/benchmarks/external-v1). Prints IoU, pixel AP, F1 "
                                   "and best F1 overall and per kind, image AP beside its chance level, the share of "
                                   "authentic images flagged (> 1 % of pixels above the threshold), and the ELA "
                                   "baseline.")
    p.add_argument("--model", action="append", default=[], metavar="ID|DIR",
                   help="model id or folder; for a Dolos ID/OOD table repeat as GENERATOR=ID")
    p.add_argument("--baseline", choices=["ela"], help="evaluate the ELA baseline instead of a model")
    p.add_argument("--layer", default=None, metavar="NAME",
                   help="evaluate an evidence layer (ela, ghost, noise, dq, clones, resampling) instead of a model, "
                        "at the layer's own default threshold unless --threshold is given")
    p.add_argument("--layer-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of --layer (a JSON value, or the text itself), e.g. method=dense for clones")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--split", default=None,
                   help="the split to score (default: test; a folder without train/ val/ test/ subfolders is "
                        "scored as a whole, and only when no split is given)")
    p.add_argument("--generators", default=None, help="Dolos generators to test on, comma separated")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON")
    p.add_argument("--csv", type=Path, default=None, help="write per-image metrics as CSV")
    p.add_argument("--no-ela", action="store_true", help="skip the ELA baseline that is scored beside the model")
    p.add_argument("--threshold", type=float, default=None,
                   help="probability above which a pixel counts as flagged (IoU, F1, authentic images flagged); "
                        "default 0.5, or the layer's own threshold with --layer")
    p.add_argument("--sweep", default=None, metavar="T1,T2,...",
                   help="also score these thresholds from the same maps (IoU per kind, authentic images flagged), "
                        "e.g. to choose a layer's default threshold on validation data")
    p.add_argument("--device", default="cpu", type=device_arg)
    p.set_defaults(func=cmd_evaluate, _parser=p)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _usage_error(args, msg: str):
    """A command line that cannot be run as given: exit 2, the usage-error code, in one line (argparse's
    parser.error would print the whole, long usage first)."""
    args._parser.exit(2, f"{args._parser.prog}: error: {msg}\n")


def _need_data(args) -> None:
    if not Path(args.data).exists():
        _usage_error(args, f"--data {args.data}: no such file or folder")


def cmd_synth(args) -> int:
    from .synth import synthesize

    problem = _synth_settings_problem(args)
    if problem:  # a usage error (exit 2), before any photo is read
        _usage_error(args, problem)
    fr = tuple(float(x) for x in args.split.split(","))
    size = tuple(int(x) for x in args.size.split(","))
    t0 = time.time()

    def prog(done, total, msg):
        if done == total or done % 50 == 0:
            _err(f"synth {done}/{total} ({msg})")

    m = synthesize(args.photos, args.out, args.count, args.seed, fr, args.real_fraction, size, prog,
                   warn=lambda msg: _err(f"warning: {msg}"), workers=args.workers, kind_set=args.kinds)
    n = len(m["items"])
    print(f"{n} images in {args.out} ({time.time() - t0:.0f} s); manifest {args.out / 'manifest.json'}")
    return 0


def _synth_settings_problem(args) -> str | None:
    """What is wrong with synth's numbers, in one line, or None."""
    try:
        fr = [float(x) for x in args.split.split(",")]
        size = [int(x) for x in args.size.split(",")]
    except ValueError:
        fr, size = [], []
    if len(fr) != 3 or not all(math.isfinite(f) and f >= 0 for f in fr) or not sum(fr) > 0:
        return f"--split needs three fractions that are not negative, e.g. 0.7,0.15,0.15 (found {args.split!r})"
    if len(size) != 2 or not 32 <= size[0] <= size[1] <= 8192:
        return f"--size needs two sides, smallest first, 32 to 8192 px, e.g. 256,512 (found {args.size!r})"
    if args.count < 1:
        return f"--count must be at least 1 (found {args.count})"
    if not 1 <= args.workers <= 256:  # as synthesize() checks for Python callers
        return f"--workers {args.workers}: expected 1..256 processes"
    if not (math.isfinite(args.real_fraction) and args.real_fraction >= 0):
        return f"--real-fraction must be 0 or more (found {args.real_fraction})"
    return None


def console_progress():
    """The console view of TrainProgress: one line per epoch, a throttled line while working."""
    last = [0.0]

    def show(p) -> None:
        now = time.time()
        if p.phase == "epoch":
            _err(f"epoch {p.epoch}: loss {p.loss:.4f}  val IoU {p.val_iou:.2f}  best {p.best_iou:.2f}  lr {p.lr:.0e}")
        elif now - last[0] > 10 or p.step == p.steps:
            eta = "" if math.isnan(p.eta_s) else f"  ETA {p.eta_s:.0f} s"
            if p.phase == "features":
                _err(f"{p.message}{eta}")
            else:
                _err(f"epoch {p.epoch} batch {p.step}/{p.steps}  loss {p.loss:.4f}{eta}")
            last[0] = now

    return show


def _int_list(text, error: Exception):
    """A comma-separated list of whole numbers (None when not given); `error` when it is not one."""
    if not text:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise error from None


def _widths(text):
    return _int_list(text, DeclipError(f"--widths {text}: expected four integers, e.g. 128,64,32,16"))


def train_config(args):
    """The TrainConfig a `declip train` command line stands for: explicit flags, else the recipe's values,
    else the authors' defaults."""
    from engine.backbones import is_lite

    from . import recipes
    from .train import TrainConfig

    backbone = args.backbone
    if backbone.strip().startswith("{"):
        try:
            backbone = json.loads(backbone)
        except ValueError as exc:
            raise DeclipError(f"--backbone: not valid JSON ({exc})") from None
    # flags a recipe may set are None unless given; "none" is an explicit "off" for the image context
    given = {"decoder": args.decoder, "widths": _widths(args.widths), "batch_size": args.batch_size,
             "patience": args.patience, "bn_gamma_mean": args.bn_gamma_mean, "calibrate_bias": args.calibrate_bias,
             "calibrate_scale": args.calibrate_scale,
             "feature_dropout": args.feature_dropout, "image_context": args.image_context, "ema": args.ema,
             "max_epochs": args.max_epochs}
    chosen = recipes.resolve(args.recipe, given)
    if chosen["image_context"] == "none":
        chosen["image_context"] = None
    cfg = TrainConfig(
        data=str(args.data), out=str(args.out), backbone=backbone, backbone_weights=[str(p) for p in args.backbone_weights],
        lr=args.lr, weight_decay=args.weight_decay, init_std=args.init_std, min_delta=args.min_delta,
        lr_factor=args.lr_factor, min_lr=args.min_lr, seed=args.seed,
        augment=args.augment, include_real=args.include_real, val_real=args.val_real, train_split=args.train_split,
        val_split=args.val_split, generators=args.generators.split(",") if args.generators else None,
        init=str(args.init) if args.init else None, cache_dir=str(args.cache) if args.cache else None,
        no_cache=args.no_cache, device=args.device, model_id=args.model_id, name=args.name,
        max_train=args.max_train, dice_weight=args.dice_weight, mirror=args.mirror,
        flip_average=args.flip_average, recipe=args.recipe, tune_stages=_tune_stages(args.tune_stages),
        tune_lr=args.tune_lr, last_relu=args.last_relu, **chosen)
    try:
        cfg.backbone = _resolve(cfg.backbone)
        _apply_backbone_flags(cfg.backbone, args)
        if isinstance(backbone, str) and is_lite(cfg.backbone):  # a JSON spec is explicit: the recipe leaves it alone
            cfg.backbone = recipes.lite_backbone(args.recipe, cfg.backbone, {"stages": args.stages, "grid": args.grid,
                                                                              "input_size": args.input_size})
        from engine.backbones import build_backbone

        build_backbone(cfg.backbone, meta=True)  # the final spec, checked now, not after the data is read
    except (ValueError, KeyError, TypeError) as exc:
        raise DeclipError(f"--backbone: {exc}") from None
    if cfg.tune_stages:
        from .stage_tuning import check_tune_stages

        check_tune_stages(cfg.backbone, cfg.tune_stages)
    return cfg


def _tune_stages(text):
    if not text:
        return None
    from .stage_tuning import TuneStagesError  # imports torch: only when the option is given

    return _int_list(text, TuneStagesError(f"--tune-stages {text}: expected stage numbers, e.g. 3,4"))


def cmd_train(args) -> int:
    from .card_output import export_official, official_layout_refusal
    from .stage_tuning import TuneStagesError
    from .train import Trainer

    from .config import check_config, parse_decoder

    _need_data(args)
    try:  # settings that cannot work are usage errors (exit 2), found before anything is read or written
        cfg = train_config(args)
        check_config(cfg)
        dec_spec = parse_decoder(cfg.decoder, cfg.widths, cfg.image_context, cfg.last_relu)
        why = official_layout_refusal(cfg.backbone, dec_spec) if args.export_official else None
        if why:
            raise DeclipError(f"--export-official: {why}; drop the flag or change the backbone or decoder")
    except (TuneStagesError, DeclipError) as exc:
        _usage_error(args, str(exc))
    trainer = Trainer(cfg, progress=console_progress(), log=_err)
    try:
        res = trainer.run(resume=args.resume)
    except Cancelled as exc:  # Ctrl-C: the shell's code for an interrupted command
        _err(f"declip: {exc}")
        return 130
    print(f"model {res['model_id']}: best val IoU {res['best_val_iou']:.2f} at epoch {res['best_epoch']} "
          f"-> {res['card']}")
    if res["problems"]:
        _err(f"{len(res['problems'])} data problems (see warnings above)")
    if args.export_official:
        print(f"official layout: {export_official(args.out, args.export_official)}")
    return 0


def cmd_ensemble(args) -> int:
    from .ensemble import build_ensemble

    res = build_ensemble(args.models, args.out, args.model_id, args.name, args.data, args.val_split, args.device,
                         flip_average=args.flip_average, calibrate_scale=args.calibrate_scale, select=args.select,
                         log=_err, include_real=args.include_real, authentic_budget=args.authentic_budget)
    scale = f", logit scale {res['logit_scale']:.3f}" if args.calibrate_scale else ""
    iou = (f", val IoU {res['val_iou']:.2f} (shift {res['bias_shift']:+.2f}{scale})"
           if res["val_iou"] is not None else "")
    print(f"model {res['model_id']}: mean of {res['members']} decoders{iou} -> {res['card']}")
    return 0


def cmd_mix(args) -> int:
    from engine.decoder_spec import MAX_MIXTURE_COEFFICIENT

    from .mixture import build_mixture

    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise DeclipError(f"--weights {args.weights}: expected numbers separated by commas, e.g. 0.4,0.6") from None
        bound = MAX_MIXTURE_COEFFICIENT  # the card check's bound, so a model written here always loads
        if not all(math.isfinite(w) and abs(w) <= bound for w in weights):
            raise DeclipError(f"--weights {args.weights}: each weight must be a finite number from -{bound:g} to {bound:g}")
    res = build_mixture(args.models, args.out, args.model_id, args.name, args.data, args.val_split, weights,
                        args.device, args.half, log=_err)
    iou = f", val IoU {res['val_iou']:.2f}" if res["val_iou"] is not None else ""
    terms = " + ".join(f"{w:.3f} x part {i}" for i, w in enumerate(res["weights"]))
    print(f"model {res['model_id']}: {terms} {res['bias']:+.3f}{iou} -> {res['card']}")
    return 0


def _apply_backbone_flags(spec: dict, args) -> None:
    from engine.backbones import LITE_FAMILIES

    fam = spec["family"]
    if (args.stages or args.grid is not None or args.input_size is not None) and fam not in LITE_FAMILIES:
        raise DeclipError("--stages/--grid/--input-size apply to the EfficientNet-Lite backbones (lite0/1/2) only")
    if args.stages:
        try:
            spec["stages"] = [int(s) for s in args.stages.split(",")]
        except ValueError:
            raise DeclipError(f"--stages {args.stages}: expected stage numbers 0..6, e.g. 3,4") from None
    if args.grid is not None:  # 0 is an error, not "unset"
        if not 1 <= args.grid <= 128:
            raise DeclipError(f"--grid {args.grid}: expected a feature grid side from 1 to 128")
        spec["grid"] = args.grid
    if args.input_size is not None:
        if not 32 <= args.input_size <= 4096:
            raise DeclipError(f"--input-size {args.input_size}: expected 32 to 4096 px")
        spec["input_size"] = args.input_size
    if args.layer is not None:
        if fam == "clip-vit" or fam == "clip-rn":
            spec["layer"] = args.layer
        elif fam == "fusion":
            spec["vit"]["layer"] = args.layer
        else:
            raise DeclipError("--layer applies to CLIP backbones; use --stages for lite0/1/2")


def _resolve(spec):
    import copy

    from engine.backbones import resolve_spec

    return copy.deepcopy(resolve_spec(spec))  # flags edit it; never the shared presets


def _layer_producer(name: str, params: list[str]):
    """`--layer NAME --layer-param K=V ...` as a MapProducer (a refused image scores as an empty map)."""
    from .producers import evidence_producer

    from engine.evidence import parse_key_value

    kw = dict(parse_key_value(kv, "--layer-param") for kv in params)
    return evidence_producer(name, **kw)  # an unknown name is an EvidenceError naming the layers


def _evaluate_settings(args) -> tuple:
    """(producer or None, threshold, sweep) of an evaluate command line; DeclipError when it cannot be run."""
    chosen = [f for f, v in (("--model", args.model), ("--baseline", args.baseline), ("--layer", args.layer)) if v]
    if not chosen:
        raise DeclipError("give --model ID|DIR (or --baseline ela, or --layer NAME)")
    if len(chosen) > 1:
        raise DeclipError(f"give one of {', '.join(chosen)} (they are evaluated one at a time)")
    threshold = args.threshold
    if threshold is not None and not 0.0 <= threshold <= 1.0:  # NaN fails this too
        raise DeclipError(f"--threshold {threshold:g}: give a probability between 0 and 1, e.g. 0.5")
    sweep = []
    if args.sweep:
        try:
            sweep = [float(t) for t in args.sweep.split(",") if t.strip()]
        except ValueError:
            raise DeclipError(f"--sweep {args.sweep}: give thresholds between 0 and 1, e.g. 0.3,0.5,0.7") from None
        if not sweep or not all(0.0 <= t <= 1.0 for t in sweep):
            raise DeclipError(f"--sweep {args.sweep}: give thresholds between 0 and 1, e.g. 0.3,0.5,0.7")
    producer = None
    if args.layer:
        producer = _layer_producer(args.layer, args.layer_param)
        threshold = producer.meta["threshold"] if threshold is None else threshold
    elif args.layer_param:
        raise DeclipError("--layer-param goes with --layer")
    return producer, 0.5 if threshold is None else threshold, sweep


def _check_outputs(args) -> None:
    """--json and --csv can be written: checked before a run that can take an hour, not after it."""
    from .write_errors import check_writable

    for flag, out in (("--json", args.json), ("--csv", args.csv)):
        if out is None:
            continue
        if not Path(out).parent.is_dir():
            raise DeclipError(f"{flag} {out}: the folder {Path(out).parent} does not exist")
        if Path(out).is_dir():
            raise DeclipError(f"{flag} {out}: is a folder; give a file name")
        check_writable(Path(out).parent, out)  # read-only or full


def cmd_evaluate(args) -> int:
    from .evaluate import dolos_table, dump_json, format_summary, format_table, run_evaluation
    from .datasets import detect_layout, flat_layout_error, is_flat_generic

    _need_data(args)
    try:
        producer, threshold, sweep = _evaluate_settings(args)
    except DeclipError as exc:  # an unknown layer, a bad parameter, flags that do not go together
        _usage_error(args, str(exc))
    _check_outputs(args)
    gens = args.generators.split(",") if args.generators else None
    if args.split is not None and detect_layout(args.data) == "generic" and is_flat_generic(args.data):
        # scoring "the test split" of a flat folder would score the images a model may have trained on
        raise DeclipError(f"{flat_layout_error(args.data, args.split)}; or leave out --split to score the "
                          "whole folder as one set")
    pairs = [m.split("=", 1) for m in args.model if "=" in m and not Path(m).exists()]
    if pairs and detect_layout(args.data) == "dolos":
        if args.csv or args.generators:
            _usage_error(args, "--csv and --generators apply to one model; the GENERATOR=ID table covers every "
                               "generator")
        res = dolos_table(dict(pairs), args.data, args.split or "test", args.device)
        print(format_table(res))
        if args.json:
            dump_json(res, args.json)
        return 0
    if len(args.model) > 1:
        _usage_error(args, "several --model values need GENERATOR=ID form and a Dolos data set")

    def prog(done, total, name):
        if done == total or done % 25 == 0:
            _err(f"evaluate {done}/{total}")

    res = run_evaluation(args.model[0] if args.model else None, args.data, args.split, args.baseline,
                         args.device, args.csv, gens, prog, with_ela=not args.no_ela, producer=producer,
                         threshold=threshold, sweep=sweep)
    m = res["metrics"]
    for prob in m["problems"][:20]:  # before the table, so a skipped image is not read past
        _err(f"warning: {prob}")
    if len(m["problems"]) > 20:
        _err(f"warning: {len(m['problems']) - 20} more problems (see --json)")
    print(format_summary(res))
    if args.json:
        dump_json(res, args.json)
    return 1 if m["failed"] or m.get("skipped") else 0
