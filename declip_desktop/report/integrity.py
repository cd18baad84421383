"""Report-time integrity: every evidence file is hashed again and compared with its ingest hash."""
from __future__ import annotations

from dataclasses import dataclass

from engine.hashing import file_sha256

from .model import ReportItem

VERIFIED = "verified"
MISMATCH = "MISMATCH"
MISSING = "file missing"
UNRECORDED = "no ingest hash"


@dataclass
class Integrity:
    status: str
    sha256_now: str | None
    message: str

    @property
    def ok(self) -> bool:
        return self.status == VERIFIED


def verify(item: ReportItem) -> Integrity:
    if item.verified_now:
        return _judge(item, item.sha256_verified_now)
    if item.path is None or not item.path.is_file():
        return Integrity(MISSING, None, f"The evidence file is no longer in the case ({item.path}). "
                                        "Its content cannot be verified at report time.")
    try:
        now = file_sha256(item.path)
    except OSError as exc:
        return Integrity(MISSING, None, f"The evidence file cannot be read at report time: {exc}.")
    return _judge(item, now)


def _judge(item: ReportItem, now: str | None) -> Integrity:
    if now is None:
        return Integrity(MISSING, None, f"The evidence file is missing or unreadable in the case ({item.path}). "
                                        "Its content cannot be verified at report time.")
    if not item.sha256_ingest:
        return Integrity(UNRECORDED, now, "No SHA-256 was recorded at ingest; only the report-time hash is known.")
    if now.lower() != item.sha256_ingest.lower():
        return Integrity(MISMATCH, now, "The evidence file has CHANGED since ingest: its SHA-256 at report time "
                                        "differs from the one recorded at ingest. Findings in this report may not "
                                        "refer to the original evidence.")
    return Integrity(VERIFIED, now, "SHA-256 at report time equals the SHA-256 recorded at ingest.")


def analysed_file_matches(item: ReportItem, result) -> bool | None:
    """Whether the analysis metadata names the same file hash as the ingest record (None: unknown)."""
    if result is None:
        return None
    img = (result.metadata or {}).get("image") or {}
    sha = img.get("sha256")
    if not sha or not item.sha256_ingest:
        return None
    return sha.lower() == item.sha256_ingest.lower()
