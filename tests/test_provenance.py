"""Content Credentials (C2PA) reading: signed fixtures made at test time with a test CA."""
from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("c2pa")

from engine.provenance import (ProvenanceError, load_trust_anchors, offline_settings, read_provenance,  # noqa: E402
                               resolve_trust_anchors, summary_lines)
from tests.c2pa_support import ConnectionCounter, make_samples  # noqa: E402


def codes(rec):
    return [f["code"] for f in rec["validation"]["failures"]]


@pytest.mark.parametrize("key", ["signed_jpg", "signed_png"])
def test_intact_signed_image(c2pa_samples, key):
    rec = read_provenance(c2pa_samples[key])
    assert rec["manifest_present"] is True
    assert rec["verdict"] == "signed and intact"
    am = rec["active_manifest"]
    assert am["claim_generator"].startswith("TestCam Firmware 1.0")
    assert "CN=Test Newsroom Signer" in am["signer"]["subject"]
    assert "CN=DeCLIP Test Root CA" in am["signer"]["issuer"]
    assert am["signing_time_utc"] is None  # no time-stamp authority: no signing time is claimed
    v = rec["validation"]
    assert (v["signature"], v["binding"], v["trust"]) == ("valid", "match", "not judged")
    assert "claimSignature.validated" in v["success_codes"]
    assert rec["actions"][0] == {"action": "c2pa.created", "software_agent": "TestCam 7",
                                 "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                                 "when": None}
    assert rec["ai_generated"] is False
    json.dumps(rec)  # JSON-serialisable


def test_bytes_and_path_give_the_same_verdict(c2pa_samples):
    data = c2pa_samples["signed_jpg"].read_bytes()
    assert read_provenance(data, image_format="JPEG")["verdict"] == read_provenance(c2pa_samples["signed_jpg"])["verdict"]


def test_pixels_changed_after_signing(c2pa_samples):
    rec = read_provenance(c2pa_samples["altered_jpg"])
    assert rec["verdict"] == "signed but altered"
    assert rec["validation"]["binding"] == "mismatch"
    assert rec["validation"]["signature"] == "valid"  # the claim itself is untouched
    assert "assertion.dataHash.mismatch" in codes(rec)
    assert "CHANGED AFTER IT WAS SIGNED" in summary_lines(rec)[0]


def test_ai_generated_source_type(c2pa_samples):
    rec = read_provenance(c2pa_samples["ai_jpg"])
    assert rec["verdict"] == "AI-generated"
    assert rec["ai_generated"] is True
    assert rec["digital_source_types"] == ["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"]
    assert rec["actions"][0]["software_agent"] == "ImageGen 3"


def test_edited_image_with_ingredient(c2pa_samples):
    rec = read_provenance(c2pa_samples["edited_jpg"])
    assert rec["verdict"] == "signed and intact"
    assert [i["title"] for i in rec["ingredients"]] == ["signed.jpg"]
    assert rec["ingredients"][0]["relationship"] == "parentOf"
    assert [a["action"] for a in rec["actions"]] == ["c2pa.opened", "c2pa.color_adjustments"]
    assert rec["actions"][1]["software_agent"] == "PhotoEd 2.1"
    chain = rec["chain"]
    assert [(c["depth"], c["relationship"]) for c in chain] == [(0, "active"), (1, "parentOf")]
    assert chain[0]["claim_generator"].startswith("PhotoEd 2.1")
    assert chain[1]["claim_generator"].startswith("TestCam Firmware")
    assert chain[1]["ingredient_title"] == "signed.jpg"


def test_remote_manifest_is_reported_and_never_fetched(tmp_path):
    import c2pa

    server = ConnectionCounter()
    try:
        samples = make_samples(tmp_path / "s", remote_url=server.url)
        rec = read_provenance(samples["remote_jpg"])
        assert rec["verdict"] == "remote not fetched"
        assert rec["remote_manifest"] == {"url": server.url, "fetched": False}
        assert rec["manifest_present"] is False
        assert server.hits == 0
        assert offline_settings()["verify"]["remote_manifest_fetch"] is False
        assert offline_settings()["core"]["allowed_network_hosts"] == []
        # Control: the SDK's defaults DO fetch; this is what the settings above prevent.
        with pytest.raises(c2pa.C2paError):
            c2pa.Reader(str(samples["remote_jpg"]))
        import time

        for _ in range(50):
            if server.hits:
                break
            time.sleep(0.05)
        assert server.hits >= 1
    finally:
        server.close()


def test_corrupt_manifest_gives_one_line(c2pa_samples):
    rec = read_provenance(c2pa_samples["corrupt_jpg"])
    assert rec["verdict"] == "unreadable"
    assert "CBOR" in rec["message"]
    assert "\n" not in rec["message"]


def test_no_manifest(c2pa_samples, tmp_path):
    rec = read_provenance(c2pa_samples["plain_jpg"])
    assert rec["verdict"] == "none" and rec["manifest_present"] is False and rec["message"] is None
    assert any("proves nothing" in line for line in summary_lines(rec))
    missing = read_provenance(tmp_path / "nope.jpg")
    assert missing["verdict"] == "unreadable" and "cannot read file" in missing["message"]


def test_trust_with_and_without_the_users_anchor(c2pa_samples, tmp_path):
    anchors = load_trust_anchors(c2pa_samples["anchor"])
    assert anchors.certificates[0]["sha256"] == hashlib.sha256(c2pa_samples["ca_der"]).hexdigest()
    trusted = read_provenance(c2pa_samples["signed_jpg"], anchors=anchors)
    assert trusted["validation"]["trust"] == "trusted"
    assert trusted["verdict"] == "signed and intact"
    assert trusted["trust_anchors"]["certificates"][0]["sha256"] == anchors.certificates[0]["sha256"]
    other = read_provenance(c2pa_samples["signed_jpg"], anchors=load_trust_anchors(c2pa_samples["other_anchor"]))
    assert other["validation"]["trust"] == "untrusted"
    assert other["validation"]["signature"] == "valid"  # valid but untrusted: two separate facts
    assert other["verdict"] == "signed and intact"
    none = read_provenance(c2pa_samples["signed_jpg"])
    assert none["validation"]["trust"] == "not judged" and none["trust_anchors"] is None


def test_anchor_folder_settings_file_and_bad_paths(c2pa_samples, tmp_path, monkeypatch):
    folder = tmp_path / "anchors"
    folder.mkdir()
    (folder / "a.pem").write_bytes(c2pa_samples["anchor"].read_bytes())
    (folder / "b.crt").write_bytes(c2pa_samples["other_anchor"].read_bytes())
    (folder / "notes.txt").write_text("not a certificate")
    assert len(load_trust_anchors(folder).certificates) == 2
    assert resolve_trust_anchors(None) is None
    prefs = tmp_path / "config"
    prefs.mkdir()
    monkeypatch.setenv("DECLIP_CONFIG_HOME", str(prefs))
    (prefs / "preferences.json").write_text(json.dumps({"trust_anchors": str(folder)}))
    assert resolve_trust_anchors(None).source == str(folder.resolve())
    assert resolve_trust_anchors(c2pa_samples["anchor"]).source == str(c2pa_samples["anchor"].resolve())
    with pytest.raises(ProvenanceError, match="not found"):
        load_trust_anchors(tmp_path / "missing.pem")
    with pytest.raises(ProvenanceError, match="no PEM certificate"):
        load_trust_anchors(folder / "notes.txt")


def test_source_type_in_an_iptc_assertion_counts(c2pa_samples, tmp_path):
    import c2pa

    from tests.c2pa_support import AI_TYPE, CAPTURE_TYPE

    keys = c2pa_samples
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", keys["chain"], keys["key"], None))
    b = c2pa.Builder({"claim_generator_info": [{"name": "Gen", "version": "1"}], "title": "iptc.jpg",
                      "assertions": [{"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created",
                                                                                     "digitalSourceType": CAPTURE_TYPE}]}},
                                     {"label": "stds.iptc", "data": {"@context": {"Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"},
                                                                     "Iptc4xmpExt:DigitalSourceType": AI_TYPE}}]})
    out = tmp_path / "iptc.jpg"
    with open(keys["plain_jpg"], "rb") as s, open(out, "w+b") as d:
        b.sign(signer, "image/jpeg", s, d)
    rec = read_provenance(out)
    # the IPTC assertion's type counts too, beside the action's
    assert rec["digital_source_types"] == sorted([AI_TYPE, CAPTURE_TYPE]) and rec["verdict"] == "AI-generated"


@pytest.mark.parametrize("codes,binding,signature,expected", [
    # an untrusted time-stamp authority (no TSA anchors installed) is about trust, not validity
    (["signingCredential.untrusted", "timeStamp.untrusted"], "match", "valid", "signed and intact"),
    (["timeStamp.mismatch"], "match", "invalid", "signed but invalid"),
    (["assertion.hashedURI.mismatch"], "match", "valid", "signed but invalid"),
    (["assertion.dataHash.mismatch", "claimSignature.mismatch"], "mismatch", "invalid", "signed but altered"),
])
def test_verdict_rules(codes, binding, signature, expected):
    from engine.provenance import judge

    rec = {"validation": {"binding": binding, "signature": signature, "failures": [{"code": c} for c in codes]}}
    assert judge(rec) == expected
