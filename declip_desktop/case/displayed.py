"""Which stored analysis of an item is the one displayed, reported and credited in its finding.

One rule for the viewer, the evidence list, the finding and the report: the analysis the
finding names (model and mode) when it still exists, else the most recently stored one. The
examiner changes it by recording another analysis in the finding (the GUI's analysis switcher).
"""
from __future__ import annotations

from typing import Any, Sequence, TypeVar

T = TypeVar("T")
EVIDENCE_LAYER_MODE = "evidence"  # classical evidence layers stored as analyses (case/evidence_layers.py)


def pick(finding: Any, candidates: Sequence[T]) -> T | None:
    """The rule on any analyses with model_id, mode and stored_utc (stored records, or the GUI's
    own index of them, which it reads without waiting on a case busy storing a map). Evidence
    layers (ELA, noise ...) support a finding but are not the detector's analysis: never picked."""
    candidates = [a for a in candidates if a.mode != EVIDENCE_LAYER_MODE]
    if finding is not None and (finding.model_id or finding.mode):
        named = [a for a in candidates if (finding.model_id is None or a.model_id == finding.model_id)
                 and (finding.mode is None or a.mode == finding.mode)]
        if named:
            return max(named, key=lambda a: a.stored_utc or "")
    return max(candidates, key=lambda a: a.stored_utc or "") if candidates else None  # none named, or gone


def displayed_analysis(case: Any, evidence_id: str):
    """The item's displayed StoredAnalysis, or None when it has none."""
    return pick(case.finding(evidence_id), case.analyses(evidence_id))
