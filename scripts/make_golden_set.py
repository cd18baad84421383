#!/usr/bin/env python3
"""Record the golden set that `declip validate` checks an installation against.

    PYTHONPATH=. python scripts/make_golden_set.py [MODEL_ID ...]   (default: declip-lite2-default)
    PYTHONPATH=. python scripts/make_golden_set.py --layers-only [LAYER ...]   (after a layer's version changes;
        a variant by its key, e.g. 'clones (dense)')

Writes resources/validation/images/*.png (small constructed images: flat areas, hard edges, a
pasted patch, noise; made from arithmetic, no randomness), images/double_paste.jpg (a double-saved
JPEG with a pasted patch, made from two samples, for dq) and resources/validation/golden.json:
the items with their SHA-256, per model the maps (64x64, float16) and scores this machine
makes on CPU at exact precision, and every evidence layer's maps and scores on the same items (with its defaults, and each
variant of engine.golden_layers.VARIANTS, e.g. `clones` with method dense).
--layers-only records the layers again (only the LAYERs named, if any: the other layers' references stay as
recorded) and keeps the items and the models' references as they are. Run it again only when a model's weights change on purpose,
and say so in the commit: the references are the validated behaviour.
"""
from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.atomic import write_text_atomic  # noqa: E402
from engine.golden import GOLDEN_FILE, golden_dir, load_golden  # noqa: E402
from engine.golden_items import compact_map, encode_map  # noqa: E402
from engine.golden_layers import LAYER_TOLERANCES, record_layers  # noqa: E402

SAMPLES = ("astronaut.jpg", "astronaut_splice.jpg", "chelsea.jpg", "chelsea_copy_move.jpg", "coffee.jpg")
# Largest allowed difference per device/precision: exact CPU runs differ only by float rounding
# between builds (Winograd vs direct convs, BLAS); half precision and GPUs round more.
TOLERANCES = {"cpu/exact": 0.002, "cpu/fast": 0.03, "cuda/exact": 0.01, "cuda/fast": 0.05,
              "mps/exact": 0.01, "mps/fast": 0.05, "default": 0.05}


def constructed() -> dict[str, np.ndarray]:
    y, x = np.mgrid[0:192, 0:256].astype(np.float32)
    grad = np.stack([x / 255 * 255, y / 191 * 255, (x + y) / 446 * 255], -1)
    paste = grad.copy()
    paste[60:120, 90:170] = np.stack([(np.sin(x / 3) * 60 + 128), (np.cos(y / 4) * 60 + 128),
                                      np.full_like(x, 90)], -1)[60:120, 90:170]
    noise = ((np.sin(x * 12.9898 + y * 78.233) * 43758.5453) % 1.0) * 255  # a fixed hash, no RNG
    checker = (((x // 16) + (y // 16)) % 2) * 180 + 40
    return {"gradient.png": grad, "pasted_patch.png": paste,
            "noise.png": np.repeat(noise[..., None], 3, -1),
            "checker.png": np.repeat(checker[..., None], 3, -1)}


def double_jpeg(folder: Path) -> None:
    """images/double_paste.jpg: dq's own case, so that validation exercises its positive path (every other
    golden item shows it no double compression). The coffee sample's centre saved at q70, a patch of the
    astronaut sample (never on that grid) pasted in, the whole saved again at q95. Written once; its SHA-256
    is recorded like every item's, so a different libjpeg later does not change the validated bytes."""
    import io

    p = folder / "images" / "double_paste.jpg"
    if p.exists():
        return
    coffee = np.asarray(Image.open(ROOT / "resources" / "samples" / "coffee.jpg").convert("RGB"))
    h, w = coffee.shape[:2]
    view = coffee[(h - 256) // 2:(h - 256) // 2 + 256, (w - 320) // 2:(w - 320) // 2 + 320]
    buf = io.BytesIO()
    Image.fromarray(view).save(buf, "JPEG", quality=70)
    first = np.asarray(Image.open(buf).convert("RGB")).copy()
    donor = np.asarray(Image.open(ROOT / "resources" / "samples" / "astronaut.jpg").convert("RGB"))
    first[83:163, 101:205] = donor[53:133, 141:245]    # offsets 3 and 5 px off the 8x8 grid
    Image.fromarray(first).save(p, quality=95)


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def main(model_ids: list[str]) -> None:
    from engine import Detector
    from engine.versions import software_versions

    folder = golden_dir()
    (folder / "images").mkdir(parents=True, exist_ok=True)
    items = [{"name": s, "file": f"../samples/{s}"} for s in SAMPLES]
    for name, arr in constructed().items():
        p = folder / "images" / name
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(p)
        items.append({"name": name, "file": f"images/{name}"})
    double_jpeg(folder)
    items.append({"name": "double_paste.jpg", "file": "images/double_paste.jpg"})
    for it in items:
        it["sha256"] = sha(folder / it["file"])
    models = {}
    for mid in model_ids:
        det = Detector.from_model(mid, device="cpu", precision="exact")
        refs = []
        for it in items:
            res = det.analyze(str(folder / it["file"]), mode="paper")
            m = compact_map(res.probability)
            refs.append({"name": it["name"], "score": round(float(res.score), 6), "map_mean": round(float(m.mean()), 6),
                         "map": encode_map(m)})
            print(f"{mid} {it['name']}: score {res.score:.4f}")
        models[mid] = {"weights": {f["role"]: f.get("sha256") for f in det.card.files}, "mode": "paper",
                       "device": "cpu", "precision": "exact", "items": refs}
    golden = {"schema": 1, "created_utc": now(), "software": software_versions(), "map_side": 64,
              "tolerances": TOLERANCES, "items": items, "models": models}
    write(dict(golden, **layers_part(items)))


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def layers_part(items: list[dict]) -> dict:
    from engine.evidence import library_versions

    return {"layers_recorded_utc": now(), "layers_software": library_versions(),
            "layer_tolerances": LAYER_TOLERANCES, "layers": record_layers(items, golden_dir())}


def write(golden: dict) -> None:
    path = golden_dir() / GOLDEN_FILE
    write_text_atomic(path, json.dumps(golden, indent=1) + "\n")
    print(f"wrote {path}")


def layers_only(names: list[str]) -> None:
    golden = load_golden()
    if not names:
        write(dict(golden, **layers_part(golden["items"])))
        return
    # one layer's method changed: only its references are recorded again, with the time and software of that
    # recording beside them; the rest of the file (and its layers_recorded_utc) describes the other layers
    from engine.evidence import library_versions
    from engine.golden_layers import checked_layers

    unknown = [n for n in names if n not in checked_layers()]
    if unknown:
        sys.exit(f"unknown layer {', '.join(map(repr, unknown))}; choose from {', '.join(map(repr, checked_layers()))}")
    fresh = record_layers(golden["items"], golden_dir(), names=names)
    for layer in fresh.values():
        layer.update(recorded_utc=now(), software=library_versions())
    write(dict(golden, layers={**golden["layers"], **fresh}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--layers-only"]:
        layers_only(sys.argv[2:])
    else:
        main(sys.argv[1:] or ["declip-lite2-default"])
