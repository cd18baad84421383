"""`declip evaluate` for evidence layers: several thresholds from one pass (--sweep), refusals scored
as empty maps, copy-moves of a clone detector against both ends. Built from small constructed images."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from declip_desktop.cli import main as declip
from engine.evidence import NotApplicable
from trainer import datasets as D
from trainer.evaluate import evaluate_dataset
from trainer.producers import MapProducer, evidence_producer

H, W = 40, 60


def _bench(tmp_path):
    for sub in ("images", "masks", "masks_source"):
        (tmp_path / sub).mkdir()
    target = np.zeros((H, W), np.uint8)
    target[5:15, 5:15] = 255
    source = np.zeros((H, W), np.uint8)
    source[20:30, 40:50] = 255
    for name in ("cm", "auth", "png"):
        Image.new("RGB", (W, H), (90, 90, 90)).save(tmp_path / "images" / f"{name}.jpg")
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


def _producer(target, source, clone=True):
    def fn(path):
        if path.stem == "png":
            raise NotApplicable(f"{path}: layer 'dq' needs a JPEG file, found PNG")
        if path.stem == "cm":                 # finds both ends of the copy
            return (target | source).astype(np.float32), 0.9
        m = np.zeros(target.shape, np.float32)
        m[:2, :] = 0.8                          # 5 % of an authentic image above 0.5
        return m, 0.2

    return MapProducer("oracle", fn, against_sources=clone, refusal=NotApplicable)


def test_sweep_scores_every_threshold_and_counts_flags_and_refusals(tmp_path):
    target, source = _bench(tmp_path)
    m = evaluate_dataset(_producer(target, source), D.load_dataset(tmp_path, "all"), sweep=[0.5, 0.9])
    t5, t9 = m["sweep"]["0.5"], m["sweep"]["0.9"]
    assert t5["per_kind"]["copymove"] == pytest.approx(100.0)   # union of mask and source_mask
    assert t5["per_kind"]["splice_hard"] == 0.0                 # a refusal is an empty map
    assert t5["authentic_flagged_count"] == 1 and t9["authentic_flagged_count"] == 0 and t5["authentic"] == 1
    assert t9["iou"] == pytest.approx(50.0)                     # 0.9 is above the whole copy-move map
    assert m["refused"] == 1 and m["failed"] == 0 and m["images"] == 3
    # scores 0.9 (manipulated), 0.2 (authentic), 0 (refused, manipulated): AP = (1 + 2/3) / 2
    assert m["detection_ap"] == pytest.approx(100 * (1 + 2 / 3) / 2)


def test_only_clone_maps_are_scored_against_the_source_too(tmp_path):
    target, source = _bench(tmp_path)
    ds = D.load_dataset(tmp_path, "all")
    clone = evaluate_dataset(_producer(target, source), ds)
    plain = evaluate_dataset(_producer(target, source, clone=False), ds)
    assert clone["per_kind"]["copymove"]["iou"] == pytest.approx(100.0)
    assert plain["per_kind"]["copymove"]["iou"] == pytest.approx(50.0)


def test_other_errors_still_fail_the_image(tmp_path):
    target, source = _bench(tmp_path)
    from engine.evidence import EvidenceError

    def broken(path):
        raise EvidenceError(f"{path}: cannot decode the JPEG for layer 'dq'")

    m = evaluate_dataset(MapProducer("x", broken, refusal=NotApplicable), D.load_dataset(tmp_path, "all"))
    assert m["failed"] == 3 and m["refused"] == 0


def test_evidence_producer_reads_paths_and_bytes_and_checks_parameters(tmp_path):
    from engine.evidence import EvidenceError
    from tests import evidence_cases as ec

    data, _, _ = ec.ghost_case()
    p = tmp_path / "g.jpg"
    p.write_bytes(data)
    prod = evidence_producer("ghost")
    assert not prod.against_sources and evidence_producer("clones").against_sources
    from_path, s1 = prod(p)
    from_bytes, s2 = prod(data)          # the JPEG layers still get the file's bytes
    assert np.array_equal(from_path, from_bytes) and s1 == s2
    with pytest.raises(EvidenceError, match="no parameter bogus"):
        evidence_producer("ghost", bogus=1)   # once, before any image


def test_cli_sweep_prints_each_threshold_and_refuses_bad_values(tmp_path, capsys):
    _bench(tmp_path)
    out = tmp_path / "r.json"
    rc = declip(["evaluate", "--layer", "dq", "--no-ela", "--data", str(tmp_path), "--sweep", "0.3,0.8",
                 "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "at 0.3: IoU" in text and "at 0.8: IoU" in text
    res = json.loads(out.read_text())
    assert set(res["metrics"]["sweep"]) == {"0.3", "0.8"}
    with pytest.raises(SystemExit) as exc:  # a usage error
        declip(["evaluate", "--layer", "dq", "--data", str(tmp_path), "--sweep", "0.3,x"])
    assert exc.value.code == 2 and "--sweep" in capsys.readouterr().err


def ec_twice_saved() -> bytes:
    from tests import evidence_cases as ec

    base = ec.scene("astronaut", (256, 256))
    out = ec.decode(ec.encode(base, "JPEG", 60))
    out[64:160, 80:176] = base[64:160, 80:176]        # a region saved once, inside a photo saved twice
    return ec.encode(out, "JPEG", 95)


def test_producers_decode_bytes_as_the_file(tmp_path):
    """A producer given a file's bytes decoded them with Pillow's plain convert('RGB'), which turns a 16-bit
    grey PNG white, so the ELA baseline and the layers scored another picture than the same file given by
    path. Bytes now go through the engine's loader, as a path does."""
    from trainer.producers import ela_producer

    ramp = (np.linspace(0, 65535, H * W).reshape(H, W) + np.indices((H, W)).sum(0) * 97 % 4000).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    for producer in (ela_producer(), evidence_producer("noise")):
        by_path, score_path = producer(str(path))
        by_bytes, score_bytes = producer(path.read_bytes())
        assert by_path.std() > 0
        assert np.array_equal(by_path, by_bytes) and score_path == score_bytes
    jpeg = tmp_path / "twice.jpg"      # a JPEG layer given the bytes reads their stored stream, as from the file
    jpeg.write_bytes(ec_twice_saved())
    dq = evidence_producer("dq")
    assert np.array_equal(dq(str(jpeg))[0], dq(jpeg.read_bytes())[0]) and dq(str(jpeg))[0].max() > 0
