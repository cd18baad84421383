"""The one helper each for hashes, timestamps, the OS user and ids made from names."""
import hashlib
import os
import re
from datetime import datetime, timezone

import pytest

from engine.cards import check_model_id, model_id_from
from engine.errors import CheckpointError
from engine.hashing import bytes_sha256, file_sha256, weights_sha256
from engine.stamps import os_user, utc_now


def test_file_hashes_match_hashlib_across_block_boundaries(tmp_path):
    data = os.urandom((1 << 20) * 2 + 123)  # more than two read blocks
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert file_sha256(p) == bytes_sha256(data) == weights_sha256(p) == want
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert file_sha256(empty) == hashlib.sha256(b"").hexdigest()


def test_weights_hash_follows_a_rewritten_file_and_names_a_missing_one(tmp_path):
    p = tmp_path / "w.safetensors"
    p.write_bytes(b"one")
    first = weights_sha256(p)
    p.write_bytes(b"two")  # same size, new content: the memo key (inode, size, mtime, ctime) changes
    assert weights_sha256(p) == hashlib.sha256(b"two").hexdigest() != first
    with pytest.raises(CheckpointError, match="cannot read weights file"):
        weights_sha256(tmp_path / "missing.safetensors")


def test_utc_now_is_the_case_format_and_parses_as_utc():
    stamp = utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((datetime.now(timezone.utc) - parsed).total_seconds()) < 3600


def test_os_user_is_a_non_empty_name():
    assert isinstance(os_user(), str) and os_user().strip()


@pytest.mark.parametrize("text, want", [
    ("My Model v2", "my-model-v2"), ("run_a.1", "run_a.1"), ("..hidden-", "hidden"),
    ("Ünïcode ☃ name", "n-code-name"), ("", "model"), ("///", "model")])
def test_model_id_from_gives_a_valid_id(text, want):
    got = model_id_from(text)
    assert got == want
    assert check_model_id(got) == got


def test_model_id_from_keeps_ids_short_enough_for_a_prefix():
    got = model_id_from("x" * 300)
    assert len(got) == 100 and check_model_id("imported-" + got)
    assert model_id_from("", "trained-model") == "trained-model"
