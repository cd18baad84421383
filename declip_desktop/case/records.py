"""Plain data records of a case: evidence items, findings, stored analyses, ingest/verify reports.

All are dataclasses with JSON round-trips where they are stored. None import Qt.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only: `declip --help` and `case status` need no numpy
    import numpy as np

FINDING_STATUSES = ("not reviewed", "no finding", "suspicious", "manipulation confirmed")
DEFAULT_STATUS = "not reviewed"


@dataclass
class EvidenceItem:
    """One ingested image. `path` is the read-only copy inside the case (never the original).

    width/height are the displayed size (EXIF orientation applied), which is also the size
    of every probability map stored for this item. metadata holds what extract_metadata()
    found (camera, software, dates, gps, icc_profile, jpeg quantisation/quality, exif ...).
    """

    id: str
    file_name: str
    path: Path
    sha256: str
    md5: str
    size: int
    width: int
    height: int
    format: str | None
    original_name: str
    original_path: str
    original_mtime_utc: str
    ingested_utc: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Not asdict(): its deep copy of every metadata dict made large-case saves slow.
        # `path` is left out: it is derived from the case folder, so a moved case still works.
        return {k: getattr(self, k) for k in _ITEM_FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any], evidence_dir: Path) -> "EvidenceItem":
        return cls(path=evidence_dir / d["file_name"], **{k: d[k] for k in _ITEM_FIELDS})


_ITEM_FIELDS = ("id", "file_name", "sha256", "md5", "size", "width", "height", "format", "original_name",
                "original_path", "original_mtime_utc", "ingested_utc", "metadata")


@dataclass
class Finding:
    """The analyst's conclusion for one evidence item. created_utc is None until first set."""

    evidence_id: str
    status: str = DEFAULT_STATUS
    note: str = ""
    threshold: float | None = None
    opacity: float | None = None
    model_id: str | None = None
    mode: str | None = None
    examiner: str | None = None
    layers: list[str] = field(default_factory=list)  # evidence layers pinned to the finding (`ela`, `clones` ...)
    created_utc: str | None = None
    modified_utc: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Finding":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class StoredAnalysis:
    """An analysis stored in the case for (evidence item, model, mode).

    record: the full stored JSON (evidence_id, evidence_sha256, model_id, mode, stored_utc,
    map_file, map_sha256, map_pixels_sha256 (since 2026-12; absent in older records), result). result: AnalysisResult.to_json() (score, width, height,
    metadata). The probability map (float32 HxW in [0,1]) is read from its 16-bit PNG only
    when `probability` is first accessed.
    """

    evidence_id: str
    model_id: str
    mode: str
    json_path: Path
    map_path: Path
    record: dict[str, Any]
    _loader: Callable[[Path], np.ndarray] | None = field(default=None, repr=False)
    _prob: np.ndarray | None = field(default=None, repr=False)

    @property
    def result(self) -> dict[str, Any]:
        return self.record.get("result", {})

    @property
    def score(self) -> float | None:
        s = self.result.get("score")
        return float(s) if s is not None else None

    @property
    def metadata(self) -> dict[str, Any]:
        return self.result.get("metadata", {})

    @property
    def stored_utc(self) -> str | None:
        return self.record.get("stored_utc")

    @property
    def probability(self) -> np.ndarray:
        if self._prob is None:
            if self._loader is None:
                from engine.mapio import load_probability_png

                self._loader = load_probability_png
            self._prob = self._loader(self.map_path)
        return self._prob


@dataclass
class IngestIssue:
    """A file not added. kind: 'skipped' (not an image), 'duplicate', or 'error' (unreadable...)."""

    path: str
    kind: str
    reason: str
    existing_id: str | None = None  # for duplicates: the evidence item it duplicates
    explicit: bool = True  # named on the command line (vs found while walking a folder)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class IngestReport:
    added: list[EvidenceItem] = field(default_factory=list)
    skipped: list[IngestIssue] = field(default_factory=list)
    duplicates: list[IngestIssue] = field(default_factory=list)
    errors: list[IngestIssue] = field(default_factory=list)
    cancelled: bool = False

    @property
    def issues(self) -> list[IngestIssue]:
        return self.skipped + self.duplicates + self.errors


@dataclass
class VerifyProblem:
    """One integrity failure. kind: 'evidence_modified', 'evidence_missing', 'audit_chain',
    'audit_anchor' (the log differs from a head a report printed), 'index_mismatch',
    'analysis_modified', 'analysis_missing' (logged, gone), 'analysis_unlogged' (on disk, never
    logged), 'report_unlogged', 'finding_mismatch', 'case_file'."""

    kind: str
    message: str
    evidence_id: str | None = None
    file: str | None = None
    expected: str | None = None
    actual: str | None = None
    audit_entry: int | None = None

    def __str__(self) -> str:
        return self.message


# Plain words for each problem kind, singular and plural, for one-line summaries (status bar, CLI).
PROBLEM_WORDS = {
    "evidence_modified": ("evidence file modified", "evidence files modified"),
    "evidence_missing": ("evidence file missing", "evidence files missing"),
    "audit_chain": ("break in the audit log", "breaks in the audit log"),
    "audit_anchor": ("difference from the audit head a report witnessed",
                     "differences from the audit head a report witnessed"),
    "index_mismatch": ("case index entry that does not match the log", "case index entries that do not match the log"),
    "analysis_modified": ("stored analysis file modified", "stored analysis files modified"),
    "analysis_missing": ("stored analysis file missing", "stored analysis files missing"),
    "analysis_unlogged": ("analysis file the log never recorded", "analysis files the log never recorded"),
    "report_unlogged": ("report the log never recorded", "reports the log never recorded"),
    "finding_mismatch": ("finding that does not match the log", "findings that do not match the log"),
    "case_file": ("case.json problem", "case.json problems"),  # unreadable, or details the log does not hold
}


@dataclass
class VerifyReport:
    ok: bool
    checked_files: int
    audit_entries: int
    verified_utc: str
    problems: list[VerifyProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the check ran (read-only, not recorded ...)
    logged: bool | None = None  # whether this verification was recorded in the audit log
    audit_head: dict[str, Any] | None = None  # {"entries", "last_sha256"} of the log as checked
    untrusted_analyses: list[str] = field(default_factory=list)  # record files a report must not show

    def summary(self) -> str:
        """The problems counted by kind, in plain words and in the order first found, e.g. "1 stored
        analysis file modified, 2 evidence files missing"; "" when there are none."""
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.kind] = counts.get(p.kind, 0) + 1
        parts = []
        for kind, n in counts.items():
            one, many = PROBLEM_WORDS.get(kind, (f"{kind} problem", f"{kind} problems"))
            parts.append(f"{n} {one if n == 1 else many}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
