"""trainer.layer_scoring: the external benchmark's figures for any map producer."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.errors import DeclipError
from trainer.layer_scoring import load_entries, score_map_producer


def _bench(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks_source").mkdir()
    h, w = 40, 60
    target = np.zeros((h, w), np.uint8)
    target[5:15, 5:15] = 255
    source = np.zeros((h, w), np.uint8)
    source[20:30, 40:50] = 255
    for name in ("cm", "auth", "png"):
        Image.new("RGB", (w, h), (90, 90, 90)).save(tmp_path / "images" / f"{name}.jpg")
    Image.fromarray(target).save(tmp_path / "masks" / "cm.png")
    Image.fromarray(source).save(tmp_path / "masks_source" / "cm.png")
    Image.fromarray(target).save(tmp_path / "masks" / "png.png")
    manifest = [
        {"image": "images/cm.jpg", "mask": "masks/cm.png", "source_mask": "masks_source/cm.png",
         "kind": "copymove", "manipulated": True},
        {"image": "images/auth.jpg", "mask": None, "source_mask": None, "kind": "authentic", "manipulated": False},
        {"image": "images/png.jpg", "mask": "masks/png.png", "source_mask": None, "kind": "splice_hard",
         "manipulated": True},
    ]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return target > 0, source > 0


def test_scores_copymove_against_both_ends_and_counts_flags_and_refusals(tmp_path):
    target, source = _bench(tmp_path)

    def producer(path):
        if path.stem == "png":
            raise DeclipError(f"{path}: layer 'dq' needs a JPEG file, found PNG")
        if path.stem == "cm":                 # finds both ends of the copy
            return (target | source).astype(np.float32), 0.9
        m = np.zeros(target.shape, np.float32)
        m[:2, :] = 0.8                          # 5 % of an authentic image above 0.5
        return m, 0.2

    rep = score_map_producer(tmp_path, producer, thresholds=[0.5, 0.9], against_sources=True)
    t5, t9 = rep["thresholds"]["0.5"], rep["thresholds"]["0.9"]
    assert t5["iou_by_kind"]["copymove"] == pytest.approx(100.0)   # union of mask and source_mask
    assert t5["iou_by_kind"]["splice_hard"] == 0.0                 # a refusal is an empty map
    assert t5["authentic_flagged"] == 1 and t9["authentic_flagged"] == 0 and t5["authentic"] == 1
    assert rep["refused"] == 1 and rep["images"] == 3
    # scores 0.9 (manipulated), 0.2 (authentic), 0 (refused, manipulated): AP = (1 + 2/3) / 2
    assert rep["image_ap"] == pytest.approx(100 * (1 + 2 / 3) / 2)


def test_generic_folder_layout(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "real").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "a.jpg")
    Image.new("L", (8, 8)).save(tmp_path / "masks" / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "real" / "b.jpg")
    kinds = [(e["kind"], e["manipulated"], e["mask"]) for e in load_entries(tmp_path)]
    assert kinds == [("manipulated", True, "masks/a.png"), ("authentic", False, None)]


def test_only_clone_maps_are_scored_against_the_source_too(tmp_path):
    target, source = _bench(tmp_path)

    def finds_both(path):
        return (target | source).astype(np.float32), 1.0

    plain = score_map_producer(tmp_path, finds_both, kinds=["copymove"])
    clone = score_map_producer(tmp_path, finds_both, kinds=["copymove"], against_sources=True)
    assert clone["thresholds"]["0.5"]["iou_by_kind"]["copymove"] == pytest.approx(100.0)
    assert plain["thresholds"]["0.5"]["iou_by_kind"]["copymove"] == pytest.approx(50.0)


def test_evidence_producer_plugs_into_map_producers(tmp_path):
    from tests import evidence_cases as ec
    from trainer.layer_scoring import evidence_producer

    data, _, _ = ec.ghost_case()
    p = tmp_path / "g.jpg"
    p.write_bytes(data)
    prod = evidence_producer("ghost")
    assert not prod.against_sources and evidence_producer("clones").against_sources
    from_path, s1 = prod(p)
    from_bytes, s2 = prod(data)          # the JPEG layers still get the file's bytes
    assert np.array_equal(from_path, from_bytes) and s1 == s2
