"""The report's layout and wording review: item pages say which item a continuation page belongs
to, headings stay with what follows, the signature stays on the cover, the audit log's details are
readable and whole, and the method table speaks in units and words, not internal keys."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf")

sys.path.insert(0, str(Path(__file__).parent))
from report_samples import make_photo, make_result  # noqa: E402

from declip_desktop.report import AuditSummary, ReportCase, ReportItem, build_report  # noqa: E402


def _pages(pdf: Path) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(str(pdf)).pages]


# ---- 5: how it was analysed, in words ---------------------------------------------------------
def test_timings_are_in_seconds_with_units_not_key_suffixes():
    from declip_desktop.report.item_page import timings_text

    text = timings_text({"preprocess_s": 0.002267, "backbone_s": 0.07662, "decoder_s": 0.3124, "resize_ms": 12.0,
                         "batch_size": 1})
    assert text == "preprocess < 0.01 s, backbone 0.08 s, decoder 0.31 s, resize 0.01 s; batch size 1"
    assert "_s" not in text


def test_the_device_is_named_once():
    from declip_desktop.report.item_page import device_text

    assert device_text({"device": "cpu", "device_name": "CPU (2 threads)"}) == "CPU (2 threads)"
    assert device_text({"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3"}) == "NVIDIA H100 80GB HBM3 (cuda)"
    assert device_text({"device": "cpu"}) == "cpu"


def test_jpeg_quantisation_is_worded_without_a_contradiction():
    from declip_desktop.report.exif import jpeg_text, key_rows

    exact = jpeg_text({"estimated_quality": 70, "quality_exact_ijg_match": True, "subsampling": "4:2:0"})
    assert exact == "the standard IJG tables at quality 70; chroma subsampling 4:2:0"
    approx = jpeg_text({"estimated_quality": 92, "quality_exact_ijg_match": False})
    assert approx.startswith("not the standard IJG tables; nearest IJG quality 92")
    rows = dict(key_rows({"exif": {}, "jpeg": {"estimated_quality": 70, "quality_exact_ijg_match": True}}))
    assert rows["JPEG quantisation"] == "the standard IJG tables at quality 70" and "JPEG quality" not in rows


def test_the_method_table_on_the_page_uses_units_and_names_the_device_once(tmp_path):
    p = tmp_path / "a.jpg"
    sha = make_photo(p, 320, 240, seed=1)
    res = make_result(320, 240, sha, seed=1)
    res.metadata.update(device="cpu", device_name="CPU (2 threads)",
                        timings={"preprocess_s": 0.0026, "backbone_s": 0.0766, "decoder_s": 0.1124, "batch_size": 1})
    case = ReportCase(title="T", number="N-1", examiner="E", audit=AuditSummary(chain_ok=True),
                      items=[ReportItem(item_id="E0001", file_name="a.jpg", path=p, sha256_ingest=sha, result=res)])
    out = tmp_path / "r.pdf"
    build_report(case, out)
    text = " ".join(_pages(out))
    assert "Timings preprocess < 0.01 s, backbone 0.08 s, decoder 0.11 s; batch size 1" in text
    assert "backbone_s" not in text and "(cpu)" not in text
    assert "Device / precision CPU (2 threads) · exact" in text


# ---- 1 and 2: continuation pages, headings kept with what follows, no lone rows ------------------
def _flow(tmp_path: Path, story: list) -> list[str]:
    from reportlab.lib.pagesizes import A4

    from declip_desktop.report.flow import ReportDoc

    out = tmp_path / "flow.pdf"
    ReportDoc(str(out), pagesize=A4).build(story)
    return _pages(out)


def _room(points: float):
    """A spacer that leaves `points` of the first page's frame free."""
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Spacer

    from declip_desktop.report.flow import ReportDoc

    return Spacer(1, ReportDoc("x.pdf", pagesize=A4).height - 12 - points)


def _rows(n: int) -> list[tuple[str, str]]:
    return [(f"Row{i:02d}", f"value {i}") for i in range(n)]


def _page_rows(pages: list[str]) -> list[list[str]]:
    import re

    return [re.findall(r"Row\d\d", p) for p in pages]


def test_a_short_table_moves_whole_with_its_heading(tmp_path):
    from declip_desktop.report.blocks import P, kv_table

    pages = _flow(tmp_path, [_room(60), P("Integrity", "h2"), kv_table(_rows(7), continued="Integrity (continued)")])
    # room for the heading and two rows: the heading is not left at the foot, nor the rows split
    assert "Integrity" not in pages[0]
    assert _page_rows(pages)[1] == [f"Row{i:02d}" for i in range(7)] and "(continued)" not in pages[1]


def test_a_long_table_splits_with_rows_on_both_sides_and_says_it_continues(tmp_path):
    from declip_desktop.report.blocks import P, kv_table

    for room in (45, 120, 300):
        pages = _flow(tmp_path, [_room(room), P("How it was analysed", "h2"),
                                 kv_table(_rows(40), continued="How it was analysed (continued)")])
        per_page = _page_rows(pages)
        assert sum(per_page, []) == [f"Row{i:02d}" for i in range(40)]          # every row once, in order
        assert all(len(r) == 0 or len(r) >= 3 for r in per_page), (room, per_page)   # never 1-2 rows alone
        first = next(i for i, p in enumerate(pages) if "How it was analysed" in p)
        assert per_page[first], f"heading alone at the foot of page {first + 1} (room {room})"
        for p, r in zip(pages[first + 1:], per_page[first + 1:]):
            if r:
                assert p.startswith("How it was analysed (continued)"), p[:80]


def test_a_heading_is_kept_with_the_first_lines_of_its_text(tmp_path):
    from declip_desktop.report.blocks import P

    text = " ".join(f"word{i}" for i in range(400))
    pages = _flow(tmp_path, [_room(22), P("References", "h2"), P(text)])
    assert "References" not in pages[0] and pages[1].startswith("References word0")


def test_every_later_page_of_an_item_names_the_item(tmp_path):
    items = []
    for k in range(2):
        p = tmp_path / f"photo_{k}.jpg"
        sha = make_photo(p, 320, 240, seed=k)
        res = make_result(320, 240, sha, seed=k)
        res.metadata["image"]["notes"] = [f"engine note {j}: " + "detail " * 30 for j in range(12)]  # a long table
        items.append(ReportItem(item_id=f"E000{k + 1}", file_name=p.name, path=p, sha256_ingest=sha, result=res))
    case = ReportCase(title="T", number="N-1", examiner="E", items=items, audit=AuditSummary(chain_ok=True))
    out = tmp_path / "r.pdf"
    build_report(case, out)
    pages = _pages(out)
    for k, it in enumerate(items, 1):
        label = f"Item {k} · {it.item_id} · {it.file_name}"
        start = next(i for i, p in enumerate(pages) if label in p and f"{label} (continued)" not in p)
        end = next(i for i, p in enumerate(pages) if i > start and ("Item " + str(k + 1) in p or "Method and" in p))
        assert end - start >= 2, "the item should need more than one page"
        for p in pages[start + 1:end]:
            assert f"{label} (continued)" in p
        assert f"{label} (continued)" not in pages[end] and f"{label} (continued)" not in pages[start]
    assert "How it was analysed (continued)" in " ".join(pages)


# ---- 3: the signature stays on the cover --------------------------------------------------------
@pytest.mark.parametrize("description", [
    "Line one of the description.\nLine two with a URL https://example.org/a/very/long/path/" + "x" * 80,
    ("The claimant supplied the photographs through a messaging app; " * 60).strip()])   # ~3800 characters
def test_the_signature_stays_on_the_cover_with_a_long_title_and_description(tmp_path, description):
    p = tmp_path / "a.jpg"
    sha = make_photo(p, 320, 240, seed=2)
    title = ("Very long case title to test wrapping: suspected staged water damage claim, kitchen and living "
             "room, multiple photographs supplied by the claimant via messaging app")
    head = {"entries": 18, "last_sha256": "ab" * 32}
    case = ReportCase(title=title, number="2026-0712-B/INS-44871-REVIEW", examiner="Dr. Maria-Theresa Oberholzer",
                      organisation="Landeskriminalamt Forensic Imaging Unit, Department of Digital Evidence",
                      description=description, audit=AuditSummary(chain_ok=True, head=head),
                      items=[ReportItem(item_id="E0001", file_name="a.jpg", path=p, sha256_ingest=sha,
                                        result=make_result(320, 240, sha, seed=2))])
    out = tmp_path / "r.pdf"
    build_report(case, out, threshold=0.3)
    pages = _pages(out)
    assert "Examiner's signature" in pages[0] and "How to read this report" in pages[0]
    # the description is whole, on the cover or just after it, and the summary is never pushed past it
    text = "".join(" ".join(pages[:3]).split())   # a long URL wraps mid-token: compare without spaces
    assert "".join(description.split())[-60:] in text
    assert "Summary of evidence items" not in pages[0]


# ---- 4: the audit log's details: wide, whole hashes, readable summaries ----------------------------
SHA = "0664cecd439d39ae613bad262945c23c042152ee7c17a530093de39b473364ac"
STORED = {"evidence_id": "E0004", "evidence_sha256": SHA, "model_id": "declip-lite2-default", "mode": "paper",
          "weights": [{"role": "decoder", "file": "decoder.safetensors", "sha256": "ab" * 32},
                      {"role": "backbone", "file": "efficientnet-lite2-9656183e.pth", "sha256": "cd" * 32}],
          "record_sha256": "ef" * 32}


def test_audit_details_give_hashes_whole_and_lists_in_words():
    from declip_desktop.report.appendix import audit_summary

    row = audit_summary("analysis_stored", STORED)
    for h in (SHA, "ab" * 32, "cd" * 32, "ef" * 32):
        assert h in row                                    # never 'record sha25…'
    assert "weights 2 entries (decoder decoder.safetensors, backbone efficientnet-lite2-9656183e.pth)" in row
    row = audit_summary("case_created", {"software": {"app": "0.1.0", "python": "3.11.7", "torch": "2.14.1",
                                                      "open_clip": "3.3.0", "timm": "1.0.31", "pillow": "13.0.0",
                                                      "numpy": "2.4.6"}})
    assert row == ("software (app=0.1.0, python=3.11.7, torch=2.14.1, open_clip=3.3.0, timm=1.0.31, "
                   "pillow=13.0.0, numpy=2.4.6)")
    note = "The roof edge was pasted from another photograph taken the same day; " * 4
    row = audit_summary("finding_set", {"evidence_id": "E1", "note": note})
    assert row.endswith(f"… ({len(note)} characters; in full on the item page)")
    shown = row.split("…")[0].removeprefix("note ")
    assert note.startswith(shown) and note[len(shown)] == " "   # cut at a word, not mid-word


def test_a_long_path_wraps_after_a_separator_and_keeps_every_character():
    from declip_desktop.report.audit_details import wrap_token

    path = "/tmp/pdfrev/cases/case-0712.declip/evidence/coffee_lossless_with_a_rather_long_name.png"
    lines = wrap_token(path, "DeclipSans", 7.6, 110).split("<br/>")
    assert len(lines) > 1 and "".join(lines) == path
    assert all(x[-1] in "/-_." for x in lines[:-1]), lines


def test_the_details_column_takes_most_of_the_log_table(tmp_path):
    from declip_desktop.report import appendix
    from declip_desktop.report.flow import KeptTable
    from declip_desktop.report.styles import FRAME_W

    entries = [{"seq": 1, "time_utc": "2026-12-07T14:21:40Z", "examiner": "J. Doe", "action": "analysis_stored",
                "details": STORED, "sha256": "12" * 32},
               {"seq": 2, "time_utc": "2026-12-07T14:21:41Z", "examiner": "J. Doe",
                "action": "evidence_layer_not_applicable", "sha256": "34" * 32,
                "details": {"evidence_id": "E0005", "layer": "ghost", "reason": "layer 'ghost' needs a JPEG"}}]
    case = ReportCase(title="T", number="N", examiner="E", audit=AuditSummary(chain_ok=True, entries=entries))
    log = [f for f in appendix.audit(case) if isinstance(f, KeptTable)][-1]
    widths = log._colWidths
    assert widths[-1] > FRAME_W / 2 and widths[-1] == max(widths)
    pages = _flow(tmp_path, appendix.audit(case))
    text = "".join(" ".join(pages).split())
    assert SHA in text and "ef" * 32 in text and "[2]" not in text


# ---- pinned evidence layers: each layer's pictures stay with their table --------------------------
def _layer_pictures(notes: int = 0):
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from declip_desktop.report.evidence_pages import layer_pictures
    from engine.result import AnalysisResult

    pins = []
    for k, layer in enumerate(("dq", "ela")):
        md = {"layer": layer, "model_name": f"{layer} method", "method_version": "1.0", "default_threshold": 0.5,
              "parameters": {"block": 8}, "how_to_read": "Bright blocks.", "limits": "Needs a JPEG.",
              "notes": [f"{layer} note {j}: " + "detail " * 20 for j in range(notes)]}
        prob = np.random.default_rng(k).random((120, 160)).astype(np.float32)
        pins.append({"layer": layer, "metadata": md, "score": 0.1,
                     "load": lambda prob=prob, md=md: AnalysisResult(probability=prob, raw=None, score=0.1, metadata=md)})
    item = SimpleNamespace(pinned_layers=pins, cmap="inferno", opacity=0.5)
    return layer_pictures(item, Image.new("RGB", (320, 240), (120, 130, 140)))


def test_a_pinned_layers_pictures_are_never_parted_from_their_table(tmp_path):
    """The map and mask were left at a page's foot with their caption's table on the next page."""
    from declip_desktop.report.evidence_pages import pinned_section

    pics = _layer_pictures()
    for room in range(300, 800, 20):
        pages = _flow(tmp_path, [_room(room)] + pinned_section(pics))
        for i, p in enumerate(pages):
            for layer in ("dq", "ela"):
                heading, caption = f"{layer} — {layer} method", f"{layer} map over the image"
                assert (heading in p) == (caption in p), (room, i, layer)
            # one parameter table per pair of pictures, on the same page
            assert p.count("map over the image") == p.count("Method version"), (room, i)
        intro = next(p for p in pages if "Evidence layers pinned to this finding" in p)
        assert "dq map over the image" in intro, room   # the section's heading is not left alone either


def test_a_pinned_layer_taller_than_a_page_splits_without_a_lone_heading(tmp_path):
    from declip_desktop.report.evidence_pages import pinned_section

    pages = _flow(tmp_path, [_room(400)] + pinned_section(_layer_pictures(notes=40)))
    text = " ".join(pages)
    assert text.count("dq note") == 40 and text.count("ela note") == 40   # nothing lost
    for p in pages:
        for layer in ("dq", "ela"):
            assert (f"{layer} — {layer} method" in p) <= (f"{layer} map over the image" in p)
    assert "dq — parameters (continued)" in text and "ela — parameters (continued)" in text


# ---- the cover: a description that goes on to page 2 says so ----------------------------------
def _cover_pages(tmp_path: Path, description: str) -> list[str]:
    p = tmp_path / "a.jpg"
    sha = make_photo(p, 320, 240, seed=3)
    case = ReportCase(title="T", number="N-1", examiner="E", description=description,
                      audit=AuditSummary(chain_ok=True),
                      items=[ReportItem(item_id="E0001", file_name="a.jpg", path=p, sha256_ingest=sha,
                                        result=make_result(320, 240, sha, seed=3))])
    out = tmp_path / "r.pdf"
    build_report(case, out)
    return _pages(out)


def test_a_case_description_continued_on_the_next_page_is_headed_as_such(tmp_path):
    description = "\n".join(f"Paragraph {i}: " + "the photographs were received on a USB stick. " * 8
                            for i in range(16))
    pages = _cover_pages(tmp_path, description)
    assert "Paragraph 0:" in pages[0] and "Paragraph 15:" not in pages[0]   # the case this test is about
    assert pages[1].startswith("Case description (continued) "), pages[1][:80]
    assert "(continued)" not in pages[0]
    text = " ".join(pages[:3])
    assert all(f"Paragraph {i}:" in text for i in range(16))


def test_a_short_case_description_has_no_continued_heading(tmp_path):
    pages = _cover_pages(tmp_path, "Photos from the claimant.")
    assert "Photos from the claimant." in pages[0]
    assert "Case description (continued)" not in " ".join(pages)
