"""Signed C2PA test images, made at test time: a throw-away test CA, a signing certificate and
c2pa.Builder. Nothing is fetched. `make_samples(folder)` returns {name: path}."""
from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from pathlib import Path

from PIL import Image

AI_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def make_chain(folder: Path) -> dict:
    """Root CA (anchor) -> ES256 end-entity signing certificate with the EKU C2PA asks for."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str, org: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])

    def usage(**on) -> x509.KeyUsage:
        keys = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{k: on.get(k, False) for k in keys})

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("DeCLIP Test Root CA", "DeCLIP Tests")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    ee = (x509.CertificateBuilder().subject_name(name("Test Newsroom Signer", "Test Newsroom")).issuer_name(ca_name)
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(usage(digital_signature=True), critical=True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    anchor = folder / "test-root-ca.pem"
    anchor.write_bytes(ca.public_bytes(pem))
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = name("Unrelated Root CA", "Somebody Else")
    other = (x509.CertificateBuilder().subject_name(other_name).issuer_name(other_name)
             .public_key(other_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(other_key, hashes.SHA256()))
    other_anchor = folder / "unrelated-ca.pem"
    other_anchor.write_bytes(other.public_bytes(pem))
    return {"chain": ee.public_bytes(pem) + ca.public_bytes(pem), "anchor": anchor, "other_anchor": other_anchor,
            "ca_der": ca.public_bytes(serialization.Encoding.DER),
            "key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())}


def _manifest(title: str, generator: str, actions: list[dict]) -> dict:
    return {"claim_generator_info": [{"name": generator, "version": "1.0"}], "title": title,
            "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}]}


class ConnectionCounter:
    """A local listening socket that counts connections: proves a remote URL was (not) fetched."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.hits = 0
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/manifest.c2pa"

    def _run(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


def make_samples(folder: Path, remote_url: str = "http://127.0.0.1:9/manifest.c2pa") -> dict:
    import c2pa

    folder.mkdir(parents=True, exist_ok=True)
    keys = make_chain(folder)

    def signer():
        return c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", keys["chain"], keys["key"], None))

    def sign(builder, src: Path, dst: Path, mime: str) -> Path:
        with open(src, "rb") as s, open(dst, "w+b") as d:
            builder.sign(signer(), mime, s, d)
        return dst

    rng = __import__("numpy").random.default_rng(40)
    pixels = rng.integers(0, 255, (96, 128, 3), dtype="uint8")
    Image.fromarray(pixels).save(folder / "plain.jpg", quality=92)
    Image.fromarray(pixels).save(folder / "plain.png")
    capture = [{"action": "c2pa.created", "digitalSourceType": CAPTURE_TYPE, "softwareAgent": {"name": "TestCam", "version": "7"}}]
    out = {"plain_jpg": folder / "plain.jpg", "plain_png": folder / "plain.png", **keys}
    out["signed_jpg"] = sign(c2pa.Builder(_manifest("signed.jpg", "TestCam Firmware", capture)),
                             folder / "plain.jpg", folder / "signed.jpg", "image/jpeg")
    out["signed_png"] = sign(c2pa.Builder(_manifest("signed.png", "TestCam Firmware", capture)),
                             folder / "plain.png", folder / "signed.png", "image/png")
    ai = [{"action": "c2pa.created", "digitalSourceType": AI_TYPE, "softwareAgent": {"name": "ImageGen", "version": "3"}}]
    out["ai_jpg"] = sign(c2pa.Builder(_manifest("ai.jpg", "ImageGen Service", ai)),
                         folder / "plain.jpg", folder / "ai.jpg", "image/jpeg")
    # Edited: the signed capture is the parent ingredient of a second manifest (intent EDIT adds c2pa.opened).
    b = c2pa.Builder({"claim_generator_info": [{"name": "PhotoEd", "version": "2.1"}], "title": "edited.jpg"})
    b.set_intent(c2pa.C2paBuilderIntent.EDIT)
    with open(out["signed_jpg"], "rb") as fh:
        b.add_ingredient({"title": "signed.jpg", "relationship": "parentOf"}, "image/jpeg", fh)
    b.add_action({"action": "c2pa.color_adjustments", "softwareAgent": {"name": "PhotoEd", "version": "2.1"}})
    out["edited_jpg"] = sign(b, out["signed_jpg"], folder / "edited.jpg", "image/jpeg")
    # Pixels changed after signing: flip bytes in the entropy-coded data near the end (before EOI).
    data = bytearray(out["signed_jpg"].read_bytes())
    for i in range(len(data) - 300, len(data) - 260):
        data[i] ^= 0x5A
    (folder / "altered.jpg").write_bytes(bytes(data))
    out["altered_jpg"] = folder / "altered.jpg"
    # Remote only: no embedded manifest, just an XMP reference to a URL.
    b = c2pa.Builder(_manifest("remote.jpg", "CloudSigner", capture))
    b.set_no_embed()
    b.set_remote_url(remote_url)
    out["remote_jpg"] = sign(b, folder / "plain.jpg", folder / "remote.jpg", "image/jpeg")
    # Corrupt: the claim's CBOR overwritten inside an otherwise intact manifest box.
    data = bytearray(out["signed_jpg"].read_bytes())
    at = data.find(b"c2cl") + 60
    data[at:at + 40] = b"\xAA" * 40
    (folder / "corrupt.jpg").write_bytes(bytes(data))
    out["corrupt_jpg"] = folder / "corrupt.jpg"
    (folder / "keys.json").write_text(json.dumps({"anchor": str(keys["anchor"])}))
    return out
