"""What a report is made of: a small data model, independent of where the case is stored.

`case_adapter.py` builds it from a case folder (the Case API); tests and benchmarks build it
directly. The detector output stays the engine's one result type: `ReportItem.result` is an
`engine.result.AnalysisResult` (probability map + metadata) or None when the item was not
analysed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.result import AnalysisResult
from engine.overlay import DEFAULT_THRESHOLD

Progress = Callable[[int, int, str], None]


@dataclass
class ReportItem:
    item_id: str
    file_name: str
    path: Path | None                        # the evidence file as stored in the case (re-hashed at report time)
    sha256_ingest: str | None                # recorded when the file entered the case
    result: AnalysisResult | None = None     # None: not analysed (unless load_result gives one)
    load_result: Callable[[], AnalysisResult | None] | None = None  # lazy: maps are large, loaded one at a time
    threshold: float | None = None           # the analyst's threshold for this item (falls back to the report's)
    opacity: float = 0.5
    cmap: str = "inferno"
    status: str = "not reviewed"             # the analyst's status
    note: str = ""
    finding_by: str = ""                     # who recorded the status and note, and when (UTC)
    finding_utc: str = ""
    finding_analysis: str = ""               # the analysis (model, mode) the finding was recorded on
    failure: dict[str, Any] | None = None    # the last analysis attempt, when it failed (audit details)
    other_analyses: list[str] = field(default_factory=list)  # stored analyses not shown ("model, mode: score, UTC")
    ingest_utc: str = ""
    size_bytes: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)   # ingest metadata: exif {tag: value}, format, ...
    model_card: dict[str, Any] | None = None  # engine.cards.ModelCard.summary() of the model used
    extra_hashes: dict[str, str] = field(default_factory=dict)  # e.g. {"md5": ...} when the case records more
    # Set when the case was verified just before the report (its SHA-256 now; None: missing/unreadable),
    # so the file is not hashed twice. Unset: the report hashes the file itself.
    sha256_verified_now: str | None = None
    verified_now: bool = False
    case_problems: list[str] = field(default_factory=list)   # other verification failures naming this item
    # Evidence layers pinned to the finding: {"layer", "metadata", "score", "stored_utc", "load" (lazy map) or
    # "error"} (report/evidence_pages.py)
    pinned_layers: list[dict[str, Any]] = field(default_factory=list)
    # The shown analysis's map_pixels_sha256 as the case recorded it when it stored the map (None: a record
    # stored before the case kept it); case_record False: the item does not come from a case record.
    case_record: bool = False
    recorded_pixels_sha256: str | None = None


@dataclass
class AuditSummary:
    entries: list[dict[str, Any]] = field(default_factory=list)
    chain_ok: bool | None = None             # None: not verified
    problems: list[str] = field(default_factory=list)          # audit chain problems
    other_problems: list[str] = field(default_factory=list)    # other case verification problems
    warnings: list[str] = field(default_factory=list)
    verified_utc: str = ""
    item_problems: dict[str, list[str]] = field(default_factory=dict)
    # The log's head when the report was made ({"entries", "last_sha256"}), printed on the cover and in
    # the sidecar so the report witnesses the log; None for a report made without a case folder.
    head: dict[str, Any] | None = None
    recorded: bool = False                   # the export will be recorded in the case's log
    signature: dict[str, str] | None = None  # examiner's Ed25519 signature of the head (public_key, signature)


@dataclass
class ReportCase:
    title: str
    number: str
    examiner: str
    organisation: str = ""
    description: str = ""
    created_utc: str = ""
    items: list[ReportItem] = field(default_factory=list)
    audit: AuditSummary = field(default_factory=AuditSummary)
    folder: Path | None = None
    default_threshold: float = DEFAULT_THRESHOLD  # what the viewer shows an item without a finding at
    report_by: str = ""                      # who produces the report (may differ from the case examiner)
    case_uuid: str = ""


@dataclass
class ReportInfo:
    """What build_report produced."""

    path: Path
    sha256: str
    sidecar: Path
    report_id: str
    pages: int
    items: int
    analysed: int
    integrity_failures: list[str]
    size_bytes: int
    seconds: float
    generated_utc: str
    audit_logged: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # seconds: open_verify, prepare_cpu, layout, ...
