"""Where a report may be written: never over evidence or other case data.

Why: `--out` (or the export dialog) is typed by a person, and a PDF written over a case's evidence copy
or over the original file it was taken from destroys the thing the report is about. The case folder
takes reports only in its reports/ folder; every other file in it is case data."""
from __future__ import annotations

import os
from pathlib import Path

from .atomic import TMP_PREFIX
from .errors import CaseError
from .util import inside


def check_report_target(case, path: str | os.PathLike) -> None:
    """Raise CaseError if writing a report at `path` would replace evidence or case data."""
    target = Path(path)
    if inside(case.path, target) and not inside(case.reports_dir, target):
        raise CaseError(f"{target}: inside the case folder; a report may only go in its reports folder "
                        f"({case.reports_dir}) or outside the case")
    if inside(case.reports_dir, target) and target.name.startswith(TMP_PREFIX):
        raise CaseError(f"{target}: names starting with {TMP_PREFIX} are the case's temp files, removed when the "
                        "case is next opened; choose another file name for the report")
    real = os.path.realpath(target)
    for item in case.evidence:
        for kept in (item.path, item.original_path):
            if kept and (os.path.realpath(kept) == real or _same_file(kept, target)):
                raise CaseError(f"{target}: is evidence {item.id} ({item.original_name}) or its original; "
                                f"choose another file name for the report")


def _same_file(a, b) -> bool:
    """Also catches a hard link to an evidence file under another name."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: nothing to overwrite
        return False
