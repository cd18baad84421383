"""The evidence layers' part of the golden set: every layer, with its default parameters, on every
golden item, compared with what the reference machine recorded.

Why: the layers are findings an examiner cites beside the learned map, so "this installation gives
the validated results" must hold for them too; their code depends on OpenCV, SciPy, Pillow's JPEG
codec and jpeglib, each of which an update can change.

golden.json holds, per layer, {"version", "parameters", "items": [{name, score, map (64x64 float16),
pairs (clones)} or {name, refused}]}, and "layer_tolerances" (largest allowed difference of a map
cell or the score). A layer whose method version differs from the recorded one fails: its
references describe another method.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .golden_items import REFERENCE_ROUNDING, ItemResult, compact_map, decode_map, difference, encode_map

# Most layers are integer JPEG codecs and float arithmetic that agree to ~1e-6 between builds. SIFT
# (clones) does not: OpenCV picks SIMD code by CPU, and its keypoints, so the grown copy areas,
# move at the edges (0.13 of a 64x64 cell measured between OpenCV's optimised and plain code on one
# machine). A lost or extra copy changes cells by ~1 and the pair count, which is checked exactly.
LAYER_TOLERANCES = {"default": 0.001, "clones": 0.25}

# Methods an examiner can choose instead of a layer's default, checked as rows of their own: a finding
# made with `--evidence-param clones.method=dense` cites a method the default row does not exercise.
# key (golden.json's "layers" key and the row's name) -> (layer, parameters over its defaults, the golden
# items it is recorded on: None for all). Dense matching takes seconds per photo, so it runs on the copy-move
# sample, a photo where it pairs natural texture, and the small constructed images (about 7 s, not 20).
VARIANTS = {"clones (dense)": ("clones", {"method": "dense"},
                               ("astronaut.jpg", "chelsea_copy_move.jpg", "gradient.png", "pasted_patch.png",
                                "noise.png", "checker.png"))}


def checked_layers() -> list[str]:
    """The keys `declip validate` checks, in order: every layer with its defaults, then each variant."""
    from .evidence import LAYER_NAMES

    return [*LAYER_NAMES, *VARIANTS]


def resolve(key: str) -> tuple[str, dict]:
    """(layer, parameters over its defaults) of a checked key."""
    layer, params, _ = VARIANTS.get(key, (key, {}, None))
    return layer, params


def recorded_on(key: str, items: list[dict]) -> list[dict]:
    """The golden items a checked key is recorded on."""
    names = VARIANTS.get(key, (None, None, None))[2]
    return [it for it in items if names is None or it["name"] in names]


def _run(layer: str, path: Path, params: dict | None = None) -> dict:
    from . import evidence

    try:
        res = evidence.run(layer, str(path), **(params or {}))
    except evidence.NotApplicable as exc:  # the reason without the folder, which differs between installs
        return {"refused": str(exc).replace(str(path), path.name)}
    out = {"score": round(float(res.score), 6), "map": encode_map(compact_map(res.probability))}
    pairs = (res.metadata.get("details") or {}).get("pairs")
    if pairs is not None:
        out["pairs"] = len(pairs)
    return out


def record_layers(items: list[dict], folder: Path, progress: Callable[[str], None] = print,
                  names: list[str] | None = None) -> dict:
    """The references of every checked key (or of `names`) on the golden items (scripts/make_golden_set.py)."""
    from . import evidence

    layers = {}
    for key in checked_layers():
        if names is not None and key not in names:
            continue
        layer, params = resolve(key)
        info = evidence.info(layer)
        refs = []
        for it in recorded_on(key, items):
            refs.append({"name": it["name"], **_run(layer, folder / it["file"], params)})
            progress(f"layer {key} {it['name']}: "
                     + (f"refused ({refs[-1]['refused']})" if "refused" in refs[-1] else f"score {refs[-1]['score']:.4f}"))
        layers[key] = {"version": info.version, "parameters": {**info.defaults, **params}, "items": refs}
    return layers


def layer_tolerance(golden: dict, layer: str) -> float:
    tol = golden.get("layer_tolerances") or LAYER_TOLERANCES
    return float(tol.get(layer, tol.get("default", LAYER_TOLERANCES["default"])))


def _compare(got: dict, ref: dict) -> tuple[float, str]:
    """(largest difference, problem or '') of one item's output against its reference."""
    if "refused" in ref or "refused" in got:
        if "refused" in ref and "refused" in got:
            return 0.0, ""
        return 1.0, "refused here" if "refused" in got else "refused when recorded"
    diff = difference(decode_map(got["map"]), got["score"], ref)
    if ref.get("pairs") is not None and got.get("pairs") != ref["pairs"]:
        return diff, f"{got.get('pairs')} copy pairs, {ref['pairs']} recorded"
    return diff, ""


def check_layer(key: str, golden: dict, folder: Path, cancel: Callable[[], bool] | None = None) -> ItemResult:
    """One PASS/FAIL row for a checked key (a layer, or a variant such as "clones (dense)") over every
    golden item: the largest difference, and which items differ."""
    from . import evidence
    from .errors import Cancelled, DeclipError
    from .hashing import file_sha256

    name = f"layer {key}"
    layer, params = resolve(key)
    ref = (golden.get("layers") or {}).get(key)
    tol = layer_tolerance(golden, layer)
    if ref is None:
        return ItemResult(name, False, problem="no reference recorded for this layer in the golden set")
    version = evidence.info(layer).version
    if str(ref.get("version")) != str(version):
        return ItemResult(name, False, problem=f"references are of version {ref.get('version')}, this installation "
                                               f"has {version}: the golden set must be recorded again")
    allowed = tol + REFERENCE_ROUNDING
    worst, bad = 0.0, []
    items = {it["name"]: it for it in golden.get("items", [])}
    for r in ref.get("items", []):
        if cancel and cancel():
            raise Cancelled("validation cancelled")
        it = items.get(r["name"])
        path = folder / it["file"] if it else None
        if path is None or not path.is_file() or file_sha256(path) != it.get("sha256"):
            bad.append(f"{r['name']} (golden image missing or changed)")
            continue
        try:
            got = _run(layer, path, params)
        except DeclipError as exc:
            bad.append(f"{r['name']} (failed: {exc})")
            continue
        diff, problem = _compare(got, r)
        worst = max(worst, diff)
        if problem or diff > allowed:
            bad.append(f"{r['name']} ({problem or f'differs by {diff:.2e}'})")
    n = len(ref.get("items", []))
    return ItemResult(name, not bad and n > 0, round(worst, 6), tol,
                      problem=("differs on " + "; ".join(bad)) if bad else ("" if n else "no items recorded"))
