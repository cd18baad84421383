"""engine.atomic.remove_stale_temps: the one sweep of killed writes' temp files (the case's open uses it)."""
from __future__ import annotations

import os

from engine.atomic import remove_stale_temps


def test_kept_names_links_and_folders_are_never_removed(tmp_path):
    (tmp_path / ".tmp-a.json.x1").write_bytes(b"half")
    ro = tmp_path / ".tmp-9-photo.jpg"
    ro.write_bytes(b"copy")
    ro.chmod(0o444)  # ingest's temp copies are read-only
    (tmp_path / ".tmp-photo.jpg").write_bytes(b"evidence")  # named like a temp file
    (tmp_path / ".tmp-dir").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-target"
    outside.write_bytes(b"not ours")
    os.symlink(outside, tmp_path / ".tmp-link")
    gone = remove_stale_temps(tmp_path, names=True, keep={".tmp-photo.jpg"})
    assert sorted(gone) == [".tmp-9-photo.jpg", ".tmp-a.json.x1"]
    assert sorted(os.listdir(tmp_path)) == [".tmp-dir", ".tmp-link", ".tmp-photo.jpg"]
    assert outside.read_bytes() == b"not ours"
    assert remove_stale_temps(tmp_path) == 1  # without keep, the look-alike goes too
