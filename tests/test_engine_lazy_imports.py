"""Start-up cost: the command line, cards and the Lite models never import what they do not use.

`import open_clip` alone took about 5 s and timm (with torchvision and torch._dynamo) about 3 s on
the 2-core build machine; the embedded default model needs neither, and `declip --help` needs no torch.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "numpy", "PIL", "open_clip", "timm", "torchvision")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(sorted({{m.split('.')[0] for m in sys.modules}}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(eval(out.stdout.strip().splitlines()[-1])) & set(HEAVY)  # noqa: S307 (our own output)


def test_parser_and_cards_import_no_numpy_or_torch():
    assert _loaded_after("from declip_desktop.cli import build_parser; build_parser()\n"
                         "import engine, engine.backbones, engine.cards, engine.cli") == set()
    assert _loaded_after("import engine, engine.cli, engine.backbones, engine.cards") == set()


def test_lite_model_runs_without_open_clip_timm_or_torchvision():
    code = ("import numpy as np\nfrom engine.detector import Detector\n"
            "det = Detector.from_model(None, device='cpu')\n"
            "det.analyze(np.zeros((64, 80, 3), np.uint8))")
    loaded = _loaded_after(code)
    assert {"torch", "numpy"} <= loaded
    assert not loaded & {"open_clip", "timm", "torchvision"}, loaded


def test_case_status_imports_no_numpy_pillow_or_torch(tmp_path):
    """`declip case status` reads JSON records only (issue 41: <= 0.5 s): numpy (~0.1 s) and Pillow
    come with the commands that touch pixels."""
    from declip_desktop.cli import main

    case = tmp_path / "c.declip"
    assert main(["case", "new", str(case), "--title", "t", "--number", "1", "--examiner", "e"]) == 0
    code = f"from declip_desktop.cli import main\nassert main(['case', 'status', {str(case)!r}]) == 0"
    assert _loaded_after(code) == set()
