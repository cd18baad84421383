"""Appendix: full hashes, the audit log with its chain verification, full EXIF per item."""
from __future__ import annotations


from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Spacer

from engine.hashing import file_sha256

from . import exif
from .audit_details import cell as details_cell, summary, wrap_token
from .blocks import LinesTable, P, X, box, esc, grid_table, item_ranges, kv_table
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

    out += models(findings)
    return out


def models(findings: list[Findings]) -> list[Flowable]:
    """Each model used, described once (item pages refer here): what it is, its licence and
    training data, and its weights' SHA-256."""
    from .item_page import input_text

    used: dict[tuple, list[Findings]] = {}
    for f in findings:
        if f.analysed:
            md = f.metadata
            key = (str(md.get("model_id") or "?"),
                   tuple((str(w.get("file") or w.get("name") or "?"), str(w.get("sha256") or "?"))
                         for w in md.get("weights") or []))
            used.setdefault(key, []).append(f)
    if not used:
        return []
    head: list[Flowable] = [P("Models", "h2"), P("Each model that produced a result in this report, described once; "
                                                 "the item pages name the model and refer here.", "muted")]
    out: list[Flowable] = []
    for (mid, weights), fs in used.items():
        card, md = fs[0].card or {}, fs[0].metadata
        rows: list[tuple[str, object]] = [
            ("Model", f"{md.get('model_name') or card.get('name') or mid} (id {mid}"
                      f"{', version ' + str(card['version']) if card.get('version') else ''})"),
            ("Items", item_ranges([f.index for f in fs]))]
        if card:
            rows += [("Backbone / layer", f"{card.get('backbone', '?')} · {card.get('feature_layer', '?')}"),
                     ("Decoder", str(card.get("decoder", "?")))]
            if card.get("input"):
                rows.append(("Model input", input_text(card["input"])))
            rows += [("Licence", str(card.get("license", "unknown"))),
                     ("Training data", str(card.get("training_data", "unknown")))]
        else:
            rows.append(("Model card", "not available (only the metadata recorded with the results is shown)"))
        rows.append(("Weights SHA-256", X("<br/>".join(
            f"{esc(fn)}<br/><font name='DeclipMono' size='7'>{esc(sha)}</font>" for fn, sha in weights)
            or "not recorded", "cell")))
        # one model's table on one page (its last row, the weights' hashes, was left alone on a page);
        # the heading goes with the first
        out += [KeepTogether(([] if out else head) + [kv_table(rows)]), Spacer(1, 6)]
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
    out.append(log_file_note(case))
    out.append(Spacer(1, 4))
    # Details get most of the width: the entry's number and hash share a column, as do its time and
    # examiner; the action column fits the usual action names and wraps a longer one after a '_'.
    bold = sheet()["cell_b"]
    longest = max((stringWidth(str(e.get("action", "")), bold.fontName, bold.fontSize) for e in a.entries), default=0)
    widths = [54, 62, min(108.0, max(64.0, longest + 8))]
    widths.append(FRAME_W - sum(widths))
    keys = examiner_keys([_who(e) for e in a.entries if "invalid" not in e], widths[1] - 6)
    if keys:
        out.append(P("Examiners in this log (the Time · examiner column gives their key):", "muted"))
        out.append(grid_table(["Key", "Examiner (operating-system user@host)"],
                              [[P(k, "cell_b"), P(who, "cell")] for who, k in keys.items()], [40, FRAME_W - 40]))
        out.append(Spacer(1, 6))
    rows = []
    for e in a.entries:
        if "invalid" in e:
            rows.append([P(str(e.get("seq", "?")), "cell_b"), "", P("INVALID", "cell_b"), P(e["invalid"], "cell")])
            continue
        who = _who(e)
        # date, then time to the second (the full timestamp is in the log): never split mid-value
        when = str(e.get("time_utc", "")).replace("T", " ").removesuffix("Z").split(".")[0]
        details = e.get("details") if isinstance(e.get("details"), dict) else {}
        action = wrap_token(str(e.get("action", "")), bold.fontName, bold.fontSize, widths[2] - 6)
        rows.append([[P(str(e.get("seq", "")), "cell_b"),
                      X(f"<font name='DeclipMono' size='6.5'>{esc(str(e.get('sha256', ''))[:12])}</font>", "cell")],
                     [P(when, "small"), P(keys.get(who, who), "cell")],
                     [X(action, "cell_b"), P(audit_object(details), "cell")],
                     details_cell(details, _skipped(details), widths[3] - 6)])
    out.append(grid_table(["# · entry hash", "Time (UTC) · examiner", "Action · object", "Details"], rows, widths))
    return out


def log_file_note(case: ReportCase) -> Flowable:
    """The full log is evidence too: name it and give its SHA-256, so the short table can be checked."""
    from declip_desktop.case.audit import AUDIT_NAME

    path = case.folder / AUDIT_NAME if case.folder else None
    digest = file_sha256(path) if path is not None and path.is_file() else None
    where = (f"The complete log, with every entry's full details and its hash chain, is the file {AUDIT_NAME} in the "
             f"case folder; SHA-256 of that file when this report was generated: ")
    return X(esc(where) + (f"<font name='DeclipMono' size='7'>{digest}</font>." if digest else "not available.")
             + esc(" Below, each entry's details are given in words with every hash whole (long free text is "
                   "shortened); the entry's own SHA-256 is given by its first 12 characters, under its number. "
                   "The report itself is logged after it is written (with this PDF's SHA-256), so that entry is "
                   "not listed here."), "muted")


_OBJECT_KEYS = ("evidence_id", "report_id", "model_id")


def _object_key(details: dict) -> str | None:
    return next((k for k in _OBJECT_KEYS if details.get(k)), "path" if details.get("path") else None)


def audit_object(details: dict) -> str:
    """What the entry is about: an evidence item, a report, a model, or the case."""
    k = _object_key(details)
    if k is None:
        return "case"
    return str(details[k]).replace("\\", "/").rsplit("/", 1)[-1] if k == "path" else str(details[k])


_IN_OTHER_COLUMNS = {"examiner", "created_utc", "modified_utc", "time_utc"}


def _skipped(details: dict) -> set[str]:
    """Keys shown in other columns (the object, the examiner and time)."""
    return _IN_OTHER_COLUMNS | {_object_key(details) or ""}


def audit_summary(action: str, details: dict) -> str:
    """The Details cell as plain text: the entry's facts in words, then each hash whole."""
    return summary(details, _skipped(details))


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
        out.append(X(f"Item {f.index} · {esc(f.item.item_id)} · {esc(f.item.file_name)}", "h3"))
        rows = exif.full_exif(md)
        if not rows:
            out.append(P("No EXIF metadata in this file.", "muted"))
            continue
        out.append(LinesTable(rows, label_w=170))
    return out
