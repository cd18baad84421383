"""What a training run is asked to do: its settings (TrainConfig), what it reports (TrainProgress),
and the checks that refuse bad settings in one line before any data is read."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

from engine.decoder_spec import CONTEXTS, DEFAULT_WIDTHS
from engine.errors import DeclipError
from engine.hashing import bytes_sha256


@dataclass
class TrainConfig:
    data: str
    out: str
    backbone: str | dict = "lite0"
    backbone_weights: list[str] = field(default_factory=list)
    decoder: str = "conv-20"  # conv-N or linear
    widths: list[int] | None = None  # conv channel plan; None = the paper's 512,256,128,64
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    init_std: float = 0.02
    bn_gamma_mean: float = 0.0  # BatchNorm gamma ~ N(this, init_std); 0 as in the method facts, 1 = DCGAN style
    patience: int = 5
    min_delta: float = 0.1  # IoU percentage points (= 0.001 as a fraction, the authors' value)
    lr_factor: float = 0.1
    min_lr: float = 1e-6
    max_epochs: int = 400
    seed: int = 0
    augment: bool = False
    include_real: bool = False
    # validate (best epoch, calibrated bias) on the authentic images too; None: as include_real. Off, a
    # model trained on authentic images is still judged on its edits alone (round 26: with few authentic
    # validation images the best epoch and bias were those that flag nothing)
    val_real: bool | None = None
    train_split: str = "train"
    val_split: str = "val"
    generators: list[str] | None = None  # Dolos generators to train on (default: all)
    init: str | None = None  # official .pth or own model folder / decoder file
    cache_dir: str | None = None
    no_cache: bool = False
    device: str = "cpu"
    random_backbone: bool = False  # tests/benchmarks only: random CLIP weights
    model_id: str | None = None
    name: str | None = None
    feature_batch: int = 16
    max_train: int | None = None  # use only the first N training images (quick experiments)
    calibrate_bias: bool = False  # shift the final bias so that p > 0.5 is the best-IoU threshold on validation
    dice_weight: float = 0.0  # 0 = the authors' plain BCE; > 0 adds this times a per-image soft-Dice term
    feature_dropout: float = 0.0  # drop whole feature channels in training (regularises small data sets)
    image_context: str | None = None  # "image-mean": the decoder also sees each cell minus the image's mean
    # False: no ReLU before the conv decoder's last conv (round 31: the map then ranks evidence above the
    # last conv's bias, so a threshold calibrated on authentic images keeps them clean and still finds edits)
    last_relu: bool = True
    ema: float = 0.0  # 0 = off (the authors' recipe); else validate and keep an exponential average of the weights
    mirror: bool = False  # also train on left-right mirrored copies, whose features are cached as well
    # the model analyses each image and its mirror image and averages the maps (a card flag: training is
    # unchanged; the final threshold is calibrated on both views of the validation images)
    flip_average: bool = False
    # after the threshold calibration, scale the final logit (p = 0.5 stays where it is) so that the
    # map's probabilities match how often validation pixels at that probability are manipulated
    calibrate_scale: bool = False
    recipe: str = "authors"  # the named recipe (trainer.recipes) the values above came from; a label only
    # Lite backbones: these stages (the last feature stages) train with the decoder, from a cache of the
    # frozen part's output (trainer.stage_tuning); None = the whole backbone stays frozen
    tune_stages: list[int] | None = None
    tune_lr: float = 1e-4  # AdamW lr of the tuned stages' weights (round 30), scaled with the decoder's


@dataclass
class TrainProgress:
    """What the trainer reports. phase: 'features' | 'train' | 'epoch' | 'done'."""

    phase: str
    epoch: int = 0  # 1-based epoch being run (0 during feature extraction)
    max_epochs: int = 0
    step: int = 0  # batches done in this epoch (or images done in 'features')
    steps: int = 0
    loss: float = float("nan")  # running mean training loss of this epoch
    val_iou: float = float("nan")  # last validation IoU (percent)
    best_iou: float = float("nan")
    lr: float = 0.0
    eta_s: float = float("nan")  # seconds left in this epoch (or this extraction)
    message: str = ""


ProgressFn = Callable[[TrainProgress], None]


def parse_decoder(name: str, widths: list[int] | None, context: str | None = None, last_relu: bool = True) -> dict:
    if context and context not in CONTEXTS:
        raise DeclipError(f"--image-context {context}: expected one of {', '.join(CONTEXTS)}")
    if name == "linear":
        if context:
            raise DeclipError("--image-context needs a conv-N decoder, not linear")
        if not last_relu:
            raise DeclipError("--no-last-relu needs a conv-N decoder, not linear")
        return {"type": "linear"}
    if name.startswith("conv-") and name[5:].isdigit():
        depth = int(name[5:])
        if depth <= 0 or depth % 4:
            raise DeclipError(f"--decoder {name}: conv depth must be a positive multiple of 4 (4, 12, 20)")
        w = list(widths) if widths else list(DEFAULT_WIDTHS)
        if len(w) != 4 or any(x <= 0 for x in w):
            raise DeclipError(f"--widths {w}: expected four positive channel counts")
        spec = {"type": "conv", "depth": depth, "widths": w}
        if context:
            spec["context"] = context
        if not last_relu:  # written only when off, so cards of the paper's layout stay as they were
            spec["last_relu"] = False
        return spec
    raise DeclipError(f"--decoder {name}: expected conv-N (N = 4, 12, 20) or linear")


def check_config(cfg: TrainConfig) -> None:
    """Refuse values that would fail deep inside training (or train nonsense) in one line, up front."""
    if not 0 <= cfg.feature_dropout < 1:
        raise DeclipError(f"--feature-dropout {cfg.feature_dropout}: expected a probability in [0, 1)")
    if cfg.mirror and cfg.augment:
        raise DeclipError("--mirror works on cached features and --augment bypasses the cache; use one of them")
    if not cfg.tune_stages and cfg.tune_lr != TrainConfig.tune_lr:
        raise DeclipError(f"--tune-lr {cfg.tune_lr}: goes with --tune-stages")
    if cfg.tune_stages and cfg.augment:
        raise DeclipError("--tune-stages trains from a cache of the frozen part and --augment bypasses the cache; "
                          "use one of them")
    if not 0 <= cfg.ema < 1:
        raise DeclipError(f"--ema {cfg.ema}: expected a decay in [0, 1), e.g. 0.99 (0 = off)")
    checks = [("--lr", cfg.lr, cfg.lr > 0), ("--batch-size", cfg.batch_size, cfg.batch_size >= 1),
              ("--max-epochs", cfg.max_epochs, cfg.max_epochs >= 1), ("--patience", cfg.patience, cfg.patience >= 1),
              ("--lr-factor", cfg.lr_factor, 0 < cfg.lr_factor < 1), ("--weight-decay", cfg.weight_decay, cfg.weight_decay >= 0),
              ("--min-lr", cfg.min_lr, cfg.min_lr >= 0), ("--init-std", cfg.init_std, cfg.init_std > 0),
              ("--max-train", cfg.max_train, cfg.max_train is None or cfg.max_train >= 1),
              ("--tune-lr", cfg.tune_lr, cfg.tune_lr > 0)]
    for flag, value, ok in checks:
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise DeclipError(f"{flag} {value}: out of range")


def resume_hash(cfg: TrainConfig) -> str:
    """SHA-256 of the settings a saved state depends on: `--resume` continues only with the same ones."""
    return bytes_sha256(json.dumps(resume_settings(cfg), sort_keys=True, default=str).encode())


def settings_differ(saved: dict, cfg: TrainConfig) -> str:
    """The settings that differ between a saved state's and cfg's, as 'name: saved -> now' (for the refusal)."""
    now = json.loads(json.dumps(resume_settings(cfg), default=str))
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return "; ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys)


def resume_settings(cfg: TrainConfig) -> dict:
    """The settings a saved state depends on. flip_average and calibrate_scale change only what is
    written at the end; the recipe is a label, and the values it stands for are checked one by one."""
    keep = {k: v for k, v in asdict(cfg).items()
            if k not in ("out", "cache_dir", "no_cache", "device", "model_id", "name", "max_epochs",
                         "flip_average", "recipe", "calibrate_scale")}
    for k in ("ema", "image_context", "mirror", "tune_stages"):  # states saved before these options existed stay resumable
        if not keep[k]:
            del keep[k]
    if "tune_stages" not in keep:
        del keep["tune_lr"]
    if keep["last_relu"]:  # the default: states saved before the option existed stay resumable
        del keep["last_relu"]
    return keep
