"""glibc heap settings for a process that analyses photos (the `declip` command and the GUI).

Why: glibc serves every block above its dynamic mmap threshold (at most 32 MB) with a fresh mmap
and returns it to the kernel when freed. A 12 MP photo's arrays (36 MB of pixels, a 48 MB float
map) and the network's larger activations are such blocks, so each analysis faulted in, zeroed and
unmapped the same gigabyte again: 1.2-1.4 million minor page faults for a folder of seven 12 MP
photos, with half the process's time in the kernel. Serving blocks up to 128 MB from the heap, and
keeping up to 512 MB of freed heap for the next photo, reuses the memory instead: on a 2-core AMD
EPYC, the network's own time per 12 MP photo fell from 0.36 to 0.22 s (one photo) and a folder of
seven from 5.1 to 4.1 s, with the same peak memory and the same output bytes
(docs/benchmarks.md, round 4). Above 128 MB (tried: 512 MB) it was as slow as before.

`declip_desktop.cli.run` applies it before any command, `declip_desktop.responsiveness.tune_for_gui`
when the window opens (the GUI's 256 MB Pillow blocks stay above the threshold: they still come from
mmap, zeroed off the GIL). Settings the user gives glibc (MALLOC_*_ or GLIBC_TUNABLES) win.
"""
from __future__ import annotations

import os
import sys

MMAP_THRESHOLD = 128 << 20  # blocks up to this size come from the heap
TRIM_THRESHOLD = 512 << 20  # freed heap kept for reuse before any is returned to the kernel
# mallopt(3) parameter numbers (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def reuse_large_blocks(environ: dict | None = None) -> dict[str, int] | None:
    """Apply the settings above where glibc's mallopt exists; returns what was set, or None when
    nothing was (not Linux, not glibc, or the user's own settings are in the environment)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or any(name in env for name in _USER_SETTINGS):
        return None
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # the mmap threshold first, and the trim threshold only if it took: fixing either one stops glibc
    # from adjusting the other, and a trim threshold alone would leave every block above 128 KB mapped
    # (3.5x the page faults of the default, measured)
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:  # 1: accepted; musl's stub returns 0
        return None
    done = {"mmap_threshold": MMAP_THRESHOLD}
    if mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1:
        done["trim_threshold"] = TRIM_THRESHOLD
    return done
