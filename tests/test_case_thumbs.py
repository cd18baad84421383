"""Cached thumbnails are shown only when they belong to the evidence's bytes: a planted, edited or
stale file in thumbs/ is made again, and the check never re-reads the evidence."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from PIL import Image

from declip_desktop.case import CaseError
from declip_desktop.case import thumbs
from tests.case_support import new_case

RED, BLUE = (220, 20, 20), (20, 20, 220)


def _solid(path, colour, size=(120, 80)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, "JPEG", quality=95)
    return path


def _colour(path):
    with Image.open(path) as im:
        return im.convert("RGB").resize((1, 1)).getpixel((0, 0))


def _near(c, want):
    return all(abs(a - b) < 40 for a, b in zip(c, want))


@pytest.fixture
def red_and_blue(tmp_path):
    src = tmp_path / "src"
    _solid(src / "red.jpg", RED)
    _solid(src / "blue.jpg", BLUE)
    case = new_case(tmp_path)
    case.add_paths([src / "red.jpg", src / "blue.jpg"])
    assert [it.file_name for it in case.evidence] == ["red.jpg", "blue.jpg"]
    yield case
    case.close()


def test_a_planted_thumbnail_is_not_shown(red_and_blue):
    case = red_and_blue
    red = case.thumbnail("E0001", 64)
    blue = case.thumbnail("E0002", 64)
    assert _near(_colour(red), RED) and _near(_colour(blue), BLUE)
    shutil.copyfile(blue, red)  # blue's picture in red's place: the list would show the wrong photo
    again = case.thumbnail("E0001", 64)
    assert _near(_colour(again), RED)


def test_a_record_sealed_without_this_users_key_is_not_trusted(red_and_blue, monkeypatch):
    case = red_and_blue
    red = case.thumbnail("E0001", 64)
    blue = case.thumbnail("E0002", 64)
    sidecar = red.with_suffix(".json")
    record = json.loads(sidecar.read_text())
    assert record["evidence_sha256"] == case.item("E0001").sha256 and record["size"] == 64
    # someone who can write the case folder re-seals a planted picture with a key of their own
    shutil.copyfile(blue, red)
    import hashlib
    import hmac

    record["jpeg_sha256"] = hashlib.sha256(red.read_bytes()).hexdigest()
    body = json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True).encode()
    record["mac"] = hmac.new(b"k" * 32, body, hashlib.sha256).hexdigest()
    sidecar.write_text(json.dumps(record))
    assert _near(_colour(case.thumbnail("E0001", 64)), RED)
    # without its record, or with the record's fields edited, a picture is never trusted either
    sidecar.unlink()
    shutil.copyfile(blue, red)
    assert _near(_colour(case.thumbnail("E0001", 64)), RED)


def test_a_thumbnail_named_by_another_evidence_hash_is_never_used_for_this_one(red_and_blue):
    # the cache is keyed by the evidence's SHA-256: an id given to other bytes meets no old picture
    case = red_and_blue
    red = case.thumbnail("E0001", 64)
    assert red.name == f"{case.item('E0001').sha256}_64.jpg"
    assert case.thumbnail("E0002", 64).name == f"{case.item('E0002').sha256}_64.jpg"


def test_a_changed_evidence_copy_gets_no_thumbnail(red_and_blue):
    case = red_and_blue
    case.thumbnail("E0001", 64)
    ev = case.item("E0001").path
    os.chmod(ev, 0o644)
    _solid(ev, BLUE)  # the copy's bytes replaced after intake: the cached red picture no longer shows them
    with pytest.raises(CaseError, match="does not match the SHA-256 recorded at intake"):
        case.thumbnail("E0001", 64)


def test_the_cached_check_reads_no_evidence_and_a_touched_file_is_hashed_again(red_and_blue, monkeypatch):
    case = red_and_blue
    t = case.thumbnail("E0001", 64)
    made = []
    real = thumbs._make
    monkeypatch.setattr(thumbs, "_make", lambda *a: made.append(a) or real(*a))
    assert case.thumbnail("E0001", 64) == t and made == []  # a stat and the small files only
    ev = case.item("E0001").path
    st = ev.stat()
    os.utime(ev, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # not the file the record saw
    assert _near(_colour(case.thumbnail("E0001", 64)), RED) and len(made) == 1
    assert case.thumbnail("E0001", 64) == t and len(made) == 1  # recorded again, trusted again


def test_a_fifo_planted_as_the_record_never_blocks(red_and_blue):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    case = red_and_blue
    t = case.thumbnail("E0001", 64)
    side = t.with_suffix(".json")
    side.unlink()
    os.mkfifo(side)  # opened to read, it would wait for a writer for ever
    assert _near(_colour(case.thumbnail("E0001", 64)), RED)


def test_a_record_with_non_ascii_seal_is_refused_not_raised(red_and_blue):
    """hmac.compare_digest raises TypeError on a str holding non-ASCII characters, so a planted record with
    "mac": "é" escaped the check as an error instead of being refused and the picture made again."""
    case = red_and_blue
    red = case.thumbnail("E0001", 64)
    blue = case.thumbnail("E0002", 64)
    sidecar = red.with_suffix(".json")
    for field in ("mac", "jpeg_sha256"):
        record = json.loads(sidecar.read_text())
        record[field] = "é" * 64
        sidecar.write_text(json.dumps(record))
        shutil.copyfile(blue, red)
        assert _near(_colour(case.thumbnail("E0001", 64)), RED)
