"""Read and validate C2PA Content Credentials of one file, offline, into a JSON-ready record.

The SDK (c2pa-python) runs with remote manifest fetching and OCSP off and an empty list of
allowed network hosts: a remote manifest reference can act as a tracking beacon, so it is
recorded as present and never followed. Nothing here writes to the file.
"""
from __future__ import annotations

import io
import json
import os
import re
from typing import Any

from ..stamps import utc_now
from .trust import TrustAnchors
from .verdict import AI_SOURCE_TYPES, TRUST_CODES, judge

SCHEMA = 1
# The settings every read uses. verify_trust stays on so the SDK reports trusted/untrusted; with
# no user anchors every signer is "untrusted", which the record reports as "not judged".
_OFFLINE = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False, "verify_trust": True,
               "verify_after_reading": True},
    "core": {"allowed_network_hosts": []},
}
_MIME = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff",
         "GIF": "image/gif", "HEIF": "image/heic", "AVIF": "image/avif", "BMP": "image/bmp"}
_REMOTE_RE = re.compile(r"remote manifests? from url (\S+)", re.I)
_XMP_PROVENANCE = re.compile(rb"dcterms:provenance(?:=\"|>)([^\"<]{1,2048})")


def offline_settings(anchors: TrustAnchors | None = None) -> dict:
    """The SDK settings used for reading (exposed so tests can check what the SDK is given)."""
    settings = json.loads(json.dumps(_OFFLINE))
    if anchors is not None:
        settings["trust"] = {"user_anchors": anchors.pem}
    return settings


def sdk_versions() -> dict[str, str]:
    try:
        import c2pa

        return {"c2pa_python": str(c2pa.__version__), "c2pa_rs": str(c2pa.sdk_version())}
    except Exception as exc:  # noqa: BLE001 - a missing native library is reported, not raised
        return {"c2pa_python": "unavailable", "error": _one_line(exc)}


def read_provenance(source: str | os.PathLike | bytes, anchors: TrustAnchors | None = None,
                    image_format: str | None = None) -> dict[str, Any]:
    """The provenance record of a file path or its bytes (never raises for a bad file).

    image_format: Pillow's format name (JPEG, PNG ...) when known; else the SDK detects it.
    """
    data = source if isinstance(source, (bytes, bytearray)) else None
    record = _base_record(anchors)
    try:
        if data is None:
            with open(source, "rb") as fh:  # read-only; the evidence is never written
                data = fh.read()
    except OSError as exc:
        return _finish(record, "unreadable", f"cannot read file ({exc.strerror or exc})")
    record["remote_manifest"] = _xmp_remote_reference(data)
    try:
        import c2pa
    except Exception as exc:  # noqa: BLE001
        return _finish(record, "not checked", f"C2PA reader unavailable ({_one_line(exc)})")
    mime = _MIME.get((image_format or "").upper())
    try:
        ctx = c2pa.Context(c2pa.Settings.from_dict(offline_settings(anchors)))
        with c2pa.Reader(mime, io.BytesIO(data), context=ctx) as reader:
            store = json.loads(reader.json())
            cr = _crjson(reader)
    except c2pa.C2paError.ManifestNotFound:
        return _finish(record, "none", None)
    except c2pa.C2paError.NotSupported:
        return _finish(record, "none", "Content Credentials cannot be read from this file format")
    except c2pa.C2paError as exc:
        text = _one_line(exc)
        remote = _REMOTE_RE.search(text)
        if remote:  # only a remote reference, and we did not follow it
            record["remote_manifest"] = {"url": remote.group(1), "fetched": False}
            return _finish(record, "remote not fetched", None)
        return _finish(record, "unreadable", text)
    except Exception as exc:  # noqa: BLE001 - a hostile manifest must not stop an ingest
        return _finish(record, "unreadable", f"{type(exc).__name__}: {_one_line(exc)}")
    _fill(record, store, cr, anchors)
    return record


def _base_record(anchors: TrustAnchors | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "read_utc": utc_now(),
        "reader": {**sdk_versions(), "remote_fetch": False, "ocsp_fetch": False, "network_hosts_allowed": []},
        "manifest_present": False,
        "verdict": "none",
        "message": None,
        "remote_manifest": None,
        "active_manifest": None,
        "validation": None,
        "actions": [],
        "digital_source_types": [],
        "ai_generated": False,
        "ingredients": [],
        "chain": [],
        "trust_anchors": anchors.describe() if anchors is not None else None,
    }


def _finish(record: dict, verdict: str, message: str | None) -> dict:
    record["verdict"] = verdict
    record["message"] = message
    return record


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _crjson(reader) -> dict:
    try:
        return json.loads(reader.crjson())
    except Exception:  # noqa: BLE001 - certificate details are extra; the main JSON has the rest
        return {}


def _xmp_remote_reference(data: bytes) -> dict | None:
    m = _XMP_PROVENANCE.search(data)
    if not m:
        return None
    return {"url": m.group(1).decode("utf-8", "replace"), "fetched": False}


def _fill(record: dict, store: dict, cr: dict, anchors: TrustAnchors | None) -> None:
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) or {}
    certs = {m.get("label"): ((m.get("signature") or {}).get("certificateInfo") or {})
             for m in (cr.get("manifests") or []) if isinstance(m, dict)}
    record["manifest_present"] = True
    record["active_manifest"] = _manifest_summary(active_label, active, certs)
    results = (store.get("validation_results") or {}).get("activeManifest")
    record["validation"] = _validation(results, store.get("validation_status") or [], store.get("validation_state"),
                                       anchors)
    record["actions"] = _actions(active)
    record["digital_source_types"] = sorted(_source_types(active))
    record["ingredients"] = [_ingredient(i) for i in active.get("ingredients") or []]
    record["chain"] = _chain(active_label, manifests, certs)
    ai = [e for e in record["chain"] if any(_short_type(t) in AI_SOURCE_TYPES for t in e["digital_source_types"])]
    record["ai_generated"] = bool(ai)
    record["verdict"] = judge(record)


def _claim_generator(m: dict) -> str:
    infos = m.get("claim_generator_info") or []
    parts = []
    for info in infos if isinstance(infos, list) else [infos]:
        if isinstance(info, dict) and info.get("name"):
            parts.append(" ".join(str(x) for x in (info.get("name"), info.get("version")) if x))
    return "; ".join(parts) or str(m.get("claim_generator") or "")


def _dn(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items()) if isinstance(d, dict) else str(d or "")


def _manifest_summary(label: str | None, m: dict, certs: dict) -> dict:
    sig = m.get("signature_info") or {}
    cert = certs.get(label) or {}
    validity = cert.get("validity") or {}
    return {
        "label": label,
        "title": m.get("title"),
        "format": m.get("format"),
        "claim_generator": _claim_generator(m),
        "signer": {
            "common_name": sig.get("common_name"),
            "organisation": sig.get("issuer"),  # the SDK's "issuer" is the signing certificate's O
            "subject": _dn(cert.get("subject") or {}) or None,
            "issuer": _dn(cert.get("issuer") or {}) or None,
            "serial": cert.get("serialNumber") or sig.get("cert_serial_number"),
            "alg": sig.get("alg"),
            "not_before": validity.get("notBefore"),
            "not_after": validity.get("notAfter"),
        },
        # Only a time-stamp authority's time is a signing time; without one the SDK gives none.
        "signing_time_utc": sig.get("time"),
    }


def _codes(entries) -> list[dict]:
    return [{"code": e.get("code"), "explanation": e.get("explanation"), "url": e.get("url")}
            for e in entries or [] if isinstance(e, dict)]


def _validation(results: dict | None, status: list, state: str | None, anchors: TrustAnchors | None) -> dict:
    if results:
        failures, successes, info = (_codes(results.get(k)) for k in ("failure", "success", "informational"))
    else:  # older SDK output: only the failure list
        failures, successes, info = _codes(status), [], []
    fail = {f["code"] for f in failures}
    ok = {s["code"] for s in successes}
    binding_prefixes = ("assertion.dataHash", "assertion.boxesHash", "assertion.bmffHash", "assertion.collectionHash")
    if any(c.startswith(binding_prefixes) for c in fail):
        binding = "mismatch"
    elif any(c.startswith(binding_prefixes) for c in ok):
        binding = "match"
    else:
        binding = "not checked"
    sig_fail = {c for c in fail if c.startswith(("claimSignature.", "signingCredential.", "timeStamp."))
                and c not in TRUST_CODES}
    # validation_status (no results object) lists only failures: no signature failure there = valid
    validated = "claimSignature.validated" in ok or not results
    signature = "invalid" if sig_fail else ("valid" if validated else "not checked")
    if anchors is None:
        trust = "not judged"  # no anchors installed: the SDK calls every signer untrusted
    elif "signingCredential.untrusted" in fail:
        trust = "untrusted"
    elif "signingCredential.trusted" in ok:
        trust = "trusted"
    else:
        trust = "not judged"
    return {"state": state, "signature": signature, "binding": binding, "trust": trust,
            "failures": failures, "success_codes": sorted(ok), "informational_codes": sorted({i["code"] for i in info})}


def _agent(action: dict, agents: list) -> str | None:
    agent = action.get("softwareAgent")
    index = action.get("softwareAgentIndex")
    if agent is None and isinstance(index, int) and 0 <= index < len(agents):
        agent = agents[index]
    if isinstance(agent, dict):
        return " ".join(str(x) for x in (agent.get("name"), agent.get("version")) if x) or None
    return str(agent) if agent else None


def _actions(m: dict) -> list[dict]:
    out = []
    for a in m.get("assertions") or []:
        if not isinstance(a, dict) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        data = a.get("data") or {}
        agents = data.get("softwareAgents") or []
        for act in data.get("actions") or []:
            if isinstance(act, dict):
                out.append({"action": act.get("action"), "software_agent": _agent(act, agents),
                            "digital_source_type": act.get("digitalSourceType"), "when": act.get("when")})
    return out


def _source_types(m: dict) -> set[str]:
    """Digital source types declared anywhere in a manifest's assertions: on actions, and in IPTC
    or other metadata assertions (any key ending in digitalSourceType, e.g. Iptc4xmpExt:DigitalSourceType)."""
    found: set[str] = set()

    def walk(node, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                if str(k).lower().endswith("digitalsourcetype") and isinstance(v, str) and v:
                    found.add(v)
                else:
                    walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node[:500]:
                walk(v, depth + 1)

    for a in m.get("assertions") or []:
        if isinstance(a, dict):
            walk(a.get("data"), 0)
    return found


def _short_type(uri: str | None) -> str:
    return (uri or "").rstrip("/").rsplit("/", 1)[-1]


def _ingredient(i: dict) -> dict:
    failures = ((i.get("validation_results") or {}).get("activeManifest") or {}).get("failure") or []
    return {"title": i.get("title"), "format": i.get("format"), "relationship": i.get("relationship"),
            "manifest": i.get("active_manifest"),
            "validation_failures": sorted({f.get("code") for f in failures if isinstance(f, dict)} - {None})}


def _chain(active_label: str | None, manifests: dict, certs: dict) -> list[dict]:
    """The active manifest, then its ingredients' manifests (depth-first), each once."""
    out: list[dict] = []
    seen: set[str] = set()

    def visit(label: str | None, relationship: str, depth: int, via: str | None) -> None:
        if not label or label in seen or label not in manifests or len(out) >= 50:
            return
        seen.add(label)
        m = manifests[label]
        summary = _manifest_summary(label, m, certs)
        acts = _actions(m)
        out.append({"depth": depth, "relationship": relationship, "ingredient_title": via, **summary,
                    "actions": [a["action"] for a in acts],
                    "software_agents": sorted({a["software_agent"] for a in acts if a["software_agent"]}),
                    "digital_source_types": sorted(_source_types(m))})
        for ing in m.get("ingredients") or []:
            if isinstance(ing, dict):
                visit(ing.get("active_manifest"), ing.get("relationship") or "ingredient", depth + 1, ing.get("title"))

    visit(active_label, "active", 0, None)
    return out
