"""Trust anchors for Content Credentials: only what the user installs, never bundled ones.

A C2PA signature can be cryptographically valid while its signer is unknown. Whether a signer is
*trusted* is judged only against root certificates the examiner chose (a PEM file or a folder of
them), given on the command line (`--trust-anchors PATH`) or as `trust_anchors` in the GUI's
preferences.json. The record names every anchor used by its SHA-256 (of the DER certificate).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DeclipError
from ..hashing import bytes_sha256

PEM_SUFFIXES = (".pem", ".crt", ".cer")
_BEGIN = b"-----BEGIN CERTIFICATE-----"


class ProvenanceError(DeclipError):
    """Bad provenance input from the user (an unreadable trust-anchor file or folder)."""


@dataclass
class TrustAnchors:
    """Certificates the user installed as trust anchors. `pem` is what the SDK is given."""

    source: str
    certificates: list[dict] = field(default_factory=list)  # {file, subject, sha256}
    pem: str = ""

    def describe(self) -> dict:
        """JSON-serialisable: where they came from and each anchor's subject and SHA-256."""
        return {"source": self.source, "certificates": list(self.certificates)}


def load_trust_anchors(path: str | os.PathLike) -> TrustAnchors:
    """Read every PEM certificate in a file, or in the .pem/.crt/.cer files of a folder (not
    recursive). Raises ProvenanceError (one line) when nothing usable is found."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in PEM_SUFFIXES)
    elif p.is_file():
        files = [p]
    else:
        raise ProvenanceError(f"trust anchors: {p} not found")
    anchors = TrustAnchors(source=str(p.resolve()))
    pems = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise ProvenanceError(f"trust anchors: cannot read {f} ({exc.strerror or exc})") from None
        if _BEGIN not in data:
            continue
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise ProvenanceError(f"trust anchors: {f} holds a malformed PEM certificate ({exc})") from None
        for cert in certs:
            der = cert.public_bytes(Encoding.DER)
            anchors.certificates.append({"file": f.name, "subject": _dn(cert.subject),
                                         "sha256": bytes_sha256(der)})
            pems.append(cert.public_bytes(Encoding.PEM).decode("ascii"))
    if not pems:
        raise ProvenanceError(f"trust anchors: no PEM certificate in {p}")
    anchors.pem = "".join(pems)
    return anchors


def _dn(name) -> str:
    """Attributes in certificate order, written like the signer's subject in the record (CN=.., O=..)."""
    return ", ".join(f"{a.rfc4514_attribute_name}={a.value}" for a in name)


def preferences_file() -> Path:
    """The GUI's preferences.json (declip_desktop.settings keeps it; read here without Qt)."""
    env = os.environ.get("DECLIP_CONFIG_HOME")
    if env:
        return Path(env) / "preferences.json"
    import platformdirs

    return Path(platformdirs.user_config_dir("declip", appauthor=False)) / "preferences.json"


def configured_anchor_path() -> str | None:
    """`trust_anchors` from the preferences file, or None when unset or unreadable."""
    try:
        data = json.loads(preferences_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("trust_anchors") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def resolve_trust_anchors(path: str | os.PathLike | None = None) -> TrustAnchors | None:
    """The anchors to judge trust with: `path` when given (the command line), else the settings
    file's, else None (trust is then not judged). A bad path raises ProvenanceError."""
    chosen = path if path else configured_anchor_path()
    return load_trust_anchors(chosen) if chosen else None
