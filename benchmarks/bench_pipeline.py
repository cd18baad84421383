"""Whole-process timings of what the user waits for: `declip analyze` of one 12 MP photo and of a
folder of seven, the one photo again while another program keeps one core busy, `declip --help`,
`declip case status`, and the GUI's first result after Analyse on an open case; each a fresh
process (start-up, imports, model load, decoding and output writing included). Prints a table.

    python benchmarks/bench_pipeline.py [--code DIR] [--baseline DIR] [--work DIR] [--repeat N]

--code DIR measures another checkout: it is put first on PYTHONPATH. --baseline DIR measures a
second one (e.g. the main branch) in the same run, each command line alternating between the two,
so that a shared machine's changing load falls on both alike; compare the ratios. The network time
is what each result records (backbone_s + decoder_s of its timings); "per image" in the folder row
is the process's wall time (and CPU time) divided by seven. Every row but the GUI's is the median
of --repeat runs. CPU s is user + system time of the process (all its threads): on a busy machine
it moves less than the wall time. Peak RSS is the child process's own (wait4). The photos are made
from the bundled samples, upscaled to 4000x3000 with a little noise, and saved as JPEG quality 92
(about 2 MB each). Run it on a quiet machine; on a shared one, compare ratios measured in the same run.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N_FOLDER = 7


def make_photos(folder: Path, n: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    samples = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
    rng = np.random.RandomState(0)
    out = []
    for i in range(n):
        p = folder / f"photo{i}.jpg"
        if not p.exists():
            im = Image.open(samples[i % len(samples)]).convert("RGB").resize((4000, 3000), Image.BICUBIC)
            noisy = np.asarray(im).astype(np.int16) + rng.randint(-6, 7, (3000, 4000, 3)).astype(np.int16)
            Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).save(p, quality=92)
        out.append(p)
    return out


BUSY = """
import numpy as np
a = np.random.rand(1000, 1000, 3).astype(np.float32)
while True:
    b = np.sort((a * 1.01 + 0.5).ravel())
"""


def run(args: list[str], env: dict) -> tuple[float, float, int, str, float]:
    """(wall s, peak RSS MB, exit code, stderr, CPU s) of one `python -m declip_desktop.cli ...` process."""
    t0 = time.perf_counter()
    # cwd = the measured checkout: `python -m` puts the working folder before PYTHONPATH
    proc = subprocess.Popen([sys.executable, "-m", "declip_desktop.cli", *map(str, args)], env=env, cwd=env["PYTHONPATH"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode, err, usage.ru_utime + usage.ru_stime


GUI_PROBE = """
import sys, time
from PySide6.QtWidgets import QApplication
from declip_desktop.main_window import MainWindow
app = QApplication([])
w = MainWindow(sys.argv[1])
w.show()
t_open = time.perf_counter()
preloading = bool(w.runner.active("preload"))
while w.runner.active("preload"):  # the examiner looks at the case while the model loads
    app.processEvents()
    time.sleep(0.01)
ready = time.perf_counter() - t_open if preloading else -1.0
done = []
w.analysisFinished.connect(lambda a, b: done.append(time.perf_counter()))
t0 = time.perf_counter()
w.analyze_all()
while not done:
    app.processEvents()
    time.sleep(0.005)
print(f"{done[0] - t0:.3f} {ready:.3f}")
w.close()
"""


def gui_first_result(case: Path, env: dict) -> tuple[float, float]:
    """(s from Analyse to the first result, s the background model load took) in the GUI, offscreen."""
    env = dict(env, QT_QPA_PLATFORM=env.get("QT_QPA_PLATFORM", "offscreen"), DECLIP_NO_DIALOGS="1")
    env.pop("DECLIP_NO_PRELOAD", None)
    out = subprocess.run([sys.executable, "-c", GUI_PROBE, str(case)], env=env, capture_output=True, text=True,
                         cwd=env["PYTHONPATH"])
    if out.returncode != 0:
        raise SystemExit(f"GUI probe: exit {out.returncode}: {out.stderr.strip()[-300:]}")
    first, ready = map(float, out.stdout.split()[-2:])
    return first, ready


@contextlib.contextmanager
def busy_process():
    """One other program keeping a core busy for the duration, at the same priority (as a browser or
    an indexer would): torch's thread team takes every core and is sensitive to it."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


def network_seconds(results: Path) -> list[float]:
    items = json.loads(results.read_text())["items"]
    return [it["metadata"]["timings"]["backbone_s"] + it["metadata"]["timings"]["decoder_s"]
            for it in items if not it.get("error")]


def _ok(label: str, result: tuple) -> tuple:
    if result[2] != 0:
        raise SystemExit(f"{label}: exit {result[2]}: {result[3].strip()[-300:]}")
    return result


def measure(codes: dict[str, Path], work: Path, photos: list[Path], repeat: int, gui: bool) -> dict[str, list]:
    """Rows (label, wall, network, peak RSS, CPU) per checkout. Each measurement runs the checkouts in
    turn, `repeat` rounds, so that a machine whose load changes during the run loads them alike."""
    envs = {name: dict(os.environ, PYTHONPATH=str(code), DECLIP_HOME=str(work / f"home-{name}"))
            for name, code in codes.items()}
    rows: dict[str, list] = {name: [] for name in codes}

    def rounds(label: str, cmd_of, per: int = 1, net_of=None) -> None:
        got: dict[str, list] = {name: [] for name in codes}
        for _ in range(repeat):
            for name, env in envs.items():
                cmd, results = cmd_of(name)
                wall, rss, rc, err, cpu = _ok(label, run(cmd, env))
                net = statistics.mean(network_seconds(results)) if results else None
                got[name].append((wall / per, net, rss, cpu / per))
        for name, runs in got.items():
            net = [r[1] for r in runs if r[1] is not None]
            rows[name].append((label, statistics.median(r[0] for r in runs), statistics.median(net) if net else None,
                               max(r[2] for r in runs), statistics.median(r[3] for r in runs)))

    rounds("declip --help", lambda name: (["--help"], None))
    for name, env in envs.items():
        case = work / f"bench-{name}.declip"
        if not case.exists():
            for cmd in (["case", "new", case, "--title", "bench", "--number", "1", "--examiner", "bench"],
                        ["case", "add", case, photos[0]]):
                _ok(" ".join(map(str, cmd[:2])), run(cmd, env))
    rounds("declip case status", lambda name: (["case", "status", work / f"bench-{name}.declip"], None))

    def analyze(inputs):
        def cmd_of(name):
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            return ["analyze", "--out", out, *inputs], out / "results.json"
        return cmd_of

    rounds("analyze, one 12 MP photo", analyze([photos[0]]))
    with busy_process():  # an examiner's machine is rarely idle
        rounds("one photo, another program busy", analyze([photos[0]]))
    rounds(f"analyze, folder of {N_FOLDER}: per image", analyze([work / "photos"]), per=N_FOLDER)
    if gui:
        for name, env in envs.items():
            first, ready = gui_first_result(work / f"bench-{name}.declip", env)
            rows[name].append(("GUI: Analyse to first result (1 photo)", first, None, None, None))
            if ready >= 0:  # this checkout loads the model when a case opens
                rows[name].append(("GUI: model load in the background", ready, None, None, None))
    return rows


def print_table(name: str, code: Path, rows: list) -> None:
    print(f"{name}: {code}")
    print(f"| {'what':38} | {'wall s':>7} | {'CPU s':>6} | {'network s':>9} | {'wall / network':>14} "
          f"| {'peak RSS MB':>11} |")
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 8}|{'-' * 11}|{'-' * 16}|{'-' * 13}|")
    for label, wall, net, rss, cpu in rows:
        ratio = f"{wall / net:.2f}x" if net else "-"
        print(f"| {label:38} | {wall:7.2f} | {(f'{cpu:.2f}' if cpu else '-'):>6} | {(f'{net:.2f}' if net else '-'):>9} "
              f"| {ratio:>14} | {(f'{rss:.0f}' if rss else '-'):>11} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout measured in the same run, in turn with --code (before/after)")
    ap.add_argument("--work", type=Path, default=None, help="folder for photos and outputs (default: a temp folder)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each command line (the median is shown)")
    ap.add_argument("--no-gui", action="store_true", help="leave out the GUI row (it needs PySide6)")
    args = ap.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="declip-bench-pipeline-"))).resolve()
    # In a child process: Linux counts a forked child's pre-exec size in its peak RSS, so this process
    # stays small (no numpy, no 12 MP images in memory).
    subprocess.run([sys.executable, __file__, "--make-photos", str(work / "photos")], check=True)
    photos = sorted((work / "photos").glob("photo*.jpg"))
    codes = {"before": args.baseline.resolve()} if args.baseline else {}
    codes["after" if args.baseline else "code"] = args.code.resolve()
    load0 = os.getloadavg()
    rows = measure(codes, work, photos, args.repeat, not args.no_gui)
    print(f"cpus: {os.cpu_count()}   load average at the start: {' '.join(f'{x:.1f}' for x in load0)}, "
          f"at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}   repeat: {args.repeat}")
    for name, code in codes.items():
        print_table(name, code, rows[name])
    if args.baseline:  # the same rows of both: how much of the before each after is
        print("after / before:", ", ".join(f"{a[0]}: {a[1] / b[1]:.2f}" for a, b in zip(rows["after"], rows["before"])))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make-photos"]:
        make_photos(Path(sys.argv[2]), N_FOLDER)
        sys.exit(0)
    sys.exit(main())
