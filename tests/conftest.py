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


@pytest.fixture(scope="session", autouse=True)
def _isolated_session_home(tmp_path_factory):
    """Fixtures of a wider scope (a model trained once per module) are made before a test's own home is
    set: they get the session's, never the user's (one such `declip train` filled the user's feature cache)."""
    home = tmp_path_factory.mktemp("declip_session_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DECLIP_HOME", str(home))
        mp.setenv("DECLIP_CONFIG_HOME", str(home / "config"))
        yield home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory):
    """Each test gets its own model store and settings folder, never the user's. Its own MonkeyPatch, not
    the test's: a test's monkeypatch.undo() (ending a simulated full disk) must not put the user's back."""
    home = tmp_path_factory.mktemp("declip_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DECLIP_HOME", str(home))
        mp.setenv("DECLIP_CONFIG_HOME", str(home / "config"))
        yield home


@pytest.fixture(scope="session")
def c2pa_samples(tmp_path_factory):
    """C2PA-signed JPEG/PNG test images and a test CA, made once per session (tests/c2pa_support.py)."""
    pytest.importorskip("c2pa")
    from tests.c2pa_support import make_samples

    return make_samples(tmp_path_factory.mktemp("c2pa"))
