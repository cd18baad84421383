"""Appendix: full hashes, the audit log with its chain verification, full EXIF per item."""
from __future__ import annotations

import json

from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, PageBreak, Spacer

from . import exif
from .blocks import LinesTable, P, X, box, esc, grid_table
from .findings import Findings
from .integrity import VERIFIED
from .model import ReportCase
from .styles import FRAME_W, WARN_BG, sheet


def hashes(findings: list[Findings]) -> list[Flowable]:
    out: list[Flowable] = [P("Appendix A — Full hashes", "h1"),
                           P("SHA-256 of each evidence file as recorded at ingest and as computed when this report was "
                             "generated, then the weights of every model used.", "muted"), Spacer(1, 4)]
    widths = [22, 120]
    widths.append(FRAME_W - sum(widths))
    rows, extra = [], []
    for f in findings:
        lines = [f"ingest&nbsp;&nbsp;{esc(f.item.sha256_ingest or 'not recorded')}",
                 f"report&nbsp;&nbsp;{esc(f.integrity.sha256_now or 'not computed')}"]
        for k, v in sorted(f.item.extra_hashes.items()):
            lines.append(f"<font color='#5b6470'>{esc(k[:6].ljust(6)).replace(' ', '&nbsp;')}&nbsp;&nbsp;{esc(v)}</font>")
        status = ("" if f.integrity.status == VERIFIED
                  else f"<br/><font color='#9b1c1c'><b>{esc(f.integrity.status)}</b></font>")
        rows.append([P(str(f.index), "cell"), X(esc(f.item.file_name) + status, "cell"), X("<br/>".join(lines), "mono")])
        if f.integrity.status != VERIFIED:
            extra.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), WARN_BG))
    out.append(grid_table(["#", "File", "SHA-256 (MD5 where recorded)"], rows, widths, row_styles=extra))

    models: dict[tuple, list[int]] = {}
    for f in findings:
        if f.analysed:
            md = f.metadata
            key = (str(md.get("model_id") or "?"), str(md.get("model_name") or ""),
                   tuple((str(w.get("file") or w.get("name") or "?"), str(w.get("sha256") or "?"))
                         for w in md.get("weights") or []))
            models.setdefault(key, []).append(f.index)
    if models:
        out.append(P("Model weights", "h2"))
        mrows = []
        for (mid, name, weights), idx in models.items():
            wl = "<br/>".join(f"<font color='#5b6470'>{esc(fn)}</font><br/>{esc(sha)}" for fn, sha in weights) or "not recorded"
            mrows.append([X(f"<b>{esc(name or mid)}</b><br/>id {esc(mid)}<br/>items {esc(_ranges(idx))}", "cell"),
                          X(wl, "mono")])
        out.append(grid_table(["Model", "Weights file and SHA-256"], mrows, [142, FRAME_W - 142]))
    return out


def _ranges(idx: list[int]) -> str:
    parts, start, prev = [], None, None
    for i in idx + [None]:
        if start is None:
            start = prev = i
        elif i is not None and i == prev + 1:
            prev = i
        else:
            parts.append(str(start) if start == prev else f"{start}–{prev}")
            start = prev = i
    return ", ".join(parts)


def audit(case: ReportCase) -> list[Flowable]:
    a = case.audit
    out: list[Flowable] = [PageBreak(), P("Appendix B — Audit log", "h1")]
    if a.chain_ok is True:
        out.append(box([P(f"Chain verification: INTACT — all {len(a.entries)} entries hash-chain correctly.", "h3")], "ok"))
    elif a.chain_ok is False:
        out.append(box([P("Chain verification: FAILED", "warn")] + [P(p) for p in a.problems[:40]], "warn"))
    else:
        out.append(box([P("Chain verification: not performed (no audit log available to the report).")], "note"))
    if a.other_problems:
        out.append(Spacer(1, 4))
        out.append(box([P(f"Other case verification problems ({len(a.other_problems)})", "warn")]
                       + [P(p) for p in a.other_problems[:40]], "warn"))
    if a.warnings:
        out.append(Spacer(1, 4))
        out.append(box([P("Case verification warnings", "h3")] + [P(w) for w in a.warnings[:40]], "note"))
    out.append(Spacer(1, 6))
    if not a.entries:
        out.append(P("No audit entries.", "muted"))
        return out
    out.append(P("Each entry records its SHA-256 and the previous entry's; the report itself is logged after it is "
                 "written (with this PDF's SHA-256), so that entry is not listed here.", "muted"))
    out.append(Spacer(1, 4))
    # The action column fits its longest action name: "case_created" must not break into "case_create d".
    bold = sheet()["cell_b"]
    longest = max((stringWidth(str(e.get("action", "")), bold.fontName, bold.fontSize) for e in a.entries), default=0)
    widths = [22, 100, 70, min(130.0, max(62.0, longest + 10))]
    keys = examiner_keys([_who(e) for e in a.entries if "invalid" not in e], widths[2] - 6)
    if keys:  # the column now holds only keys: give its width to the details
        head = sheet()["cell_head"]
        widths[2] = stringWidth("Examiner", head.fontName, head.fontSize) + 12
    widths.append(FRAME_W - sum(widths))
    if keys:
        out.append(P("Examiners in this log (the Examiner column gives their key):", "muted"))
        out.append(grid_table(["Key", "Examiner (operating-system user@host)"],
                              [[P(k, "cell_b"), P(who, "cell")] for who, k in keys.items()], [40, FRAME_W - 40]))
        out.append(Spacer(1, 6))
    rows = []
    for e in a.entries:
        if "invalid" in e:
            rows.append([P(str(e.get("seq", "?")), "cell"), "", "", P("INVALID", "cell_b"), P(e["invalid"], "cell")])
            continue
        details = e.get("details")
        if isinstance(details, dict) and len(str(details.get("note", ""))) > 200:
            # shorten only the note (printed in full on its item page), so the threshold, opacity and
            # analysis logged after it stay readable here
            note = str(details["note"])
            details = dict(details, note=f"{note[:200]} … ({len(note)} characters; in full on the item page)")
        dtext = json.dumps(details, ensure_ascii=False, sort_keys=True) if details else ""
        if len(dtext) > 1500:
            dtext = dtext[:1500] + " …"
        who = _who(e)
        who = keys.get(who, who)
        # date, then time to the microsecond on its own line (the column says UTC): never split mid-value
        when = str(e.get("time_utc", "")).replace("T", " ").removesuffix("Z")
        rows.append([P(str(e.get("seq", "")), "cell"), P(when, "small"), P(who, "cell"),
                     P(str(e.get("action", "")), "cell_b"),
                     X(f"{esc(dtext)}<br/><font name='DeclipMono' size='5.6' color='#5b6470'>"
                       f"{esc(e.get('sha256', ''))}</font>", "cell")])
    out.append(grid_table(["#", "Time (UTC)", "Examiner", "Action", "Details / entry SHA-256"], rows, widths))
    return out


def _who(entry: dict) -> str:
    who = entry.get("examiner") or ""
    if entry.get("os_user"):
        who += f" ({entry['os_user']}@{entry.get('host', '')})"
    return who


def examiner_keys(identities: list[str], width: float, max_lines: int = 3) -> dict[str, str]:
    """{identity: key} when some identity does not fit the Examiner column, else {}.

    Why: a long name and title repeated on every row broke mid-word ("Konst antinopoulou") and made
    each row many lines tall; the log then gives every examiner a short key (X1, X2, ... in order
    of first appearance) and lists the full identities once above it. Short names stay in place."""
    cell = sheet()["cell"]
    fits = True
    for who in dict.fromkeys(identities):
        words = who.split()
        if any(stringWidth(w, cell.fontName, cell.fontSize) > width for w in words) or \
                len(simpleSplit(who, cell.fontName, cell.fontSize, width)) > max_lines:
            fits = False
            break
    if fits:
        return {}
    return {who: f"X{i}" for i, who in enumerate(dict.fromkeys(w for w in identities if w), 1)}


def full_exif(findings: list[Findings]) -> list[Flowable]:
    out: list[Flowable] = [PageBreak(), P("Appendix C — Full metadata per item", "h1")]
    for f in findings:
        md = exif.ensure_metadata(f.item)
        out.append(X(f"Item {f.index} · {esc(f.item.file_name)}", "h3"))
        rows = exif.full_exif(md)
        if not rows:
            out.append(P("No EXIF metadata in this file.", "muted"))
            continue
        out.append(LinesTable(rows, label_w=170))
    return out
