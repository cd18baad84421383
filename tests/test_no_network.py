"""Nothing but `declip models fetch` opens a network connection: analysis, start-up and the GUI run
with Internet sockets made to fail, and no attempt is recorded."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.gui_support import (close_window, isolated_qsettings, make_window, tiny_model,  # noqa: F401
                               drop_paths, wait_ingest, write_photos)

ROOT = Path(__file__).resolve().parent.parent
NET_FAMILIES = (socket.AF_INET, socket.AF_INET6)

# Installed in a fresh interpreter before the CLI runs: every Internet socket or name lookup is
# refused and reported on stderr (local AF_UNIX sockets, e.g. Qt's, stay allowed).
GUARD = """
import socket, sys
_armed = [False]
def _refuse(what):
    if _armed[0]:
        sys.stderr.write("NETWORK ATTEMPT: " + what + "\\n")
    raise OSError("network use is forbidden in this test: " + what)
_Base = socket.socket
class _Guarded(_Base):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            _refuse("socket(%r)" % (family,))
        super().__init__(family, type, proto, fileno)
socket.socket = _Guarded
socket.create_connection = lambda *a, **k: _refuse("create_connection%r" % (a[:1],))
socket.getaddrinfo = lambda *a, **k: _refuse("getaddrinfo%r" % (a[:1],))
try:
    socket.socket(socket.AF_INET)
except OSError:
    pass
else:
    raise SystemExit("guard not installed")
_armed[0] = True
sys.stderr.write("guard installed\\n")
from declip_desktop.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def no_network(monkeypatch):
    """Make Internet sockets and name lookups fail in this process; collect the attempts."""
    attempts: list[str] = []
    base = socket.socket

    class Guarded(base):
        def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
            if fileno is None and family in (-1, *NET_FAMILIES):
                attempts.append(f"socket({family})")
                raise OSError("network use is forbidden in this test")
            super().__init__(family, type, proto, fileno)

    def refuse(name):
        def f(*a, **k):
            attempts.append(f"{name}{a[:1]}")
            raise OSError("network use is forbidden in this test")
        return f

    monkeypatch.setattr(socket, "socket", Guarded)
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    with pytest.raises(OSError):  # the guard works: this is what any network use would meet
        socket.create_connection(("127.0.0.1", 9))
    attempts.clear()
    return attempts


def test_detector_analysis_opens_no_socket(no_network):
    from engine import Detector

    det = Detector.from_model(None, device="cpu")  # the embedded default model
    res = det.analyze(np.random.RandomState(0).randint(0, 255, (96, 128, 3), np.uint8))
    assert res.probability.shape == (96, 128)
    assert no_network == []


def test_cli_analyze_opens_no_socket(tmp_path):
    sample = ROOT / "resources" / "samples" / "coffee.jpg"
    r = subprocess.run([sys.executable, "-c", GUARD, "analyze", "--out", str(tmp_path / "out"), str(sample)],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert "guard installed" in r.stderr
    assert r.returncode == 0, r.stderr
    assert "NETWORK ATTEMPT" not in r.stderr
    assert (tmp_path / "out" / "results.json").is_file()
    r = subprocess.run([sys.executable, "-c", GUARD, "models", "list"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "NETWORK ATTEMPT" not in r.stderr


def test_gui_start_and_analysis_open_no_socket(qtbot, tmp_path, tiny_model, no_network):
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 1))
    wait_ingest(qtbot, w)
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        w.analyze_all()
    assert blocker.args == [1, 0]
    close_window(w)
    assert no_network == []


def test_the_guard_catches_the_fetch_path(no_network, tmp_path):
    """The guard sees urllib's connections, so the checks above would notice a stray download."""
    from engine.download import DownloadError, download

    with pytest.raises(DownloadError):
        download("http://127.0.0.1:9/x.pth", tmp_path / "x.pth", retries=0)
    assert no_network and not (tmp_path / "x.pth").exists()


NETWORK_MODULES = {"socket", "ssl", "http.client", "urllib.request", "requests", "httpx", "urllib3", "aiohttp",
                   "ftplib", "smtplib", "websocket", "PySide6.QtNetwork"}


def test_only_the_download_module_imports_network_code():
    """Static guard: the one module allowed to reach the network is engine/download.py."""
    import ast

    found = []
    for package in ("engine", "trainer", "declip_desktop", "resources"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                for n in names:
                    if n in NETWORK_MODULES or n.split(".")[0] in {"requests", "httpx", "urllib3", "aiohttp"}:
                        found.append((path.relative_to(ROOT).as_posix(), n))
    allowed = {"engine/download.py"}
    # socket.gethostname() (case lock and audit entries) is a local system call, not a connection
    found = [(p, n) for p, n in found if not (n == "socket" and _socket_uses(ROOT / p) <= {"gethostname"})]
    assert {p for p, _ in found} <= allowed, [f for f in found if f[0] not in allowed]
    assert any(p == "engine/download.py" for p, _ in found)  # the scan does see imports


def _socket_uses(path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "socket"}
