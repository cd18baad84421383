"""Model cards: what a model is, which files it needs, and how far it can be trusted.

A card is JSON (timm PretrainedCfg style) stored next to the weights:
  id, name, version, backbone (spec dict), decoder (spec dict), input {size, resize, mean, std,
  optional flip_average: the map is the mean of the image's and its mirror image's},
  files [{role, name, sha256, size, format}], license, training_data, intended_use,
  limitations, metrics, source, created_utc.
Roles: "decoder" (DeCLIP .pth or safetensors with fc.* keys), "clip-vit", "clip-rn".
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .backbones import describe, input_config, resolve_spec
from .errors import ModelStoreError

CARD_NAME = "card.json"
# How flip averaging (input.flip_average) is said wherever a card is shown.
FLIP_AVERAGE_TEXT = "the map is the mean of the image's and its mirror image's (mirrored back)"
SCHEMA = 1


@dataclass
class ModelCard:
    id: str
    name: str
    backbone: dict
    decoder: dict
    files: list[dict] = field(default_factory=list)
    input: dict = field(default_factory=dict)
    version: str = "1"
    license: str = "unknown"
    training_data: str = "unknown"
    intended_use: str = ""
    limitations: str = ""
    metrics: dict = field(default_factory=dict)
    source: str = ""
    created_utc: str = ""
    builtin: bool = False
    schema: int = SCHEMA
    # Folder holding the files (set when loaded; not written).
    root: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        self.backbone = resolve_spec(self.backbone)
        if not self.input:
            cfg = input_config(self.backbone)
            self.input = {"size": cfg["size"], "resize": "bilinear-squash", "mean": list(cfg["mean"]),
                          "std": list(cfg["std"])}

    # ---- description -------------------------------------------------------------------
    @property
    def feature_layer(self) -> str:
        b = self.backbone
        if b["family"] == "fusion":
            return f"ViT block {b['vit']['layer']} + RN50 layer{b['rn']['layer']}"
        if b["family"] == "clip-vit":
            return f"block {b['layer']}"
        if b["family"] == "clip-rn":
            return f"layer{b['layer']}"
        return f"stages {b.get('stages')}"

    @property
    def decoder_name(self) -> str:
        d = self.decoder
        if d.get("type", "conv") == "conv":
            widths = d.get("widths", [512, 256, 128, 64])
            return (f"conv-{d.get('depth', 20)}" + ("" if list(widths) == [512, 256, 128, 64] else f" {list(widths)}")
                    + (f" + {d['context']} context" if d.get("context") else "")
                    + (f", mean of {d['members']} members" if d.get("members", 1) > 1 else ""))
        return d.get("type", "?")

    @property
    def flip_average(self) -> bool:
        return bool(self.input.get("flip_average", False))

    @property
    def backbone_name(self) -> str:
        return describe(self.backbone)

    def file(self, role: str) -> dict | None:
        return next((f for f in self.files if f.get("role") == role), None)

    def path_of(self, role: str) -> Path | None:
        f = self.file(role)
        if f is None or self.root is None or not f.get("path"):
            return None
        p = Path(f["path"])
        return p if p.is_absolute() else (self.root / p)

    # ---- (de)serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("root", None)
        return d

    @classmethod
    def from_dict(cls, d: dict, root: Path | None = None, origin: str = "card") -> "ModelCard":
        missing = [k for k in ("id", "name", "backbone", "decoder") if k not in d]
        if missing:
            raise ModelStoreError(f"{origin}: model card lacks {', '.join(missing)}")
        from .decoders import check_decoder_spec

        try:
            check_decoder_spec(d["decoder"])
        except ValueError as exc:
            raise ModelStoreError(f"{origin}: {exc}") from None
        inp = d.get("input", {})
        if not isinstance(inp, dict) or not isinstance(inp.get("flip_average", False), bool):
            raise ModelStoreError(f"{origin}: input.flip_average must be true or false")
        known = {f for f in cls.__dataclass_fields__ if f != "root"}
        card = cls(**{k: v for k, v in d.items() if k in known})
        card.root = root
        return card

    @classmethod
    def load(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        if path.is_dir():
            path = path / CARD_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelStoreError(f"{path}: model card not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelStoreError(f"{path}: model card is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelStoreError(f"{path}: model card must be a JSON object")
        return cls.from_dict(data, root=path.parent, origin=str(path))

    def save(self, folder: str | Path) -> Path:
        from .atomic import write_text_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / CARD_NAME
        write_text_atomic(out, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        self.root = folder
        return out

    def summary(self) -> dict[str, Any]:
        """What results and reports record about the model."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "backbone": self.backbone_name,
            "feature_layer": self.feature_layer,
            "decoder": self.decoder_name,
            "input": self.input,
            "license": self.license,
            "training_data": self.training_data,
            "files": [{k: f.get(k) for k in ("role", "name", "sha256", "size")} for f in self.files],
        }
