"""Which stored analysis of an item is the one displayed, reported and credited in its finding.

One rule for the viewer, the evidence list, the finding and the report: the analysis the
finding names (model and mode) when it still exists, else the most recently stored one. The
examiner changes it by recording another analysis in the finding (the GUI's analysis switcher).
"""
from __future__ import annotations

from typing import Any


def displayed_analysis(case: Any, evidence_id: str):
    """The item's displayed StoredAnalysis, or None when it has none."""
    finding = case.finding(evidence_id)
    if finding.model_id or finding.mode:
        sa = case.analysis_for(evidence_id, model_id=finding.model_id, mode=finding.mode)
        if sa is not None:
            return sa
    return case.analysis_for(evidence_id)  # none named, or the named one is gone: the latest
