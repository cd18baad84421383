"""Content Credentials (C2PA) in a case: the record made at ingest, and re-reading on demand.

The ingest record lives in the evidence item's metadata ("provenance"), so it is covered by the
item's record_sha256 in the audit log like the rest of the metadata. A re-read never changes that
record: it reads the read-only evidence copy again (e.g. with other trust anchors) and logs what
it found ("provenance_read", with the new record's digest).
"""
from __future__ import annotations

from typing import Any

from engine.provenance import ProvenanceError, TrustAnchors, read_provenance, resolve_trust_anchors

from .errors import CaseError
from .util import read_regular, record_digest


def anchors_for(trust_anchors: Any) -> tuple[TrustAnchors | None, str | None]:
    """Anchors to use: given ones, a given path (a bad one raises ProvenanceError), else the
    settings file's. A bad settings-file path does not stop an ingest: it comes back as a note."""
    if isinstance(trust_anchors, TrustAnchors):
        return trust_anchors, None
    if trust_anchors:
        return resolve_trust_anchors(trust_anchors), None
    try:
        return resolve_trust_anchors(None), None
    except ProvenanceError as exc:
        return None, f"{exc} (from the settings file); signer trust not judged"


def provenance_of(data: bytes, image_format: str | None, anchors: TrustAnchors | None,
                  note: str | None = None) -> dict:
    """The record stored at ingest. read_provenance never raises for a bad file."""
    rec = read_provenance(data, anchors=anchors, image_format=image_format)
    if note:
        rec["trust_note"] = note
    return rec


def reread(case, evidence: str, trust_anchors: Any = None) -> dict:
    """Read the evidence copy's Content Credentials again and log it (when the case is writable).
    `case` is an open declip_desktop.case.Case (not imported here: case_folder imports this module's users)."""
    item = case.resolve(evidence)
    anchors, note = anchors_for(trust_anchors)
    try:
        from engine.images import MAX_FILE_BYTES  # here: engine.images brings numpy and Pillow

        data = read_regular(item.path, MAX_FILE_BYTES)  # the read-only copy: no link, FIFO or device
    except OSError as exc:
        raise CaseError(f"{item.id} {item.file_name}: cannot read the evidence copy ({exc.strerror or exc})") from None
    rec = provenance_of(data, item.format, anchors, note)
    if not case.readonly:
        case.log("provenance_read", {"evidence_id": item.id, "sha256": item.sha256, "verdict": rec["verdict"],
                                     "trust": (rec.get("validation") or {}).get("trust"),
                                     "trust_anchors": [c["sha256"] for c in (anchors.certificates if anchors else [])],
                                     "record_sha256": record_digest(rec)})
    return rec
