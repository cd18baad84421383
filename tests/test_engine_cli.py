"""`declip analyze` and `declip models`: outputs, exit codes, one-line errors, the store."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.mapio import load_probability_png
from engine.testing import make_official_checkpoint, make_tiny_model_dir


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "declip_desktop.cli", *map(str, args)], capture_output=True,
                          text=True, env=env or os.environ.copy())


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("m") / "tiny")


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    rng = np.random.RandomState(1)
    Image.fromarray((rng.rand(90, 120, 3) * 255).astype(np.uint8)).save(d / "a.jpg")
    Image.fromarray((rng.rand(70, 50, 3) * 255).astype(np.uint8)).save(d / "sub" / "a.png")  # same stem
    return d


def test_analyze_writes_maps_overlays_and_results(model_dir, images, tmp_path):
    out = tmp_path / "out"
    r = run("analyze", "--model", model_dir, "--raw", "--out", out, images)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "[2/2]" in r.stderr
    res = json.loads((out / "results.json").read_text())
    assert [i["error"] for i in res["items"]] == [None, None]
    names = sorted(p.name for p in out.iterdir())
    assert {"a.prob.png", "a-2.prob.png", "a.overlay.png", "a-2.overlay.png", "a.raw.npy"} <= set(names)
    first = res["items"][0]
    prob = load_probability_png(out / first["outputs"]["probability"])
    assert prob.shape == (first["height"], first["width"])
    assert Image.open(out / first["outputs"]["probability"]).mode in ("I;16", "I")
    raw = np.load(out / first["outputs"]["raw"])
    assert raw.shape == (256, 256) and raw.dtype == np.float32
    assert first["score"] == pytest.approx(float(raw.mean()), abs=1e-6)
    assert len(first["sha256"]) == 64
    md = first["metadata"]
    assert md["model_id"] == "tiny-test" and md["mode"] == "paper" and "torch" in md["versions"]
    assert all(len(w["sha256"]) == 64 for w in md["weights"])


def test_partial_failure_exit_1_and_rest_analysed(model_dir, images, tmp_path):
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out"
    r = run("analyze", "--model", model_dir, "--out", out, images, tmp_path / "nope.png")
    assert r.returncode == 1
    errors = [l for l in r.stderr.splitlines() if l.startswith("declip: error:")]
    assert len(errors) == 2 and any("broken.jpg" in l for l in errors) and any("nope.png" in l for l in errors)
    assert "Traceback" not in r.stderr
    res = json.loads((out / "results.json").read_text())
    assert res["analysed"] == 2 and res["failed"] == 2
    assert (out / "a.prob.png").exists()


def test_an_unreadable_image_is_said_in_its_place_in_the_order(model_dir, tmp_path):
    """Old code: the error line of an image that could not be read was said at once, ahead of the lines
    of the images before it (those are said when their files are written), and without its number."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.RandomState(3)
    for name in ("a.jpg", "c.jpg", "d.jpg"):
        Image.fromarray((rng.rand(300, 400, 3) * 255).astype(np.uint8)).save(d / name)
    (d / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    r = run("analyze", "--model", model_dir, "--batch-size", "2", "--out", tmp_path / "out", d)
    assert r.returncode == 1
    lines = [l for l in r.stderr.splitlines() if l.startswith(("[", "declip: error:"))]
    assert [l.split(":")[0] for l in lines] == ["[1/4] a.jpg", "declip", "[3/4] c.jpg", "[4/4] d.jpg"]
    assert lines[1].startswith("declip: error: [2/4] ") and "b.jpg" in lines[1]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (res["analysed"], res["failed"]) == (3, 1)
    assert sorted(res["items"][1]) == ["error", "file", "provenance", "sha256"] and "b.jpg" in res["items"][1]["error"]


def test_what_reading_changed_is_said_under_the_item(model_dir, tmp_path):
    """A multi-frame GIF or a CMYK JPEG is analysed as one RGB picture: the examiner is told so
    on the console, under that image's line, not only in results.json."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.RandomState(2)
    frames = [Image.fromarray((rng.rand(40, 60, 3) * 255).astype(np.uint8)) for _ in range(3)]
    frames[0].save(d / "a.gif", save_all=True, append_images=frames[1:])
    frames[1].convert("CMYK").save(d / "b.jpg")
    r = run("analyze", "--model", model_dir, "--out", tmp_path / "out", d)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    a = next(i for i, line in enumerate(lines) if line.startswith("[1/2] a.gif"))
    assert lines[a + 1] == "  a.gif: note: multi-frame file (3 frames): first frame analysed"
    b = next(i for i, line in enumerate(lines) if line.startswith("[2/2] b.jpg"))
    assert lines[b + 1] == "  b.jpg: note: CMYK converted to RGB"
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["items"][0]["metadata"]["image"]["notes"] == ["multi-frame file (3 frames): first frame analysed"]


def test_usage_errors_exit_2(model_dir, tmp_path):
    assert run("analyze", "--out", tmp_path).returncode == 2  # no inputs
    assert run("analyze", "--model", model_dir, "--checkpoint", "x", "--out", tmp_path, "a.jpg").returncode == 2
    assert run("analyze", "--mode", "weird", "--out", tmp_path, "a.jpg").returncode == 2
    assert run("frobnicate").returncode == 2


def test_out_that_is_a_file_is_named_as_such_and_left_alone(model_dir, images, tmp_path):
    # mkdir's "File exists" read as if the folder were there
    f = tmp_path / "results.txt"
    f.write_text("keep")
    r = run("analyze", "--model", model_dir, "--out", f, images)
    assert r.returncode == 1 and "is a file, not a folder" in r.stderr and "Traceback" not in r.stderr
    assert f.read_text() == "keep"


def test_tiled_mode_records_tiling(model_dir, tmp_path):
    p = tmp_path / "wide.png"
    Image.fromarray((np.random.RandomState(2).rand(300, 700, 3) * 255).astype(np.uint8)).save(p)
    out = tmp_path / "out"
    r = run("analyze", "--model", model_dir, "--mode", "tiled", "--tile-stride", "112", "--out", out, p)
    assert r.returncode == 0, r.stderr
    item = json.loads((out / "results.json").read_text())["items"][0]
    tiling = item["metadata"]["tiling"]
    assert tiling["tile_size"] == 224 and tiling["stride"] == 112 and tiling["tiles"] >= 6
    assert load_probability_png(out / "wide.prob.png").shape == (300, 700)
    assert "tile" in r.stderr


def test_models_import_verify_remove(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    env = dict(os.environ, DECLIP_HOME=str(tmp_path / "home"))
    liar = make_official_checkpoint(d / "ViT_layer20_conv-20_lama.pth", layer=0, depth=4, clip_path=d / "ViT-L-14.pt")
    r = run("models", "import", liar, "--backbone-weights", d / "ViT-L-14.pt", env=env)
    assert r.returncode == 1 and "conv-20" in r.stderr and "conv-4" in r.stderr  # name and weights disagree
    named = make_official_checkpoint(d / "ViT_layer20_conv-20_ldm.pth", layer=0, depth=20, clip_path=d / "ViT-L-14.pt")
    r = run("models", "import", named, "--backbone-weights", d / "ViT-L-14.pt", env=env)
    # named like the release, but not it (block 0, tiny widths, not OpenAI's CLIP file): never given its card
    assert r.returncode == 1 and "named like the release declip-vit-ldm but differs" in r.stderr
    assert "rename the file" in r.stderr
    ckpt = d / "tiny_ldm.pth"
    ckpt.write_bytes(named.read_bytes())
    r = run("models", "import", ckpt, "--backbone-weights", d / "ViT-L-14.pt", "--json", env=env)
    assert r.returncode == 0, r.stderr
    card = json.loads(r.stdout)
    mid = card["id"]
    assert not mid.startswith("declip-vit-")  # a model of unknown origin, not the catalogue's
    assert card["decoder"]["widths"] == [32, 16, 8, 8]  # the architecture comes from the file
    assert card["backbone"]["layer"] == 0
    assert all(len(f["sha256"]) == 64 for f in card["files"])
    again = run("models", "import", ckpt, "--backbone-weights", d / "ViT-L-14.pt", env=env)
    assert again.returncode == 1 and "already" in again.stderr
    listing = json.loads(run("models", "list", "--json", env=env).stdout)
    assert next(m for m in listing if m["id"] == mid)["status"] == "ready"
    assert next(m for m in listing if m["id"] == "declip-vit-ldm")["status"] == "not imported"
    assert run("models", "verify", mid, env=env).returncode == 0
    stored = tmp_path / "home" / "models" / mid / ckpt.name
    os.chmod(stored, stat.S_IWUSR | stat.S_IRUSR)
    with open(stored, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    bad = run("models", "verify", mid, env=env)
    assert bad.returncode == 1 and "HASH MISMATCH" in bad.stdout
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(img)
    assert run("models", "remove", mid, env=env).returncode == 0
    assert run("analyze", "--model", mid, "--out", tmp_path / "o", img, env=env).returncode == 1


def test_models_import_refuses_wrong_files(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    ckpt = make_official_checkpoint(d / "fusion.pth", arch="fusion", layer=0, clip_path=d / "vit.pt", rn_path=d / "rn.pt")
    env = dict(os.environ, DECLIP_HOME=str(tmp_path / "home"))
    r = run("models", "import", ckpt, "--backbone-weights", d / "vit.pt", env=env)
    assert r.returncode == 1 and "RN50" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("models", "import", d / "rn.pt", env=env)
    assert r.returncode == 1 and "not a DeCLIP checkpoint" in r.stderr
    assert not (tmp_path / "home" / "models").exists() or not any((tmp_path / "home" / "models").iterdir())


def test_own_model_folder_import_and_default(model_dir, tmp_path):
    env = dict(os.environ, DECLIP_HOME=str(tmp_path / "home"))
    assert run("models", "import", model_dir, env=env).returncode == 0
    assert run("models", "default", "tiny-test", env=env).stdout.strip() == "tiny-test"
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((50, 50, 3), np.uint8)).save(img)
    r = run("analyze", "--out", tmp_path / "o", img, env=env)  # no model option: the default
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "o" / "results.json").read_text())["model"]["model_id"] == "tiny-test"
