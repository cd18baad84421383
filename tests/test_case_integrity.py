"""verify(): tampered, missing and re-indexed evidence; edited, removed and truncated audit entries."""
from __future__ import annotations

import json
import os

from declip_desktop.case import Case
from tests.case_support import make_jpeg, make_png, new_case


def _case_with_evidence(tmp_path):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_png(src / "b.png", seed=2)
    case = new_case(tmp_path)
    case.add_paths([src])
    case.set_finding("E0002", "no finding", note="checked")
    return case


def _rewrite_line(path, n, fn):
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[n - 1] = fn(lines[n - 1])
    path.write_text("".join(lines), encoding="utf-8")


def test_intact_case_verifies_and_the_check_is_logged(tmp_path):
    with _case_with_evidence(tmp_path) as case:
        rep = case.verify()
        assert rep.ok and rep.problems == [] and rep.checked_files == 2
        last = case.audit_entries()[-1]
        assert last["action"] == "verify" and last["details"]["ok"] is True
        assert case.verify().audit_entries == rep.audit_entries + 1


def test_modified_evidence_file_named_with_both_hashes(tmp_path):
    with _case_with_evidence(tmp_path) as case:
        it = case.item("E0001")
        os.chmod(it.path, 0o644)  # copies are read-only: a tamperer has to do this first
        with open(it.path, "r+b") as fh:
            fh.seek(100)
            fh.write(b"\x00\x01\x02")
        os.chmod(it.path, 0o444)
        rep = case.verify()
        assert not rep.ok
        [p] = rep.problems
        assert p.kind == "evidence_modified" and p.evidence_id == "E0001"
        assert p.expected == it.sha256 and p.actual != it.sha256 and p.actual in p.message
        assert "a.jpg" in p.message and it.sha256 in p.message
        assert case.audit_entries()[-1]["details"]["ok"] is False


def test_missing_evidence_file(tmp_path):
    with _case_with_evidence(tmp_path) as case:
        os.unlink(case.item("E0002").path)
        rep = case.verify()
        assert [p.kind for p in rep.problems] == ["evidence_missing"]
        assert "b.png" in rep.problems[0].message
        assert rep.summary() == "1 evidence file missing"


def test_summary_counts_the_problems_by_kind_in_plain_words(tmp_path):
    with _case_with_evidence(tmp_path) as case:
        assert case.verify().summary() == ""
        for eid in ("E0001", "E0002"):
            os.unlink(case.item(eid).path)
        assert case.verify().summary() == "2 evidence files missing"


def test_index_edited_to_match_a_tampered_file_is_caught_by_the_log(tmp_path):
    case = _case_with_evidence(tmp_path)
    it = case.item("E0001")
    path = case.path
    case.close()
    os.chmod(it.path, 0o644)
    it.path.write_bytes(it.path.read_bytes() + b"x")
    from declip_desktop.case.util import hash_file

    sha, md5, size = hash_file(it.path)
    idx = json.loads((path / "evidence.json").read_text(encoding="utf-8"))
    idx["items"][0].update(sha256=sha, md5=md5, size=size)
    (path / "evidence.json").write_text(json.dumps(idx), encoding="utf-8")
    with Case.open(path) as case:
        rep = case.verify()
        assert not rep.ok
        assert any(p.kind == "index_mismatch" and p.evidence_id == "E0001" and p.audit_entry for p in rep.problems)


def test_edited_audit_entry_is_named(tmp_path):
    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()

    def edit(line):
        e = json.loads(line)
        e["examiner"] = "Someone Else"
        return json.dumps(e, ensure_ascii=False) + "\n"

    _rewrite_line(path / "audit.jsonl", 2, edit)
    with Case.open(path) as case:
        rep = case.verify()
        assert not rep.ok
        chain = [p for p in rep.problems if p.kind == "audit_chain"]
        assert [p.audit_entry for p in chain] == [2]
        assert "audit entry 2 was edited" in chain[0].message


def test_removed_audit_entry_is_named(tmp_path):
    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()
    log = path / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    n = len(lines)
    del lines[2]  # entry 3
    log.write_text("".join(lines), encoding="utf-8")
    with Case.open(path) as case:
        rep = case.verify()
        chain = [p for p in rep.problems if p.kind == "audit_chain"]
        assert [p.audit_entry for p in chain] == [3]  # one removal, one precise problem (no cascade)
        assert chain[0].message == "audit entry 3 removed (line 3 holds entry 4)"
        assert n == len(lines) + 1


def test_removed_last_audit_entries_detected_against_case_json(tmp_path):
    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()
    log = path / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:-2]), encoding="utf-8")
    with Case.open(path, readonly=True) as case:
        rep = case.verify()
        msgs = [p.message for p in rep.problems if p.kind == "audit_chain"]
        assert any("audit log truncated" in m and f"entries {len(lines) - 1}-{len(lines)} removed" in m for m in msgs), msgs


def test_garbage_line_in_audit_log(tmp_path):
    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()
    _rewrite_line(path / "audit.jsonl", 3, lambda line: "{not json\n")
    with Case.open(path) as case:
        rep = case.verify()
        assert any(p.audit_entry == 3 and "not valid JSON" in p.message for p in rep.problems)


def test_finding_edited_outside_the_app(tmp_path):
    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()
    doc = json.loads((path / "findings.json").read_text(encoding="utf-8"))
    doc["findings"]["E0002"]["status"] = "manipulation confirmed"
    (path / "findings.json").write_text(json.dumps(doc), encoding="utf-8")
    with Case.open(path) as case:
        rep = case.verify()
        [p] = rep.problems
        assert p.kind == "finding_mismatch" and p.evidence_id == "E0002" and p.audit_entry


def test_unregistered_file_in_evidence_folder_is_a_warning(tmp_path):
    with _case_with_evidence(tmp_path) as case:
        (case.evidence_dir / "planted.jpg").write_bytes(b"x")
        rep = case.verify()
        assert rep.ok and any("planted.jpg" in w for w in rep.warnings)


def test_edited_entry_with_recomputed_hash_still_breaks_the_chain(tmp_path):
    from declip_desktop.case.audit import entry_hash

    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()

    def forge(line):
        e = json.loads(line)
        e["details"]["sha256"] = "0" * 64
        e["sha256"] = entry_hash(e)  # a careful forger fixes the entry's own hash
        return json.dumps(e) + "\n"

    _rewrite_line(path / "audit.jsonl", 2, forge)
    with Case.open(path) as case:
        rep = case.verify()
        chain = [p for p in rep.problems if p.kind == "audit_chain"]
        assert [p.audit_entry for p in chain] == [3] and "entry 2 was edited" in chain[0].message
        # ...and the forged ingest hash no longer matches the index either.
        assert any(p.kind == "index_mismatch" and p.evidence_id == "E0001" for p in rep.problems)


def test_edited_last_entry_with_recomputed_hash_caught_by_the_recorded_head(tmp_path):
    from declip_desktop.case.audit import entry_hash

    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()
    n = len((path / "audit.jsonl").read_text(encoding="utf-8").splitlines())

    def forge(line):
        e = json.loads(line)
        e["details"]["note"] = "changed"
        e["sha256"] = entry_hash(e)
        return json.dumps(e) + "\n"

    _rewrite_line(path / "audit.jsonl", n, forge)
    with Case.open(path, readonly=True) as case:
        rep = case.verify()
        assert any(p.audit_entry == n and "case.json" in p.message for p in rep.problems)


def test_case_details_edited_by_hand_are_caught_but_logged_changes_are_not(tmp_path):
    case = _case_with_evidence(tmp_path)
    case.update_info(title="Renamed properly", organisation="Unit 7")
    assert case.verify().ok
    path = case.path
    case.close()
    doc = json.loads((path / "case.json").read_text(encoding="utf-8"))
    doc["examiner"] = "Mallory"
    (path / "case.json").write_text(json.dumps(doc), encoding="utf-8")
    with Case.open(path) as case:
        rep = case.verify()
        [p] = rep.problems
        assert p.kind == "case_file" and "examiner 'Mallory'" in p.message and p.audit_entry == 1


def test_several_removed_and_swapped_entries(tmp_path):
    case = _case_with_evidence(tmp_path)
    path = case.path
    case.close()
    log = path / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:2] + lines[4:]), encoding="utf-8")
    with Case.open(path, readonly=True) as case:
        chain = [p.message for p in case.verify().problems if p.kind == "audit_chain"]
        assert chain == ["audit entries 3-4 removed (line 3 holds entry 5)"]
    lines[1], lines[2] = lines[2], lines[1]
    log.write_text("".join(lines), encoding="utf-8")
    with Case.open(path, readonly=True) as case:
        chain = [p for p in case.verify().problems if p.kind == "audit_chain"]
        assert chain and any("out of order" in p.message and p.audit_entry == 2 for p in chain)
