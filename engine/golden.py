"""Installation validation: re-hash a model's files, run a bundled golden set, compare with the
maps recorded when the set was made, and write a record of the result.

Why: forensic labs validate a tool after every install and update (ISO/IEC 17025 method
validation); "this installation gives the validated results" must be shown, not assumed.

Golden set (resources/validation/golden.json, made by scripts/make_golden_set.py):
  items     the bundled samples plus small constructed images, each with its SHA-256
  layers    every evidence layer's outputs on the items (engine/golden_layers.py; the shared
            map codec and PASS/FAIL row in engine/golden_items.py)
  models    {model id: {weights {role: sha256}, mode, items [{name, score, map (64x64 float16,
            base64, the map area-averaged), map_mean}]}}: the maps as the reference machine made them
  tolerances {"<device>/<precision>": largest allowed difference of any 64x64 map cell or score}
A model is checked against the references recorded for its exact weights (the card's SHA-256s),
so a changed weights file can never pass.
"""
from __future__ import annotations

import json
import os
import platform
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .cpu import cpu_info
from .errors import DeclipError
from .golden_items import REFERENCE_ROUNDING, ItemResult, compact_map, difference

GOLDEN_FILE = "golden.json"
RECORD_PREFIX = "validation-"


def golden_dir() -> Path:
    import resources

    return resources.ROOT / "validation"


def records_dir(home: Path | None = None) -> Path:
    """Where every validation record is kept (the report cites the newest)."""
    from .store import declip_home

    return Path(home or declip_home()) / "validation"


def load_golden(folder: Path | None = None) -> dict:
    p = Path(folder or golden_dir()) / GOLDEN_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeclipError(f"{p}: golden set not readable ({type(exc).__name__}); reinstall the application") from None


@dataclass
class Validation:
    model_id: str
    model_name: str
    files: list[dict] = field(default_factory=list)   # {role, name, expected, actual, ok}
    items: list[ItemResult] = field(default_factory=list)
    device: str = ""
    device_name: str = ""
    precision: str = ""
    dtype: str = ""              # the network's number type: what "fast" meant on this device
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)   # why a result is what it is; not failures
    created_utc: str = ""
    has_references: bool = True  # False: the golden set records no maps for these weights

    @property
    def ok(self) -> bool:
        return (bool(self.items) and all(i.ok for i in self.items) and all(f["ok"] for f in self.files)
                and not self.problems)

    def record(self, golden_sha256: str) -> dict:
        from .evidence import library_versions  # the app's versions plus the layers' libraries

        return {"tool": "declip validate", "schema": 1, "created_utc": self.created_utc,
                "result": "PASS" if self.ok else "FAIL",
                "machine": {"host": socket.gethostname(), "os": f"{platform.system()} {platform.release()}",
                            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                            "cpus": os.cpu_count(), "cpu": cpu_info()},
                "versions": library_versions(),
                "device": {"device": self.device, "name": self.device_name, "precision": self.precision,
                           "dtype": self.dtype},
                "model": {"id": self.model_id, "name": self.model_name, "files": self.files},
                "golden_set_sha256": golden_sha256,
                "items": [vars(i) for i in self.items], "problems": self.problems, "notes": self.notes}


def _hash_files(card) -> list[dict]:
    from .hashing import file_sha256 as sha256_file

    rows = []
    for f in card.files:
        p = card.path_of(f["role"])
        actual = sha256_file(p) if p is not None and p.is_file() else None
        rows.append({"role": f["role"], "name": f["name"], "expected": f.get("sha256"), "actual": actual,
                     "ok": actual is not None and actual == f.get("sha256")})
    return rows


def tolerance_for(golden: dict, device: str, precision: str) -> float:
    tol = golden.get("tolerances", {})
    return float(tol.get(f"{device}/{precision}", tol.get("default", 0.05)))


def run_validation(model: str | Path | None = None, device: str = "cpu", precision: str = "exact",
                   progress: Callable[[int, int, str], None] | None = None,
                   cancel: Callable[[], bool] | None = None, golden_folder: Path | None = None) -> Validation:
    """Re-hash the model's files and run the golden set. Never raises for a failed check: every
    failure is a FAIL line in the result (a broken install must still produce a record)."""
    from .store import ModelStore

    golden_folder = Path(golden_folder or golden_dir())
    golden = load_golden(golden_folder)
    if isinstance(model, (str, Path)) and Path(model).is_dir():
        from .cards import ModelCard

        card = ModelCard.load(model)
    else:
        card = ModelStore().get(str(model) if model else ModelStore().default_id)
    v = Validation(card.id, card.name, created_utc=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    v.files = _hash_files(card)
    weights = {f["role"]: f.get("sha256") for f in card.files}
    ref = next((r for r in golden.get("models", {}).values() if r.get("weights") == weights), None)
    items = golden.get("items", [])
    if ref is None:
        v.has_references = False
        v.problems.append(f"no golden references for the weights of {card.id}: only models whose maps were "
                          "recorded in the golden set can be validated")
    bad = [f["name"] for f in v.files if not f["ok"]]
    if bad:
        v.problems.append(f"model file(s) differ from the card: {', '.join(bad)}")
    det = None
    if ref is not None and not bad:
        try:
            from .detector import Detector

            det = Detector.from_model(card, device=device, precision=precision)
            v.device, v.device_name = det.device.type, det.device_name
            described = det.describe()
            v.precision, v.dtype = described.get("precision", precision), str(described.get("dtype", ""))
        except DeclipError as exc:
            v.problems.append(f"model did not load: {exc}")
    tol = tolerance_for(golden, v.device or str(device), v.precision or precision)
    refs = {r["name"]: r for r in (ref or {}).get("items", [])}
    from .golden_layers import check_layer, checked_layers

    layer_keys = checked_layers()
    total = len(items) + len(layer_keys)
    for k, it in enumerate(items):
        if cancel and cancel():
            from .errors import Cancelled

            raise Cancelled("validation cancelled")
        v.items.append(_check_item(det, it, refs.get(it["name"]), golden_folder, ref, tol))
        if progress:
            progress(k + 1, total, it["name"])
    _explain_reduced_precision(v, tol)
    # the evidence layers need no model: they are checked whatever the model's state
    for k, layer in enumerate(layer_keys):
        v.items.append(check_layer(layer, golden, golden_folder, cancel))
        if progress:
            progress(len(items) + k + 1, total, f"layer {layer}")
    return v


def _explain_reduced_precision(v: Validation, tol: float) -> None:
    """A fast run whose network ran in 16 bits fails by rounding, not by a broken install: say so, and what
    the result does and does not cover (the references are float32 maps)."""
    differing = [i.max_diff for i in v.items if not i.ok and i.max_diff is not None]
    if v.precision != "fast" or v.dtype not in ("bfloat16", "float16") or not differing:
        return
    v.notes.append(f"fast precision ran the network in {v.dtype} here; its maps differ from the references (recorded "
                   f"in float32) by up to {max(differing):.3f}, more than the {tol:g} allowed for fast precision. "
                   f"This validation therefore does not cover findings made in fast precision on this machine; "
                   f"exact precision (the default) is validated with `declip validate`.")


def _check_item(det, it: dict, ref: dict | None, folder: Path, model_ref: dict | None, tol: float) -> ItemResult:
    from .hashing import file_sha256 as sha256_file

    name = it["name"]
    path = folder / it["file"]
    if not path.is_file() or sha256_file(path) != it.get("sha256"):
        return ItemResult(name, False, problem="golden image missing or changed")
    if det is None:
        return ItemResult(name, False, problem="not run (model files or references do not match)")
    if ref is None:
        return ItemResult(name, False, problem="no reference map recorded for this item")
    try:
        res = det.analyze(str(path), mode=model_ref.get("mode", "paper"))
    except DeclipError as exc:
        return ItemResult(name, False, problem=f"analysis failed: {exc}")
    diff = difference(compact_map(res.probability), res.score, ref)
    allowed = tol + REFERENCE_ROUNDING
    return ItemResult(name, diff <= allowed, round(diff, 6), tol, round(float(res.score), 6), ref["score"],
                      "" if diff <= allowed else "map differs from the recorded reference")


def write_record(record: dict, out_dir: Path) -> Path:
    """The record as JSON (atomic), named by its UTC time; returns the path."""
    from .atomic import write_text_atomic

    stamp = record["created_utc"].replace("-", "").replace(":", "")
    path = Path(out_dir) / f"{RECORD_PREFIX}{stamp}.json"
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


def latest_record(home: Path | None = None, model_id: str | None = None, weights=None,
                  device: str | None = None, precision: str | None = None) -> dict | None:
    """The newest validation record of this installation, or None (names sort by UTC time).

    With model_id and weights (the SHA-256s of the model's files, as its card lists them) only a
    record of that model with exactly those files counts: a PASS of other weights proves nothing
    about these. device/precision ("cpu", "exact") narrow it to records made on them."""
    folder = records_dir(home)
    for p in sorted(folder.glob(f"{RECORD_PREFIX}*.json"), reverse=True) if folder.is_dir() else []:
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("result") in ("PASS", "FAIL") \
                and record_matches(rec, model_id, weights, device, precision):
            return dict(rec, path=str(p))
    return None


def record_matches(rec: dict, model_id: str | None = None, weights=None, device: str | None = None,
                   precision: str | None = None) -> bool:
    """Whether a record is of this model id, these weights (the card's SHA-256s: exactly the set it
    hashed) and this device/precision; a criterion left None is not checked."""
    model = rec.get("model") if isinstance(rec.get("model"), dict) else {}
    if model_id is not None and model.get("id") != model_id:
        return False
    if weights is not None:
        files = model.get("files") if isinstance(model.get("files"), list) else []
        hashed = {str(f.get("expected") or "").lower() for f in files if isinstance(f, dict)}
        wanted = {str(w).lower() for w in weights}
        if not wanted or hashed != wanted:
            return False
    dev = rec.get("device") if isinstance(rec.get("device"), dict) else {}
    if device is not None and dev.get("device") != device:
        return False
    return precision is None or dev.get("precision") == precision
