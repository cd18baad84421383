"""A second examiner reproduces a report from its text and the evidence files alone: the report's
'How to reproduce' command, run as printed, must give maps whose pixels, scores and flagged pixels
equal what the report states, for the learned map and each pinned evidence layer."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.evidence import param_value
from engine.mapio import (decode_u16, encode_u16, flagged_pixels, load_probability_png, map_pixels_sha256,
                          png_bytes)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "samples" / "chelsea_copy_move.jpg"
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _commands(text: str) -> list[list[str]]:
    """Each 'Command' of the report as a copy from the PDF gives it: lines joined where they end in a backslash."""
    out, cur = [], None
    for line in text.splitlines():
        m = re.match(r"\s*Command\s+(declip analyze.*)", line)
        if m:
            cur = [m.group(1)]
        elif cur is not None:
            cur.append(line.strip())
        if cur is not None and not cur[-1].rstrip().endswith("\\"):
            out.append(shlex.split(" ".join(x.rstrip("\\") for x in cur)))
            cur = None
    return out


def _expected(text: str) -> dict[str, tuple[str, float, int, int, float]]:
    """{map file name: (pixels SHA-256, score, flagged pixels, pixels, threshold)} as the report states them."""
    flat = " ".join(text.split())
    pat = (r"reproduced/\S+/(\S+\.png) · pixels SHA-256 ([0-9a-f]{64}) · score (\S+) · (\d+) of (\d+) pixels "
           r"above (\S+)")
    return {m[0]: (m[1], float(m[2]), int(m[3]), int(m[4]), float(m[5])) for m in re.findall(pat, flat)}


@needs_pdftotext
def test_report_command_reproduces_every_stated_map_bit_for_bit(tmp_path, monkeypatch):
    """Examiner A: a case analysed in paper and tiled mode with two layers at non-default parameters, a
    finding at threshold 0.2 on the tiled map with both layers pinned. Examiner B: only the PDF and a copy
    of the evidence. Old code: the report had no command, no pixel hashes and no flagged pixel counts, and
    results.json had no flagged area at --threshold. Examiner A works with one CPU thread (as the GUI does on
    a 2-core machine), B's CLI with two: the map's last bits differ unless the command gives --threads."""
    import torch

    from declip_desktop.cli import main

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _rehearse(tmp_path, monkeypatch, main, torch)
    finally:
        torch.set_num_threads(before)


def _rehearse(tmp_path, monkeypatch, main, torch):
    case = tmp_path / "a" / "case"
    assert main(["case", "new", str(case), "--title", "T", "--number", "1", "--examiner", "A"]) == 0
    assert main(["case", "add", str(case), str(SAMPLE)]) == 0
    assert main(["case", "analyze", str(case), "--evidence", "ela,noise", "--evidence-param", "ela.quality=85",
                 "--evidence-param", "noise.block=24"]) == 0
    assert main(["case", "analyze", str(case), "--mode", "tiled"]) == 0
    assert main(["case", "finding", str(case), "E0001", "--status", "suspicious", "--threshold", "0.2",
                 "--mode", "tiled", "--pin-layers", "ela,noise"]) == 0
    pdf = tmp_path / "a" / "report.pdf"
    assert main(["case", "report", str(case), "--out", str(pdf)]) == 0

    text = _pdf_text(pdf)
    (cmd,) = _commands(text)
    assert cmd[:2] == ["declip", "analyze"]
    assert "--tile-scale" not in cmd          # the automatic working scale, not its 6-decimal rounding
    for opt in ("--model declip-lite2-default", "--mode tiled", "--precision exact", "--device cpu", "--threads 1",
                "--threshold 0.2", "--evidence ela,noise", "--evidence-param ela.quality=85",
                "--evidence-param noise.block=24"):
        assert opt in " ".join(cmd), opt
    flat = " ".join(text.split())
    assert "declip --version: declip " in flat and "device_name CPU (1 thread), dtype float32" in flat
    assert re.search(r"layer method_version: ela \S+, noise \S+", flat)
    expected = _expected(text)
    assert set(expected) == {"chelsea_copy_move.prob.png", "chelsea_copy_move.ela.png", "chelsea_copy_move.noise.png"}

    b = tmp_path / "b"
    b.mkdir()
    shutil.copy(SAMPLE, b / SAMPLE.name)
    monkeypatch.chdir(b)
    torch.set_num_threads(2)  # examiner B's machine: another thread count than A's
    assert main(cmd[1:]) == 0
    assert torch.get_num_threads() == 2  # --threads is given back after the run
    out = b / cmd[cmd.index("--out") + 1]
    item = json.loads((out / "results.json").read_text())["items"][0]
    assert f"device_name {item['metadata']['device_name']}, dtype {item['metadata']['dtype']}" in flat
    got = {"chelsea_copy_move.prob.png": item}
    got.update({v["map"]: v for v in item["outputs"]["evidence"].values()})
    stored = {p.name.split(".")[0]: p for p in (case.with_suffix(".declip") / "analyses" / "E0001").glob("*.png")}
    which = {"prob": "declip-lite2-default__tiled", "ela": "evidence-ela__evidence", "noise": "evidence-noise__evidence"}
    for name, (sha, score, flagged, pixels, threshold) in expected.items():
        rec = got[name]
        assert rec["map_pixels_sha256"] == sha, name
        assert rec["score"] == score, name
        assert rec["flagged_pixels"] == {"threshold": threshold, "pixels": flagged, "of": pixels}, name
        # and the map B wrote is the case's stored map, value for value
        stored_map = stored[which[name.split(".")[-2]]]
        assert np.array_equal(load_probability_png(out / name), load_probability_png(stored_map)), name
    assert expected["chelsea_copy_move.prob.png"][4] == 0.2


def test_tile_options_give_the_recorded_working_image():
    from declip_desktop.report.reproduce import tile_args
    from engine.tiling import plan_tiles

    def md(w, h, scale, stride=336):
        plan = plan_tiles(w, h, tile=448, stride=stride, scale=scale)
        return {"image": {"width": w, "height": h}, "tiling": plan.as_metadata()}

    assert tile_args(md(512, 341, None)) == ([], None)                 # automatic: left to the CLI
    assert tile_args(md(512, 341, 1.0)) == (["--tile-scale", "1.0"], None)   # the GUI's original-pixels mode
    assert tile_args(md(4000, 3000, 0.5, stride=200)) == (["--tile-stride", "200", "--tile-scale", "0.5"], None)
    bad = md(512, 341, 1.0)
    bad["tiling"]["scaled_size"] = [700, 470]                           # no scale gives it: said, not guessed
    args, why = tile_args(bad)
    assert why and "700×470" in why
    assert tile_args({"mode": "tiled"})[1]


def test_the_default_stride_is_the_engines_one(monkeypatch):
    """The report leaves --tile-stride out exactly when the engine's default gives the recorded stride: it asks
    engine.tiling.default_stride, the rule plan_tiles uses, rather than keeping a copy of it."""
    from declip_desktop.report.reproduce import tile_args
    from engine import tiling

    assert tiling.plan_tiles(512, 341, tile=448).stride == tiling.default_stride(448) == 336
    md = {"image": {"width": 512, "height": 341}, "tiling": tiling.plan_tiles(512, 341, tile=448, stride=224).as_metadata()}
    assert tile_args(md)[0] == ["--tile-stride", "224"]
    monkeypatch.setattr(tiling, "default_stride", lambda tile: tile // 2)   # were the engine's default to change
    assert tile_args(md)[0] == []


@pytest.mark.parametrize("value", ["dense", "both", "true", "12", "a b", 85, 3.0, 0.1, True, False, None, -2])
def test_evidence_param_tokens_read_back_to_the_recorded_value(value):
    from declip_desktop.report.reproduce import param_token

    token = param_token("clones", "k", value)
    back = param_value(shlex.split(shlex.quote(token))[0].split("=", 1)[1])
    assert back == value and type(back) is type(value)


def test_map_pixel_hash_and_flagged_pixels_do_not_depend_on_the_png_compressor():
    rng = np.random.default_rng(3)
    prob = rng.random((37, 53)).astype(np.float32)
    prob[0, :4] = [0.35, np.float32(0.35), 22937 / 65535, 22938 / 65535]   # values at the threshold's edge
    u16 = encode_u16(prob)
    assert np.array_equal(encode_u16(decode_u16(np.arange(65536, dtype=np.uint16))), np.arange(65536))
    files = {c: png_bytes(u16, compressor=c) for c in ("zlib", "isal", "libdeflate")
             if _installed(c)}
    assert len(files) >= 1
    from io import BytesIO
    from PIL import Image

    hashes = {c: map_pixels_sha256(np.asarray(Image.open(BytesIO(b)))) for c, b in files.items()}
    assert set(hashes.values()) == {map_pixels_sha256(prob)}
    for t in (0.0, 0.2, 0.35, 22937 / 65535, 0.5, 1.0):
        assert flagged_pixels(prob, t)["pixels"] == int((decode_u16(u16) > t).sum()), t


def _installed(compressor: str) -> bool:
    try:
        png_bytes(np.zeros((2, 2), np.uint16), compressor=compressor)
    except ValueError:
        return False
    return True


def test_analyze_records_pixel_hash_and_flagged_pixels_at_its_threshold_without_a_map_file(tmp_path):
    from declip_desktop.cli import main

    out = tmp_path / "out"
    assert main(["analyze", "--outputs", "overlay", "--threshold", "0.25", "--out", str(out), str(SAMPLE)]) == 0
    item = json.loads((out / "results.json").read_text())["items"][0]
    assert not (out / "chelsea_copy_move.prob.png").exists()
    assert item["flagged_pixels"]["threshold"] == 0.25 and item["flagged_pixels"]["of"] == 451 * 300
    assert re.fullmatch(r"[0-9a-f]{64}", item["map_pixels_sha256"])


def test_report_says_how_a_tiled_working_image_was_made_without_calling_an_enlarged_one_full_resolution():
    """Old code: 'tiled, full resolution ... scale 1.313783', which reads as the original-pixels mode
    (--tile-scale 1), whose map differs."""
    from declip_desktop.report.item_page import tiling_text

    auto = tiling_text({"tile_size": 448, "stride": 336, "scale": 1.313783, "scaled_size": [673, 448], "tiles": 2},
                       {"width": 512, "height": 341})
    assert "full resolution" not in auto and "enlarged" in auto and "the automatic scale" in auto
    own = tiling_text({"tile_size": 448, "stride": 336, "scale": 1.0, "scaled_size": [512, 448], "tiles": 2},
                      {"width": 512, "height": 341})
    assert "own scale" in own and "automatic" not in own
    small = tiling_text({"tile_size": 448, "stride": 336, "scale": 0.256, "scaled_size": [1024, 768], "tiles": 6},
                        {"width": 4000, "height": 3000})
    assert "reduced" in small and "the automatic scale" in small


def test_analyze_threads_option_is_recorded_and_given_back(tmp_path):
    import torch

    from declip_desktop.cli import main

    before = torch.get_num_threads()
    out = tmp_path / "out"
    assert main(["analyze", "--threads", "1", "--outputs", "map", "--out", str(out), str(SAMPLE)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["parameters"]["threads"] == 1
    assert doc["items"][0]["metadata"]["device_name"] == "CPU (1 thread)"
    assert torch.get_num_threads() == before
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--threads", "0", "--out", str(out), str(SAMPLE)])
    assert exc.value.code == 2


@needs_pdftotext
def test_an_item_with_only_pinned_layers_gets_a_command_for_them(tmp_path, monkeypatch):
    """Old code: a finding resting on evidence layers alone (no learned map) had their maps on its page but
    nothing that said how to compute them again."""
    from declip_desktop.case.evidence_layers import store_layers
    from declip_desktop.cli import main
    from declip_desktop.report import build_report
    from tests import evidence_cases as ec
    from tests.case_support import new_case

    src = tmp_path / "cat.png"
    src.write_bytes(ec.clones_case()[0])
    case = new_case(tmp_path)
    try:
        item = case.add_paths([src]).added[0]
        store_layers(case, [item], ["clones", "noise"], params={"noise": {"z_half": 2.5}})
        case.set_finding(item.id, "suspicious", "copied disc", layers=["clones", "noise"])
        pdf = tmp_path / "r.pdf"
        build_report(case, pdf)
    finally:
        case.close()
    text = _pdf_text(pdf)
    (cmd,) = _commands(text)
    assert "--model" not in cmd and "--evidence-param" in cmd and "noise.z_half=2.5" in cmd
    assert "Learned map none in this report" in " ".join(text.split())
    expected = _expected(text)
    assert set(expected) == {"cat.clones.png", "cat.noise.png"}
    b = tmp_path / "b"
    b.mkdir()
    shutil.copy(src, b / src.name)
    monkeypatch.chdir(b)
    assert main(cmd[1:]) == 0
    item = json.loads((b / cmd[cmd.index("--out") + 1] / "results.json").read_text())["items"][0]
    for layer, rec in item["outputs"]["evidence"].items():
        sha, score, flagged, pixels, threshold = expected[rec["map"]]
        assert (rec["map_pixels_sha256"], rec["score"]) == (sha, score), layer
        assert rec["flagged_pixels"] == {"threshold": threshold, "pixels": flagged, "of": pixels}, layer


def test_a_threshold_is_never_printed_rounded():
    """Old code: 0.333333 was printed 0.3333, a value that flags other pixels when passed back."""
    from declip_desktop.report.blocks import fmt_threshold

    assert fmt_threshold(0.5) == "0.50" and fmt_threshold(0.35) == "0.35" and fmt_threshold(0.125) == "0.125"
    for t in (0.333333, 0.123456789, 1 / 3):
        assert float(fmt_threshold(t)) == t
