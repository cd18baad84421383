"""Job threads report through signals and run below the GUI thread; the window tunes the process."""
from __future__ import annotations

import os
import sys
import threading

import pytest

from declip_desktop.workers import JOB_THREAD_NICE, Job, JobRunner
from tests.gui_support import close_window, isolated_qsettings, make_window  # noqa: F401  (settings per test)


def _nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux only")
def test_jobs_run_below_the_gui_thread(qtbot):
    gui_nice = _nice_of_this_thread()
    seen = {}

    def job_fn(ctx):
        seen["nice"] = _nice_of_this_thread()
        seen["thread"] = threading.get_native_id()
        return 42

    runner = JobRunner()
    job = Job(job_fn, name="probe")
    with qtbot.waitSignal(job.signals.succeeded, timeout=10000) as result:
        runner.start(job)
    assert result.args == [42]
    assert seen["thread"] != threading.get_native_id()
    assert seen["nice"] >= max(JOB_THREAD_NICE, gui_nice)
    assert _nice_of_this_thread() == gui_nice  # the GUI thread keeps its priority
    runner.wait()


def test_a_failing_job_reports_one_line(qtbot):
    def job_fn(ctx):
        raise ValueError("bad input\nsecond line")

    runner = JobRunner()
    job = Job(job_fn, name="probe")
    with qtbot.waitSignal(job.signals.failed, timeout=10000) as result:
        runner.start(job)
    assert result.args == ["ValueError: bad input"]
    runner.wait()


def test_the_window_tunes_the_process_for_a_responsive_gui(qtbot, tmp_path):
    import gc

    from PIL import Image

    from declip_desktop.responsiveness import PILLOW_BLOCK_BYTES, SWITCH_INTERVAL_S

    win = make_window(qtbot, tmp_path / "case.declip")
    assert sys.getswitchinterval() <= SWITCH_INTERVAL_S
    assert gc.get_freeze_count() > 10_000  # torch and Qt objects are out of the collector's view
    assert Image.core.get_block_size() >= PILLOW_BLOCK_BYTES > 32 << 20
    # and Pillow still decodes correctly with its larger blocks
    img = Image.new("RGB", (3000, 4000), (10, 20, 30))
    assert img.getpixel((2999, 3999)) == (10, 20, 30)
    close_window(win)
