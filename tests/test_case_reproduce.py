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
            ((doc.get("result") or {}).get("metadata") or {}).pop("cpu", None)
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
    assert "model and vector instructions: not recorded with the result" in flat


# -- the CPU a map was computed on --------------------------------------------------------------------------

X86_CPUINFO = """processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 9454   48-Core Processor
flags		: fpu sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512bw avx512_bf16 amx_tile amx_bf16 foo

processor	: 1
model name	: Something else
flags		: fpu
"""
ARM_CPUINFO = """processor	: 0
BogoMIPS	: 243.75
Features	: fp asimd evtstrm aes asimdhp asimddp sve sve2 bf16 i8mm
CPU part	: 0xd4f
"""


def test_cpu_flags_are_read_from_proc_cpuinfo_and_filtered_to_the_vector_sets():
    from engine.cpu import parse_proc_cpuinfo

    model, flags = parse_proc_cpuinfo(X86_CPUINFO)
    assert model == "AMD EPYC 9454   48-Core Processor" and {"avx2", "avx512_bf16", "amx_bf16"} <= flags
    _, arm = parse_proc_cpuinfo(ARM_CPUINFO)
    assert {"sve2", "bf16", "i8mm"} <= arm


def test_cpu_info_never_fails_and_is_read_once(monkeypatch):
    from engine import cpu

    calls = []

    def broken():
        calls.append(1)
        raise OSError("no /proc here")

    cpu._cached.cache_clear()
    monkeypatch.setattr(cpu, "_read", broken)
    try:
        assert cpu.cpu_info()["model"] is None and cpu.cpu_info()["vector_extensions"] == []
        assert len(calls) == 1
        monkeypatch.setattr(cpu, "_read", lambda: (" AMD  EPYC ", {"avx2", "fpu", "avx512f"}))
        cpu._cached.cache_clear()
        info = cpu.cpu_info()
        assert info["model"] == "AMD EPYC" and info["vector_extensions"] == ["avx2", "avx512f"]
        info["vector_extensions"].append("x")   # a caller's copy, not the cache
        assert cpu.cpu_info()["vector_extensions"] == ["avx2", "avx512f"]
    finally:
        cpu._cached.cache_clear()


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="reads the CPU from /proc/cpuinfo")
def test_analyze_records_the_cpu_model_and_vector_instructions(tmp_path):
    """Old code: results recorded a CPU only as 'CPU (N threads)'."""
    import torch

    from declip_desktop.cli import main
    from engine.cpu import KNOWN, parse_proc_cpuinfo

    model, flags = parse_proc_cpuinfo(Path("/proc/cpuinfo").read_text())
    out = tmp_path / "out"
    assert main(["analyze", "--device", "cpu", "--evidence", "ela", "--outputs", "map", "--out", str(out),
                 str(SAMPLE)]) == 0
    doc = json.loads((out / "results.json").read_text())
    cpu = doc["items"][0]["metadata"]["cpu"]
    assert cpu["model"] == (" ".join(model.split()) if model else None)
    assert cpu["vector_extensions"] == [f for f in KNOWN if f in flags]
    assert cpu["torch_kernels"] == torch.backends.cpu.get_cpu_capability()
    assert doc["model"]["cpu"] == cpu
    ela = doc["items"][0]["outputs"]["evidence"]["ela"]["metadata"]["cpu"]
    assert ela["vector_extensions"] == cpu["vector_extensions"]


def test_layer_records_opencv_thread_count(monkeypatch):
    """Old code: a layer's record did not say how many threads OpenCV's parallel loops used."""
    import cv2

    from engine import evidence

    before = cv2.getNumThreads()
    try:
        for n in (1, 2):
            cv2.setNumThreads(n)
            res = evidence.run("ela", str(SAMPLE))
            assert res.metadata["threads"] == {"opencv": n}
    finally:
        cv2.setNumThreads(before)


@needs_pdftotext
def test_report_states_the_cpu_a_map_must_be_recomputed_on(tmp_path, monkeypatch):
    from declip_desktop.cli import main
    from engine import cpu as cpu_mod

    monkeypatch.setattr(cpu_mod, "_cached", lambda: {"model": "Test CPU 9000", "architecture": "x86_64",
                                                     "vector_extensions": ["avx2", "avx512f", "avx512_bf16"]})
    case = _case(tmp_path, main)
    assert main(["case", "analyze", str(case), "--device", "cpu"]) == 0
    assert main(["case", "finding", str(case), "E0001", "--status", "suspicious"]) == 0
    pdf = tmp_path / "r.pdf"
    assert main(["case", "report", str(case), "--out", str(pdf)]) == 0
    flat = " ".join(_pdf_text(pdf).split())
    assert "cpu.vector_extensions avx2 avx512f avx512_bf16" in flat
    assert re.search(r"cpu\.torch_kernels \w+", flat)
    # what must match is torch's kernel set; the other extensions decide bit-equality and are stated apart
    must = flat.split("Must match", 1)[1].split("CPU recorded", 1)
    assert len(must) == 2 and "vector_extensions" not in must[0] and "torch_kernels" in must[0]
    assert must[1].lstrip().startswith("Test CPU 9000; cpu.vector_extensions avx2 avx512f avx512_bf16. The same")
    assert re.search(r"CPU \(\d+ threads?\) · Test CPU 9000, avx2 avx512f avx512_bf16 \(torch kernels \w+\)", flat)


def test_metadata_dock_shows_the_cpu_beside_the_device():
    from types import SimpleNamespace

    from declip_desktop.metadata_presenter import metadata_sections

    item = SimpleNamespace(id="E001", file_name="a.jpg", sha256="ab" * 32, md5=None, size=1, original_name=None,
                           original_path=None, original_mtime_utc=None, ingested_utc=None, format="JPEG",
                           width=2, height=2, metadata={})
    md = {"device": "cpu", "device_name": "CPU (2 threads)",
          "cpu": {"model": "AMD EPYC", "vector_extensions": ["avx2", "avx512f"], "torch_kernels": "AVX512"}}
    s = metadata_sections(item, {"model_id": "m", "mode": "paper", "score": 0.1, "metadata": md})
    assert s["Analysis"]["cpu"] == "AMD EPYC, avx2 avx512f (torch kernels AVX512)"
    md.pop("cpu")   # a record from before the CPU was recorded: no row, nothing invented
    assert "cpu" not in metadata_sections(item, {"model_id": "m", "mode": "paper", "metadata": md})["Analysis"]


@needs_pdftotext
def test_validation_record_names_the_cpu(tmp_path):
    from declip_desktop.report.validation_pdf import write_validation_pdf

    record = {"result": "PASS", "created_utc": "2026-12-07T20:00:00Z", "model": {"id": "m", "name": "M", "files": []},
              "device": {"device": "cpu", "name": "CPU (2 threads)", "precision": "exact"}, "versions": {},
              "machine": {"host": "h", "platform": "Linux", "cpus": 2,
                          "cpu": {"model": "Test CPU 9000", "vector_extensions": ["avx2", "amx_bf16"]}},
              "items": [], "problems": [], "notes": []}
    pdf = write_validation_pdf(record, tmp_path / "v.pdf")
    assert "Test CPU 9000, avx2 amx_bf16" in " ".join(_pdf_text(pdf).split())
