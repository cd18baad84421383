"""Model packs (`.declipmodel`): one verifiable file that carries a model to an air-gapped machine.

A pack is a zip (entries stored, flat: no folders) holding `card.json`, the model's weight files
and `SHA256SUMS` (`<sha256>  <name>` per line, card.json included). Import trusts nothing in it:
every entry must be a plain listed file of bounded size, the sizes are checked while streaming
(a zip bomb stops at the bound), every hash must match before anything enters the store, and the
weights are only ever read by the store's normal import (weights_only loading).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

from .cards import CARD_NAME, ModelCard, check_file_name
from .errors import DeclipError, ModelStoreError
from .hashing import file_sha256

PACK_SUFFIX = ".declipmodel"
SUMS_NAME = "SHA256SUMS"
MAX_FILE_BYTES = 4 << 30  # ViT-L-14.pt is 0.93 GB; nothing in a pack comes near 4 GiB
MAX_TOTAL_BYTES = 8 << 30
MAX_TEXT_BYTES = 1 << 20  # card.json and SHA256SUMS
MAX_ENTRIES = 16
MAX_RATIO = 200  # weights barely compress; a far higher ratio is a bomb
_SUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


class PackError(ModelStoreError):
    """A pack that is malformed, tampered with or hostile; nothing was imported."""


def is_pack(path: str | Path) -> bool:
    return Path(path).suffix.lower() == PACK_SUFFIX


# ---- writing ------------------------------------------------------------------------------------
def pack_model(store, model_id: str, out: Path) -> tuple[Path, str]:
    """Write model `model_id` of `store` to the pack `out`; return (path, the pack's SHA-256)."""
    from .loading import sources_of, verify_sources

    card = store.get(model_id)
    sources = sources_of(card)
    verify_sources(card, sources)  # a pack never carries a file that differs from its card
    out = Path(out)
    if out.suffix.lower() != PACK_SUFFIX:
        out = out.with_name(out.name + PACK_SUFFIX)
    names = [f["name"] for f in card.files]
    if len(set(names)) != len(names) or CARD_NAME in names or SUMS_NAME in names:
        raise PackError(f"model {model_id!r}: its files need distinct names other than {CARD_NAME} and {SUMS_NAME}")
    doc = card.to_dict()
    doc["builtin"] = False
    for f in doc["files"]:
        f.pop("path", None)  # store paths mean nothing on another machine
    card_bytes = (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    sums = [(hashlib.sha256(card_bytes).hexdigest(), CARD_NAME)] + [(f["sha256"], f["name"]) for f in card.files]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(_info(CARD_NAME), card_bytes)
            for f in card.files:
                with open(sources[f["role"]], "rb") as src, zf.open(_info(f["name"]), "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 22)
            zf.writestr(_info(SUMS_NAME), "".join(f"{s}  {n}\n" for s, n in sums))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out, file_sha256(out)


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # same content, same pack bytes
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


# ---- reading ------------------------------------------------------------------------------------
def import_pack(path: str | Path, store=None, *, max_file_bytes: int = MAX_FILE_BYTES,
                max_total_bytes: int = MAX_TOTAL_BYTES) -> ModelCard:
    """Verify every entry of the pack, then import the model through the store's normal import."""
    from .store import ModelStore

    path = Path(path)
    store = store or ModelStore()
    if not path.is_file():
        raise PackError(f"{path}: no such pack file")
    if not zipfile.is_zipfile(path):
        raise PackError(f"{path}: not a model pack (not a zip file)")
    with store.staging() as staging:
        try:
            with zipfile.ZipFile(path) as zf:
                infos = _check_entries(path, zf, max_file_bytes, max_total_bytes)
                sums = _read_sums(path, zf, infos)
                card_doc = _read_card(path, zf, infos, sums)
                for name, info in infos.items():
                    if name != SUMS_NAME:
                        _extract_verified(path, zf, info, staging / name, sums[name], max_file_bytes)
        except zipfile.BadZipFile as exc:
            raise PackError(f"{path}: corrupt pack ({exc})") from None
        for f in card_doc["files"]:
            f["path"] = f["name"]
        # provenance: which pack (name and SHA-256) the model came from, after where it came from before
        where = f"imported from pack {path.name} (SHA-256 {file_sha256(path)})"
        card_doc["source"] = f"{card_doc['source']}; {where}" if card_doc.get("source") else where
        ModelCard.from_dict(card_doc, origin=f"{path}: {CARD_NAME}").save(staging)
        try:
            return store.import_path(staging, from_pack=True)  # the normal import: hashes again, weights_only load
        except DeclipError as exc:
            raise type(exc)(_name_members(str(exc), staging, path)) from None


def _name_members(message: str, staging: Path, pack: Path) -> str:
    """Say 'PACK: member NAME' where the store's import named the temporary copy of a pack's file."""
    return message.replace(f"{staging}{os.sep}", f"{pack}: member ").replace(str(staging), str(pack))


def _check_entries(path: Path, zf: zipfile.ZipFile, max_file: int, max_total: int) -> dict[str, zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise PackError(f"{path}: {len(infos)} entries; a pack holds at most {MAX_ENTRIES}")
    out: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
            raise PackError(f"{path}: refused: entry {name!r} is an absolute path")
        if "/" in name or "\\" in name or name in (".", ".."):
            raise PackError(f"{path}: refused: entry {name!r} is not a plain file name (folders and '..' are not allowed)")
        try:
            check_file_name(name, "entry")
        except ModelStoreError:
            raise PackError(f"{path}: refused: entry {name!r} is not a plain file name") from None
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise PackError(f"{path}: refused: entry {name!r} is a link")
        if mode and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
            raise PackError(f"{path}: refused: entry {name!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise PackError(f"{path}: refused: entry {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise PackError(f"{path}: refused: entry {name!r} uses an unsupported compression")
        if name in out:
            raise PackError(f"{path}: refused: entry {name!r} appears twice")
        if info.file_size > max_file:
            raise PackError(f"{path}: refused: entry {name!r} declares {info.file_size} bytes, over the "
                            f"{max_file}-byte bound")
        if info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > MAX_RATIO * max(info.compress_size, 1) \
                and info.file_size > (1 << 20):
            raise PackError(f"{path}: refused: entry {name!r} expands {info.file_size // max(info.compress_size, 1)}"
                            " times (a zip bomb?)")
        total += info.file_size
        if total > max_total:
            raise PackError(f"{path}: refused: the entries declare over {max_total} bytes in all")
        out[name] = info
    for need in (CARD_NAME, SUMS_NAME):
        if need not in out:
            raise PackError(f"{path}: not a model pack (no {need})")
    return out


def _read_small(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    if info.file_size > MAX_TEXT_BYTES:
        raise PackError(f"{path}: refused: {info.filename} is {info.file_size} bytes, over {MAX_TEXT_BYTES}")
    with zf.open(info) as fh:
        data = fh.read(MAX_TEXT_BYTES + 1)
    if len(data) != info.file_size:
        raise PackError(f"{path}: refused: {info.filename} holds more or fewer bytes than it declares")
    return data


def _read_sums(path: Path, zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> dict[str, str]:
    try:
        text = _read_small(path, zf, infos[SUMS_NAME]).decode("utf-8")
    except UnicodeDecodeError:
        raise PackError(f"{path}: {SUMS_NAME} is not text") from None
    sums: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _SUM_LINE.fullmatch(line.strip())
        if not m:
            raise PackError(f"{path}: {SUMS_NAME} line {n} is not '<sha256>  <name>'")
        if m.group(2) in sums:
            raise PackError(f"{path}: {SUMS_NAME} lists {m.group(2)!r} twice")
        sums[m.group(2)] = m.group(1)
    for name in infos:
        if name != SUMS_NAME and name not in sums:
            raise PackError(f"{path}: refused: entry {name!r} is not listed in {SUMS_NAME}")
    for name in sums:
        if name not in infos:
            raise PackError(f"{path}: {SUMS_NAME} lists {name!r}, which the pack lacks")
    return sums


def _read_card(path: Path, zf: zipfile.ZipFile, infos: dict, sums: dict[str, str]) -> dict:
    data = _read_small(path, zf, infos[CARD_NAME])
    if hashlib.sha256(data).hexdigest() != sums[CARD_NAME]:
        raise PackError(f"{path}: {CARD_NAME} does not match its SHA-256 in {SUMS_NAME}; the pack was altered")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackError(f"{path}: {CARD_NAME} is not valid JSON ({exc})") from None
    ModelCard.from_dict(doc, origin=f"{path}: {CARD_NAME}")  # validates ids, names, hashes
    _refuse_outside_paths(path, doc)
    names = [f["name"] for f in doc.get("files", [])]
    if not names:
        raise PackError(f"{path}: {CARD_NAME} lists no files")
    for f in doc["files"]:
        if f["name"] not in infos or f["name"] in (CARD_NAME, SUMS_NAME):
            raise PackError(f"{path}: {CARD_NAME} names {f['name']!r}, which the pack lacks")
        if f.get("sha256") and f["sha256"].lower() != sums[f["name"]]:
            raise PackError(f"{path}: {CARD_NAME} and {SUMS_NAME} disagree on the SHA-256 of {f['name']!r}")
        f.pop("path", None)
    extra = set(infos) - set(names) - {CARD_NAME, SUMS_NAME}
    if extra:
        raise PackError(f"{path}: refused: {sorted(extra)[0]!r} is in the pack but not in {CARD_NAME}")
    return doc


def _refuse_outside_paths(path: Path, doc: dict) -> None:
    """A pack brings all its files: a backbone or decoder field naming a path (weights_path) would make
    the import read, and pin, a file of the importing machine that the pack never held."""
    def walk(value, where: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(k, str) and k.lower().endswith("path") and v not in (None, ""):
                    raise PackError(f"{path}: refused: {CARD_NAME} field {where}.{k} names a file outside the pack "
                                    f"({str(v)[:80]!r}); a pack must carry every file it uses")
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")

    for key in ("backbone", "decoder"):
        walk(doc.get(key), key)


def _extract_verified(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, sha: str,
                      max_file: int) -> None:
    h = hashlib.sha256()
    got = 0
    bound = min(info.file_size, max_file)
    with zf.open(info) as src, open(dest, "wb") as out:
        while True:
            block = src.read(1 << 20)
            if not block:
                break
            got += len(block)
            if got > bound:  # zipfile stops at the declared size; this also guards a lying size
                raise PackError(f"{path}: refused: {info.filename} holds more than the {bound} bytes it declares")
            h.update(block)
            out.write(block)
    if got != info.file_size:
        raise PackError(f"{path}: {info.filename} holds {got} bytes but declares {info.file_size}")
    if h.hexdigest() != sha:
        raise PackError(f"{path}: {info.filename} does not match its SHA-256 in {SUMS_NAME}; the pack was altered")
