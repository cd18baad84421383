"""`declip case provenance`: re-read an item's Content Credentials on demand; status/add wording."""
from __future__ import annotations

import json

from engine.provenance import status_line as _line
from engine.provenance import stored_record, summary_lines

from .case_folder import Case
from .errors import CaseError
from .provenance import reread
from .util import printable  # manifest text comes from files: control characters shown as escapes


def register_provenance(sub, common) -> None:
    sp = sub.add_parser("provenance", help="show or re-read the Content Credentials (C2PA) of evidence items")
    common(sp)
    sp.add_argument("evidence", nargs="*", metavar="EVIDENCE", help="evidence ids, file names or sha256 prefixes "
                    "(default: all)")
    sp.add_argument("--reread", action="store_true", help="read the evidence copies again (logged) instead of "
                    "showing what was recorded at ingest")
    sp.add_argument("--trust-anchors", metavar="PATH", help="with --reread: PEM file or folder of trust anchors")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_provenance)


def status_line(record: dict | None) -> str:
    if record is None:
        return "not read (item ingested before C2PA reading)"
    return _line(record)


def provenance_suffix(item) -> str:
    rec = stored_record(item.metadata)
    return f"  Content Credentials: {status_line(rec)}" if rec and rec.get("verdict") != "none" else ""


def cmd_provenance(args) -> int:
    if args.trust_anchors and not args.reread:
        raise CaseError("--trust-anchors applies to --reread (the ingest record keeps the anchors it was read with)")
    readonly = not args.reread
    out = []
    with Case.open(args.dir, examiner=getattr(args, "examiner", None), readonly=readonly) as case:
        items = [case.resolve(e) for e in args.evidence] if args.evidence else list(case.evidence)
        for it in items:
            rec = reread(case, it.id, args.trust_anchors) if args.reread else stored_record(it.metadata)
            out.append({"id": it.id, "file_name": it.file_name, "provenance": rec})
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for row in out:
        print(printable(f"{row['id']}  {row['file_name']}"))
        lines = summary_lines(row["provenance"]) if row["provenance"] else [status_line(None)]
        for line in lines:
            print(printable(f"    {line}"))
    return 0
