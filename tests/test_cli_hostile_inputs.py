"""`declip analyze` / `declip models` against hostile or unlucky inputs: one clear line, the right
exit code, the batch goes on, and evidence files are never written."""
from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import engine.images as images_mod
from declip_desktop.case.metadata import NotAnImage, probe_image
from declip_desktop.cli import main
from engine.errors import ImageError
from engine.images import load_image
from engine.testing import make_tiny_model_dir
from engine.tiling import TilingError, plan_tiles

ROOT = Path(__file__).resolve().parent.parent
PILLOW_DEFAULT_LIMIT = int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's MAX_IMAGE_PIXELS (~89.5 MP)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("m") / "tiny")


@pytest.fixture(autouse=True)
def _restore_pillow_limit(monkeypatch):
    # the engine sets Pillow's global limit; put back whatever was there after each test
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


def cli(capsys, *args) -> tuple[int, str]:
    """Run `declip ...` in-process; (exit code, stderr)."""
    try:
        rc = main([str(a) for a in args])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    return rc, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err and "internal error" not in err, err
    return [l for l in err.splitlines() if "error:" in l]


def photo(path: Path, w: int = 80, h: int = 60, seed: int = 0) -> Path:
    rng = np.random.RandomState(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((rng.rand(h, w, 3) * 255).astype(np.uint8)).save(path)
    return path


def png_header_only(path: Path, w: int, h: int) -> Path:
    """A tiny PNG whose header claims w x h pixels (no real pixel data)."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
                     + chunk(b"IEND", b""))
    return path


# ---- 1: the pixel limit is the engine's, not Pillow's 89 MP default -------------------------------
def test_90mp_header_passes_the_size_check_even_if_pillow_default_was_restored(tmp_path, monkeypatch):
    p = png_header_only(tmp_path / "phone.png", 10_000, 9_000)  # 90 MP: above Pillow's default
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", PILLOW_DEFAULT_LIMIT)  # as if someone reset it
    img = probe_image(p.read_bytes())
    assert img.size == (10_000, 9_000)
    with pytest.raises(ImageError) as err:  # no pixel data in this file: fails later, not at the limit
        load_image(p)
    assert "limit" not in str(err.value) and "bomb" not in str(err.value)


def test_header_over_the_engine_limit_is_refused(tmp_path):
    p = png_header_only(tmp_path / "huge.png", 15_000, 15_000)  # 225 MP > the 200 MP default
    with pytest.raises(ImageError, match="200 MP limit"):
        load_image(p)
    with pytest.raises(NotAnImage, match="200 MP limit"):
        probe_image(p.read_bytes())


@pytest.mark.parametrize("w,h,ok", [(30, 30, True), (40, 30, False), (50, 50, False)])
def test_configured_limit_is_applied_on_both_sides(tmp_path, monkeypatch, w, h, ok):
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 1000)  # what DECLIP_MAX_PIXELS=1000 sets
    p = photo(tmp_path / "x.png", w, h)
    if ok:
        assert load_image(p).width == w and probe_image(p.read_bytes()).size == (w, h)
    else:
        with pytest.raises(ImageError, match="limit") as err:
            load_image(p)
        assert "\n" not in str(err.value) and str(p) in str(err.value)
        # the sizes in megapixels keep three digits: a small limit does not read "0 MP, above the 0 MP limit"
        assert f"{w * h / 1e6:.3g} MP" in str(err.value) and "above the 0.001 MP limit" in str(err.value)
        with pytest.raises(NotAnImage, match="limit"):
            probe_image(p.read_bytes())


# ---- 2: unreadable folders are reported, the rest analysed --------------------------------------
def _deny(monkeypatch, locked: Path):
    real = os.scandir

    def scandir(path="."):
        if os.path.realpath(path) == os.path.realpath(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)
    monkeypatch.setattr(os, "scandir", scandir)


def test_unreadable_subfolder_is_one_failure_and_the_rest_is_analysed(model_dir, tmp_path, capsys, monkeypatch):
    photo(tmp_path / "ev" / "a.jpg")
    locked = tmp_path / "ev" / "locked"
    photo(locked / "b.jpg")
    if os.geteuid() == 0:
        _deny(monkeypatch, locked)  # root reads through chmod 000: simulate the OS refusal
    else:
        locked.chmod(0)
    try:
        rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", tmp_path / "out", tmp_path / "ev")
    finally:
        locked.chmod(0o755)
    assert rc == 1
    errs = error_lines(err)
    assert len(errs) == 1 and str(locked) in errs[0] and "cannot read folder" in errs[0]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["analysed"] == 1 and res["failed"] == 1
    assert [i["file"] for i in res["items"] if i["error"] is None] == [str(tmp_path / "ev" / "a.jpg")]


def test_symlink_loop_does_not_recurse_forever(model_dir, tmp_path, capsys):
    photo(tmp_path / "ev" / "a.jpg")
    (tmp_path / "ev" / "loop").symlink_to(tmp_path / "ev")
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", tmp_path / "out", tmp_path / "ev")
    assert rc == 0, err
    assert json.loads((tmp_path / "out" / "results.json").read_text())["analysed"] == 1


def test_names_that_are_not_utf8_or_hold_control_characters_are_recorded_and_shown_escaped(model_dir, tmp_path, capsys):
    """A POSIX name is bytes: one that is not UTF-8 cannot go into results.json as it is (before, the whole
    batch's record was lost at the end), and a newline or an escape sequence must not reach the terminal."""
    ev = tmp_path / "ev"
    ev.mkdir()
    good = photo(tmp_path / "src.jpg")
    odd = os.fsdecode(bytes(ev) + b"/bad\xff\xfename.jpg")
    ctrl = ev / "two\nlines\x1b[31m.jpg"
    for target in (odd, ctrl):
        Path(target).write_bytes(good.read_bytes())
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", tmp_path / "out", ev)
    assert rc == 0, err
    res = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    files = sorted(i["file"] for i in res["items"])
    assert res["analysed"] == 2 and files == sorted([str(ev) + "/bad\\xff\\xfename.jpg", str(ctrl)])
    assert "\x1b" not in err and "bad\\xff\\xfename.jpg: score" in err and "two\\nlines\\x1b[31m.jpg: score" in err
    assert Path(odd).read_bytes() == good.read_bytes()  # the evidence keeps its bytes and its name


@pytest.mark.parametrize("batch", ["1", "4"])
def test_an_image_that_does_not_fit_in_memory_fails_alone(model_dir, tmp_path, capsys, monkeypatch, batch):
    """torch reports a failed allocation as a RuntimeError; before, it ended the batch with no results.json.
    With a batch of four the other images are analysed again one by one."""
    from engine.detector import Detector

    real = Detector._paper_batch

    def tight(self, loaded, *args):
        if any("huge" in x.name for x in loaded):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
                               "you tried to allocate 400000000 bytes")
        return real(self, loaded, *args)

    monkeypatch.setattr(Detector, "_paper_batch", tight)
    for name in ("a.jpg", "huge.jpg", "z.jpg"):
        photo(tmp_path / "ev" / name)
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--batch-size", batch, "--out", tmp_path / "out", tmp_path / "ev")
    assert rc == 1
    [line] = [line for line in error_lines(err) if "huge" in line]
    assert line.startswith(f"declip: error: [2/3] {tmp_path / 'ev' / 'huge.jpg'}: not enough memory to analyse this "
                           "80 x 60 image on CPU")
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["analysed"] == 2 and res["failed"] == 1
    assert [i["error"] is None for i in res["items"]] == [True, False, True]
    # any other error of the network is not mistaken for memory
    monkeypatch.setattr(Detector, "_paper_batch", lambda *a: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        Detector.from_model(str(model_dir)).analyze(str(tmp_path / "ev" / "a.jpg"))


def test_ctrl_c_keeps_the_record_of_what_was_analysed(model_dir, tmp_path, capsys, monkeypatch):
    """Before, Ctrl-C left maps on disk with no results.json to say what they are."""
    from engine.detector import Detector

    real = Detector._paper_batch

    def interrupted_at_b(self, loaded, *args):
        if any(x.name.endswith("b.jpg") for x in loaded):
            raise KeyboardInterrupt
        return real(self, loaded, *args)

    monkeypatch.setattr(Detector, "_paper_batch", interrupted_at_b)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        photo(tmp_path / "ev" / name)
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", tmp_path / "out", tmp_path / "ev")
    assert rc == 130 and "declip: interrupted: 1 analysed, 0 failed, 2 not reached" in err
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["interrupted"] is True and res["analysed"] == 1
    assert res["not_reached"] == [str(tmp_path / "ev" / n) for n in ("b.jpg", "c.jpg")]
    [a] = res["items"]
    assert a["file"].endswith("a.jpg") and a["error"] is None
    assert all((tmp_path / "out" / f).exists() for f in a["outputs"].values())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted([*a["outputs"].values(), "results.json"])


def test_a_model_whose_output_is_not_a_number_fails_each_image_and_writes_no_map(model_dir, tmp_path, capsys,
                                                                                  monkeypatch):
    """Broken weights (NaN, Inf) used to give score NaN, an all-zero map that reads as 'nothing found', and a
    results.json that is not valid JSON."""
    import torch

    from engine.detector import Detector

    monkeypatch.setattr(Detector, "decode", lambda self, feats: torch.full((feats.shape[0], 8, 8), float("nan")))
    for name in ("a.jpg", "b.jpg"):
        photo(tmp_path / "ev" / name)
    for batch in ("1", "2"):
        out = tmp_path / f"out{batch}"
        rc, err = cli(capsys, "analyze", "--model", model_dir, "--batch-size", batch, "--out", out, tmp_path / "ev")
        assert rc == 1
        lines = error_lines(err)
        assert len(lines) == 2 and all("the model's output is not a number" in line for line in lines)
        res = json.loads((out / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
        assert res["failed"] == 2 and sorted(p.name for p in out.iterdir()) == ["results.json"]


# ---- 3: outputs never land on inputs -------------------------------------------------------------
def test_output_never_overwrites_an_input(model_dir, tmp_path, capsys):
    coll = tmp_path / "coll"
    img = photo(coll / "img.jpg")
    victim = photo(coll / "img.prob.png", seed=1)  # evidence that happens to look like an output name
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (img, victim)}
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", coll, img, victim)
    assert rc == 0, err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (img, victim)} == before
    res = json.loads((coll / "results.json").read_text())
    written = [o for i in res["items"] for o in i["outputs"].values()]
    assert len(set(written)) == len(written) and not {"img.jpg", "img.prob.png"} & set(written)
    assert all((coll / o).exists() for o in written)


def test_an_output_folder_inside_the_input_folder_is_not_read_as_evidence(model_dir, tmp_path, capsys):
    photo(tmp_path / "ev" / "a.jpg")
    out = tmp_path / "ev" / "out"
    for _ in range(2):  # before, the second run analysed the first run's maps and overlays as evidence
        rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", out, tmp_path / "ev")
        assert rc == 0, err
        res = json.loads((out / "results.json").read_text())
        assert [Path(i["file"]).name for i in res["items"]] == ["a.jpg"]
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", tmp_path / "ev", tmp_path / "ev")
    assert rc == 2 and "is one of the input folders" in err
    assert not (tmp_path / "ev" / "results.json").exists()


def test_results_json_that_is_an_input_is_refused(model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    evidence = out / "results.json"
    evidence.parent.mkdir()
    evidence.write_text("evidence")
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", out, photo(tmp_path / "a.jpg"), evidence)
    assert rc == 2 and "results.json" in err.splitlines()[-1]
    assert evidence.read_text() == "evidence"


# ---- 4: tiled settings and extreme shapes ---------------------------------------------------------
@pytest.mark.parametrize("flag,value", [("--tile-stride", "0"), ("--tile-stride", "-5"), ("--tile-scale", "0"),
                                        ("--tile-scale", "-1"), ("--tile-scale", "nan"), ("--tile-scale", "50"),
                                        ("--opacity", "5"), ("--opacity", "nan"), ("--opacity", "-0.1"),
                                        ("--device", "foo"), ("--device", "cuda:x")])
def test_bad_settings_are_usage_errors(model_dir, tmp_path, capsys, flag, value):
    out = tmp_path / "out"
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--mode", "tiled", flag, value, "--out", out,
                  photo(tmp_path / "a.jpg"))
    assert rc == 2
    assert err.splitlines()[-1].startswith("declip analyze: error: argument " + flag)
    assert not out.exists()


def test_stride_larger_than_the_window_is_a_usage_error(model_dir, tmp_path, capsys):
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--mode", "tiled", "--tile-stride", "999",
                  "--out", tmp_path / "out", photo(tmp_path / "a.jpg"))
    assert rc == 2 and "--tile-stride" in err.splitlines()[-1]
    assert not (tmp_path / "out" / "results.json").exists()


def test_raw_in_tiled_mode_is_a_usage_error_not_silently_ignored(model_dir, tmp_path, capsys):
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--mode", "tiled", "--raw",
                  "--out", tmp_path / "out", photo(tmp_path / "a.jpg"))
    assert rc == 2 and "(--outputs raw or --raw) needs --mode paper" in err.splitlines()[-1]
    assert not (tmp_path / "out").exists()
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--mode", "tiled", "--outputs", "map,raw",
                  "--out", tmp_path / "out", photo(tmp_path / "a.jpg"))
    assert rc == 2 and "(--outputs raw or --raw) needs --mode paper" in err.splitlines()[-1]


def test_extreme_strip_is_one_failure_in_tiled_mode(model_dir, tmp_path, capsys):
    strip = photo(tmp_path / "strip.png", 5000, 3)
    good = photo(tmp_path / "good.jpg")
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--mode", "tiled", "--out", tmp_path / "out", strip, good)
    assert rc == 1
    errs = error_lines(err)
    assert len(errs) == 1 and str(strip) in errs[0] and "elongated" in errs[0]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["analysed"] == 1 and res["items"][1]["metadata"]["tiling"]["tiles"] >= 1


def test_plan_tiles_bounds():
    with pytest.raises(TilingError, match="elongated"):
        plan_tiles(5000, 3)
    with pytest.raises(TilingError, match="scale"):
        plan_tiles(512, 512, scale=50)
    with pytest.raises(TilingError, match="windows"):
        plan_tiles(12_000, 9_000, scale=1.0, stride=1)
    assert len(plan_tiles(512, 512, scale=4).boxes) == 144  # the largest allowed scale still plans
    assert len(plan_tiles(10, 10).boxes) == 1  # tiny images are still scaled up to one window


# ---- 5: missing model files -------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nonexist.pth", "nonexist_dir/"])
def test_missing_checkpoint_is_one_line(tmp_path, capsys, name):
    rc, err = cli(capsys, "analyze", "--checkpoint", tmp_path / name, "--out", tmp_path / "out",
                  photo(tmp_path / "a.jpg"))
    assert rc == 2
    assert "no such file" in err.splitlines()[-1] and "Traceback" not in err and "internal" not in err


# ---- 6: an unwritable output folder is found before the analysis ---------------------------------
def test_unwritable_out_folder_refused_before_analysis(model_dir, tmp_path, capsys):
    out = Path("/proc/self")  # exists, and not even root can create files there
    if not out.is_dir():
        pytest.skip("needs Linux /proc")
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", out, photo(tmp_path / "a.jpg"))
    assert rc == 1
    errs = error_lines(err)
    assert len(errs) == 1 and "cannot write to output folder" in errs[0]
    assert "declip: model" not in err  # refused before the model was loaded


# ---- 7: closed pipes ------------------------------------------------------------------------------
class _ClosedPipe:
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_models_list_into_a_closed_pipe_is_quiet(capsys):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "declip_desktop.cli", "models", "list"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "BrokenPipe" not in err and "internal error" not in err and "Exception ignored" not in err, err


def test_analyze_finishes_when_its_stderr_pipe_is_closed(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", _ClosedPipe())
    rc = main(["analyze", "--model", str(model_dir), "--out", str(tmp_path / "out"), str(photo(tmp_path / "a.jpg"))])
    assert rc == 0
    assert json.loads((tmp_path / "out" / "results.json").read_text())["analysed"] == 1


# ---- 8: failed items keep the hash of the bytes that were read --------------------------------------
def test_failed_item_records_sha256(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    rc, err = cli(capsys, "analyze", "--model", model_dir, "--out", tmp_path / "out", bad, tmp_path / "missing.jpg",
                  tmp_path / "empty.jpg")
    assert rc == 1 and len(error_lines(err)) == 3
    items = json.loads((tmp_path / "out" / "results.json").read_text())["items"]
    assert items[0]["sha256"] == hashlib.sha256(bad.read_bytes()).hexdigest() and items[0]["error"]
    assert items[1]["sha256"] is None  # never read: nothing to hash
    assert items[2]["sha256"] == hashlib.sha256(b"").hexdigest()  # an empty file has a hash


# ---- evaluate's outputs and the store's settings file --------------------------------------------
def test_evaluate_checks_its_output_paths_before_running(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "x.json"
    a_file = tmp_path / "notes.md"
    a_file.write_text("notes")
    for flag, out in (("--json", missing), ("--csv", a_file / "x.csv"), ("--json", tmp_path)):
        rc = main(["evaluate", "--model", "no-such-model", "--data", str(tmp_path), flag, str(out)])
        err = capsys.readouterr().err
        assert rc == 1 and flag in err and "internal error" not in err and err.count("\n") == 1
    assert not (tmp_path / "no").exists()  # nothing was created on the way


def test_a_settings_file_of_the_wrong_shape_falls_back_to_the_built_in_default(tmp_path, capsys):
    from engine.store import DEFAULT_MODEL_ID, ModelStore

    store = ModelStore()
    store.settings_path.parent.mkdir(parents=True, exist_ok=True)
    for text in ("[1]", '{"default_model": 5}', '"x"'):
        store.settings_path.write_text(text)
        assert main(["models", "default"]) == 0
        out, err = capsys.readouterr()
        assert DEFAULT_MODEL_ID in out and "internal error" not in err


@pytest.mark.parametrize("command", [["case", "analyze", "some.declip"], ["validate"], ["train", "--data", "d"]])
def test_an_unknown_device_is_a_usage_error_in_every_command(capsys, command):
    rc, err = cli(capsys, *command, "--device", "gpu")
    assert rc == 2 and "unknown device 'gpu': use auto, cpu, cuda or cuda:N" in err
