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
