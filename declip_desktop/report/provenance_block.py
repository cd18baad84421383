"""Content Credentials (C2PA) in the report: a verdict box early on each item's page, the details
and the manifest chain lower down, and an appendix on how the credentials were validated.

The record is the one made at ingest (evidence metadata "provenance"), so the report states what
the case holds; `declip case provenance --reread` reads the evidence again when needed.
"""
from __future__ import annotations

from reportlab.platypus import Flowable, PageBreak, Spacer

from declip_desktop.case.util import readable_utc
from engine.provenance import (STRIPPING_NOTE, TRUST_CODES, TRUST_TEXT, VERDICTS, badge, meaning, severity,
                               stored_record)

from .blocks import P, X, box, esc, grid_table, kv_table
from .styles import FRAME_W

_BOX_KIND = {"ok": "ok", "bad": "warn", "ai": "note", "warn": "note"}
READ_SETTINGS = ("remote manifest fetching off; OCSP (certificate revocation) fetching off; no network host "
                 "allowed; trust judged only against the examiner's installed anchors (none are bundled)")


def record_of(item) -> dict | None:
    return stored_record(item.metadata)


_BADGE_INK = {"bad": "#9b1c1c", "ai": "#5b2a86", "ok": "#1e6b34", "warn": "#8a5a00", "none": "#5b6470"}


def name_with_badge(item, width: float | None = None) -> Flowable:
    """The summary table's file-name cell with the Content Credentials badge under it; with `width`,
    the name breaks at its separators, never inside its extension."""
    from .names import name_markup

    rec = record_of(item)
    name = name_markup(item.file_name, width) if width else esc(item.file_name)
    if rec is None:
        return X(name, "cell") if width else P(item.file_name, "cell")
    ink = _BADGE_INK.get(severity(rec), "#5b6470")
    weight = ("<b>", "</b>") if severity(rec) in ("bad", "ai") else ("", "")
    return X(f"{name}<br/><font size='6.4' color='{ink}'>{weight[0]}C2PA: {esc(badge(rec))}"
             f"{weight[1]}</font>", "cell")


def alert(item) -> list[Flowable]:
    """The verdict, before any map: a coloured box when credentials exist, one muted line otherwise."""
    rec = record_of(item)
    if rec is None:
        return [P("Content Credentials (C2PA): not read when this item was ingested.", "muted"), Spacer(1, 4)]
    sev = severity(rec)
    if sev == "none":
        return [P(f"Content Credentials (C2PA): none found. {STRIPPING_NOTE}", "muted"), Spacer(1, 4)]
    head = "CONTENT CREDENTIALS: " + badge(rec).upper()
    body = [P(head, "warn" if sev == "bad" else "h3"), P(meaning(rec))]
    v = rec.get("validation") or {}
    if v.get("trust"):
        body.append(P(TRUST_TEXT.get(v["trust"], v["trust"]).capitalize() + "."))
    if rec.get("remote_manifest"):
        body.append(P(f"Remote manifest reference: {rec['remote_manifest'].get('url')} (not fetched)."))
    return [box(body, _BOX_KIND.get(sev, "note")), Spacer(1, 6)]


def details(item) -> list[Flowable]:
    """Key facts of the active manifest and the manifest chain as a short table."""
    rec = record_of(item)
    if rec is None or rec.get("verdict") == "none":
        return []
    out: list[Flowable] = [P("Content Credentials (C2PA)", "h2")]
    am = rec.get("active_manifest") or {}
    v = rec.get("validation") or {}
    signer = am.get("signer") or {}
    rows = [("Verdict", badge(rec))]
    if am:
        rows += [("Claim generator", am.get("claim_generator") or "not stated"),
                 ("Signer (certificate subject)", signer.get("subject") or signer.get("common_name") or "unknown"),
                 ("Certificate issuer", signer.get("issuer") or signer.get("organisation") or "unknown"),
                 ("Signing time", am.get("signing_time_utc") or "no trusted time stamp in the manifest"),
                 ("Signature", f"{v.get('signature')} ({signer.get('alg') or '?'})"),
                 ("Hash binding", {"match": "matches the file", "mismatch": "DOES NOT MATCH: the file was changed "
                                   "after it was signed"}.get(v.get("binding"), str(v.get("binding")))),
                 ("Signer trust", TRUST_TEXT.get(v.get("trust"), str(v.get("trust")))),
                 ("SDK validation state", str(v.get("state")))]
        fails = [f"{f['code']}: {f.get('explanation') or ''}" for f in v.get("failures") or []
                 if f.get("code") not in TRUST_CODES]  # trust codes are the "Signer trust" row
        rows.append(("Failure status codes", "; ".join(fails) if fails else "none (trust aside)"))
    if rec.get("digital_source_types"):
        rows.append(("Digital source type", ", ".join(t.rsplit("/", 1)[-1] for t in rec["digital_source_types"])))
    acts = [a["action"] + (f" ({a['software_agent']})" if a.get("software_agent") else "")
            for a in rec.get("actions") or []]
    if acts:
        rows.append(("Actions", "; ".join(acts)))
    if rec.get("remote_manifest"):
        rows.append(("Remote manifest", f"{rec['remote_manifest'].get('url')} (reference only; NOT fetched)"))
    if rec.get("message"):
        rows.append(("Reader message", rec["message"]))
    out.append(kv_table(rows))
    chain = rec.get("chain") or []
    if chain:
        out.append(P("Manifest chain (active manifest first, then its ingredients)", "h3"))
        body = [[str(i + 1), ("  " * c.get("depth", 0)) + (c.get("relationship") or ""), c.get("title") or "",
                 c.get("claim_generator") or "", (c.get("signer") or {}).get("common_name") or "",
                 ", ".join(c.get("actions") or []) or "—"] for i, c in enumerate(chain)]
        widths = [18, 62, 90, 110, 100, FRAME_W - 380]
        out.append(grid_table(["#", "Relation", "Title", "Claim generator", "Signer", "Actions"], body, widths))
    out.append(Spacer(1, 6))
    return out


def appendix(findings) -> list[Flowable]:
    """How the credentials were validated: reader, settings, anchors, meanings, per-item codes."""
    recs = [(f, record_of(f.item)) for f in findings]
    out: list[Flowable] = [PageBreak(), P("Appendix E — How Content Credentials (C2PA) were validated", "h1")]
    readers = sorted({f"c2pa-python {r['reader'].get('c2pa_python')}, SDK {r['reader'].get('c2pa_rs', '?')}"
                      for _, r in recs if r and r.get("reader")})
    out.append(kv_table([
        ("Reader", "; ".join(readers) or "not recorded"),
        ("When", "at ingest, from the same bytes that were hashed and copied into the case"),
        ("Settings", READ_SETTINGS),
        ("Signature", "the claim signature is checked with the certificate embedded in the manifest"),
        ("Hash binding", "the hash the manifest signs is recomputed over the file; a mismatch means the file was "
                         "changed after it was signed"),
        ("Trust", "a valid signature says the manifest is unchanged since signing by the holder of that key; whether "
                  "that signer is trusted depends on the trust anchors, which only the examiner installs"),
        ("Absence", STRIPPING_NOTE),
    ]))
    anchor_sets = {}
    for _, r in recs:
        ta = (r or {}).get("trust_anchors")
        if ta:
            anchor_sets[ta.get("source")] = ta
    out.append(P("Trust anchors used", "h3"))
    if not anchor_sets:
        out.append(P("None were installed: signer trust was not judged for any item.", "muted"))
    for source, ta in anchor_sets.items():
        out.append(P(f"From {source}:", "small"))
        rows = [[c.get("subject") or "", c.get("file") or "", c.get("sha256") or ""]
                for c in ta.get("certificates") or []]
        out.append(grid_table(["Anchor subject", "File", "SHA-256 (DER)"], rows, [150, 80, FRAME_W - 230]))
    out.append(P("Verdicts", "h3"))
    out.append(kv_table([(VERDICTS[k][0], VERDICTS[k][2]) for k in VERDICTS], label_w=110))
    out.append(P("Per item", "h3"))
    for f, r in recs:
        if r is None:
            text = "not read at ingest"
        else:
            v = r.get("validation") or {}
            text = f"{badge(r)}; read {readable_utc(r.get('read_utc'))}"
            if v:
                text += f"; signature {v.get('signature')}, binding {v.get('binding')}, trust {v.get('trust')}"
                failed = [x["code"] for x in v.get("failures") or []]
                text += f"; failed: {', '.join(failed) or 'none'}; passed: {', '.join(v.get('success_codes') or [])}"
            if r.get("message"):
                text += f"; {r['message']}"
        out.append(X(f"<b>Item {f.index} · {esc(f.item.item_id)} · {esc(f.item.file_name)}</b>: {esc(text)}", "small"))
    return out
