"""Analyses stored in a case: lossless maps, lookup, integrity, and `declip case analyze`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from declip_desktop.case import Case, CaseError
from declip_desktop.cli import main
from tests.case_support import analysis_result, make_jpeg, make_png, new_case, two_item_case  # noqa: F401


_result = analysis_result


@pytest.fixture
def case(two_item_case):
    return two_item_case


def test_store_and_lookup_lossless(case):
    it = case.item("E0001")
    res = _result(it)
    sa = case.store_analysis("E0001", res)
    assert sa.map_path.name.startswith("m1__paper.") and sa.json_path.name == "m1__paper.json"
    assert case.analysis_for("E0002") is None
    got = case.analysis_for("E0001", model_id="m1", mode="paper")
    assert got.score == pytest.approx(res.score) and got.record["evidence_sha256"] == it.sha256
    assert got.result == res.to_json()
    assert np.abs(got.probability - res.probability).max() <= 0.5 / 65535 + 1e-7
    case.store_analysis("E0001", _result(it, mode="tiled", seed=3))
    assert {a.mode for a in case.analyses("E0001")} == {"paper", "tiled"}
    assert case.analysis_for("E0001").mode == "tiled"  # the latest
    path = case.path
    case.close()
    with Case.open(path, readonly=True) as ro:  # found again from disk after reopening
        assert [a.mode for a in ro.analyses("E0001")] == ["paper", "tiled"]
        assert ro.verify().ok


def test_store_rejects_result_of_another_image_or_size(case):
    it = case.item("E0001")
    with pytest.raises(CaseError, match="different image"):
        case.store_analysis("E0001", _result(it, sha="00" * 32))
    bad = _result(it)
    bad.probability = bad.probability[:10]
    with pytest.raises(CaseError, match="probability map is"):
        case.store_analysis("E0001", bad)
    assert case.analyses("E0001") == []


def test_tampered_map_and_record_detected(case):
    it = case.item("E0001")
    sa = case.store_analysis("E0001", _result(it))
    from engine.mapio import save_probability_png

    save_probability_png(sa.map_path, np.zeros((it.height, it.width), np.float32))
    rep = case.verify()
    assert [p.kind for p in rep.problems] == ["analysis_modified"] and sa.map_path.name in rep.problems[0].message
    case.store_analysis("E0001", _result(it))  # redo: intact again
    assert case.verify().ok
    rec = json.loads(sa.json_path.read_text())
    rec["result"]["score"] = 0.99
    sa.json_path.write_text(json.dumps(rec))
    case._analyses = None  # forget the cache as a fresh process would
    rep = case.verify()
    assert any(p.kind == "analysis_modified" and p.audit_entry for p in rep.problems)


def test_edited_provenance_in_an_analysis_or_evidence_record_is_detected(tmp_path):
    """Fields verify does not compare one by one (model name, versions, original name, times) are
    pinned by the record's digest in the audit log."""
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    c = new_case(tmp_path)
    c.add_paths([tmp_path / "src"])
    it = c.item("E0001")
    sa = c.store_analysis("E0001", _result(it))
    assert c.verify().ok
    c.close()
    rec = json.loads(sa.json_path.read_text())
    rec["result"]["metadata"]["model_name"] = "certified detector v9"
    rec["stored_utc"] = "2019-01-01T00:00:00.000000Z"
    sa.json_path.write_text(json.dumps(rec))
    with Case.open(c.path) as case:
        rep = case.verify()
        assert [p.kind for p in rep.problems] == ["analysis_modified"] and "edited" in rep.problems[0].message
    sa.json_path.unlink()  # the analysis is gone (a warning only); now the evidence record
    index = c.path / "evidence.json"
    doc = json.loads(index.read_text())
    doc["items"][0]["original_name"] = "IMG_0001.JPG"
    doc["items"][0]["ingested_utc"] = "2019-01-01T00:00:00.000000Z"
    index.write_text(json.dumps(doc))
    with Case.open(c.path) as case:
        rep = case.verify()
        assert any(p.kind == "index_mismatch" and p.evidence_id == "E0001" and "edited after intake" in p.message
                   for p in rep.problems)


# -- with a real (tiny, random) model through the CLI -----------------------------------------
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    testing = pytest.importorskip("engine.testing")
    return testing.make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


def test_cli_analyze_skips_up_to_date_and_survives_a_bad_image(tmp_path, tiny_model, capsys):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_png(src / "b.png", seed=2)
    t = make_jpeg(src / "t.jpg", seed=3, size=(64, 64))
    t.write_bytes(t.read_bytes()[:1500])  # truncated: still evidence, but cannot be decoded
    d = str(tmp_path / "c")
    assert main(["case", "new", d, "--title", "T", "--number", "1", "--examiner", "E"]) == 0
    assert main(["case", "add", d, str(src)]) == 0
    capsys.readouterr()
    rc = main(["case", "analyze", d, "--model", str(tiny_model)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "2 analysed, 1 failed" in out
    assert "[3/3] E0003 t.jpg: FAILED" in err and "[1/3] E0001 a.jpg: score" in err
    with Case.open(d, readonly=True) as case:
        a = case.analysis_for("E0002", model_id="tiny-test", mode="paper")
        assert a is not None and a.probability.shape == (30, 40)
        assert a.metadata["weights"] and a.metadata["image"]["sha256"] == case.item("E0002").sha256
        assert case.analysis_for("E0003") is None
        assert any(e["action"] == "analysis_failed" and e["details"]["evidence_id"] == "E0003"
                   for e in case.audit_entries())
    rc = main(["case", "analyze", d, "--model", str(tiny_model), "--evidence", "E0001", "E0002"])
    out, err = capsys.readouterr()
    assert rc == 0 and "0 analysed, 0 failed, 2 already up to date" in out
    assert main(["case", "status", d, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [len(r["analyses"]) for r in status["evidence"]] == [1, 1, 0]
    assert main(["case", "verify", d]) == 0


def test_kill_between_map_and_record_keeps_the_previous_analysis(case, monkeypatch):
    from declip_desktop.case import analyses as analyses_mod

    it = case.item("E0001")
    first = case.store_analysis("E0001", _result(it, seed=1))
    old_prob = first.probability.copy()

    def killed(path, obj):
        raise KeyboardInterrupt("killed before the record was replaced")

    monkeypatch.setattr(analyses_mod, "write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        case.store_analysis("E0001", _result(it, seed=2))
    monkeypatch.undo()
    path = case.path
    case.close()
    with Case.open(path) as c2:
        sa = c2.analysis_for("E0001", "m1", "paper")
        assert sa.record == first.record and np.array_equal(sa.probability, old_prob)
        assert c2.verify().ok
        again = c2.store_analysis("E0001", _result(it, seed=2))  # resume: redo it
        pngs = sorted(p.name for p in (c2.analyses_dir / "E0001").glob("*.png"))
        assert pngs == [again.map_path.name]  # replaced map and the orphan are gone
        assert c2.verify().ok


def test_model_ids_that_slug_alike_do_not_share_files(case):
    it = case.item("E0001")
    a = case.store_analysis("E0001", _result(it, model="a/b", seed=1))
    b = case.store_analysis("E0001", _result(it, model="a_b", seed=2))
    assert a.json_path != b.json_path
    assert {x.model_id for x in case.analyses("E0001")} == {"a/b", "a_b"}
    assert case.verify().ok


def test_cli_analyze_with_the_default_model_is_up_to_date_the_second_time(tmp_path, capsys):
    """The embedded model's backbone weights come from a package, not its card: a rerun must still match."""
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    d = str(tmp_path / "c")
    assert main(["case", "new", d, "--title", "T", "--number", "1", "--examiner", "E"]) == 0
    assert main(["case", "add", d, str(tmp_path / "src")]) == 0
    assert main(["case", "analyze", d]) == 0
    capsys.readouterr()
    assert main(["case", "analyze", d]) == 0
    out = capsys.readouterr().out
    assert "0 analysed, 0 failed, 1 already up to date" in out
    with Case.open(d, readonly=True) as case:
        roles = {w.get("role") for w in case.analysis_for("E0001").metadata["weights"]}
        assert {"decoder", "backbone"} <= roles


def test_cli_finding_is_pinned_to_the_analysis_it_relies_on(tmp_path, tiny_model, capsys):
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    d = str(tmp_path / "c")
    assert main(["case", "new", d, "--title", "T", "--number", "1", "--examiner", "E"]) == 0
    assert main(["case", "add", d, str(tmp_path / "src")]) == 0
    assert main(["case", "finding", d, "E0001", "--status", "no finding"]) == 0  # nothing analysed yet: unpinned
    assert main(["case", "analyze", d, "--model", str(tiny_model)]) == 0
    capsys.readouterr()
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--mode", "tiled"]) == 1
    assert "no analysis with model any and mode tiled" in capsys.readouterr().err
    assert main(["case", "finding", d, "E0001", "--status", "suspicious"]) == 0
    assert "(on the tiny-test paper analysis)" in capsys.readouterr().out
    with Case.open(d, readonly=True) as case:
        f = case.finding("E0001")
        assert (f.status, f.model_id, f.mode) == ("suspicious", "tiny-test", "paper")
