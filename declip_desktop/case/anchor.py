"""Audit anchors: a head of the audit log (entry count + that entry's SHA-256) kept outside the case.

Every report prints the head on its cover, in its PDF properties and in its .sha256 sidecar. A
keyless hash chain cannot stop someone who rewrites the whole log consistently; a head held by
someone else (a court, another party) can: `declip case verify CASE --against REPORT.pdf` (or
`--head COUNT:SHA256`) proves the log up to that entry is unchanged.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import CaseError
from .records import VerifyProblem

_MARKER = re.compile(rb"declip-audit-head:(\d{1,12}):([0-9a-f]{64})(?::(logged|unlogged))?")
_SIGNATURE = re.compile(rb"declip-audit-sig:([0-9a-f]{64}):([0-9a-f]{128})")
_MAX_REPORT_BYTES = 2 * 1024**3


def marker(head: dict[str, Any], recorded: bool) -> str:
    """The machine-readable form printed in a report's PDF properties and sidecar."""
    return f"declip-audit-head:{head['entries']}:{head['last_sha256']}:{'logged' if recorded else 'unlogged'}"


def parse_head(text: str) -> dict[str, Any]:
    """'COUNT:SHA256' (as printed on a report's cover) -> head; CaseError if malformed."""
    m = re.fullmatch(r"\s*(\d{1,12})\s*[:,/ ]\s*([0-9a-fA-F]{64})\s*", str(text))
    if not m:
        raise CaseError(f"--head {str(text)[:80]!r}: expected COUNT:SHA256 (the entry number and the 64 hex digits "
                        "printed on the report's cover)")
    return {"entries": int(m.group(1)), "last_sha256": m.group(2).lower(), "source": "a head given by hand"}


def head_from_report(path: str | Path) -> dict[str, Any]:
    """The head a report (PDF, or its .sha256 sidecar) printed, with the PDF's own SHA-256."""
    from engine.hashing import file_sha256 as sha256_file

    p = Path(path)
    try:
        if p.stat().st_size > _MAX_REPORT_BYTES:
            raise CaseError(f"{p}: too large to be a DeCLIP report")
        data = p.read_bytes()
    except OSError as exc:
        raise CaseError(f"{p}: cannot read the report ({exc.strerror or exc})") from None
    found = _MARKER.findall(data)
    if not found:
        raise CaseError(f"{p}: no audit head found (not a DeCLIP report, or made before reports printed one); "
                        "give the head from its cover with --head COUNT:SHA256")
    count, sha, flag = found[-1]
    head = {"entries": int(count), "last_sha256": sha.decode(), "source": p.name,
            "recorded": flag != b"unlogged" if flag else None}
    if data.startswith(b"%PDF"):
        head["report_sha256"] = sha256_file(p)
    sigs = _SIGNATURE.findall(data)
    if sigs:
        head["signature"] = {"public_key": sigs[-1][0].decode(), "signature": sigs[-1][1].decode()}
    return head


def signature_marker(sig: dict[str, str]) -> str:
    return f"declip-audit-sig:{sig['public_key']}:{sig['signature']}"


def check_against(entries: list[dict], head: dict[str, Any], case_uuid: str = "") -> list[VerifyProblem]:
    """Problems when the log no longer holds `head`: entry `entries` must exist with that SHA-256
    (a hash that covers every entry before it), and a report's own export must be logged after it."""
    n, want, src = head["entries"], head["last_sha256"], head.get("source", "the given head")
    problems: list[VerifyProblem] = _check_signature(head, case_uuid)
    if n == 0:
        return problems
    rsha = head.get("report_sha256")
    # A report this log never exported, whose head it does not hold either, may well be another case's:
    # "entries were removed" alone sent the examiner looking for a cut that never happened.
    foreign = (" (or it is a report of another case: this log never recorded exporting it)"
               if rsha and not any((x.get("details") or {}).get("sha256") == rsha for x in entries
                                   if x.get("action") == "report_exported") else "")
    if len(entries) < n:
        return [VerifyProblem("audit_anchor", f"audit log has {len(entries)} entries, but {src} witnessed entry {n} "
                              f"(sha256 {want}): entries were removed since{foreign}", audit_entry=n, expected=want)]
    e = entries[n - 1]
    if e.get("seq") != n or e.get("sha256") != want:
        problems.append(VerifyProblem("audit_anchor", f"audit entry {n} is not the one {src} witnessed: expected sha256 "
                                      f"{want}, found {e.get('sha256')}; the log up to that entry was rewritten{foreign}",
                                      audit_entry=n, expected=want, actual=str(e.get("sha256"))))
    if rsha and head.get("recorded") is not False:
        if not any(x.get("action") == "report_exported" and (x.get("details") or {}).get("sha256") == rsha
                   for x in entries[n:]):
            problems.append(VerifyProblem("audit_anchor", f"{src} (sha256 {rsha}) was exported from this case, but no "
                                          f"'report_exported' entry after entry {n} records it: the log lost it",
                                          expected=rsha))
    return problems


def _check_signature(head: dict[str, Any], case_uuid: str) -> list[VerifyProblem]:
    """A signed head must verify under its key (and under the examiner's key, when given)."""
    sig, want_key, src = head.get("signature"), head.get("expected_public_key"), head.get("source", "the head")
    if not sig:
        if want_key:
            return [VerifyProblem("audit_anchor", f"{src} carries no examiner signature, but --pubkey asks for one")]
        return []
    from .signing import signature_valid

    if want_key and want_key != sig["public_key"]:
        return [VerifyProblem("audit_anchor", f"{src} was signed by key {sig['public_key']}, not by the given "
                              f"examiner key {want_key}")]
    if not signature_valid(head, case_uuid, sig["signature"], sig["public_key"]):
        return [VerifyProblem("audit_anchor", f"{src}: the examiner signature of its audit head does not verify "
                              "(the head, the case or the signature was altered)")]
    return []
