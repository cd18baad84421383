"""The trainer when its files go wrong: a damaged feature cache, a full or read-only disk."""
import json

import numpy as np

from declip_desktop.cli import main as declip
from tests.test_trainer_data_guards import TRAIN, _split_set
from trainer.features import FeatureCache


def test_an_unreadable_cache_entry_counts_as_missing(tmp_path):
    cache = FeatureCache(tmp_path, "key")
    sha = "ab" * 32
    cache.put(sha, np.ones((2, 3, 3), np.float32))
    assert cache.get(sha).shape == (2, 3, 3)
    path = cache._path(sha)
    for damage in (b"", b"\x93NUMPY\x01\x00garbage", b"not numpy at all"):
        path.write_bytes(damage)
        assert cache.get(sha) is None, damage
    np.save(path, np.float16(1.0))  # a valid .npy that is not a feature map
    assert cache.get(sha) is None


def test_training_recomputes_zero_length_cache_files(tmp_path, capsys):
    data = _split_set(tmp_path / "s")
    base = ["train", "--data", str(data), "--cache", str(tmp_path / "c"), *TRAIN]
    assert declip([*base, "--out", str(tmp_path / "m1")]) == 0
    entries = list((tmp_path / "c").rglob("*.npy"))
    assert entries
    for p in entries:
        p.write_bytes(b"")  # what a full disk or a kill left behind
    capsys.readouterr()
    assert declip([*base, "--out", str(tmp_path / "m2")]) == 0, capsys.readouterr().err
    assert all(p.stat().st_size > 0 for p in entries)  # recomputed and written again
    first, second = (json.loads((tmp_path / m / "card.json").read_text()) for m in ("m1", "m2"))
    assert first["metrics"] == second["metrics"]


# ---- a full disk or a read-only folder: one line, no temp files left ------------------------------

def _fail(code):
    import errno
    import os

    return OSError(getattr(errno, code), os.strerror(getattr(errno, code)))


def test_write_errors_say_what_could_not_be_written():
    from trainer.write_errors import write_error

    assert str(write_error(_fail("ENOSPC"), "X")) == "disk full while writing X"
    assert str(write_error(_fail("EROFS"), "X")) == "cannot write X: read-only file system"
    assert str(write_error(_fail("EACCES"), "X")) == "cannot write X: permission denied"


def test_a_full_disk_while_saving_the_training_state_is_one_line(tmp_path, monkeypatch, capsys):
    from engine.atomic import write_atomic
    from trainer import train as T

    def half_then_full(path, data):
        def writer(tmp):
            tmp.write_bytes(data[:len(data) // 2])
            raise _fail("ENOSPC")

        write_atomic(path, writer)

    monkeypatch.setattr(T, "write_bytes_atomic", half_then_full)
    data = _split_set(tmp_path / "s")
    out = tmp_path / "m"
    rc = declip(["train", "--data", str(data), "--out", str(out), "--cache", str(tmp_path / "c"), *TRAIN])
    err = capsys.readouterr().err
    assert rc == 1 and f"declip: error: disk full while writing {out / 'state' / 'last.pt'}\n" in err
    assert "internal error" not in err
    assert [p for p in out.rglob("*") if p.is_file()] == []  # the half-written temp file is gone


def test_a_full_disk_in_the_feature_cache_is_one_line(tmp_path, monkeypatch, capsys):
    import builtins

    real_open = builtins.open

    def full_open(file, mode="r", *a, **kw):
        fh = real_open(file, mode, *a, **kw)
        if str(file).endswith(".tmp") and "w" in mode:
            fh.write = lambda data: (_ for _ in ()).throw(_fail("ENOSPC"))
        return fh

    monkeypatch.setattr(builtins, "open", full_open)
    data = _split_set(tmp_path / "s")
    rc = declip(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), *TRAIN])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 1 and "disk full while writing the feature cache" in err
    assert not list((tmp_path / "c").rglob("*.tmp"))


def test_synth_on_a_full_disk_removes_its_unfinished_data_set(tmp_path, monkeypatch, capsys):
    import pathlib

    from tests.test_trainer_e2e import PHOTOS, _write_photos

    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    real = pathlib.Path.write_bytes
    written = []

    def fills_up(self, data):
        if len(written) == 2:  # the third image does not fit
            raise _fail("ENOSPC")
        written.append(self)
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", fills_up)
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), "--count", "6"]) == 1
    err = capsys.readouterr().err
    assert f"declip: error: disk full while writing {out}\n" in err and "internal error" not in err
    assert len(written) == 2 and not out.exists()


def test_unwritable_outputs_are_refused_before_the_work(tmp_path, monkeypatch, capsys):
    from engine import atomic

    def read_only(*a, **kw):
        raise _fail("EROFS")

    monkeypatch.setattr(atomic.tempfile, "TemporaryFile", read_only)  # the one writable-folder probe's temp file
    data = _split_set(tmp_path / "s")
    for flag in ("--json", "--csv"):
        target = tmp_path / f"r.{flag[2:]}"
        assert declip(["evaluate", "--baseline", "ela", "--data", str(data), flag, str(target)]) == 1
        captured = capsys.readouterr()
        assert captured.err == f"declip: error: cannot write {target}: read-only file system\n"  # no progress
        assert captured.out == ""
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(tmp_path), "--out", str(out), "--count", "3"]) == 1
    assert capsys.readouterr().err == f"declip: error: cannot write {out}: read-only file system\n"
    assert not out.exists()
