"""Evidence layers stored in a case as analyses: hashed, audited and checked by verify like the learned map."""
from __future__ import annotations

import os
import stat

import numpy as np

from engine import evidence
from tests import evidence_cases as ec
from tests.case_support import new_case


def test_layers_stored_as_analyses_and_verified(tmp_path):
    src = tmp_path / "photo.jpg"
    src.write_bytes(ec.dq_case()[0])
    case = new_case(tmp_path)
    try:
        item = case.add_paths([src]).added[0]
        for name, res in evidence.run_many(["ela", "dq", "clones"], item.path).items():
            case.store_analysis(item.id, res)
        stored = {a.model_id: a for a in case.analyses(item.id)}
        assert set(stored) == {"evidence-ela", "evidence-dq", "evidence-clones"}
        dq = stored["evidence-dq"]
        assert dq.mode == "evidence" and dq.metadata["layer"] == "dq" and dq.metadata["how_to_read"]
        fresh = evidence.run("dq", item.path).probability
        assert np.abs(dq.probability - fresh).max() < 1e-4          # 16-bit map round trip
        assert case.verify().ok
        # a changed layer map is caught like a changed learned map
        path = dq.map_path
        os.chmod(path, stat.S_IWUSR | stat.S_IRUSR)
        data = bytearray(path.read_bytes())
        data[-20] ^= 0xFF
        path.write_bytes(bytes(data))
        report = case.verify()
        assert not report.ok and any("dq" in p.message or p.file and "dq" in str(p.file) for p in report.problems)
    finally:
        case.close()
