"""Evidence layers: classical forensic analyses shown beside the learned map. No Qt here.

```python
from engine import evidence
res = evidence.run("ela", "photo.jpg", quality=90)      # -> engine.AnalysisResult
res.probability            # float32 HxW in [0, 1] at the image's displayed size
res.metadata["how_to_read"], res.metadata["limits"], res.metadata["parameters"], res.metadata["details"]
evidence.layers()          # [LayerInfo(name, title, reference, how_to_read, limits, defaults, threshold, needs_jpeg)]
evidence.parse_layers("ela,dq" | "all")
```
A layer that cannot apply to an image raises `NotApplicable`, any other failure `EvidenceError` (its base; a
`DeclipError`: one line).
"""
from __future__ import annotations

import importlib
import inspect
import json
import math
import numbers
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DeclipError, ImageError
from ..result import AnalysisResult
from ..cpu import cpu_info
from ..hashing import bytes_sha256
from ..stamps import utc_now
from .base import EvidenceError, EvidenceInput, LayerFailed, NotApplicable

LAYER_NAMES = ("ela", "ghost", "noise", "dq", "clones", "resampling")
JPEG_LAYERS = ("ghost", "dq")

# Default display thresholds, fixed on the project's own synthetic validation data (docs/evidence.md: the
# highest validation IoU that keeps the untouched images within the false-alarm budget), never on the
# external benchmark. ela, ghost and resampling: method version 2 (research/README.md, layer quality); ela 2.1
# (its absolute floor) kept 0.5 (research/README.md, ela round 6). dq 1.3: 0.9, chosen with its rounding model on
# double-saved views of its own case (research/README.md, dq round 3).
DEFAULT_THRESHOLDS = {"ela": 0.5, "ghost": 0.6, "noise": 0.8, "dq": 0.9, "clones": 0.5, "resampling": 0.7}


@dataclass(frozen=True)
class LayerInfo:
    name: str
    title: str
    version: str
    reference: str
    how_to_read: str
    limits: str
    defaults: dict
    threshold: float
    needs_jpeg: bool
    score_meaning: str = "share of the image above 0.5"  # what the layer's image score is


def _unknown(name: str, or_all: str = "") -> EvidenceError:
    """The one-line refusal of a layer name; or_all=" or all" where a list of layers is accepted."""
    return EvidenceError(f"unknown evidence layer {name!r}; choose from {', '.join(LAYER_NAMES)}{or_all}")


def _module(name: str):
    if name not in LAYER_NAMES:
        raise _unknown(name)
    return importlib.import_module(f"{__name__}.{name}")


def info(name: str) -> LayerInfo:
    m = _module(name)
    return LayerInfo(name, m.TITLE, m.VERSION, m.REFERENCE, m.HOW_TO_READ, m.LIMITS, dict(m.DEFAULTS),
                     DEFAULT_THRESHOLDS[name], name in JPEG_LAYERS,
                     getattr(m, "SCORE_MEANING", LayerInfo.score_meaning))


def layers() -> list[LayerInfo]:
    return [info(n) for n in LAYER_NAMES]


def parse_layers(text: str) -> list[str]:
    """'ela,dq' or 'all' -> layer names in the registry's order, without repeats; EvidenceError if unknown."""
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    if not names:
        raise EvidenceError("no evidence layer named; choose from " + ", ".join(LAYER_NAMES) + " or all")
    for n in names:
        if n != "all" and n not in LAYER_NAMES:   # 'all,elq' is a typo to report, not a silent 'all'
            raise _unknown(n, " or all")
    if "all" in names:
        return list(LAYER_NAMES)
    return [n for n in LAYER_NAMES if n in names]


def library_versions() -> dict[str, str]:
    """The software versions a layer result records: the app's plus OpenCV, SciPy and jpeglib."""
    from importlib import metadata

    from ..versions import software_versions

    out = software_versions()
    for dist, key in (("opencv-python-headless", "opencv"), ("scipy", "scipy"), ("jpeglib", "jpeglib")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out


def _opencv_threads() -> int | None:
    try:
        import cv2
    except ImportError:  # the layers that need it say so themselves
        return None
    return int(cv2.getNumThreads())


def prepare(image: Any, data: bytes | None = None) -> tuple[EvidenceInput, dict]:
    """An image source (path, a file's bytes, LoadedImage, PIL image or uint8 array) as a layer's input, plus its
    info.

    The file's bytes are read for JPEG layers; they must be the bytes the image was loaded from
    (same SHA-256), otherwise the layers would describe another file."""
    from ..images import JPEG_FORMATS, LoadedImage, load_image

    if data is None and isinstance(image, (bytes, bytearray)):
        data = bytes(image)    # a file's bytes: the image and, for the JPEG layers, the stored stream
    loaded = image if isinstance(image, LoadedImage) else load_image(image)
    if data is None and loaded.format in JPEG_FORMATS and loaded.name and Path(loaded.name).is_file():
        try:
            data = Path(loaded.name).read_bytes()
        except OSError as exc:
            raise ImageError(f"{loaded.name}: cannot read file ({exc.strerror or exc})") from None
    if data is not None and loaded.sha256 and loaded.format and bytes_sha256(data) != loaded.sha256:
        raise EvidenceError(f"{loaded.name}: the file changed since it was loaded (SHA-256 differs); load it again")
    src = EvidenceInput(rgb=loaded.pixels(), name=loaded.name, sha256=loaded.sha256, format=loaded.format,
                        orientation=loaded.orientation, data=data)
    return src, loaded.info()


def param_value(text: str):
    """A parameter value given on a command line: JSON (0.5, true, null, "dense") or, failing that, the text
    itself, so that method=dense and method='"dense"' mean the same."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_key_value(text: str, flag: str) -> tuple[str, Any]:
    """'KEY=VALUE' of a command-line flag; EvidenceError (one line naming the flag) if it is not that."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise EvidenceError(f"{flag} {text!r}: give KEY=VALUE")
    return key.strip(), param_value(value)


def parse_layer_params(items: list[str], layers: list[str], flag: str = "--evidence-param") -> dict[str, dict]:
    """['clones.method=dense', ...] as {layer: {key: value}}, each checked against the layer's parameters.
    A layer that is not among `layers` (the ones asked for) is an error: its parameter would do nothing."""
    out: dict[str, dict] = {}
    for item in items:
        dotted, value = parse_key_value(item, flag)
        name, dot, key = dotted.partition(".")
        name = name.strip().lower()
        if not dot or not key or name not in LAYER_NAMES:
            raise EvidenceError(f"{flag} {item!r}: give LAYER.KEY=VALUE with LAYER one of {', '.join(LAYER_NAMES)}")
        if name not in layers:
            raise EvidenceError(f"{flag} {item!r}: layer {name!r} is not among the layers asked for "
                                f"({', '.join(layers) or 'none'})")
        given = out.setdefault(name, {})
        if key in given and given[key] != value:  # which one was meant? never keep the last one silently
            raise EvidenceError(f"{flag} {name}.{key} is given twice, with {given[key]!r} and {value!r}")
        given[key] = value
    for name, params in out.items():
        check_params(name, params)
    return out


def _parameters(module, params: dict) -> dict[str, inspect.Parameter] | None:
    """{name: inspect.Parameter} of every parameter the layer takes with these params (clones: `method`
    and the chosen method's own); None when it takes any name."""
    if hasattr(module, "parameters"):
        return module.parameters(params)
    sig = inspect.signature(module.compute).parameters
    if any(p.kind is p.VAR_KEYWORD for p in sig.values()):
        return None
    return {k: p for k, p in sig.items() if k != "src"}


# What a parameter's annotation (a string: the layers use `from __future__ import annotations`) or, without
# one, its default's type accepts. bool is an int to Python, never to a layer.
_ACCEPTS = {"bool": (bool,), "int": (numbers.Integral,), "float": (numbers.Real,), "str": (str,)}
_WANTED = {"bool": "true or false", "int": "a whole number", "float": "a finite number", "str": "a word"}


def _value_problem(param: inspect.Parameter, value) -> str | None:
    """Why `value` cannot be this parameter's, in a few words; None if it can (or the layer says nothing)."""
    ann = param.annotation
    kinds = ([a.strip() for a in ann.split("|")] if isinstance(ann, str)
             else [type(param.default).__name__] if param.default is not None and ann is inspect.Parameter.empty
             else [])
    known = [k for k in kinds if k in _ACCEPTS]
    if not known or (value is None and (param.default is None or "None" in kinds)):
        return None
    ok = value is not None and any(
        isinstance(value, _ACCEPTS[k]) and (k == "bool" or not isinstance(value, bool))
        and (k != "float" or math.isfinite(value)) for k in known)
    if ok:
        return None
    wanted = " or ".join(_WANTED[k] for k in known) + (" or null" if "None" in kinds else "")
    return f"{param.name} must be {wanted}, found {json.dumps(value) if _jsonable(value) else repr(value)}"


def _jsonable(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _checked(name: str, params: dict):
    """(the layer's module, its parameter defaults for these params), or an EvidenceError naming the layer's
    parameters if one is unknown, or saying what a value should be if it is of the wrong kind (a string
    where a number goes, 1.5 for a JPEG quality): before any image, never a silent conversion."""
    module = _module(name)
    signature = _parameters(module, params)
    unknown = sorted(set(params) - set(signature)) if signature is not None else []
    if unknown:
        raise EvidenceError(f"layer {name!r} has no parameter {', '.join(unknown)}; "
                            f"it takes {', '.join(sorted(signature))}")
    from .limits import limit_problem

    for key, value in params.items():
        problem = _value_problem(signature[key], value) if signature is not None else None
        problem = problem or limit_problem(name, key, value)
        if problem:
            raise EvidenceError(f"layer {name!r}: {problem}")
    return module, None if signature is None else {k: p.default for k, p in signature.items()}


def check_params(name: str, params: dict):
    """The layer's module, or an EvidenceError naming the layer's parameters if one is unknown."""
    return _checked(name, params)[0]


def explicit_params(name: str, params: dict) -> dict:
    """The params that differ from the layer's defaults: what a result records as requested, so that
    asking for a default (clones.method=keypoints) is the same request as asking for nothing."""
    return _explicit(_checked(name, params)[1], params)


def _explicit(defaults: dict | None, params: dict) -> dict:
    missing = object()
    return {k: v for k, v in params.items() if (defaults or {}).get(k, missing) != v}


def run(name: str, image: Any, data: bytes | None = None, **params) -> AnalysisResult:
    """Run one layer on one image; returns the engine's result type. EvidenceError if it cannot apply."""
    module, defaults = _checked(name, params)
    t0 = time.perf_counter()
    src, image_info = image if isinstance(image, tuple) else prepare(image, data)
    t1 = time.perf_counter()
    try:
        out = module.compute(src, **params)
    except (TypeError, ValueError) as exc:   # a bad parameter value: one line, like any user error
        raise EvidenceError(f"layer {name!r}: {exc}") from None
    except MemoryError:
        raise EvidenceError(f"{src.name}: not enough memory for layer {name!r} at this image size") from None
    except DeclipError:
        raise
    except Exception as exc:  # e.g. OpenCV's own errors: a failure of this layer on this image, not of the batch
        detail = (str(exc).strip().splitlines() or [""])[-1][:200]
        raise LayerFailed(f"{src.name}: layer {name!r} failed ({type(exc).__name__}"
                          f"{': ' + detail if detail else ''})") from exc
    if not math.isfinite(float(out.score)):  # a NaN score would read as a number in results and reports
        raise LayerFailed(f"{src.name}: layer {name!r} failed (its score is not a number)")
    prob = np.clip(np.nan_to_num(out.map.astype(np.float32), nan=0.0), 0.0, 1.0)
    if prob.shape != (src.height, src.width):  # a defect of this layer on this image, not of the batch
        got = "x".join(str(n) for n in prob.shape[::-1])
        raise LayerFailed(f"{src.name}: layer {name!r} failed (it returned a {got} map for a "
                          f"{src.width}x{src.height} image)")
    total = time.perf_counter() - t0
    lay = info(name)
    metadata = {
        "kind": "evidence",
        "layer": name,
        "model_id": f"evidence-{name}",
        "model_name": lay.title,
        "mode": "evidence",
        "weights": [],
        "method_version": lay.version,
        "reference": lay.reference,
        "how_to_read": lay.how_to_read,
        "limits": lay.limits,
        "default_threshold": lay.threshold,
        "parameters": out.parameters,
        # set beside the defaults: a case redoes a layer when it differs
        "requested_parameters": _explicit(defaults, params),
        "details": out.details,
        "notes": list(out.notes),
        "timings": {"load_s": t1 - t0, **{k: float(v) for k, v in out.timings.items()}, "total_s": total},
        "versions": library_versions(),
        # OpenCV's kernels (SIFT in clones, resizing) are chosen by the CPU's vector instructions (engine/cpu.py)
        "cpu": cpu_info(),
        # OpenCV's parallel loops split their work by this count; maps were the same bits at 1 and 2
        # threads on the benchmark photos, but someone reproducing a finding should know what ran
        "threads": {"opencv": _opencv_threads()},
        "image": image_info,
        "created_utc": utc_now(),
    }
    return AnalysisResult(probability=prob, raw=None, score=float(out.score), metadata=metadata)


def run_many(names: list[str], image: Any, data: bytes | None = None,
             params: dict[str, dict] | None = None) -> dict[str, AnalysisResult | DeclipError]:
    """Several layers on one image, loaded once. A layer that cannot apply gives its error, never stops the rest."""
    prepared = prepare(image, data)
    out: dict[str, AnalysisResult | DeclipError] = {}
    for n in names:
        try:
            out[n] = run(n, prepared, **(params or {}).get(n, {}))
        except DeclipError as exc:
            out[n] = exc
    return out


__all__ = ["DEFAULT_THRESHOLDS", "EvidenceError", "JPEG_LAYERS", "LAYER_NAMES", "LayerFailed", "LayerInfo", "NotApplicable",
           "check_params", "explicit_params", "info", "layers", "library_versions", "param_value", "parse_key_value",
           "parse_layer_params", "parse_layers", "prepare", "run", "run_many"]
