"""Load the analysis model in the background as soon as a case opens.

Why: loading the model (importing torch's model code, reading and hashing the weights, building the
network) takes longer than analysing a photo. Done on a worker while the examiner looks at the case,
the first click on Analyse finds the model ready. The DetectorCache lock makes an Analyse that comes
before the load has finished wait for it instead of loading a second copy. A model that cannot be
loaded says nothing here: the analysis reports it, with its message, when it is asked for.

Set DECLIP_NO_PRELOAD=1 to turn it off (the test suite does, so that each test loads only what it uses).
"""
from __future__ import annotations

import os

from declip_desktop.workers import Job

JOB_NAME = "preload"


def preload_job(ctx, detectors, model_id: str | None, device: str, precision: str) -> str:
    return detectors.get(model_id, device, precision).device_name


def start_preload(window) -> Job | None:
    """Start loading the model the analysis panel would use now (a few lines of wiring in the window)."""
    if os.environ.get("DECLIP_NO_PRELOAD") or window.case is None or window.runner.active(JOB_NAME):
        return None
    panel = window.analysisPanel
    job = Job(preload_job, window.detectors, panel.modelCombo.currentData(), window.prefs.device,
              panel.precisionCombo.currentData() or "auto", name=JOB_NAME)
    return window.runner.start(job)
