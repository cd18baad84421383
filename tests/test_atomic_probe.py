"""One probe of an output folder (engine.atomic.probe_writable): `declip analyze/validate --out` and the
trainer's outputs each say its error in their own words, and it leaves nothing in the folder."""
from __future__ import annotations

import errno
import os

import pytest

import engine.atomic as atomic
from engine.cli import prepare_out
from engine.errors import DeclipError
from trainer.write_errors import WriteError, check_writable


def test_the_probe_leaves_nothing(tmp_path):
    prepare_out(tmp_path / "out")
    check_writable(tmp_path / "out", "x")
    assert os.listdir(tmp_path / "out") == []


def test_both_commands_use_the_one_probe(tmp_path, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "TemporaryFile", read_only)
    with pytest.raises(DeclipError, match=r"out: cannot write to output folder \(Read-only file system\)$"):
        prepare_out(tmp_path / "out")
    with pytest.raises(WriteError, match="^cannot write r.json: read-only file system$"):
        check_writable(tmp_path, "r.json")
