"""Validation of the JSON files that make up a case. Every failure is one line naming the file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import CaseSchemaError
from .util import read_regular, valid_evidence_id, valid_evidence_name

SCHEMA_VERSION = 1
SUPPORTED_SCHEMAS = (1,)

CASE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "uuid": str,
    "title": str,
    "number": str,
    "examiner": str,
    "organisation": str,
    "description": str,
    "created_utc": str,
    "modified_utc": str,
}


# Indexes of very large cases stay far below this; /dev/zero or a planted huge file never get read.
MAX_INDEX_BYTES = 1 << 30


def read_json(path: Path, what: str) -> Any:
    try:
        raw = read_regular(path, MAX_INDEX_BYTES)
    except FileNotFoundError:
        raise CaseSchemaError(f"{path}: {what} is missing") from None
    except OSError as exc:
        raise CaseSchemaError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CaseSchemaError(f"{path}: {what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CaseSchemaError(f"{path}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None


def check_schema_version(path: Path, data: Any, what: str) -> None:
    if not isinstance(data, dict):
        raise CaseSchemaError(f"{path}: {what} must be a JSON object, found {type(data).__name__}")
    if "schema_version" not in data:
        raise CaseSchemaError(f"{path}: {what} has no schema_version field")
    v = data["schema_version"]
    if not isinstance(v, int) or isinstance(v, bool) or v not in SUPPORTED_SCHEMAS:
        raise CaseSchemaError(
            f"{path}: unknown schema_version {v!r} (this DeCLIP Desktop reads {', '.join(map(str, SUPPORTED_SCHEMAS))}); "
            "open it with the version that wrote it")


def validate_case_json(path: Path, data: Any) -> dict:
    check_schema_version(path, data, "case.json")
    for name, typ in CASE_FIELDS.items():
        if name not in data:
            raise CaseSchemaError(f"{path}: case.json is missing the field '{name}'")
        if not isinstance(data[name], typ) or isinstance(data[name], bool):
            raise CaseSchemaError(f"{path}: case.json field '{name}' must be a {typ.__name__}, found {type(data[name]).__name__}")
    head = data.get("audit_head")
    if head is not None and not (isinstance(head, dict) and isinstance(head.get("entries"), int)
                                 and isinstance(head.get("last_sha256"), str)):
        raise CaseSchemaError(f"{path}: case.json field 'audit_head' is malformed")
    return data


def validate_evidence_index(path: Path, data: Any) -> dict:
    check_schema_version(path, data, "evidence index")
    items = data.get("items")
    if not isinstance(items, list):
        raise CaseSchemaError(f"{path}: evidence index has no 'items' list")
    need = ("id", "file_name", "sha256", "md5", "size")
    for n, it in enumerate(items, 1):
        if not isinstance(it, dict):
            raise CaseSchemaError(f"{path}: evidence item {n} is not a JSON object")
        for key in need:
            if key not in it:
                raise CaseSchemaError(f"{path}: evidence item {n} is missing the field '{key}'")
        # Ids and names become paths: refuse anything that could point outside the case.
        if not valid_evidence_id(it["id"]):
            raise CaseSchemaError(f"{path}: evidence item {n} has an invalid id {str(it['id'])[:40]!r} "
                                  "(expected E followed by digits)")
        if not valid_evidence_name(it["file_name"]):
            raise CaseSchemaError(f"{path}: evidence item {n} ({it['id']}) has an invalid file_name "
                                  f"{str(it['file_name'])[:80]!r} (must be one name inside evidence/)")
    return data


def validate_findings(path: Path, data: Any) -> dict:
    check_schema_version(path, data, "findings file")
    if not isinstance(data.get("findings"), dict):
        raise CaseSchemaError(f"{path}: findings file has no 'findings' object")
    for key in data["findings"]:
        if not valid_evidence_id(key):
            raise CaseSchemaError(f"{path}: findings file names an invalid evidence id {str(key)[:40]!r}")
    return data
