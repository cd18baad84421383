"""`declip analyze` around the network: images decoded ahead, outputs encoded behind.

Why: on a 2-core CPU the network takes under a second for a 12 MP photo, while decoding the JPEG
and encoding the full-resolution map and overlay took several. Here a reader thread decodes the next
batch of images (and the first batch while the model loads), and writer threads encode and write
each result's files while the network analyses the next images. Decoding, hashing, numpy, zlib and
file writes release the GIL, so the threads really run beside the network.

Nothing here changes a result: the same batches reach the network in the same order, and the files
hold the same pixels as before (see mapio for the encoder settings, which results.json records).
"""
from __future__ import annotations

import argparse
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

OUTPUT_KINDS = ("map", "overlay", "raw")
DEFAULT_OUTPUTS = ("map", "overlay")
SUFFIXES = {"map": ".prob.png", "overlay": ".overlay.png", "raw": ".raw.npy"}
RESULT_KEYS = {"map": "probability", "overlay": "overlay", "raw": "raw"}  # keys in results.json


def parse_outputs(text: str) -> tuple[str, ...]:
    """argparse type for --outputs: a comma-separated subset of map, overlay, raw."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in OUTPUT_KINDS]
    if bad or not kinds:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(OUTPUT_KINDS)}, "
                                         f"found {text!r}")
    return tuple(k for k in OUTPUT_KINDS if k in kinds)  # canonical order, no repeats


class ImageFeeder:
    """Loads batches of files on a reader thread, one batch ahead of the one being analysed.

    batches() yields, per batch, a list with a LoadedImage or the ImageError of each file. Loading
    starts when the feeder is made, so the first batch is decoded while the model is still loading.
    squash=True: the reader also makes each image's squash to the network's input size (the
    published preprocessing's resize, LoadedImage.squashed), which squash_to(size) gives once the
    model's card is read; until then a decoded batch waits for it, so squash_to must follow.
    pixels=True: the reader also makes each image's pixel array (LoadedImage.pixels), for the
    overlay or the evidence layers; without them it would be a 36 MB copy per 12 MP photo for nothing.
    """

    def __init__(self, files: list[Path], batch_size: int, load: Callable, squash: bool = False,
                 pixels: bool = False):
        self._chunks = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
        self._load = load
        self._pixels = pixels
        self._size: int | None = None
        self._size_known = threading.Event()
        if not squash:
            self._size_known.set()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="declip-reader")
        self._next: Future | None = self._submit(0)

    def squash_to(self, size: int | None) -> None:
        """The network's input size (None: no squash ahead); the first call counts."""
        if not self._size_known.is_set():
            self._size = size
            self._size_known.set()

    def _submit(self, i: int) -> Future | None:
        return self._pool.submit(self._load_chunk, self._chunks[i]) if i < len(self._chunks) else None

    def _load_chunk(self, chunk: list[Path]) -> list:
        from .errors import ImageError

        out = []
        for f in chunk:
            try:
                out.append(self._load(f))
            except ImageError as exc:
                out.append(exc)
        for i, x in enumerate(out):  # the overlay's pixels, made here while the model loads or the network runs
            if self._pixels and not isinstance(x, ImageError):
                try:
                    x.pixels()
                except MemoryError:  # this image fails; the batch goes on
                    out[i] = ImageError(f"{x.name}: not enough memory for this {x.width} x {x.height} image")
        self._size_known.wait()
        if self._size is not None:
            for x in out:
                if not isinstance(x, ImageError):
                    try:
                        x.squashed(self._size)
                    except Exception:  # only a head start: the detector makes it again and reports the error
                        pass
        return out

    def batches(self) -> Iterator[tuple[list[Path], list]]:
        try:
            for i, chunk in enumerate(self._chunks):
                loaded = self._next.result()
                self._next = self._submit(i + 1)  # decode the next batch while this one is analysed
                yield chunk, loaded
        finally:
            self.close()

    def close(self) -> None:
        self.squash_to(None)  # a reader still waiting for the size (the model did not load) stops waiting
        if self._next is not None:
            self._next.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class OutputWriter:
    """Encodes and writes each result's files on writer threads, finishing them in input order.

    submit() returns at once; done(entry, error) is called, in submission order, when an item's files
    are written (error: the one-line message if a write failed). At most `max_pending` items wait,
    so memory stays bounded however long the folder.
    """

    def __init__(self, out: Path, outputs: tuple[str, ...], cmap: str, opacity: float,
                 done: Callable[[dict, str | None], None], workers: int = 2, max_pending: int = 2,
                 threshold: float | None = None):
        self.out = out
        self.outputs = outputs
        self.cmap = cmap
        self.opacity = opacity
        self.threshold = threshold  # the overlay's look: faded at or below it, outlined (engine.overlay)
        self._done = done
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="declip-writer")
        # (entry, image name, its writes; or None and the item's error, for an item that has no files)
        self._pending: deque[tuple[dict, str, list[Future] | None]] = deque()
        self._max_pending = max_pending

    def submit(self, entry: dict, stem: str, loaded, result) -> None:
        """entry: the item's results.json entry; its "outputs" is filled in here."""
        jobs, names = [], {}
        map_path = None
        if "map" in self.outputs:
            names["map"] = f"{stem}{SUFFIXES['map']}"
            map_path = self.out / names["map"]
        # the map's pixel hash and flagged pixels are recorded even when its file is not written: a second
        # examiner compares them with a report's, whatever PNG compressor either machine has
        jobs.append(self._pool.submit(_write_map, map_path, result.probability, self.threshold))
        if "overlay" in self.outputs:
            names["overlay"] = f"{stem}{SUFFIXES['overlay']}"
            jobs.append(self._pool.submit(_write_overlay, self.out / names["overlay"], loaded,
                                          result.probability, self.cmap, self.opacity, self.threshold))
        if "raw" in self.outputs and result.raw is not None:
            names["raw"] = f"{stem}{SUFFIXES['raw']}"
            jobs.append(self._pool.submit(_write_raw, self.out / names["raw"], result.raw))
        # the model's files first, then what the caller put there already (evidence layers)
        entry["outputs"] = {**{RESULT_KEYS[k]: v for k, v in names.items()}, **entry.get("outputs", {})}
        self._queue((entry, str(loaded.name), jobs))

    def submit_failed(self, entry: dict, error: str) -> None:
        """An item that could not be analysed: done(entry, error) is called in its place in the order, so
        its line is said between the lines of the items before and after it, not ahead of them."""
        self._queue((entry, error, None))

    def _queue(self, pending: tuple) -> None:
        self._pending.append(pending)
        while len(self._pending) > self._max_pending:
            self._finish_oldest()

    def _finish_oldest(self) -> None:
        # taken off the queue only once done() has run: a Ctrl-C while its files are awaited leaves it
        # there, and close() finishes it (its line said, its record complete) instead of losing it
        entry, name, jobs = self._pending[0]
        error = name if jobs is None else None  # a failed item's slot holds its error
        for job in jobs or ():
            try:
                recorded = job.result()
            except OSError as exc:
                error = error or f"{name}: cannot write outputs ({exc.strerror or exc})"
            else:
                if isinstance(recorded, dict):
                    entry.update(recorded)
        self._done(entry, error)
        self._pending.popleft()

    def close(self) -> None:
        """Wait for every item's files; call done for each."""
        try:
            while self._pending:
                self._finish_oldest()
        finally:
            self._pool.shutdown(wait=True)


def _write_map(path: Path | None, prob, threshold: float | None = None) -> dict:
    """Write the 16-bit map (path None: only describe it); returns the entry's map_pixels_sha256 and its
    flagged pixels at the threshold (default 0.5), counted on the stored values as a report counts them."""
    from .mapio import write_map
    from .overlay import DEFAULT_THRESHOLD

    return write_map(path, prob, DEFAULT_THRESHOLD if threshold is None else threshold)


def _write_overlay(path: Path, loaded, prob, cmap: str, opacity: float, threshold: float | None = None) -> None:
    from .mapio import save_rgb_png
    from .overlay import render_overlay

    save_rgb_png(path, render_overlay(loaded.pixels(), prob, cmap=cmap, opacity=opacity, threshold=threshold))


def _write_raw(path: Path, raw) -> None:
    import io

    import numpy as np

    from .atomic import write_bytes_atomic

    buf = io.BytesIO()
    np.save(buf, raw.astype(np.float32))
    write_bytes_atomic(path, buf.getvalue())
