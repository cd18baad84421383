"""`declip evaluate` on a benchmark folder with a manifest.json (the external-v1 layout), built
here from small constructed images (never from the external benchmark itself)."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from declip_desktop.cli import main as declip
from trainer import datasets as D
from trainer.evaluate import evaluate_dataset, run_evaluation
from trainer.producers import MapProducer

W, H = 64, 48


def _box(x0, y0, x1, y1):
    m = np.zeros((H, W), np.uint8)
    m[y0:y1, x0:x1] = 255
    return m


@pytest.fixture()
def bench(tmp_path):
    root = tmp_path / "bench"
    for sub in ("images", "masks", "masks_source"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(0)
    entries = []
    for photo in ("p1", "p2"):
        base = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        for kind in ("authentic", "splice", "copymove"):
            img = base.copy()
            e = {"image": f"images/{photo}_{kind}.jpg", "mask": None, "source_mask": None, "kind": kind,
                 "photo": photo, "manipulated": kind != "authentic"}
            if kind != "authentic":
                img[10:30, 10:30] = 255 - img[10:30, 10:30]
                Image.fromarray(_box(10, 10, 30, 30)).save(root / "masks" / f"{photo}_{kind}.png")
                e["mask"] = f"masks/{photo}_{kind}.png"
            if kind == "copymove":
                Image.fromarray(_box(40, 10, 60, 30)).save(root / "masks_source" / f"{photo}_{kind}.png")
                e["source_mask"] = f"masks_source/{photo}_{kind}.png"
            Image.fromarray(img).save(root / e["image"], quality=90)
            entries.append(e)
    (root / "manifest.json").write_text(json.dumps(entries))
    return root


def _oracle(root, clone=False):
    """Splices: the exact mask; copy-moves: the pasted and the source region (what a clone detector
    marks); authentic: p1 clean, p2 with 2 % of its pixels above 0.5."""
    def fn(path):
        name = path.stem
        kind = name.split("_", 1)[1]
        if kind == "authentic":
            m = np.zeros((H, W), np.float32)
            if name.startswith("p2"):
                m[:2, :31] = 0.9  # 62 px = 2 % of 3072
            return m, 0.1
        m = np.asarray(Image.open(root / "masks" / f"{name}.png"), np.float32) / 255
        if kind == "copymove":
            m = np.maximum(m, np.asarray(Image.open(root / "masks_source" / f"{name}.png"), np.float32) / 255)
        return m, 0.9
    return MapProducer("oracle", fn, against_sources=clone)


def test_benchmark_layout_is_read_from_the_manifest(bench):
    assert D.detect_layout(bench) == "benchmark"
    ds = D.load_dataset(bench, "test")
    assert len(ds.samples) == 6 and len(ds.fakes) == 4 and len(ds.reals) == 2
    cm = [s for s in ds.samples if s.group == "copymove"]
    assert all(s.source_mask is not None and s.source_mask.is_file() for s in cm)
    with pytest.raises(D.DatasetError, match="evaluation only"):
        D.load_dataset(bench, "train", training=True)


def test_figures_per_kind_chance_level_and_authentic_flagged(bench):
    ds = D.load_dataset(bench, "all")
    m = evaluate_dataset(_oracle(bench), ds)
    # a learned map is scored against `mask` only: the copy-move source region counts as a false alarm
    assert m["per_kind"]["splice"]["iou"] == pytest.approx(100.0)
    assert m["per_kind"]["copymove"]["iou"] == pytest.approx(50.0)
    assert m["iou"] == pytest.approx(75.0) and m["per_kind"]["splice"]["images"] == 2
    assert m["detection_ap"] == pytest.approx(100.0) and m["detection_ap_chance"] == pytest.approx(4 / 6 * 100)
    assert m["authentic_flagged_count"] == 1 and m["authentic_flagged"] == pytest.approx(50.0)
    # a clone detector is scored against mask + source_mask
    clone = evaluate_dataset(_oracle(bench, clone=True), ds)
    assert clone["per_kind"]["copymove"]["iou"] == pytest.approx(100.0)


def test_a_bad_manifest_entry_is_one_line_and_the_rest_is_scored(bench):
    entries = json.loads((bench / "manifest.json").read_text())
    entries += [{"image": "../outside.jpg", "mask": None}, {"image": "images/missing.jpg", "mask": None}, 7,
                {"image": "images/p1_splice.jpg", "mask": "masks/nope.png", "manipulated": True}]
    (bench / "manifest.json").write_text(json.dumps(entries))
    ds = D.load_dataset(bench, "all")
    assert len(ds.samples) == 6 and len(ds.problems) == 4
    assert any("not a path inside" in p for p in ds.problems) and any("not found" in p for p in ds.problems)


def test_cli_writes_json_and_csv_with_the_ela_baseline_for_the_default_model(bench, tmp_path, capsys):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    rc = declip(["evaluate", "--model", "declip-lite2-default", "--data", str(bench),
                 "--json", str(out_json), "--csv", str(out_csv)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "copymove" in text and "chance 66.7" in text and "authentic images flagged" in text
    res = json.loads(out_json.read_text())
    m = res["metrics"]
    assert res["layout"] == "benchmark" and m["manipulated"] == 4 and m["authentic"] == 2
    assert set(m["per_kind"]) == {"splice", "copymove"} and 0 <= m["iou"] <= 100
    assert res["baseline_ela"]["manipulated"] == 4 and "iou" in res["baseline_ela"]
    rows = list(csv.DictReader(open(out_csv)))
    assert len(rows) == 6 and all(r["ela_iou"] != "" for r in rows)
    assert {r["group"] for r in rows} == {"authentic", "splice", "copymove"}


def test_run_evaluation_takes_any_map_producer(bench):
    res = run_evaluation(None, bench, producer=_oracle(bench), with_ela=False)
    assert res["model"] == {"model_id": "oracle"} and "baseline_ela" not in res
    assert res["metrics"]["per_kind"]["splice"]["iou"] == pytest.approx(100.0)


def test_cli_scores_an_evidence_layer_at_its_own_threshold(bench, tmp_path, capsys):
    """`declip evaluate --layer`: the layer's map producer through the same scoring, its default
    threshold recorded, copy-moves of `clones` scored against mask + source_mask."""
    from engine import evidence

    out_json = tmp_path / "layer.json"
    rc = declip(["evaluate", "--layer", "noise", "--no-ela", "--data", str(bench), "--json", str(out_json)])
    assert rc == 0
    res = json.loads(out_json.read_text())
    assert res["model"]["model_id"] == "layer:noise" and res["model"]["layer"] == "noise"
    assert res["metrics"]["threshold"] == evidence.info("noise").threshold
    assert res["metrics"]["manipulated"] == 4 and "layer:noise" in capsys.readouterr().out
    # a parameter reaches the layer; a bad one is a usage error: one line, exit 2
    for bad, message in ((["--layer-param", "bogus=1"], "bogus"), (["--model", "x"], "one of --model, --layer")):
        with pytest.raises(SystemExit) as exc:
            declip(["evaluate", "--layer", "noise", *bad, "--no-ela", "--data", str(bench)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and err.count("\n") == 1


def test_a_manifest_written_on_windows_is_read_as_the_same_benchmark(bench):
    """A benchmark made on Windows: a byte-order mark before the JSON (PowerShell, Notepad), backslashes in
    its paths and "" for 'no mask'. The mark made the whole manifest 'not readable JSON'; a backslash path
    was 'not found' and an empty mask 'missing', so those items were skipped. All are now the same benchmark
    as the plain manifest."""
    plain = D.load_dataset(bench, "all")
    entries = json.loads((bench / "manifest.json").read_text())
    for e in entries:
        e["image"] = e["image"].replace("/", "\\")
        for key in ("mask", "source_mask"):
            e[key] = "" if e[key] is None else e[key].replace("/", "\\")
    (bench / "manifest.json").write_text(json.dumps(entries), encoding="utf-8-sig")
    ds = D.load_dataset(bench, "all")
    assert not ds.problems and not ds.skipped
    assert [(s.image, s.mask, s.source_mask, s.group) for s in ds.samples] == \
        [(s.image, s.mask, s.source_mask, s.group) for s in plain.samples]
