"""Errors raised by the case model. Each str() is one line a user can act on."""
from __future__ import annotations

from engine.errors import DeclipError


class CaseError(DeclipError):
    """A case operation that cannot be done (bad folder, unknown evidence id, read-only case...)."""


class CaseSchemaError(CaseError):
    """case.json (or another case index) is not valid JSON, misses a field, or has an unknown schema."""


class CaseLockedError(CaseError):
    """Another live process holds the case lock."""


class CaseReadOnlyMediaError(CaseError):
    """The case folder cannot be written (write-blocker, read-only mount, no permission)."""


# Opening a case for work failed, but it can still be read: open elsewhere, or write-protected
# (archived, received read-only). The CLI's verify/report and the GUI then fall back to read-only.
READ_ONLY_STILL_WORKS = (CaseLockedError, CaseReadOnlyMediaError, PermissionError)
