"""Shared test set-up: headless Qt, an isolated model store and isolated settings per test."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # must be set before any Qt import
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("DECLIP_NO_PRELOAD", "1")  # the model preload has its own test (test_gui_preload.py)

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own model store and settings folder, never the user's."""
    home = tmp_path_factory.mktemp("declip_home")
    monkeypatch.setenv("DECLIP_HOME", str(home))
    monkeypatch.setenv("DECLIP_CONFIG_HOME", str(home / "config"))
    yield home
