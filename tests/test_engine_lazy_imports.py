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


def test_reading_a_card_imports_no_torch():
    """`declip analyze` reads the model's card first and tells the image reader the input size; the
    reader's head start only overlaps torch's import if reading and validating a card needs no torch."""
    loaded = _loaded_after("from engine.store import find_card\n"
                           "assert find_card(None).decoder['members'] == 5")
    assert "torch" not in loaded, loaded


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


def _omp_wait_policy_seen_by_torch(env_value: str | None) -> str:
    import os

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_value is not None:
        env["OMP_WAIT_POLICY"] = env_value
    # what the environment holds when torch (and with it libgomp, which reads it once) loads
    probe = ("import builtins, os\nseen = []\nreal = builtins.__import__\n"
             "def spy(name, *a, **k):\n"
             "    if name == 'torch' and not seen: seen.append(os.environ.get('OMP_WAIT_POLICY', 'unset'))\n"
             "    return real(name, *a, **k)\n"
             "builtins.__import__ = spy\n"
             "from engine.detector import Detector\nprint(seen[0])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_torch_loads_with_passive_openmp_waiting_unless_the_user_chose():
    """Spinning OpenMP workers made a 12 MP analysis 7x slower beside one busy process on 2 cores
    (benchmarks/bench_pipeline.py prints that row); the engine asks for passive waiting before torch
    loads, and leaves a user's own setting alone."""
    assert _omp_wait_policy_seen_by_torch(None) == "PASSIVE"
    assert _omp_wait_policy_seen_by_torch("ACTIVE") == "ACTIVE"
