"""Process settings that keep the GUI thread responsive while job threads work.

Each one answers a stall measured on a 2-core machine while a 24 MP photo was dropped, decoded for
display and analysed at once (tests/test_gui_viewer.py prints the event-loop gaps;
benchmarks/bench_gil_holds.py prints the GIL holds):

* a full garbage collection walks every long-lived object of torch and Qt (~10^5) on whichever
  thread triggers it: frozen out of the collector's view;
* the GUI thread takes the GIL for each paint and model lookup, and a thread running Python hands
  it over only every switch interval: 1 ms instead of 5;
* Pillow allocates a decoded image in 16 MB blocks and zeroes them while it holds the GIL. glibc
  serves blocks that size from recycled heap memory, so the zeroing is a memset: 15-55 ms for
  24 MP in a job thread. Blocks above 32 MB always come from mmap (glibc's ceiling for its dynamic
  threshold), whose pages arrive zeroed, lazily, and are touched later by the decoder, which
  releases the GIL. Fixing glibc's threshold instead (mallopt) slowed analysis by 60 % here;
  256 MB blocks do not change its speed;
* glibc's heap serves blocks up to 128 MB and keeps freed ones for the next photo (engine.heap, as
  in the command-line process), so the network's arrays are not faulted in and zeroed afresh for
  every photo: Analyse all on seven 12 MP photos 6.3-7.8 s -> 4.4-5.4 s, with the same event-loop
  gaps (benchmarks/bench_gui.py). Pillow's 256 MB blocks stay above that, so they still come from mmap.
"""
from __future__ import annotations

import gc
import os
import sys

SWITCH_INTERVAL_S = 0.001
PILLOW_BLOCK_BYTES = 256 << 20  # an image up to 64 MP (RGBX) in one block, which glibc always maps


def pillow_blocks_from_mmap(block_bytes: int = PILLOW_BLOCK_BYTES) -> int:
    """Make Pillow's image blocks large enough that glibc always maps them; returns the size."""
    from PIL import Image

    if Image.core.get_block_size() < block_bytes:
        Image.core.set_block_size(int(block_bytes))
    return Image.core.get_block_size()


def tune_for_gui() -> dict:
    """Apply the settings above; returns what was applied."""
    gc.freeze()
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
    from engine.heap import reuse_large_blocks

    return {"gc_frozen": gc.get_freeze_count(), "switch_interval_s": sys.getswitchinterval(),
            "pillow_block_bytes": pillow_blocks_from_mmap(), "heap": reuse_large_blocks()}


def preload_engine() -> None:
    try:
        import engine.detector  # noqa: F401  (torch, open_clip, timm)
        import torch
    except Exception:
        return
    # Leave one core to the GUI thread: on small CPU-only machines torch would otherwise take
    # every core and the window would stutter while a batch runs.
    cores = os.cpu_count() or 1
    if cores <= 8 and torch.get_num_threads() >= cores > 1:
        torch.set_num_threads(cores - 1)


def device_guess(device: str = "auto") -> str:
    """The device an analysis in this window will run on, named as the engine names it in each
    stored analysis (engine.detector.Detector.device_name: the GPU's name, or 'CPU (1 thread)'
    with the thread count preload_engine left), so the label does not change after the first run."""
    try:
        import torch

        if device != "cpu" and torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
        n = torch.get_num_threads()
    except Exception:
        return "CPU"
    return f"CPU ({n} thread{'' if n == 1 else 's'})"
