"""Work on a large image in bands of rows that run at once, one thread each.

Why: a one-photo `declip analyze` ends with the overlay and the map of a 12 MP photo, each one
numpy + deflate job of 0.1-0.3 s, while the second core has nothing to do. numpy's element-wise
loops, ISA-L and zlib release the GIL, so two bands really run on two cores. Where the rows are cut
depends on the image's height only, never on the machine, so the bytes written are the same
everywhere.
"""
from __future__ import annotations

import threading
from typing import Callable, TypeVar

T = TypeVar("T")

BANDS = 2
MIN_BAND_ROWS = 128  # below this a thread costs more than it saves


def row_bands(height: int, bands: int = BANDS) -> list[tuple[int, int]]:
    """[(y0, y1), ...] covering 0..height in at most `bands` near-equal bands of >= MIN_BAND_ROWS rows."""
    n = max(1, min(bands, height // MIN_BAND_ROWS))
    cuts = [height * i // n for i in range(n + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def in_bands(work: Callable[[int, int], T], height: int, bands: int = BANDS) -> list[T]:
    """[work(y0, y1) for each band], the bands at once (the first on this thread); the first error is
    raised once every band has stopped."""
    spans = row_bands(height, bands)
    results: list = [None] * len(spans)
    errors: list[BaseException | None] = [None] * len(spans)

    def run(i: int) -> None:
        try:
            results[i] = work(*spans[i])
        except BaseException as exc:  # re-raised on the calling thread below
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name="declip-band", daemon=True) for i in range(1, len(spans))]
    for t in threads:
        t.start()
    run(0)
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results
