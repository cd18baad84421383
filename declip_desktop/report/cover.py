"""The cover page: who, what case, when, with which software, and the report's own id."""
from __future__ import annotations

import io

from reportlab.platypus import Flowable, KeepTogether, Spacer, Table, TableStyle
from reportlab.platypus.flowables import _listWrapOn

from declip_desktop.case.util import readable_utc

from .blocks import P, X, box, esc, fmt_threshold, kv_table
from .findings import Findings
from .flow import Continued
from .integrity import MISMATCH, MISSING
from .model import ReportCase
from .styles import FRAME_H, FRAME_W, RULE


def report_software() -> str:
    import platform

    import PIL
    import reportlab

    return f"reportlab {reportlab.Version} · Pillow {PIL.__version__} · Python {platform.python_version()}"


# Said in the report, the README and the GUI help alike: what a chain without a key can prove.
KEYLESS_CHAIN_TEXT = (
    "Each audit entry carries the SHA-256 of the one before, so an edit, removal or reordering inside the "
    "log is detected. Without a secret key the chain cannot stop someone who rewrites the whole log "
    "consistently; this report prints the log's head (entry {n} and its SHA-256 above){after}. Whoever holds "
    "this report can run `declip case verify CASE --against REPORT.pdf` to prove the log up to that entry "
    "is unchanged; a later rewrite, even a consistent one, is then caught.")


def cover(case: ReportCase, findings: list[Findings], *, report_id: str, utc: str, local: str, app: str,
          threshold_override: float | None, total_items: int, validation: str = "") -> list[Flowable]:
    """The cover, laid out as loosely as fits one page: a long title or description first shrinks the
    title and the explanatory boxes, then puts the description after the signature; the signature
    never goes to a page of its own (it left a blank page 2 holding only the signature line)."""
    args = (case, findings, report_id, utc, local, app, threshold_override, total_items, validation)
    for compact in (0, 1):
        story = _cover(*args, compact=compact)
        if _fits(story):
            return _keep_signature(story)
    return _keep_signature(_cover(*args, compact=2))


def _fits(story: list[Flowable]) -> bool:
    from reportlab.pdfgen.canvas import Canvas

    _, h = _listWrapOn(story, FRAME_W, Canvas(io.BytesIO()))
    return h <= FRAME_H - 4


def _keep_signature(story: list[Flowable]) -> list[Flowable]:
    """The signature line with the box before it: if they must move, they move together."""
    i = next(k for k, f in enumerate(story) if getattr(f, "signature", False))
    return story[:i - 2] + [KeepTogether(story[i - 2:i + 1])] + story[i + 1:]


def _cover(case: ReportCase, findings: list[Findings], report_id: str, utc: str, local: str, app: str,
           threshold_override: float | None, total_items: int, validation: str, compact: int) -> list[Flowable]:
    box_style = "small" if compact else "body"   # the explanatory boxes' text, smaller when space is short
    out: list[Flowable] = [Spacer(1, 18 if not compact else 4)]
    out.append(P("FORENSIC IMAGE ANALYSIS REPORT", "cover_kicker"))
    out.append(Spacer(1, 6))
    long_title = compact and len(case.title or "") > 60
    out.append(P(case.title or "(untitled case)", "cover_title_small" if long_title else "cover_title"))
    out.append(X(f"Case number <b>{esc(case.number)}</b>", "cover_sub"))
    out.append(Spacer(1, 16 if not compact else 8))

    analysed = sum(f.analysed for f in findings)
    thr = (f"{fmt_threshold(threshold_override)} for every item (set for this report)" if threshold_override is not None
           else "each item at the analyst's threshold (shown per item); default "
                f"{fmt_threshold(case.default_threshold)}")
    items = f"{len(findings)} reported" + (f" of {total_items} in the case" if total_items != len(findings) else "")
    items += f"; {analysed} analysed, {len(findings) - analysed} not analysed"
    chain = case.audit.chain_ok
    chain_text = ("intact (every entry verified)" if chain else "BROKEN — see appendix B" if chain is False else "not verified")
    bad = [f for f in findings if f.integrity.status in (MISMATCH, MISSING)]
    integ = ("all evidence files verified against their ingest SHA-256" if not bad and all(f.integrity.ok for f in findings)
             else f"{len(bad)} item(s) FAILED verification" if bad else "some items have no ingest hash")
    rows = [
        ("Case title", case.title),
        ("Case number", case.number),
        ("Examiner", case.examiner),
        ("Organisation", case.organisation or "—"),
        ("Report date (UTC)", utc),
        ("Report date (local)", local),
        ("Application", app),
        ("Report software", report_software()),
        ("Report id", P(report_id, "mono")),
        ("Evidence items", items),
        ("Threshold", thr),
        ("Evidence integrity", integ),
        ("Audit log chain", chain_text),
    ]
    if validation:  # one line: PASS/FAIL of the models used, on which device (appendix D has the rest)
        rows.append(("Installation validation", validation))
    head = case.audit.head
    if head:
        rows.append(("Audit log head", P(f"entry {head['entries']}, SHA-256 {head['last_sha256']}", "mono")))
    sig = case.audit.signature
    if sig:
        rows.append(("Head signed (Ed25519)", P(f"examiner key {sig['public_key']}; signature {sig['signature']}",
                                                "mono")))
    if case.report_by and case.report_by != case.examiner:
        rows.insert(4, ("Report produced by", case.report_by))
    if case.created_utc:
        rows.insert(4, ("Case opened", readable_utc(case.created_utc)))
    out.append(kv_table(rows, label_w=120))
    # a description too long for the cover goes on to page 2, which then says what that text is
    description = [Spacer(1, 10), P("Case description", "h3"),
                   Continued(P(case.description, "body", newlines=True),
                             lambda: P("Case description (continued)", "h3"))] if case.description else []
    if compact < 2:
        out += description
    if bad:
        out.append(Spacer(1, 10))
        out.append(box([P("INTEGRITY WARNING", "warn")] +
                       [P(f"Item {f.index} · {f.item.item_id} ({f.item.file_name}): {f.integrity.status} — {f.integrity.message}", "body")
                        for f in bad[:12]] +
                       ([P(f"… and {len(bad) - 12} more; see the summary table.", "body")] if len(bad) > 12 else []),
                       "warn"))
    if case.audit.other_problems:
        out.append(Spacer(1, 6))
        out.append(box([P("CASE VERIFICATION WARNING", "warn"),
                        P(f"{len(case.audit.other_problems)} problem(s) found when the case was verified for this "
                          "report (e.g. a modified analysis map); see the items concerned and appendix B.")], "warn"))
    if chain is False:
        out.append(Spacer(1, 6))
        out.append(box([P("AUDIT LOG WARNING", "warn"),
                        P("The case audit log failed its hash-chain verification; see appendix B for the entries "
                          "concerned.", "body")], "warn"))
    if head:
        out.append(Spacer(1, 8))
        out.append(box([P("What the audit log proves", "h3"), P(KEYLESS_CHAIN_TEXT.format(
            n=head["entries"], after="; this report's export is recorded after it" if case.audit.recorded
            else "; this report was made from a read-only case and is not recorded in it"), box_style)], "note"))
    out.append(Spacer(1, 14 if not compact else 6))
    out.append(box([P("How to read this report", "h3"),
                    P("Scores and maps are produced by a machine-learning detector of local image manipulation. "
                      "They indicate where an image is likely to have been edited; they are not proof, and a low "
                      "score does not show that an image is authentic. Read the section \"Method and limitations\" "
                      "before relying on any finding. Every figure can be reproduced from the hashes, model and "
                      "parameters recorded here.", box_style)], "note"))
    out.append(Spacer(1, 28 if not compact else 10))
    sig = Table([[P("Examiner's signature", "label"), "", P("Date", "label"), ""]],
                colWidths=[100, FRAME_W * 0.45, 40, FRAME_W - 140 - FRAME_W * 0.45])
    sig.setStyle(TableStyle([("LINEBELOW", (1, 0), (1, 0), 0.6, RULE), ("LINEBELOW", (3, 0), (3, 0), 0.6, RULE),
                             ("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("TOPPADDING", (0, 0), (-1, -1), 18)]))
    sig.signature = True
    out.append(sig)
    return out + (description if compact >= 2 else [])   # a description too long for the cover follows it
