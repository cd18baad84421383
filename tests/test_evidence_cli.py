"""`declip analyze --evidence`: one 16-bit map per layer, recorded in results.json; exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from engine.mapio import load_probability_png
from engine.testing import make_tiny_model_dir
from tests import evidence_cases as ec


def run(*args):
    return subprocess.run([sys.executable, "-m", "declip_desktop.cli", *map(str, args)], capture_output=True,
                          text=True, env=os.environ.copy())


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("m") / "tiny")


def test_evidence_layers_written_and_recorded(model_dir, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "photo.jpg").write_bytes(ec.ghost_case()[0])
    (src / "shot.png").write_bytes(ec.encode(ec.scene(), "PNG"))
    out = tmp_path / "out"
    r = run("analyze", "--model", model_dir, "--evidence", "ela,dq,ghost", "--out", out, src)
    # dq and ghost cannot apply to the PNG: said in one line each, and the run still succeeds
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    refusals = [line for line in r.stderr.splitlines() if "not applicable" in line]
    assert len(refusals) == 2 and all(line.count("shot.png") == 1 for line in refusals)   # the file named once
    # under the item's own progress line (outputs are written behind the next image's analysis)
    lines = r.stderr.splitlines()
    item_line = next(i for i, line in enumerate(lines) if line.startswith("[2/2] shot.png"))
    assert lines[item_line + 1: item_line + 3] == refusals
    res = json.loads((out / "results.json").read_text())
    assert res["parameters"]["evidence"] == ["ela", "ghost", "dq"]
    jpg, png = (next(i for i in res["items"] if i["file"].endswith(n)) for n in ("photo.jpg", "shot.png"))
    for layer in ("ela", "ghost", "dq"):
        rec = jpg["outputs"]["evidence"][layer]
        m = load_probability_png(out / rec["map"])
        assert rec["map"] == f"photo.{layer}.png" and m.shape == (jpg["height"], jpg["width"])
        assert Image.open(out / rec["map"]).mode in ("I;16", "I")
        assert rec["parameters"] and rec["metadata"]["layer"] == layer and 0 < rec["threshold"] < 1
    assert png["outputs"]["evidence"]["ela"]["map"] == "shot.ela.png"
    assert "needs a JPEG" in png["outputs"]["evidence"]["dq"]["error"]
    assert not (out / "shot.dq.png").exists()


def test_evidence_all_and_usage_errors(model_dir, tmp_path):
    img = tmp_path / "a.png"
    img.write_bytes(ec.encode(ec.scene("chelsea", (128, 160)), "PNG"))
    out = tmp_path / "out"
    r = run("analyze", "--model", model_dir, "--evidence", "all", "--out", out, img)
    assert r.returncode == 0, r.stderr
    ev = json.loads((out / "results.json").read_text())["items"][0]["outputs"]["evidence"]
    assert list(ev) == ["ela", "ghost", "noise", "dq", "clones", "resampling"]
    assert {k for k, v in ev.items() if "map" in v} == {"ela", "noise", "clones", "resampling"}
    bad = run("analyze", "--model", model_dir, "--evidence", "ela,bogus", "--out", tmp_path / "o2", img)
    assert bad.returncode == 2 and "unknown evidence layer 'bogus'" in bad.stderr
    assert not (tmp_path / "o2").exists()          # a usage error writes nothing


def test_broken_image_with_evidence_exit_1(model_dir, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    good = tmp_path / "good.png"
    good.write_bytes(ec.encode(ec.scene("chelsea", (96, 96)), "PNG"))
    r = run("analyze", "--model", model_dir, "--evidence", "ela", "--out", tmp_path / "o", tmp_path / "bad.jpg", good)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (tmp_path / "o" / "good.ela.png").exists()


def test_evidence_param_chooses_the_dense_clone_method(model_dir, tmp_path):
    # `--evidence-param LAYER.KEY=VALUE` runs a layer with other parameters (here the dense clone detector,
    # found by its pairs' record) and results.json records what was asked and what ran
    data, suffix, both = ec.scaled_copy_case()
    img = tmp_path / f"copy{suffix}"
    img.write_bytes(data)
    out = tmp_path / "out"
    r = run("analyze", "--model", model_dir, "--evidence", "clones", "--evidence-param", "clones.method=dense",
            "--evidence-param", 'clones.min_area="400"', "--out", out, img)
    # a JSON string where a number belongs is a usage error before any image, not a per-image failure
    assert r.returncode == 2 and 'min_area must be a whole number, found "400"' in r.stderr
    assert not out.exists()
    r = run("analyze", "--model", model_dir, "--evidence", "clones", "--evidence-param", "clones.method=dense",
            "--out", out / "2", img)
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "2" / "results.json").read_text())
    assert res["parameters"]["evidence_params"] == {"clones": {"method": "dense"}}
    rec = res["items"][0]["outputs"]["evidence"]["clones"]
    assert rec["parameters"]["method"] == "dense" and rec["parameters"]["iterations"] == 12
    assert [p["method"] for p in rec["metadata"]["details"]["pairs"]] == ["dense"]
    assert ec.iou(load_probability_png(out / "2" / rec["map"]) > 0.5, both) >= 0.8


@pytest.mark.parametrize("param, message", [
    ("clones.methd=dense", "layer 'clones' has no parameter methd"),
    ("clones.method=fancy", "method must be one of dense, keypoints"),
    ("ela.quality=80", "layer 'ela' is not among the layers asked for (clones)"),
    ("clones=dense", "give LAYER.KEY=VALUE"),
    # a value of the wrong kind is a usage error too, not a per-image failure or a silent int(1.5)
    ("clones.max_side=1.5", "layer 'clones': max_side must be a whole number, found 1.5"),
    ("clones.fill=1", "layer 'clones': fill must be true or false, found 1"),
    ("clones.correlation=high", 'layer \'clones\': correlation must be a finite number, found "high"'),
])
def test_evidence_param_usage_errors_write_nothing(model_dir, tmp_path, param, message):
    img = tmp_path / "a.png"
    img.write_bytes(ec.encode(ec.scene("chelsea", (128, 160)), "PNG"))
    r = run("analyze", "--model", model_dir, "--evidence", "clones", "--evidence-param", param, "--out",
            tmp_path / "o", img)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_a_layer_that_breaks_on_an_image_fails_that_layer_only(model_dir, tmp_path, capsys, monkeypatch):
    """An unforeseen error inside a layer (here OpenCV's own error type, as when an allocation fails) is one
    FAILED line for that layer and image, recorded in results.json; the other layers and images go on, and
    the exit status says that something failed. Before, it ended the batch with no results.json."""
    from declip_desktop.cli import main
    from engine.evidence import noise

    real = noise.compute

    def fragile(src, **kw):
        if "b.png" in src.name:
            raise __import__("cv2").error("OpenCV(5.1.0) alloc.cpp:73: error: (-4:Insufficient memory)\nFailed to allocate")
        return real(src, **kw)

    monkeypatch.setattr(noise, "compute", fragile)
    for name in ("a.png", "b.png"):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(ec.encode(ec.scene("chelsea", (128, 160)), "PNG"))
    out = tmp_path / "out"
    assert main(["analyze", "--model", str(model_dir), "--evidence", "noise,ela", "--out", str(out), str(tmp_path / "in")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err
    [failed] = [line for line in err.splitlines() if "FAILED" in line and "b.png" in line]
    assert failed.endswith("noise: FAILED: layer 'noise' failed (error: Failed to allocate)")
    assert "1 evidence layer run(s) FAILED" in err
    res = json.loads((out / "results.json").read_text())
    a, b = res["items"]
    assert res["analysed"] == 2 and res["evidence_layers_failed"] == 1
    assert b["outputs"]["evidence"]["noise"]["failed"] is True and "map" in b["outputs"]["evidence"]["ela"]
    assert "map" in a["outputs"]["evidence"]["noise"] and (out / "b.ela.png").exists()
