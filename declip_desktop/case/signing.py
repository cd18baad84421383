"""Optional examiner signatures (Ed25519) of the audit head a report prints.

A keyless chain proves the log against a head someone else holds; a signature adds who vouched for
that head: only the holder of the private key can make a report whose head verifies under the
examiner's public key. Needs the `cryptography` package (`pip install declip-desktop[signing]`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import CaseError


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    except ImportError:
        raise CaseError("signing needs the 'cryptography' package (pip install cryptography)") from None
    return serialization, Ed25519PrivateKey, Ed25519PublicKey


def head_message(head: dict[str, Any], case_uuid: str) -> bytes:
    """What is signed: the head and the case it belongs to (a head of another case never verifies)."""
    return f"declip-audit-head:{head['entries']}:{head['last_sha256']}:case:{case_uuid}".encode("ascii")


def keygen(path: str | os.PathLike) -> str:
    """Write a new private key (PEM, owner-only, never over an existing file) and PATH.pub (hex).
    Returns the public key in hex."""
    serialization, private_cls, _ = _crypto()
    key = private_cls.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        raise CaseError(f"{p}: exists; a key is never overwritten") from None
    except OSError as exc:
        raise CaseError(f"{p}: cannot write the key ({exc.strerror or exc})") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    Path(str(p) + ".pub").write_text(pub + "\n", encoding="ascii")
    return pub


def sign_head(key_path: str | os.PathLike, head: dict[str, Any], case_uuid: str) -> dict[str, str]:
    serialization, private_cls, _ = _crypto()
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CaseError(f"{key_path}: not a readable Ed25519 private key ({exc})") from None
    if not isinstance(key, private_cls):
        raise CaseError(f"{key_path}: not an Ed25519 private key")
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    return {"public_key": pub, "signature": key.sign(head_message(head, case_uuid)).hex()}


def read_public_key(text_or_path: str) -> str:
    """A public key as 64 hex digits, given as such or as a .pub file."""
    t = str(text_or_path).strip()
    if len(t) != 64 or any(c not in "0123456789abcdefABCDEF" for c in t):
        try:
            t = Path(t).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CaseError(f"{text_or_path}: not a public key (64 hex digits) or a readable .pub file ({exc})") from None
    if len(t) != 64:
        raise CaseError(f"{text_or_path}: a public key is 64 hex digits")
    return t.lower()


def signature_valid(head: dict[str, Any], case_uuid: str, signature: str, public_key: str) -> bool:
    _, _, public_cls = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        public_cls.from_public_bytes(bytes.fromhex(public_key)).verify(bytes.fromhex(signature),
                                                                       head_message(head, case_uuid))
        return True
    except (InvalidSignature, ValueError):
        return False
