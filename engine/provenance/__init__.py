"""C2PA Content Credentials: read, validate offline and judge, for evidence items (no Qt).

    from engine.provenance import read_provenance, resolve_trust_anchors
    record = read_provenance("photo.jpg", anchors=resolve_trust_anchors("--trust-anchors path or None"))
    record["verdict"]  # "signed and intact" | "signed but altered" | "AI-generated" | "none" | ...
"""
from .reader import SCHEMA, offline_settings, read_provenance, sdk_versions
from .trust import ProvenanceError, TrustAnchors, configured_anchor_path, load_trust_anchors, resolve_trust_anchors
from .verdict import (AI_SOURCE_TYPES, STRIPPING_NOTE, TRUST_CODES, TRUST_TEXT, VERDICTS, badge, judge, meaning,
                      severity, status_line, stored_record, summary_lines)

__all__ = ["AI_SOURCE_TYPES", "ProvenanceError", "SCHEMA", "STRIPPING_NOTE", "TRUST_CODES", "TRUST_TEXT",
           "TrustAnchors", "VERDICTS", "badge", "configured_anchor_path", "judge", "load_trust_anchors", "meaning",
           "offline_settings", "read_provenance", "resolve_trust_anchors", "sdk_versions", "severity", "status_line",
           "stored_record", "summary_lines"]
