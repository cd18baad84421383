"""store_layers reads the case's audit log once per call (recorded refusals and logged records both
come from that one read); it read and parsed the whole log twice on the viewer's layer path."""
from __future__ import annotations

from declip_desktop.case import Case
from declip_desktop.case.evidence_layers import store_layers
from tests.case_support import make_png, new_case


def test_the_audit_log_is_read_once_per_call(tmp_path, monkeypatch):
    make_png(tmp_path / "src" / "a.png", seed=1, size=(64, 48))
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "src"])
        first = store_layers(case, case.evidence, ["ela", "dq"])  # dq cannot apply to a PNG: refusal logged
        assert first.stored == [("E0001", "ela")] and [n[1] for n in first.not_applicable] == ["dq"]
        path = case.path
    with Case.open(path) as case:
        reads = []
        real = case.audit_entries
        monkeypatch.setattr(case, "audit_entries", lambda: reads.append(1) or real())
        run = store_layers(case, case.evidence, ["ela", "dq"])  # idle: up to date, refusal as recorded
        assert run.up_to_date == [("E0001", "ela")] and [n[1] for n in run.not_applicable] == ["dq"]
        assert not run.stored and len(reads) == 1
