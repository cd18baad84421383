"""What a finding may say, and how a change revises the recorded one (Case.set_finding)."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import CaseError
from .records import FINDING_STATUSES, Finding
from .util import check_length


@dataclass(frozen=True)
class FindingChange:
    """A checked request; None keeps the previous value."""
    status: str
    note: str | None
    threshold: float | None
    opacity: float | None
    model_id: str | None
    mode: str | None
    layers: list[str] | None


def checked_finding_change(status, note=None, threshold=None, opacity=None, model_id=None, mode=None,
                           layers=None) -> FindingChange:
    """Refuse an unknown status, an over-long note, a threshold or opacity outside [0, 1] and an
    unknown evidence layer, before anything is written."""
    status = str(status).strip().lower().replace("_", " ")
    if status not in FINDING_STATUSES:
        raise CaseError(f"unknown finding status '{status}'; use one of: {', '.join(FINDING_STATUSES)}")
    if note is not None:
        check_length("note", str(note))
    for name, v in (("threshold", threshold), ("opacity", opacity)):
        if v is not None and not (isinstance(v, (int, float)) and 0.0 <= float(v) <= 1.0):
            raise CaseError(f"{name} must be a number between 0 and 1, got {v!r}")
    if layers is not None:
        from .evidence_layers import check_pinned_layers

        layers = check_pinned_layers(layers)
    return FindingChange(status, None if note is None else str(note),
                         None if threshold is None else float(threshold), None if opacity is None else float(opacity),
                         model_id, mode, None if layers is None else list(layers))


def revised_finding(old: Finding | None, evidence_id: str, ch: FindingChange, examiner: str, now: str) -> Finding:
    """The finding after `ch`, credited to `examiner` at `now` (created_utc kept from `old`)."""
    def keep(new, attr, default=None):
        return new if new is not None else (getattr(old, attr) if old else default)

    return Finding(evidence_id=evidence_id, status=ch.status, note=keep(ch.note, "note", ""),
                   threshold=keep(ch.threshold, "threshold"), opacity=keep(ch.opacity, "opacity"),
                   model_id=keep(ch.model_id, "model_id"), mode=keep(ch.mode, "mode"), examiner=examiner,
                   layers=list(keep(ch.layers, "layers", [])), created_utc=old.created_utc if old else now,
                   modified_utc=now)
