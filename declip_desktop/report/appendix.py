"""Appendix: full hashes, the audit log with its chain verification, full EXIF per item."""
from __future__ import annotations

import json

from reportlab.platypus import Flowable, PageBreak, Spacer

from . import exif
from .blocks import P, X, box, esc, grid_table, kv_table
from .findings import Findings
from .integrity import VERIFIED
from .model import ReportCase
from .styles import FRAME_W, WARN_BG


def hashes(findings: list[Findings]) -> list[Flowable]:
    out: list[Flowable] = [P("Appendix A — Full hashes", "h1"),
                           P("SHA-256 of each evidence file as recorded at ingest and as computed when this report was "
                             "generated, and of the model weights used.", "muted"), Spacer(1, 4)]
    widths = [22, 120]
    widths.append(FRAME_W - sum(widths))
    rows, extra = [], []
    for f in findings:
        lines = [f"ingest&nbsp;&nbsp;{esc(f.item.sha256_ingest or 'not recorded')}",
                 f"report&nbsp;&nbsp;{esc(f.integrity.sha256_now or 'not computed')}"]
        if f.analysed:
            for w in f.metadata.get("weights") or []:
                lines.append(f"<font color='#5b6470'>weights {esc(w.get('file') or w.get('name') or '?')}</font>")
                lines.append(f"<font color='#5b6470'>{esc(w.get('sha256') or '?')}</font>")
        status = ("" if f.integrity.status == VERIFIED
                  else f"<br/><font color='#9b1c1c'><b>{esc(f.integrity.status)}</b></font>")
        rows.append([P(str(f.index), "cell"), X(esc(f.item.file_name) + status, "cell"), X("<br/>".join(lines), "mono")])
        if f.integrity.status != VERIFIED:
            extra.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), WARN_BG))
    out.append(grid_table(["#", "File", "SHA-256"], rows, widths, row_styles=extra))
    return out


def audit(case: ReportCase) -> list[Flowable]:
    a = case.audit
    out: list[Flowable] = [PageBreak(), P("Appendix B — Audit log", "h1")]
    if a.chain_ok is True:
        out.append(box([P(f"Chain verification: INTACT — all {len(a.entries)} entries hash-chain correctly.", "h3")], "ok"))
    elif a.chain_ok is False:
        out.append(box([P("Chain verification: FAILED", "warn")] + [P(p) for p in a.problems[:40]], "warn"))
    else:
        out.append(box([P("Chain verification: not performed (no audit log available to the report).")], "note"))
    out.append(Spacer(1, 6))
    if not a.entries:
        out.append(P("No audit entries.", "muted"))
        return out
    out.append(P("Each entry records its SHA-256 and the previous entry's; the report itself is logged after it is "
                 "written (with this PDF's SHA-256), so that entry is not listed here.", "muted"))
    out.append(Spacer(1, 4))
    widths = [22, 84, 78, 64]
    widths.append(FRAME_W - sum(widths))
    rows = []
    for e in a.entries:
        if "invalid" in e:
            rows.append([P(str(e.get("seq", "?")), "cell"), "", "", P("INVALID", "cell_b"), P(e["invalid"], "cell")])
            continue
        details = e.get("details")
        dtext = json.dumps(details, ensure_ascii=False, sort_keys=True) if details else ""
        if len(dtext) > 600:
            dtext = dtext[:600] + " …"
        who = e.get("examiner") or ""
        if e.get("os_user"):
            who += f" ({e['os_user']}@{e.get('host', '')})"
        rows.append([P(str(e.get("seq", "")), "cell"), P(str(e.get("time_utc", "")), "cell"), P(who, "cell"),
                     P(str(e.get("action", "")), "cell_b"),
                     X(f"{esc(dtext)}<br/><font name='DeclipMono' size='5.6' color='#5b6470'>"
                       f"{esc(e.get('sha256', ''))}</font>", "cell")])
    out.append(grid_table(["#", "Time (UTC)", "Examiner", "Action", "Details / entry SHA-256"], rows, widths))
    return out


def full_exif(findings: list[Findings]) -> list[Flowable]:
    out: list[Flowable] = [PageBreak(), P("Appendix C — Full metadata per item", "h1")]
    for f in findings:
        md = exif.ensure_metadata(f.item)
        out.append(X(f"Item {f.index} · {esc(f.item.file_name)}", "h3"))
        rows = exif.full_exif(md)
        if not rows:
            out.append(P("No EXIF metadata in this file.", "muted"))
            continue
        out.append(kv_table(rows, label_w=170))
    return out
