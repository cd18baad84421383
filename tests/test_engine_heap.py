"""engine.heap: the command-line process reuses large blocks from glibc's heap instead of mapping,
faulting in and unmapping them for every photo."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import declip_desktop.cli as cli
import engine.heap as heap

ROOT = Path(__file__).resolve().parent.parent

# Allocates a 48 MB array (a 12 MP float map) and frees it, and prints where glibc put it: the bytes
# in mmap'd blocks while it lives (mallinfo2's hblkhd) and the heap's size after it is freed (arena).
# argv[1] == "set" applies the settings first, "gui" the GUI's process settings. Its own process: mallopt is for the process's life.
WHERE = """
import ctypes, sys
import numpy as np
import engine.heap as heap

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
if not hasattr(libc, "mallinfo2"):  # glibc before 2.33
    print("skip")
    raise SystemExit(0)
libc.mallinfo2.restype = Info
if sys.argv[1] == "gui":  # the window's process settings include it
    from declip_desktop.responsiveness import tune_for_gui
    applied = tune_for_gui()["heap"]
else:
    applied = heap.reuse_large_blocks() if sys.argv[1] == "set" else None
a = np.ones(12_000_000, np.float32)
mapped = libc.mallinfo2().hblkhd
del a
print(mapped, libc.mallinfo2().arena, applied)
"""


def _where(mode: str) -> tuple[int, int, str] | None:
    env = {k: v for k, v in os.environ.items() if k not in heap._USER_SETTINGS}
    out = subprocess.run([sys.executable, "-c", WHERE, mode], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "skip":
        return None
    mapped, arena, applied = out.stdout.split(maxsplit=2)
    return int(mapped), int(arena), applied.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"),
                    reason="mallopt is glibc's")
def test_large_blocks_come_from_the_heap_and_stay_for_the_next_photo():
    plain = _where("plain")
    if plain is None:
        pytest.skip("this glibc has no mallinfo2 to look with")
    size = 48_000_000
    # glibc's default: the array is a mapping of its own, unmapped when freed
    assert plain[0] >= size and plain[1] < size and plain[2] == "None"
    for mode in ("set", "gui"):  # with the settings (the GUI applies them too): heap memory, kept when freed
        tuned = _where(mode)
        assert tuned[0] < size and tuned[1] >= size, mode
        assert tuned[2] == str({"mmap_threshold": heap.MMAP_THRESHOLD, "trim_threshold": heap.TRIM_THRESHOLD})


def test_the_users_own_glibc_settings_win(monkeypatch):
    called = []
    monkeypatch.setattr("ctypes.CDLL", lambda *a, **k: called.append(a))
    for name in heap._USER_SETTINGS:
        assert heap.reuse_large_blocks({name: "1"}) is None
    assert called == []  # mallopt was not even looked up


def test_the_declip_process_applies_them_before_any_command(monkeypatch):
    order = []
    monkeypatch.setattr(heap, "reuse_large_blocks", lambda: order.append("heap"))
    monkeypatch.setattr(cli, "main", lambda: order.append("main") or 0)
    # with torch imported and no other thread, run() would run the exit handlers and end this process
    monkeypatch.setattr(cli.threading, "active_count", lambda: 2)
    with pytest.raises(SystemExit) as exc:
        cli.run()
    assert exc.value.code == 0
    assert order == ["heap", "main"]
