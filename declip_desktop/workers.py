"""Background jobs on QThreadPool (napari style): progress and results travel as queued
signals, cancellation is a flag the job polls between batches, errors become signals.

A job is a plain function `fn(ctx, *args)`; `ctx` is a JobContext. The function never touches
widgets; everything it reports arrives on the GUI thread through JobSignals.
"""
from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from engine.errors import Cancelled, DeclipError

# Job threads run below the GUI thread. On a 2-core machine a 24 MP drop starts an ingest, a display
# decode and an analysis at once; at equal priority the GUI thread queues behind them for the CPU
# (and so for the GIL) and the window stalls for 100+ ms. Nice 5 leaves the jobs the whole CPU
# whenever the GUI thread is idle, which is almost always.
JOB_THREAD_NICE = 5


def lower_thread_priority() -> None:
    """Put the calling thread below normal priority (per thread: Linux nice is per task)."""
    if sys.platform.startswith("linux"):
        tid = threading.get_native_id()
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < JOB_THREAD_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, JOB_THREAD_NICE)
        except OSError:  # a sandbox may forbid it; the job still runs
            pass
        return
    thread = QThread.currentThread()
    if thread is not None and thread.priority() != QThread.Priority.LowPriority:
        thread.setPriority(QThread.Priority.LowPriority)


class JobSignals(QObject):
    progress = Signal(int, int, str)  # done, total, message
    item = Signal(object, object)  # key, value: one input finished (a result)
    itemFailed = Signal(object, str)  # key, one-line message: one input failed, the job goes on
    succeeded = Signal(object)  # the job function's return value
    failed = Signal(str)  # the whole job failed: one-line message
    cancelled = Signal()
    finished = Signal()  # always last, whatever happened


class JobContext:
    """What a job function may use: report progress and items, and poll for cancellation."""

    def __init__(self, signals: JobSignals, cancel_event: threading.Event):
        self._signals = signals
        self._cancel = cancel_event

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._signals.progress.emit(int(done), int(total), str(message))

    def item(self, key: Any, value: Any) -> None:
        self._signals.item.emit(key, value)

    def item_failed(self, key: Any, message: str) -> None:
        self._signals.itemFailed.emit(key, str(message))

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled by the user")


def one_line(exc: BaseException) -> str:
    if isinstance(exc, DeclipError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Job(QRunnable):
    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "job", **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)  # the owner keeps it until `finished`; avoids a double free
        self.fn, self.args, self.kwargs, self.name = fn, args, kwargs, name
        self.signals = JobSignals()
        self._cancel = threading.Event()
        self.context = JobContext(self.signals, self._cancel)
        self.done = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def on(self, **slots: Callable) -> "Job":
        """Connect slots by signal name (progress=..., item=..., finished=...); returns the job."""
        for name, slot in slots.items():
            getattr(self.signals, name).connect(slot)
        return self

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        sig = self.signals
        lower_thread_priority()
        try:
            result = self.fn(self.context, *self.args, **self.kwargs)
        except Cancelled:
            sig.cancelled.emit()
        except Exception as exc:  # reported as one line; the traceback only on request
            if os.environ.get("DECLIP_DEBUG"):
                traceback.print_exc()
            sig.failed.emit(one_line(exc))
        else:
            if self._cancel.is_set():
                sig.cancelled.emit()
            else:
                sig.succeeded.emit(result)
        finally:
            self.done.set()
            sig.finished.emit()


class JobRunner(QObject):
    """Starts jobs on a thread pool and keeps them alive until they finish."""

    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, max_threads: int | None = None):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        if max_threads:
            self.pool.setMaxThreadCount(max_threads)
        self._jobs: set[Job] = set()

    def start(self, job: Job) -> Job:
        self._jobs.add(job)
        job.signals.finished.connect(lambda j=job: self._finished(j))
        if len(self._jobs) == 1:
            self.busyChanged.emit(True)
        self.pool.start(job)
        return job

    def _finished(self, job: Job) -> None:
        self._jobs.discard(job)
        if not self._jobs:
            self.busyChanged.emit(False)

    def active(self, name: str | None = None) -> list[Job]:
        return [j for j in self._jobs if name is None or j.name == name]

    def cancel_all(self, name: str | None = None) -> None:
        for job in self.active(name):
            job.cancel()

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
