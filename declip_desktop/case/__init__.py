"""Case files: read-only evidence, hashes, a hash-chained audit log, integrity checks.

Pure Python (no Qt): the GUI, the report and `declip case` all build on `Case`.
See docs/ARCHITECTURE.md, "Case API".
"""
from .case_folder import CASE_SUFFIX, Case, case_dir_for
from .errors import CaseError, CaseLockedError, CaseSchemaError
from .records import (DEFAULT_STATUS, FINDING_STATUSES, EvidenceItem, Finding, IngestIssue, IngestReport,
                      StoredAnalysis, VerifyProblem, VerifyReport)

__all__ = [
    "Case", "CASE_SUFFIX", "case_dir_for", "CaseError", "CaseLockedError", "CaseSchemaError",
    "EvidenceItem", "Finding", "FINDING_STATUSES", "DEFAULT_STATUS", "IngestIssue", "IngestReport",
    "StoredAnalysis", "VerifyProblem", "VerifyReport",
]
