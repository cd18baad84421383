"""What a training run (or `declip ensemble` / `declip mix`) leaves behind: decoder.safetensors and a
card.json whose `training` record says how the weights were made (data and its manifest hash, the
recipe, seeds, init weights, history, software versions), and the official .pth export."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from engine.atomic import write_text_atomic
from engine.backbones import REGISTRY, weight_roles
from engine.cards import ModelCard, model_id_from
from engine.decoder_spec import DEFAULT_WIDTHS
from engine.decoders import module_state_to_checkpoint
from engine.errors import DeclipError
from engine.hashing import bytes_sha256, file_sha256
from engine.stamps import utc_now
from engine.versions import software_versions
from engine.weights import load_state_file, save_safetensors

from .config import TrainConfig

DECODER_FILE = "decoder.safetensors"


def save_decoder(dec: torch.nn.Module, spec: dict, out: Path, label: str) -> dict:
    """Write dec as out/decoder.safetensors in the checkpoint layout; returns its card `files` entry."""
    path = Path(out) / DECODER_FILE
    save_safetensors(module_state_to_checkpoint(dec, spec), path,
                     metadata={"format": "declip-desktop decoder", "decoder": label})
    return {"role": "decoder", "name": DECODER_FILE, "path": DECODER_FILE, "sha256": file_sha256(path),
            "size": path.stat().st_size, "format": "safetensors"}


def backbone_file_entries(spec: dict, weights: list[str]) -> list[dict]:
    """Card entries of the CLIP weights a run used: referenced, not copied (`declip models import DIR
    --backbone-weights` finds them)."""
    entries = []
    for role, p in zip(weight_roles(spec), weights):
        p = Path(p)
        entries.append({"role": role, "name": p.name, "sha256": file_sha256(p), "size": p.stat().st_size,
                        "format": "clip"})
    return entries


def manifest_sha256(root: Path) -> str | None:
    """SHA-256 of a data set's manifest.json (None without one): names the exact data a run saw."""
    m = Path(root) / "manifest.json"
    return file_sha256(m) if m.is_file() else None


FINGERPRINT_METHOD = ("SHA-256 of the sorted lines '<split> <image SHA-256> <mask SHA-256, or - for an authentic "
                      "image>', one per image the run used")


def data_fingerprint(splits: dict[str, list], sha_of: Callable[[Path], str]) -> dict:
    """The files a run really used, by content: a manifest's hash stays the same when the folder's files
    are changed, and a folder without a manifest had no fingerprint at all. splits: name -> samples."""
    lines, counts = [], {}
    for name, samples in splits.items():
        for s in samples:
            lines.append(f"{name} {sha_of(s.image)} {sha_of(s.mask) if s.mask is not None else '-'}")
        counts[name] = {"images": len(samples), "masks": sum(s.mask is not None for s in samples)}
    return {"sha256": bytes_sha256("\n".join(sorted(lines)).encode()), "method": FINGERPRINT_METHOD,
            "images": len(lines), "masks": sum(c["masks"] for c in counts.values()), "splits": counts}


def training_record(cfg: TrainConfig, st: dict, n_train: int, n_val: int, best_epoch: int, shift: float,
                    scale: float, problems: int, fingerprint: dict | None = None) -> dict:
    """The card's `training` block of one `declip train` run; st is the loop's status."""
    recipe = {k: v for k, v in asdict(cfg).items() if k not in ("out", "cache_dir", "device", "data")}
    training = {"recipe": recipe, "data": str(Path(cfg.data).resolve()),
                "data_manifest_sha256": manifest_sha256(Path(cfg.data)), "data_fingerprint": fingerprint,
                "train_images": n_train,
                "val_images": n_val, "epochs": st["epoch"], "best_epoch": best_epoch, "bias_shift": shift,
                "logit_scale": round(scale, 6),
                "flip_average": cfg.flip_average,
                "history": st["history"], "problems": problems, "finished_utc": utc_now()}
    if cfg.init:
        training["init"] = st["init"]
    training["versions"] = software_versions()
    return training


def write_trained_card(cfg: TrainConfig, out: Path, spec: dict, dec_spec: dict, files: list[dict], val_iou: float,
                       training: dict) -> str:
    """card.json of a `declip train` run, with its training record; returns the model id."""
    model_id = cfg.model_id or model_id_from(out.name, "trained-model")
    card = ModelCard(
        id=model_id, name=cfg.name or f"{model_id} ({cfg.decoder} on {spec['family']})",
        backbone=spec, decoder=dec_spec, files=files,
        license="weights trained by the user; the training data's licences apply",
        training_data=_data_text(cfg.data, training),
        intended_use="localising manipulated regions similar to the training data",
        limitations="trained on a local data set; check held-out metrics before relying on it",
        metrics={"val_iou": round(val_iou, 4)}, source="declip train", created_utc=utc_now(), training=training)
    if cfg.flip_average:
        card.input["flip_average"] = True
    card.save(out)  # one atomic write, training record included
    return model_id


def _data_text(data: str, training: dict) -> str:
    """The card's one-line training data: the files' fingerprint first (what was used), then the manifest."""
    fp = training.get("data_fingerprint")
    used = f"files sha256 {fp['sha256']} ({fp['images']} images, {fp['masks']} masks); " if fp else ""
    return f"{data} ({used}manifest sha256 {training['data_manifest_sha256'] or 'none'})"


def read_card_field(folder: Path, key: str):
    """A field of a model folder's card.json that the engine's ModelCard does not model (e.g. training)."""
    try:
        return json.loads((Path(folder) / "card.json").read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError):
        return None


def add_card_field(folder: Path, key: str, value) -> None:
    """Set a field of card.json that is still empty (written atomically, like every card)."""
    p = Path(folder) / "card.json"
    d = json.loads(p.read_text(encoding="utf-8"))
    if d.get(key) in (None, {}, []):
        d[key] = value
        write_text_atomic(p, json.dumps(d, indent=2, ensure_ascii=False) + "\n")


def official_layout_refusal(backbone: dict, decoder: dict) -> str | None:
    """Why a model of this backbone and decoder has no official DeCLIP .pth layout (None: it has one).
    `declip train --export-official` asks before training, not after an hour of it."""
    family = REGISTRY.get(backbone.get("family"))
    if family is None or not family.official_layout or decoder.get("context") or decoder.get("members", 1) > 1 or (
            decoder.get("last_relu", True) is False) or (
            decoder.get("type", "conv") == "conv" and list(decoder.get("widths", DEFAULT_WIDTHS)) != list(DEFAULT_WIDTHS)):
        return ("the official layout exists only for CLIP ViT or fusion backbones with the paper's decoder "
                "(widths, no image context, one decoder, a ReLU before the last conv)")
    return None


def export_official(model_dir: Path, out_path: Path) -> Path:
    """Write the decoder in the official DeCLIP .pth layout (CLIP ViT / fusion, paper widths only)."""
    card = ModelCard.load(model_dir)
    fam = card.backbone["family"]
    dec = card.decoder
    why = official_layout_refusal(card.backbone, dec)
    if why:
        raise DeclipError(f"{model_dir}: {why}; this model is {fam} {card.decoder_name}")
    fc = load_state_file(card.path_of("decoder"))
    layer = card.backbone.get("layer") if fam == "clip-vit" else card.backbone["vit"]["layer"]
    dtype = "linear" if dec.get("type") == "linear" else f"conv-{dec.get('depth', 20)}"
    torch.save({"model": {k: v for k, v in fc.items() if k.startswith("fc.")}, "optimizer": {},
                "total_steps": 0, "feature_layer": f"layer{layer}", "decoder_type": dtype}, out_path)
    return Path(out_path)
