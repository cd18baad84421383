"""The verdict on a provenance record and the wording every front-end shows (CLI, GUI, report)."""
from __future__ import annotations

# IPTC digital source types that mean generative AI made (part of) the image.
AI_SOURCE_TYPES = {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"}

# Failure codes about trust, not validity: with no (or other) anchors installed every signer and every
# time-stamp authority is "untrusted", which says nothing about whether the file was changed.
TRUST_CODES = {"signingCredential.untrusted", "timeStamp.untrusted"}

# verdict -> (badge, severity, one-line meaning). Severity picks a colour: ok / ai / bad / warn / none.
VERDICTS = {
    "signed and intact": ("signed, intact", "ok",
                          "Content Credentials are present, the signature is valid and the image data still match "
                          "what was signed."),
    "signed but altered": ("signed but ALTERED", "bad",
                           "THE FILE WAS CHANGED AFTER IT WAS SIGNED: the signed hash of the image data no longer "
                           "matches the file."),
    "AI-generated": ("AI-generated", "ai",
                     "The signed, intact Content Credentials declare that generative AI made this image or part "
                     "of it."),
    "signed but invalid": ("signed, INVALID", "bad",
                           "Content Credentials are present but fail validation (signature or manifest); see the "
                           "status codes."),
    "remote not fetched": ("remote, not fetched", "warn",
                           "The file points to Content Credentials stored online; they were not fetched (the app "
                           "never goes online: a remote reference can act as a tracking beacon), so nothing about "
                           "them was checked."),
    "unreadable": ("unreadable", "warn",
                   "Content Credentials appear to be present but could not be read (a damaged or unsupported "
                   "manifest)."),
    "not checked": ("not checked", "warn", "Content Credentials were not checked."),
    "none": ("none", "none", "No Content Credentials found."),
}

STRIPPING_NOTE = ("The absence of Content Credentials proves nothing: metadata, including C2PA manifests, is easily "
                  "stripped, for example by re-saving, screenshots or messaging apps.")

TRUST_TEXT = {
    "trusted": "signer trusted (its certificate chains to an installed trust anchor)",
    "untrusted": "signer NOT trusted by the installed trust anchors (the signature itself may still be valid)",
    "not judged": "signer trust not judged (no trust anchors installed)",
}


def stored_record(metadata: dict | None) -> dict | None:
    """The provenance record kept in an evidence item's metadata ("provenance"), or None when the
    item was ingested before Content Credentials were read."""
    rec = (metadata or {}).get("provenance")
    return rec if isinstance(rec, dict) else None


def judge(record: dict) -> str:
    """The verdict of a record whose manifest was read. Alteration outranks everything: a binding
    mismatch means the file is not what was signed, whatever the manifest says about AI."""
    v = record.get("validation") or {}
    if v.get("binding") == "mismatch":
        return "signed but altered"
    others = [f for f in v.get("failures") or [] if f.get("code") not in TRUST_CODES]
    if v.get("signature") != "valid" or others:
        return "signed but invalid"
    if record.get("ai_generated"):
        return "AI-generated"
    return "signed and intact"


def badge(record: dict | None) -> str:
    if not record:
        return "not checked"
    return VERDICTS.get(record.get("verdict"), (str(record.get("verdict")),))[0]


def severity(record: dict | None) -> str:
    if not record:
        return "warn"
    return VERDICTS.get(record.get("verdict"), ("", "warn"))[1]


def meaning(record: dict | None) -> str:
    if not record:
        return VERDICTS["not checked"][2]
    text = VERDICTS.get(record.get("verdict"), ("", "", str(record.get("verdict"))))[2]
    if record.get("message"):
        text += f" Reader message: {record['message']}."
    return text


def status_line(record: dict | None) -> str:
    """One line for lists and terminals: badge, then what matters most about it."""
    if not record:
        return "not read"
    v = record.get("validation") or {}
    verdict = record.get("verdict")
    parts = [badge(record)]
    if verdict == "signed but altered":
        parts.append("the file was changed after it was signed")
    elif verdict == "signed but invalid":
        parts.append(", ".join(f["code"] for f in v.get("failures") or [] if f.get("code") not in TRUST_CODES))
    elif verdict == "remote not fetched":
        parts.append(f"reference {(record.get('remote_manifest') or {}).get('url')}")
    elif record.get("message"):
        parts.append(record["message"])
    if v.get("trust") in ("trusted", "untrusted"):
        parts.append(f"signer {v['trust']}")
    return "; ".join(p for p in parts if p)


def summary_lines(record: dict | None) -> list[str]:
    """A few plain lines for terminals and the GUI: verdict, signer, trust, source type, codes."""
    if not record:
        return [meaning(None)]
    lines = [f"{badge(record)}: {meaning(record)}"]
    am = record.get("active_manifest") or {}
    v = record.get("validation") or {}
    if am:
        signer = am.get("signer") or {}
        who = signer.get("subject") or signer.get("common_name") or "unknown"
        lines.append(f"claim generator: {am.get('claim_generator') or 'not stated'}; signer: {who}")
        if signer.get("issuer"):
            lines.append(f"certificate issuer: {signer['issuer']}")
        lines.append(f"signed: {am.get('signing_time_utc') or 'no trusted time stamp'}")
    if v:
        lines.append(f"signature: {v.get('signature')}; hash binding: {v.get('binding')}; "
                     f"{TRUST_TEXT.get(v.get('trust'), v.get('trust'))}")
        fails = [f["code"] for f in v.get("failures") or [] if f.get("code") not in TRUST_CODES]
        if fails:
            lines.append("failed status codes: " + ", ".join(fails))
    if record.get("digital_source_types"):
        lines.append("digital source type: " + ", ".join(t.rsplit("/", 1)[-1] for t in record["digital_source_types"]))
    if record.get("ingredients"):
        lines.append("ingredients: " + ", ".join(f"{i.get('title')} ({i.get('relationship')})"
                                                 for i in record["ingredients"]))
    rm = record.get("remote_manifest")
    if rm:
        lines.append(f"remote manifest reference: {rm.get('url')} (not fetched)")
    anchors = record.get("trust_anchors")
    if anchors:
        lines.append(f"trust anchors: {len(anchors.get('certificates') or [])} from {anchors.get('source')}")
    if record.get("verdict") in ("none", "remote not fetched", "unreadable"):
        lines.append(STRIPPING_NOTE)
    return lines
