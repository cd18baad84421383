"""Content Credentials in a case: recorded at ingest (hashed, audited), shown by `case status`,
re-read on demand, and carried by `declip analyze` in results.json."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("c2pa")

from declip_desktop.case import Case  # noqa: E402
from tests.case_support import new_case  # noqa: E402

NAMES = ["signed_jpg", "signed_png", "altered_jpg", "ai_jpg", "edited_jpg", "remote_jpg", "corrupt_jpg", "plain_jpg"]


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "declip_desktop.cli", *map(str, args)], capture_output=True,
                          text=True, env=env or os.environ.copy())


def test_ingest_records_provenance_and_continues_past_a_corrupt_manifest(c2pa_samples, tmp_path):
    case = new_case(tmp_path)
    try:
        rep = case.add_paths([c2pa_samples[n] for n in NAMES], trust_anchors=c2pa_samples["anchor"])
        assert len(rep.added) == len(NAMES) and not rep.errors  # the corrupt manifest did not stop anything
        by_name = {it.file_name: it.metadata["provenance"] for it in case.evidence}
        assert by_name["signed.jpg"]["verdict"] == "signed and intact"
        assert by_name["signed.jpg"]["validation"]["trust"] == "trusted"
        assert by_name["signed.png"]["verdict"] == "signed and intact"
        assert by_name["altered.jpg"]["verdict"] == "signed but altered"
        assert by_name["ai.jpg"]["verdict"] == "AI-generated"
        assert by_name["edited.jpg"]["ingredients"][0]["title"] == "signed.jpg"
        assert by_name["remote.jpg"]["remote_manifest"]["fetched"] is False
        assert by_name["corrupt.jpg"]["verdict"] == "unreadable" and by_name["corrupt.jpg"]["message"]
        assert by_name["plain.jpg"]["verdict"] == "none"
        ingest = [e for e in case.audit_entries() if e.get("action") == "ingest"][-1]
        assert ingest["details"]["c2pa_trust_anchors"]["certificates"][0]["sha256"] == \
            by_name["signed.jpg"]["trust_anchors"]["certificates"][0]["sha256"]
        assert case.verify().ok
        path = case.path
    finally:
        case.close()
    # The record is hashed like the rest of the metadata: editing a verdict is caught by verify.
    index = path / "evidence.json"
    doc = json.loads(index.read_text())
    entry = next(e for e in doc["items"] if e["file_name"] == "altered.jpg")
    entry["metadata"]["provenance"]["verdict"] = "signed and intact"
    os.chmod(index, 0o644)
    index.write_text(json.dumps(doc))
    with Case.open(path) as case:
        report = case.verify()
    assert not report.ok
    assert any(p.evidence_id == entry["id"] for p in report.problems)


def test_reread_is_logged_and_leaves_the_ingest_record(c2pa_samples, tmp_path):
    case = new_case(tmp_path)
    try:
        case.add_paths([c2pa_samples["signed_jpg"]])  # no anchors at ingest
        it = case.evidence[0]
        assert it.metadata["provenance"]["validation"]["trust"] == "not judged"
        from declip_desktop.case.provenance import reread

        rec = reread(case, it.id, c2pa_samples["other_anchor"])
        assert rec["validation"]["trust"] == "untrusted" and rec["verdict"] == "signed and intact"
        last = case.audit_entries()[-1]
        assert last["action"] == "provenance_read" and last["details"]["trust"] == "untrusted"
        assert case.item(it.id).metadata["provenance"]["validation"]["trust"] == "not judged"
        assert case.verify().ok
    finally:
        case.close()


def test_cli_add_status_and_provenance(c2pa_samples, tmp_path):
    case_dir = tmp_path / "c.declip"
    assert run("case", "new", case_dir, "--title", "T", "--number", "1", "--examiner", "E").returncode == 0
    bad = run("case", "add", case_dir, c2pa_samples["signed_jpg"], "--trust-anchors", tmp_path / "none.pem")
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "trust anchors" in bad.stderr
    r = run("case", "add", case_dir, c2pa_samples["altered_jpg"], c2pa_samples["ai_jpg"], c2pa_samples["plain_jpg"],
            "--trust-anchors", c2pa_samples["anchor"])
    assert r.returncode == 0, r.stderr
    assert "signed but ALTERED; the file was changed after it was signed; signer trusted" in r.stdout
    st = run("case", "status", case_dir)
    assert "Content Credentials: AI-generated; signer trusted" in st.stdout
    assert "Content Credentials: none" in st.stdout
    rows = json.loads(run("case", "status", case_dir, "--json").stdout)["evidence"]
    assert [r["provenance"]["verdict"] for r in rows] == ["signed but altered", "AI-generated", "none"]
    pv = run("case", "provenance", case_dir, "E0003")
    assert "proves nothing" in pv.stdout
    rr = json.loads(run("case", "provenance", case_dir, "E0001", "--reread", "--json").stdout)
    assert rr[0]["provenance"]["verdict"] == "signed but altered"
    assert rr[0]["provenance"]["validation"]["trust"] == "not judged"


def test_analyze_results_json_carries_the_record(c2pa_samples, tmp_path):
    from engine.testing import make_tiny_model_dir

    model = make_tiny_model_dir(tmp_path / "tiny")
    out = tmp_path / "out"
    r = run("analyze", "--model", model, "--out", out, "--trust-anchors", c2pa_samples["anchor"],
            c2pa_samples["altered_jpg"], c2pa_samples["plain_jpg"])
    assert r.returncode == 0, r.stderr
    assert "Content Credentials: signed but altered" in r.stderr
    res = json.loads((out / "results.json").read_text())
    prov = {os.path.basename(i["file"]): i["provenance"] for i in res["items"]}
    assert prov["altered.jpg"]["verdict"] == "signed but altered"
    assert prov["altered.jpg"]["validation"]["trust"] == "trusted"
    assert prov["plain.jpg"]["verdict"] == "none"
    assert res["parameters"]["trust_anchors"]["certificates"][0]["subject"].startswith("CN=DeCLIP Test Root CA")


def test_a_bad_settings_file_anchor_path_does_not_stop_an_ingest(c2pa_samples, tmp_path, monkeypatch):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    monkeypatch.setenv("DECLIP_CONFIG_HOME", str(cfg))
    (cfg / "preferences.json").write_text(json.dumps({"trust_anchors": str(tmp_path / "gone")}))
    case = new_case(tmp_path)
    try:
        rep = case.add_paths([c2pa_samples["signed_jpg"]])
        assert len(rep.added) == 1
        rec = case.evidence[0].metadata["provenance"]
        assert rec["validation"]["trust"] == "not judged" and "not found" in rec["trust_note"]
    finally:
        case.close()
