"""Evidence layers pinned to a finding: recorded in findings.json, logged, checked by verify,
refused when unknown, and shown in the report (item page + methods appendix)."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from declip_desktop.case import Case
from declip_desktop.case.errors import CaseError
from declip_desktop.case.evidence_layers import store_layers
from tests import evidence_cases as ec
from engine import evidence
from tests.case_support import new_case


def _case_with_clones(tmp_path):
    src = tmp_path / "cat.png"
    src.write_bytes(ec.clones_case()[0])
    case = new_case(tmp_path)
    item = case.add_paths([src]).added[0]
    run = store_layers(case, [item], ["clones", "noise"])
    assert len(run.stored) == 2
    return case, item


def test_pinned_layers_are_recorded_logged_and_verified(tmp_path):
    case, item = _case_with_clones(tmp_path)
    try:
        f = case.set_finding(item.id, "suspicious", "two discs", layers=["noise", "clones"])
        assert f.layers == ["noise", "clones"]  # the registry's order
        doc = json.loads((case.path / "findings.json").read_text())
        assert "clones" in json.dumps(doc) and "noise" in json.dumps(doc)
        last = [e for e in case.audit_entries() if e.get("action") == "finding_set"][-1]
        assert last["details"]["layers"] == ["noise", "clones"]
        # a later edit without layers keeps them; an empty list unpins
        assert case.set_finding(item.id, "suspicious", "edited").layers == ["noise", "clones"]
        with pytest.raises(CaseError, match="unknown evidence layer"):
            case.set_finding(item.id, "suspicious", layers=["bogus"])
        assert case.verify().ok
        path = case.path / "findings.json"
    finally:
        case.close()
    # editing the pinned layers behind the case's back is caught by verify
    text = path.read_text().replace('"noise",', "")
    path.chmod(0o644)
    path.write_text(text)
    case = Case.open(tmp_path / "case", readonly=True)
    try:
        report = case.verify()
        assert not report.ok
        assert any("layers" in p.message for p in report.problems), [p.message for p in report.problems]
    finally:
        case.close()


def _report_text(tmp_path, layers: list[str], store: list[str] | None = None) -> str:
    """The report of the clones case with `layers` pinned (after storing `store` too), as one line of text."""
    from declip_desktop.report import build_report

    case, item = _case_with_clones(tmp_path)
    try:
        if store:
            store_layers(case, [item], store)
        case.set_finding(item.id, "suspicious", "copied disc", layers=layers)
        out = tmp_path / "r.pdf"
        build_report(case, out)
    finally:
        case.close()
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(text.split())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_report_shows_pinned_layers_and_their_methods(tmp_path):
    flat = _report_text(tmp_path, ["clones", "dq"])   # dq was never stored
    assert "Evidence layers pinned to this finding" in flat
    assert "clones — Copy-move" in flat and "Copy-move (clones)" not in flat
    assert "method = keypoints" in flat                     # its parameters
    assert "How to read this." in flat and "which one is the copy cannot be told" in flat
    assert "S1 ↔ T1: rotated" in flat and "S1 x " in flat and " px" in flat   # the clone pair, with its boxes
    assert "This image" in flat and "too flat for a copy to be confirmed" in flat   # the layer's note on it
    share = evidence.run("clones", tmp_path / "cat.png").metadata["details"]["flat_share"]
    assert ("grey = too flat to check" in flat) == (share > 0)   # the mask's caption names grey only when used
    assert "Pinned, but not shown: no verified stored analysis" in flat   # dq: pinned, not stored
    assert "Appendix F — Evidence-layer methods" in flat
    assert "Cozzolino" in flat and "Amerini" in flat        # the method's reference
    assert "noise — " not in flat                           # stored but not pinned: not on the page
    import cv2
    n = cv2.getNumThreads()
    assert f"(OpenCV with {n} thread{'s' if n != 1 else ''})" in flat   # what its parallel loops ran on


def test_case_finding_pin_layers_cli(tmp_path, capsys):
    from declip_desktop.cli import main

    case, item = _case_with_clones(tmp_path)
    d = str(case.path)
    case.close()
    assert main(["case", "finding", d, item.id, "--status", "suspicious", "--pin-layers", "clones,bogus"]) != 0
    assert "unknown evidence layer bogus" in capsys.readouterr().err
    assert main(["case", "finding", d, item.id, "--status", "suspicious", "--pin-layers", "clones"]) == 0
    with Case.open(d, readonly=True) as c:
        f = c.finding(item.id)
        assert f.layers == ["clones"]
        assert f.model_id is None      # no learned map: a stored layer is not credited as the finding's analysis
        assert c.verify().ok
    assert main(["case", "finding", d, item.id, "--status", "suspicious", "--pin-layers", ""]) == 0
    with Case.open(d, readonly=True) as c:
        assert c.finding(item.id).layers == []



def test_report_clone_pairs_carry_readable_source_and_target_tags():
    """The report's clones picture: each box has its S/T tag in a filled patch of the box colour,
    tall enough to read on the printed page (Pillow's 10 px bitmap text in the box colour was not)."""
    import numpy as np
    from PIL import Image

    from declip_desktop.report.evidence_pages import _draw_pairs

    img = Image.new("RGB", (600, 400), (200, 200, 200))
    pairs = [{"source_bbox": [10, 15, 100, 90], "target_bbox": [170, 100, 280, 190]}]
    _draw_pairs(img, pairs, (300, 200))  # the map is half the picture's size: boxes scale by 2
    a = np.asarray(img)
    for (x, y), colour, ink in (((20, 30), (0, 220, 255), (0, 0, 0)), ((340, 200), (255, 0, 200), (255, 255, 255))):
        patch = a[y:y + 40, x:x + 60]
        filled = np.all(patch == colour, -1)
        rows = np.flatnonzero(filled[:, 2:].any(1))  # the patch, beside the box's own 2 px outline
        assert rows.size and rows.max() - rows.min() + 1 >= 14  # about 4 mm on the page
        # the tag's text (anti-aliased): pixels nearer the contrasting ink than the patch colour
        px = patch.astype(int)
        nearer_ink = np.abs(px - ink).sum(-1) < np.abs(px - colour).sum(-1)
        assert nearer_ink[rows.min():rows.max() + 1].sum() > 20


def test_report_mask_greys_the_cells_too_flat_for_clones_to_check():
    from PIL import Image

    from declip_desktop.report.evidence_pages import _grey_flat_cells
    from engine.evidence.clone_coverage import coverage

    rng = np.random.default_rng(0)
    gray = np.full((128, 256), 100.0, np.float32)
    gray[:, 128:] += rng.normal(0, 6, (128, 128))          # left half flat, right half grain
    details, _ = coverage(gray)
    mask = np.zeros((64, 128), np.uint8)                     # the report's panel: half the size
    mask[10:20, 10:20] = 255                                 # a flagged area inside the flat half
    img = Image.fromarray(mask, mode="L")
    assert _grey_flat_cells(img, details)
    out = np.asarray(img)
    assert (out[:, :64][mask[:, :64] == 0] == 96).all()       # flat and not flagged: grey
    assert (out[10:20, 10:20] == 255).all()                  # flagged stays white
    assert (out[:, 64:] == 0).all()                          # checked, nothing found: black
    plain = Image.fromarray(mask, mode="L")
    assert not _grey_flat_cells(plain, {"pairs": []})        # a result without cells: the mask unchanged
    assert np.array_equal(np.asarray(plain), mask)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_report_says_why_a_pinned_layer_that_does_not_apply_is_not_shown(tmp_path):
    flat = _report_text(tmp_path, ["dq"], store=["dq"])   # the item is a PNG: dq refuses it, the refusal is logged
    assert f"dq — {evidence.info('dq').title}" in flat                 # the layer's title, not its name twice
    assert "Pinned, but not shown: the layer does not apply to this image" in flat and "needs a JPEG" in flat
