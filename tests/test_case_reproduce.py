"""A case item must be redoable in a case and reproducible from its report: `declip case analyze` takes the
thread count and tile settings `declip analyze` takes and records them the same way; the case keeps each
map's pixel hash (not only its PNG file's); results record the CPU's model and vector instructions."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "samples" / "chelsea_copy_move.jpg"
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _record(case: Path, stem: str) -> dict:
    return json.loads((case.with_suffix(".declip") / "analyses" / "E0001" / f"{stem}.json").read_text())


def _log(case: Path) -> list[dict]:
    return [json.loads(line) for line in (case.with_suffix(".declip") / "audit.jsonl").read_text().splitlines()]


def _case(tmp_path: Path, main) -> Path:
    case = tmp_path / "case"
    assert main(["case", "new", str(case), "--title", "T", "--number", "1", "--examiner", "A"]) == 0
    assert main(["case", "add", str(case), str(SAMPLE)]) == 0
    return case


@needs_pdftotext
def test_case_analyze_takes_threads_and_tile_settings_and_the_report_repeats_them(tmp_path):
    """Old code: `case analyze` refused --threads, --tile-stride and --tile-scale (exit 2), so a case item
    made with another thread count or stride than the defaults could not be redone in a case."""
    import torch

    from declip_desktop.cli import main

    case = _case(tmp_path, main)
    before = torch.get_num_threads()
    assert main(["case", "analyze", str(case), "--mode", "tiled", "--threads", "1", "--tile-stride", "300",
                 "--tile-scale", "0.5"]) == 0
    assert torch.get_num_threads() == before   # given back after the run
    md = _record(case, "declip-lite2-default__tiled")["result"]["metadata"]
    assert md["device_name"] == "CPU (1 thread)"
    assert md["tiling"]["stride"] == 300 and md["tiling"]["scale"] == 0.5
    started = [e for e in _log(case) if e["action"] == "analysis_run_started"]
    assert started[-1]["details"]["tiling"] == {"stride": 300, "scale": 0.5}

    # the same settings again: up to date; another stride: redone (the stored map was made otherwise)
    assert main(["case", "analyze", str(case), "--mode", "tiled", "--tile-stride", "300", "--tile-scale", "0.5"]) == 0
    assert _record(case, "declip-lite2-default__tiled")["result"]["metadata"]["tiling"]["stride"] == 300
    assert main(["case", "analyze", str(case), "--mode", "tiled", "--threads", "1", "--tile-stride", "200",
                 "--tile-scale", "0.5"]) == 0
    assert _record(case, "declip-lite2-default__tiled")["result"]["metadata"]["tiling"]["stride"] == 200

    assert main(["case", "finding", str(case), "E0001", "--status", "suspicious", "--mode", "tiled"]) == 0
    pdf = tmp_path / "r.pdf"
    assert main(["case", "report", str(case), "--out", str(pdf)]) == 0
    flat = " ".join(_pdf_text(pdf).split())
    for opt in ("--mode tiled", "--tile-stride 200", "--tile-scale 0.5", "--threads 1"):
        assert opt in flat, opt


def test_case_analyze_tile_options_need_tiled_mode(tmp_path, capsys):
    from declip_desktop.cli import main

    case = _case(tmp_path, main)
    with pytest.raises(SystemExit) as exc:
        main(["case", "analyze", str(case), "--tile-stride", "100"])
    assert exc.value.code == 2
    assert "need --mode tiled" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["case", "analyze", str(case), "--mode", "tiled", "--threads", "0"])


def _pixels_of_stored_maps(case: Path) -> dict[str, str]:
    from engine.mapio import load_probability_png, map_pixels_sha256

    folder = case.with_suffix(".declip") / "analyses" / "E0001"
    out = {}
    for jp in folder.glob("*.json"):
        rec = json.loads(jp.read_text())
        out[jp.stem] = map_pixels_sha256(load_probability_png(folder / rec["map_file"]))
    return out


@needs_pdftotext
def test_case_records_each_maps_pixel_hash_and_the_report_cites_it(tmp_path):
    """Old code: the case recorded only the map FILE's SHA-256 (which changes with the PNG compressor), in its
    record and its audit log; the report could not cite a pixel hash the case had vouched for."""
    from declip_desktop.cli import main

    case = _case(tmp_path, main)
    assert main(["case", "analyze", str(case), "--layers", "ela"]) == 0
    computed = _pixels_of_stored_maps(case)
    stored = [e["details"] for e in _log(case) if e["action"] == "analysis_stored"]
    assert len(stored) == 2 and len(computed) == 2
    for stem, sha in computed.items():
        rec = _record(case, stem)
        assert rec["map_pixels_sha256"] == sha
        assert rec["map_sha256"] != sha   # the file's hash is still what verify checks
        assert any(d["map_pixels_sha256"] == sha and d["map_sha256"] == rec["map_sha256"] for d in stored)
    assert main(["case", "verify", str(case)]) == 0
    assert main(["case", "finding", str(case), "E0001", "--status", "suspicious", "--pin-layers", "ela"]) == 0
    pdf = tmp_path / "r.pdf"
    assert main(["case", "report", str(case), "--out", str(pdf)]) == 0
    flat = " ".join(_pdf_text(pdf).split())
    assert flat.count("pixels SHA-256 as recorded in the case when the map was stored") == 2
    assert "map pixels sha256" in flat   # the audit log appendix prints the logged pixel hash


@needs_pdftotext
def test_a_case_stored_before_pixel_hashes_still_verifies_and_reports(tmp_path, monkeypatch):
    """A record (and audit entry) without map_pixels_sha256, as every case made before it was kept."""
    from declip_desktop.case import analyses
    from declip_desktop.cli import main

    real = analyses.write_json_atomic

    def old_writer(path, doc, *a, **k):   # the record as older versions wrote it (the log then hashes it so)
        if isinstance(doc, dict):
            doc.pop("map_pixels_sha256", None)
        return real(path, doc, *a, **k)

    case = _case(tmp_path, main)
    monkeypatch.setattr(analyses, "write_json_atomic", old_writer)
    assert main(["case", "analyze", str(case)]) == 0
    monkeypatch.setattr(analyses, "write_json_atomic", real)
    assert "map_pixels_sha256" not in _record(case, "declip-lite2-default__paper")
    assert main(["case", "verify", str(case)]) == 0
    assert main(["case", "finding", str(case), "E0001", "--status", "suspicious"]) == 0
    pdf = tmp_path / "r.pdf"
    assert main(["case", "report", str(case), "--out", str(pdf)]) == 0
    flat = " ".join(_pdf_text(pdf).split())
    (sha,) = _pixels_of_stored_maps(case).values()
    assert re.search(rf"pixels SHA-256 {sha} · score \S+ · \d+ of \d+ pixels above \S+ · pixels SHA-256 not "
                     r"recorded in the case \(stored before the case kept it\)", flat)
