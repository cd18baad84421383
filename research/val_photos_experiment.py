"""Experiment (not product code): does the default model gain from more distinct training photos?

Every round of research/default-model-log.md points at the 25 training scenes as the limit. The only
licensed photos left are the validation scenes, so this builds `declip synth`'s data set with
some validation scenes moved to training, the test scenes untouched (their items come out
byte-identical, checked below), and trains one member exactly as the shipped recipe.

Round 16 of research/default-model-log.md:

    python research/val_photos_experiment.py PHOTOS OUT [--move GROUP ...]   # synth with the move
    python research/val_photos_experiment.py --check REFERENCE_DS OUT        # test items identical?
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from trainer import synth  # noqa: E402

MOVE = ["opencv-doc:butterfly", "opencv-doc:graf", "skimage:chelsea"]


def build(photos: Path, out: Path, move: list[str]) -> None:
    original = synth.split_groups

    def moved(ph, fractions, seed):
        by = original(ph, fractions, seed)  # the usual assignment first, so test is unchanged
        go = [p for p in by["val"] if p.group in move]
        missing = set(move) - {p.group for p in go}
        if missing:
            raise SystemExit(f"not validation groups here: {sorted(missing)}")
        by["val"] = [p for p in by["val"] if p.group not in move]
        by["train"] = [p for p in ph if p in by["train"] or p in go]  # keep the photo list's order
        return by

    synth.split_groups = moved
    synth.synthesize(photos, out, 3000, 0, progress=lambda k, n, what: k % 500 == 0 and print(k, n, what, flush=True))


def check(out: Path, ref: Path) -> None:
    def digests(ds):
        man = json.loads((ds / "manifest.json").read_text())
        return [hashlib.sha256((ds / i["image"]).read_bytes()).hexdigest() for i in man["items"] if i["split"] == "test"]

    a, b = digests(out), digests(ref)
    print(f"test items: {len(a)} here, {len(b)} in the reference, identical: {a == b}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("photos", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--move", nargs="+", default=MOVE)
    ap.add_argument("--check", action="store_true", help="compare OUT's test items with the data set PHOTOS")
    a = ap.parse_args()
    if a.check:
        check(a.out, a.photos)
    else:
        build(a.photos, a.out, a.move)


if __name__ == "__main__":
    main()
