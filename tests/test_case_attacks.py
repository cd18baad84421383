"""Attacks on a case folder that verify, report and the tools must catch (issue 34).

Each test replays one attack: deleted or forged analyses, edited finding fields, a swapped
evidence file re-logged under its old id, hostile ids and names, hostile case.lock files, a
kill between an analysis record and its audit entry.
"""
from __future__ import annotations

import json
import os
import shutil
import threading

import numpy as np
import pytest

from declip_desktop.case import Case, CaseError, CaseLockedError, CaseSchemaError
from declip_desktop.case import analyses as analyses_mod
from declip_desktop.case.audit import entry_hash
from declip_desktop.cli import main
from engine.result import AnalysisResult
from tests.case_support import analysis_result, fail_index_writes, make_jpeg, make_png, new_case, two_item_case  # noqa: F401


_result = analysis_result


@pytest.fixture
def case(two_item_case):
    return two_item_case


def _kinds(rep):
    return sorted({p.kind for p in rep.problems})


# -- 1. analyses are checked both ways ------------------------------------------------------------
def test_deleting_an_analysis_folder_or_every_analysis_is_a_failure(case):
    for eid in ("E0001", "E0002"):
        case.store_analysis(eid, _result(case.item(eid)))
    assert case.verify().ok
    shutil.rmtree(case.analyses_dir / "E0001")
    case._analyses = None
    rep = case.verify()
    assert not rep.ok and _kinds(rep) == ["analysis_missing"]
    assert "E0001" in rep.problems[0].message and "m1" in rep.problems[0].message
    shutil.rmtree(case.analyses_dir)
    case.analyses_dir.mkdir()
    case._analyses = None
    rep = case.verify()
    assert sorted(p.evidence_id for p in rep.problems if p.kind == "analysis_missing") == ["E0001", "E0002"]


def test_forged_analysis_fails_verify_and_never_reaches_the_report(case, tmp_path):
    it = case.item("E0001")
    case.store_analysis("E0001", _result(it, value=0.1))
    # A forged record with its own map and a matching map_sha256, written without the log...
    forged = analyses_mod.store(case, it, _result(it, model="forged-model", value=0.97), None, None)
    assert forged.record["map_sha256"] and forged.json_path.exists()
    # ...and a finding edited to pin it.
    case.set_finding("E0001", "suspicious", note="n")
    doc = json.loads((case.path / "findings.json").read_text())
    doc["findings"]["E0001"].update(model_id="forged-model", mode="paper", examiner="Someone Else")
    (case.path / "findings.json").write_text(json.dumps(doc))
    path = case.path
    case.close()
    with Case.open(path) as c:
        rep = c.verify()
        assert not rep.ok
        unlogged = [p for p in rep.problems if p.kind == "analysis_unlogged"]
        assert len(unlogged) == 1 and "forged-model" in unlogged[0].message and "never recorded" in unlogged[0].message
        edited = {p.message.split()[2] for p in rep.problems if p.kind == "finding_mismatch"}
        assert edited == {"model_id", "mode", "examiner"}  # every field of a finding is covered
        from declip_desktop.report.case_adapter import to_report_case

        rc = to_report_case(c)
        item = rc.items[0]
        assert item.load_result is not None
        shown = item.load_result()
        assert shown.metadata["model_id"] == "m1" and shown.score < 0.5  # the logged one, not the forgery
        assert not any("forged" in s for s in item.other_analyses)
        assert any("never recorded" in m for m in item.case_problems)


def test_finding_times_and_mode_are_covered(case):
    case.store_analysis("E0002", _result(case.item("E0002")))
    case.set_finding("E0002", "no finding", model_id="m1", mode="paper")
    doc = json.loads((case.path / "findings.json").read_text())
    doc["findings"]["E0002"].update(mode="tiled", created_utc="2020-01-01T00:00:00.000000Z")
    (case.path / "findings.json").write_text(json.dumps(doc))
    case._findings = {k: type(v).from_dict(doc["findings"][k]) for k, v in case._findings.items()}
    rep = case.verify()
    fields = sorted(p.message.split()[2] for p in rep.problems)
    assert fields == ["created_utc", "mode"]


# -- 2. the log's history --------------------------------------------------------------------------
def _append_forged(case_path, action, details):
    """Append one well-chained entry by hand, and move case.json's head to it (a careful forger)."""
    log = case_path / "audit.jsonl"
    last = json.loads(log.read_text().splitlines()[-1])
    e = {"seq": last["seq"] + 1, "time_utc": last["time_utc"], "examiner": "x", "os_user": "x", "host": "x",
         "action": action, "details": details, "prev_sha256": last["sha256"]}
    e["sha256"] = entry_hash(e)
    with open(log, "a") as fh:
        fh.write(json.dumps(e) + "\n")
    info = json.loads((case_path / "case.json").read_text())
    info["audit_head"] = {"entries": e["seq"], "last_sha256": e["sha256"]}
    (case_path / "case.json").write_text(json.dumps(info))


def test_readding_an_evidence_id_with_another_sha256_is_a_failure(case, tmp_path):
    it = case.item("E0001")
    path = case.path
    case.close()
    other = make_jpeg(tmp_path / "other.jpg", seed=9)
    data = other.read_bytes()
    os.chmod(it.path, 0o644)
    it.path.write_bytes(data)
    import hashlib

    doc = json.loads((path / "evidence.json").read_text())
    rec = doc["items"][0]
    rec.update(sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest(), size=len(data))
    (path / "evidence.json").write_text(json.dumps(doc))
    from declip_desktop.case.util import record_digest

    _append_forged(path, "evidence_added", {k: rec[k] for k in ("file_name", "original_path", "sha256", "md5", "size",
                                                                "original_mtime_utc")}
                   | {"evidence_id": "E0001", "record_sha256": record_digest(rec)})
    with Case.open(path) as c:
        rep = c.verify()
    assert not rep.ok
    [p] = [p for p in rep.problems if "adds it again" in p.message]
    assert p.evidence_id == "E0001" and p.expected == it.sha256


def test_against_a_report_catches_a_consistent_rewrite_and_a_lost_export(case, tmp_path, capsys):
    from declip_desktop.report import build_report

    path = case.path
    pdf = tmp_path / "r.pdf"
    build_report(case, pdf)
    case.close()
    assert main(["case", "verify", str(path), "--against", str(pdf)]) == 0
    assert "unchanged up to entry" in capsys.readouterr().out
    head_line = [ln for ln in (tmp_path / "r.pdf.sha256").read_text().splitlines() if "audit-head" in ln][0]
    n, sha = head_line.split(":")[1:3]
    # Rewrite the whole chain consistently from entry 2 on (a new examiner name), with case.json to match:
    lines = (path / "audit.jsonl").read_text().splitlines()
    entries = [json.loads(x) for x in lines]
    entries[1]["examiner"] = "Rewritten"
    prev = entries[0]["sha256"]
    for e in entries[1:]:
        e["prev_sha256"] = prev
        e["sha256"] = prev = entry_hash(e)
    (path / "audit.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    info = json.loads((path / "case.json").read_text())
    info["audit_head"] = {"entries": len(entries), "last_sha256": prev}
    (path / "case.json").write_text(json.dumps(info))
    assert main(["case", "verify", str(path)]) == 0  # a keyless chain cannot know...
    capsys.readouterr()
    assert main(["case", "verify", str(path), "--against", str(pdf)]) == 1  # ...the report can
    assert f"audit entry {n} is not the one r.pdf witnessed" in capsys.readouterr().out
    assert main(["case", "verify", str(path), "--head", f"{n}:{sha}"]) == 1
    assert main(["case", "verify", str(path), "--head", "nonsense"]) == 2  # could not verify: not a failure found
    assert "expected COUNT:SHA256" in capsys.readouterr().err


def test_against_a_report_catches_its_removed_export_entry(case, tmp_path, capsys):
    from declip_desktop.report import build_report

    path = case.path
    pdf = tmp_path / "r.pdf"
    build_report(case, pdf)
    case.close()
    lines = (path / "audit.jsonl").read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["action"] == "report_exported"
    (path / "audit.jsonl").write_text("".join(lines[:-1]))  # delete the last line, fix the head
    prev = json.loads(lines[-2])
    info = json.loads((path / "case.json").read_text())
    info["audit_head"] = {"entries": prev["seq"], "last_sha256": prev["sha256"]}
    (path / "case.json").write_text(json.dumps(info))
    assert main(["case", "verify", str(path), "--against", str(pdf)]) == 1
    assert "no 'report_exported' entry" in capsys.readouterr().out


# -- 4. hostile case folders -----------------------------------------------------------------------
@pytest.mark.parametrize("field,value", [("id", "../../../escape_target"), ("file_name", "../../../x.jpg"),
                                         ("file_name", "/etc/passwd"), ("id", "E0001/../../x")])
def test_hostile_ids_and_names_are_refused_on_open(case, tmp_path, field, value):
    path = case.path
    case.close()
    doc = json.loads((path / "evidence.json").read_text())
    doc["items"][0][field] = value
    (path / "evidence.json").write_text(json.dumps(doc))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(CaseSchemaError, match=f"invalid {field}"):
        Case.open(path)
    assert main(["case", "analyze", str(path)]) == 1
    assert sorted(os.listdir(tmp_path)) == before  # nothing written outside the case


def test_analysis_folder_link_and_map_path_never_leave_the_case(case, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (case.analyses_dir / "E0001").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CaseError, match="link or lies outside"):
        case.store_analysis("E0001", _result(case.item("E0001")))
    assert os.listdir(outside) == []
    sa = case.store_analysis("E0002", _result(case.item("E0002")))
    rec = json.loads(sa.json_path.read_text())
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    rec["map_file"] = "../../../secret.png"
    sa.json_path.write_text(json.dumps(rec))
    case._analyses = None
    assert case.analyses("E0002") == []  # never loaded from outside
    rep = case.verify()
    assert any("invalid map file" in p.message for p in rep.problems)


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory", "huge"])
def test_hostile_case_lock_neither_hangs_nor_crashes(case, kind, capsys):
    path = case.path
    case.close()
    lock = path / "case.lock"
    if kind == "dev_zero":
        lock.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(lock)
    elif kind == "directory":
        lock.mkdir()
    else:
        lock.write_bytes(b"x" * 100_000)
    outcome = {}

    def attempt():
        try:
            Case.open(path)
        except Exception as exc:
            outcome["exc"] = exc

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "opening the case hung on its lock file"
    assert isinstance(outcome.get("exc"), CaseLockedError)
    assert "not a lock" in str(outcome["exc"]) and "remove it by hand" in str(outcome["exc"])
    assert main(["case", "verify", str(path)]) == 0  # falls back to read-only, and says so
    assert "verifying read-only" in capsys.readouterr().err


# -- 6. a kill between an analysis record and its audit entry ---------------------------------------
class FakeDetector:
    """Stands in for engine.Detector: a deterministic map per image, one named file fails."""

    precision = "auto"
    device_name = "CPU (test)"

    def __init__(self, model_id="fake-model", fail_on=None):
        self.card = type("Card", (), {"id": model_id, "files": [{"role": "decoder", "sha256": "cd" * 32}]})()
        self.fail_on = fail_on
        self.calls = []

    def describe(self):
        return {"device": "cpu", "dtype": "float32", "decoder_dtype": "float32",
                "weights": [{"role": "decoder", "file": "d.safetensors", "sha256": "cd" * 32}],
                "versions": {"declip": "test"}}

    def analyze(self, path, mode="paper", progress=None, cancel=None, **kw):
        from engine.errors import ImageError
        from engine.images import load_image, to_array

        self.calls.append(os.path.basename(str(path)))
        if self.fail_on and str(path).endswith(self.fail_on):
            raise ImageError(f"{path}: cannot decode (test)")
        loaded = load_image(path)
        h, w = to_array(loaded).shape[:2]
        prob = np.full((h, w), 0.25, np.float32)
        md = {"model_id": self.card.id, "mode": mode, "weights": self.describe()["weights"],
              "image": {"sha256": loaded.sha256, "width": w, "height": h}}
        return AnalysisResult(probability=prob, raw=None, score=0.25, metadata=md)

    def analyze_many(self, paths, mode="paper", batch_size=8, cancel=None, **kw):
        for p in paths:
            try:
                yield self.analyze(p, mode)
            except Exception as exc:
                yield exc


def test_kill_between_record_and_audit_entry_is_redone(case, monkeypatch):
    from declip_desktop.case.analysis_run import run_analysis

    det = FakeDetector()
    real_append = case._audit.append

    def killed(action, details, examiner):
        if action == "analysis_stored":
            raise KeyboardInterrupt("killed after the record, before its audit entry")
        return real_append(action, details, examiner)

    monkeypatch.setattr(case._audit, "append", killed)
    with pytest.raises(KeyboardInterrupt):
        run_analysis(case, det, case.evidence, "paper")
    monkeypatch.undo()
    assert case.audit_entries()[-1]["action"] == "analysis_run_interrupted"
    case._analyses = None
    rep = case.verify()
    assert [p.kind for p in rep.problems] == ["analysis_unlogged"]  # never silently current
    run = run_analysis(case, det, case.evidence, "paper")
    assert run.todo == ["E0001", "E0002"] and run.up_to_date == []  # the unlogged one is redone
    assert case.verify().ok
    again = run_analysis(case, det, case.evidence, "paper")
    assert again.todo == [] and again.up_to_date == ["E0001", "E0002"]


def _normalised(entries):
    """Audit entries without what differs between two runs (times, hashes, paths of the case)."""
    out = []
    for e in entries:
        d = dict(e["details"])
        for k in ("record_sha256", "software", "inputs", "versions", "uuid"):
            d.pop(k, None)
        if e["action"] == "ingest":
            d = {"added": d["added"]}
        if e["action"] == "evidence_added":
            d = {"evidence_id": d["evidence_id"], "sha256": d["sha256"]}
        out.append((e["action"], json.dumps(d, sort_keys=True)))
    return out


def test_cli_and_gui_adapters_write_the_same_audit_entries(tmp_path, monkeypatch):
    """The same analysis through `declip case analyze` and the GUI's analysis job: same rule, same log."""
    from declip_desktop import jobs
    from declip_desktop.case import cli as case_cli

    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    make_png(tmp_path / "src" / "b.png", seed=2)
    make_jpeg(tmp_path / "src" / "c.jpg", seed=3)
    paths = {}
    for name in ("cli", "gui"):
        with new_case(tmp_path, name=name) as c:
            c.add_paths([tmp_path / "src"])
            c.store_analysis("E0003", FakeDetector().analyze(c.item("E0003").path))  # already up to date
            paths[name] = c.path
    det = FakeDetector(fail_on="b.png")
    monkeypatch.setattr(case_cli, "_detector", lambda args: det)
    assert main(["case", "analyze", str(paths["cli"])]) == 1  # one item failed
    assert det.calls == ["a.jpg", "b.png"]

    class Ctx:
        failed, items = [], []

        def progress(self, *a):
            pass

        def item(self, key, value):
            self.items.append(key)

        def item_failed(self, key, msg):
            self.failed.append((key, msg))

        def cancelled(self):
            return False

        def check_cancel(self):
            pass

    cache = jobs.DetectorCache()
    monkeypatch.setattr(cache, "get", lambda *a: det)
    ctx = Ctx()
    with Case.open(paths["gui"]) as c:
        counts = jobs.analysis_job(ctx, c, ["E0001", "E0002", "E0003"], cache, None, "paper", "cpu", "auto", 4,
                                   force=False)
    assert counts == {"done": 1, "failed": 1, "up_to_date": 1}
    assert [k for k, _m in ctx.failed] == ["E0002"] and "cannot decode" in ctx.failed[0][1]
    with Case.open(paths["cli"], readonly=True) as a, Case.open(paths["gui"], readonly=True) as b:
        ea, eb = _normalised(a.audit_entries()), _normalised(b.audit_entries())
    run_a = [x for x in ea if x[0].startswith("analysis_")]
    assert [x[0] for x in run_a] == ["analysis_stored", "analysis_run_started", "analysis_stored",
                                     "analysis_failed", "analysis_run_finished"]
    assert ea == eb


def test_interrupted_ingest_never_gives_a_logged_id_to_other_bytes(tmp_path, monkeypatch):
    """Killed after logging E0001 (a.jpg) but before the index: a later add of another file first must
    not receive E0001 (which verify would call evidence swapped under an existing id)."""
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    make_jpeg(tmp_path / "other" / "0.jpg", seed=7)
    case = new_case(tmp_path)
    fail_index_writes(monkeypatch)
    with pytest.raises(OSError):
        case.add_paths([tmp_path / "src"])
    monkeypatch.undo()
    path = case.path
    case.close()
    with Case.open(path) as c:
        first = c.add_paths([tmp_path / "other"])
        assert [it.id for it in first.added] == ["E0002"]
        again = c.add_paths([tmp_path / "src"])
        assert [(it.id, it.file_name) for it in again.added] == [("E0001", "a.jpg")]
        assert c.verify().ok


@pytest.mark.parametrize("target", ["case.json", "evidence.json", "audit.jsonl", "analyses/E0001/m1__paper.json"])
@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_case_files_replaced_by_a_fifo_or_dev_zero_never_hang(case, target, kind):
    import subprocess
    import sys
    from pathlib import Path

    case.store_analysis("E0001", _result(case.item("E0001")))
    path = case.path
    case.close()
    p = path / target
    p.unlink()
    if kind == "fifo":
        os.mkfifo(p)
    else:
        p.symlink_to("/dev/zero")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    for action in (["verify", str(path)], ["report", str(path), "--out", str(path.parent / "r.pdf")]):
        r = subprocess.run([sys.executable, "-m", "declip_desktop.cli", "case", *action], capture_output=True,
                           text=True, env=env, timeout=120)  # a hang fails here instead of blocking the suite
        assert r.returncode in ((0, 1, 2) if action[0] == "verify" else (0, 1)), r.stderr
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, r.stderr
        if action[0] == "verify":
            # named as a failure (1), or one clear line for an index that cannot be read: could not verify (2)
            assert r.returncode == (2 if target in ("case.json", "evidence.json") else 1), r.stderr
            if target == "audit.jsonl":
                assert "not a regular file" in r.stdout or "symbolic link" in r.stdout


@pytest.mark.parametrize("sub", ["evidence", "analyses", "thumbs", "reports"])
def test_a_case_subfolder_replaced_by_a_link_is_refused(case, tmp_path, sub):
    path = case.path
    case.close()
    outside = tmp_path / "elsewhere"
    shutil.copytree(path / sub, outside)
    shutil.rmtree(path / sub)
    (path / sub).symlink_to(outside, target_is_directory=True)
    for readonly in (False, True):
        with pytest.raises(CaseSchemaError, match=f"{sub}: is a link"):
            Case.open(path, readonly=readonly)


def test_examiner_signed_head_verifies_and_a_forgery_does_not(case, tmp_path, capsys):
    pytest.importorskip("cryptography")
    from declip_desktop.report import build_report

    key = tmp_path / "examiner.key"
    assert main(["case", "keygen", "--out", str(key)]) == 0
    pub = (tmp_path / "examiner.key.pub").read_text().strip()
    assert oct(key.stat().st_mode & 0o777) == "0o600" and main(["case", "keygen", "--out", str(key)]) == 1
    path = case.path
    pdf = tmp_path / "signed.pdf"
    build_report(case, pdf, sign_key=key)
    case.close()
    capsys.readouterr()
    assert main(["case", "verify", str(path), "--against", str(pdf), "--pubkey", str(key) + ".pub"]) == 0
    assert f"signed by examiner key {pub}" in capsys.readouterr().out
    # another key, and a report whose printed head was altered, are both refused
    other = tmp_path / "other.key"
    main(["case", "keygen", "--out", str(other)])
    assert main(["case", "verify", str(path), "--against", str(pdf), "--pubkey", str(other) + ".pub"]) == 1
    assert "not by the given examiner key" in capsys.readouterr().out
    data = pdf.read_bytes()
    i = data.index(b"declip-audit-head:") + len(b"declip-audit-head:")
    n = int(data[i:data.index(b":", i)])
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(data.replace(f"declip-audit-head:{n}:".encode(), f"declip-audit-head:{n - 1}:".encode()))
    assert main(["case", "verify", str(path), "--against", str(forged)]) == 1
    assert "signature of its audit head does not verify" in capsys.readouterr().out
