"""`declip train --tune-stages`: the last EfficientNet-Lite stages trained with the decoder (round 30 of
research/default-model-log.md, built into the trainer).

The stem and the stages before the first tuned one stay frozen, so their output is computed once per
image and cached in fp16 like features (trainer.features.pre_stage_key). Each step runs the tuned
stages on that cached output, then the decoder. The tuned stages' BatchNorm layers stay in eval mode
(ImageNet statistics): batches of 16 at a 28x28 stage grid are too small to re-estimate them, and
round 30 kept them. Their weights train with AdamW at their own lr (round 30: 1e-4, a tenth of the
decoder's), scaled with the decoder's lr by the plateau schedule.

What the run leaves: backbone_stages.safetensors (the tuned stages' tensors under the backbone's own
names) in the model folder, listed in the card's files as role "backbone-stages" with its SHA-256, and
the backbone spec's `tuned_stages`; the engine loads it over the packaged ImageNet weights.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from engine.backbones import LITE_FAMILIES, describe
from engine.backbones.efficientnet_lite import LiteBackbone, load_tuned_stages, stage_tensor_names
from engine.cards import STAGES_ROLE, ModelCard
from engine.errors import DeclipError
from engine.hashing import file_sha256
from engine.weights import load_state_file, save_safetensors

STAGES_FILE = "backbone_stages.safetensors"
# The stem and stages 0-1 always stay frozen: the cached input of stage 1 would be 16 x 224 x 224 values
# per image at 448 px (1.6 MB in fp16), held in memory for the whole split, and they run at the highest
# resolution, where training costs most on a CPU.
MIN_TUNED_STAGE = 2
DEFAULT_TUNE_LR = 1e-4  # round 30's lr for the stage weights


class TuneStagesError(DeclipError):
    """A --tune-stages value that does not fit the backbone (a usage error on the command line)."""


def check_tune_stages(spec: dict, tuned) -> list[int]:
    """The sorted tuned stages, or TuneStagesError naming what is wrong.

    Tuned stages are feature stages, run without a gap up to the deepest feature stage (all of them are
    on the gradient's path), start no earlier than MIN_TUNED_STAGE, and no feature stage comes before
    the last frozen stage, whose output is the cache."""
    given = ",".join(str(s) for s in tuned)
    if spec.get("family") not in LITE_FAMILIES:
        raise TuneStagesError(f"--tune-stages {given}: applies to EfficientNet-Lite backbones (lite0, lite1, lite2), "
                              f"not {describe(spec)}")
    stages = sorted(set(int(s) for s in tuned))
    if not stages or len(stages) != len(list(tuned)):
        raise TuneStagesError(f"--tune-stages {given}: expected distinct stage numbers, e.g. 3,4")
    feature = sorted(int(s) for s in spec["stages"])
    deepest, first = feature[-1], stages[0]
    outside = [s for s in stages if s not in feature]
    if outside:
        raise TuneStagesError(f"--tune-stages {given}: stage {outside[0]} is not one of the backbone's feature "
                              f"stages {feature} (--stages)")
    if first < MIN_TUNED_STAGE:
        raise TuneStagesError(f"--tune-stages {given}: stages before {MIN_TUNED_STAGE} stay frozen (their cached "
                              "output would be too large to hold in memory)")
    if stages != list(range(first, deepest + 1)):
        want = ",".join(str(s) for s in range(first, deepest + 1))
        raise TuneStagesError(f"--tune-stages {given}: the tuned stages must run without a gap to the deepest "
                              f"feature stage {deepest} (e.g. --tune-stages {want})")
    early = [s for s in feature if s < first - 1]
    if early:
        raise TuneStagesError(f"--tune-stages {given}: feature stage {early[0]} comes before stage {first - 1}, "
                              f"whose output is the cache; tune from stage {early[0] + 1} or drop stage {early[0]} "
                              "from --stages")
    return stages


class FrozenPrefix(nn.Module):
    """The stem and the stages before the first tuned one: what the pre-stage cache holds."""

    def __init__(self, backbone: LiteBackbone, first_tuned: int):
        super().__init__()
        self.backbone = backbone
        self.last = first_tuned - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.run_through(x, self.last)


class TunedNet(nn.Module):
    """Cached pre-stage output -> tuned stages -> feature grid -> decoder logits.

    Holds the whole backbone module (the engine's own forward, LiteBackbone.features_from, so training
    and analysis compute the same function), but only the tuned stages' weights require gradients, and
    LiteBackbone.train() keeps every BatchNorm in eval mode."""

    def __init__(self, backbone: LiteBackbone, tuned: list[int], decoder: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.tuned = list(tuned)
        self.first = min(tuned)
        self.decoder = decoder
        for name, p in backbone.named_parameters():
            p.requires_grad_(_stage_of(name) in self.tuned)

    def stage_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.backbone.named_parameters() if _stage_of(n) in self.tuned]

    def stage_tensor_keys(self) -> list[str]:
        """The state-dict keys (in this module) of the tuned weights: what the weight average follows.
        The frozen stem and stages and the tuned stages' fixed BatchNorm statistics are left out, so they
        stay exactly the ImageNet values."""
        trained = {n for n, p in self.backbone.named_parameters() if p.requires_grad}
        return [f"backbone.{n}" for n in trained]

    def features(self, h: torch.Tensor) -> torch.Tensor:
        return self.backbone.features_from(h, self.first)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.features(h))

    def stage_state(self) -> dict[str, torch.Tensor]:
        """The tuned stages' tensors under the backbone's names, as the card's file holds them."""
        sd = self.backbone.state_dict()
        return {k: sd[k].detach().cpu().contiguous() for k in stage_tensor_names(self.backbone, self.tuned)}


class StageFeatures(nn.Module):
    """TunedNet up to the feature grid: the input module feature dropout acts after (decoder_setup)."""

    def __init__(self, net: TunedNet):
        super().__init__()
        self.net = [net]  # a plain list: not a second registration of the same parameters

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net[0].features(h)


def _stage_of(param_name: str) -> int | None:
    parts = param_name.split(".")
    return int(parts[1]) if parts[0] == "blocks" and len(parts) > 1 and parts[1].isdigit() else None


def ema_source(model: nn.Module) -> dict[str, torch.Tensor]:
    """The live tensors the weight average follows: all of them, except for a TunedNet only the decoder and
    the tuned weights."""
    sd = model.state_dict()
    if not isinstance(model, TunedNet):
        return sd
    keep = set(model.stage_tensor_keys())
    return {k: v for k, v in sd.items() if k.startswith("decoder.") or k in keep}


def save_stages(net: TunedNet, out: Path, family: str) -> dict:
    """Write the tuned stages as out/backbone_stages.safetensors; returns its card `files` entry."""
    path = Path(out) / STAGES_FILE
    save_safetensors(net.stage_state(), path, metadata={
        "format": "declip-desktop backbone stages", "family": family,
        "stages": ",".join(str(s) for s in net.tuned)})
    return {"role": STAGES_ROLE, "name": STAGES_FILE, "path": STAGES_FILE, "sha256": file_sha256(path),
            "size": path.stat().st_size, "format": "safetensors"}


def init_stages(net: TunedNet, init: Path) -> dict | None:
    """--init from a model folder with tuned stages: start from its stage weights too (a second cycle).

    Returns what to record ({file, sha256, stages}), None when the folder has no tuned stages (the stages
    then start from ImageNet). Refused: a folder tuned on other stages."""
    init = Path(init)
    if not init.is_dir():
        return None
    card = ModelCard.load(init)
    theirs = card.backbone.get("tuned_stages")
    if not theirs:
        return None
    if sorted(theirs) != net.tuned:
        raise DeclipError(f"--init {init}: its backbone stages {sorted(theirs)} are tuned, this run tunes "
                          f"{net.tuned}; tune the same stages to continue it")
    path = card.path_of(STAGES_ROLE)
    sha = file_sha256(path)
    want = (card.file(STAGES_ROLE) or {}).get("sha256")
    if want and want != sha:
        raise DeclipError(f"{path}: SHA-256 {sha} does not match its card's {want}; the file was changed")
    load_tuned_stages(net.backbone, net.tuned, load_state_file(path), str(path))
    return {"file": str(path.resolve()), "sha256": sha, "stages": net.tuned}


def refuse_without_stages(init: Path | None) -> None:
    """A run on the untuned backbone must not start from a decoder that was trained on tuned stages."""
    if init is None or not Path(init).is_dir():
        return
    card = ModelCard.load(init)
    if card.backbone.get("tuned_stages"):
        raise DeclipError(f"--init {init}: its decoder was trained on tuned backbone stages "
                          f"{card.backbone['tuned_stages']}; add --tune-stages "
                          f"{','.join(str(s) for s in sorted(card.backbone['tuned_stages']))}")
