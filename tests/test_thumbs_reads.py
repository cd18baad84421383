"""The thumbnail cache reads its small files through case.util.read_regular: a planted link, FIFO or
oversized file is refused (None) without blocking, and a link is refused where O_NOFOLLOW is missing."""
from __future__ import annotations

import os

import pytest

from declip_desktop.case import thumbs
from declip_desktop.case.util import read_regular


@pytest.fixture
def cache(tmp_path):
    (tmp_path / "rec.json").write_bytes(b"{}")
    return tmp_path


def test_a_regular_file_is_read(cache):
    assert thumbs._read_small(cache / "rec.json", 64) == b"{}"


def test_links_fifos_oversized_and_missing_files_are_refused(cache):
    os.symlink(cache / "rec.json", cache / "link.json")
    assert thumbs._read_small(cache / "link.json", 64) is None
    assert thumbs._read_small(cache / "rec.json", 1) is None
    assert thumbs._read_small(cache / "gone.json", 64) is None
    assert thumbs._read_small(cache, 64) is None
    if hasattr(os, "mkfifo"):
        os.mkfifo(cache / "fifo.json")  # a blocking open would wait for a writer for ever
        assert thumbs._read_small(cache / "fifo.json", 64) is None


def test_a_link_is_refused_without_o_nofollow(cache, monkeypatch):
    # Windows has no O_NOFOLLOW: thumbs checked for a link itself, read_regular did not
    os.symlink(cache / "rec.json", cache / "link.json")
    monkeypatch.delattr(os, "O_NOFOLLOW", raising=False)
    with pytest.raises(OSError, match="symbolic link"):
        read_regular(cache / "link.json", 64)
    assert thumbs._read_small(cache / "link.json", 64) is None
    assert read_regular(cache / "rec.json", 64) == b"{}"
