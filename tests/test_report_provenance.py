"""The report's Content Credentials: verdict box per item, details and chain, validation appendix."""
from __future__ import annotations

import hashlib

import pytest

pypdf = pytest.importorskip("pypdf")
pytest.importorskip("c2pa")

from declip_desktop.case import Case  # noqa: E402
from declip_desktop.report import build_report  # noqa: E402


def _text(pdf) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(str(pdf)).pages)


def test_report_shows_provenance_per_item_and_how_it_was_validated(c2pa_samples, tmp_path):
    case = Case.create(tmp_path / "c", title="Provenance", number="P-1", examiner="E")
    try:
        case.add_paths([c2pa_samples[k] for k in ("altered_jpg", "edited_jpg", "plain_jpg", "corrupt_jpg")],
                       trust_anchors=c2pa_samples["anchor"])
        info = build_report(case, tmp_path / "r.pdf")
    finally:
        case.close()
    text = _text(info.path)
    # the alteration is stated prominently, on the item's page, before the images
    assert "CONTENT CREDENTIALS: SIGNED BUT ALTERED" in text
    assert "THE FILE WAS CHANGED AFTER IT WAS SIGNED" in text
    assert "DOES NOT MATCH: the file was changed after it was signed" in text
    assert "assertion.dataHash.mismatch" in text
    # the edited item's manifest chain: the editor, then the camera manifest it was made from
    assert "Manifest chain" in text and "PhotoEd 2.1" in text and "TestCam Firmware 1.0" in text
    assert "parentOf" in text
    # absence proves nothing; a damaged manifest is said so, with the reader's message
    assert "none found. The absence of Content Credentials proves nothing" in text
    assert "CONTENT CREDENTIALS: UNREADABLE" in text and "CBOR" in text
    # the appendix: settings, the anchor by its SHA-256
    assert "Appendix E — How Content Credentials (C2PA) were validated" in text
    assert "remote manifest fetching off" in text
    assert hashlib.sha256(c2pa_samples["ca_der"]).hexdigest()[:40] in text.replace(" ", "")
