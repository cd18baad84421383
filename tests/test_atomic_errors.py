"""write_atomic on a full disk: the error names the file that was left unchanged, never the hidden
temp file (or nothing), and neither a half-written target nor a temp file remains."""
from __future__ import annotations

import errno
import os

import pytest

import engine.atomic as atomic

FULL = "No space left on device"


@pytest.fixture
def target(tmp_path):
    p = tmp_path / "case.json"
    p.write_bytes(b"old content")
    return p


def _left_as_it_was(target) -> None:
    assert target.read_bytes() == b"old content"
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_a_full_disk_in_the_writer_names_the_target(target):
    def writer(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, FULL)  # as file.write() raises it: no file name

    with pytest.raises(OSError) as got:
        atomic.write_atomic(target, writer)
    assert type(got.value) is OSError and got.value.errno == errno.ENOSPC and got.value.strerror == FULL
    assert got.value.filename == str(target)
    _left_as_it_was(target)


def test_an_error_naming_the_temp_file_names_the_target(target):
    def writer(tmp):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp))

    with pytest.raises(PermissionError) as got:
        atomic.write_atomic(target, writer)
    assert got.value.errno == errno.EACCES and got.value.filename == str(target)
    _left_as_it_was(target)


def _full_disk_at_replace(monkeypatch) -> None:
    """os.replace fails as on a full disk, naming the temp file and the target (as the OS does)."""
    def replace(src, dst):
        raise OSError(errno.ENOSPC, FULL, os.fspath(src), os.fspath(dst))

    monkeypatch.setattr(atomic.os, "replace", replace)


def test_a_failed_replace_names_the_target(target, monkeypatch):
    _full_disk_at_replace(monkeypatch)
    with pytest.raises(OSError) as got:
        atomic.write_bytes_atomic(target, b"new")
    assert got.value.errno == errno.ENOSPC and got.value.filename == str(target)
    _left_as_it_was(target)


def test_a_failed_temp_creation_names_the_target(target, monkeypatch):
    def mkstemp(prefix="", suffix="", dir=None):  # mkstemp's own error names the name it tried
        raise OSError(errno.ENOSPC, FULL, os.path.join(dir, prefix + "abcd1234" + suffix))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp)
    with pytest.raises(OSError) as got:
        atomic.write_text_atomic(target, "new")
    assert got.value.errno == errno.ENOSPC and got.value.filename == str(target)
    _left_as_it_was(target)


def test_an_error_about_another_file_keeps_its_name(target, tmp_path):
    missing = tmp_path / "gone" / "source.png"

    def writer(tmp):
        tmp.write_bytes(missing.read_bytes())

    with pytest.raises(FileNotFoundError) as got:
        atomic.write_atomic(target, writer)
    assert got.value.filename == str(missing)
    _left_as_it_was(target)


def test_case_json_writes_name_the_case_file(target, monkeypatch):
    from declip_desktop.case.atomic import write_json_atomic

    _full_disk_at_replace(monkeypatch)
    with pytest.raises(OSError) as got:
        write_json_atomic(target, {"a": 1})
    assert got.value.filename == str(target)
    _left_as_it_was(target)


def test_one_disk_full_set_for_engine_trainer_and_case():
    # the case CLI, the case lock and the trainer each had their own copy of the set
    import declip_desktop.case.cli as case_cli
    import declip_desktop.case.lock as lock
    import trainer.write_errors as write_errors

    assert case_cli.DISK_FULL is lock.DISK_FULL is write_errors.DISK_FULL is atomic.DISK_FULL
    assert errno.ENOSPC in atomic.DISK_FULL
    assert "disk full" in str(write_errors.write_error(OSError(errno.ENOSPC, FULL), "x"))
