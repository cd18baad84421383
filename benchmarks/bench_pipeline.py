"""Whole-process timings of what the user waits for: `declip analyze` of one 12 MP photo and of a
folder of seven, `declip --help`, `declip case status`, and the GUI's first result after Analyse on
an open case; each a fresh process (start-up, imports, model load, decoding and output writing
included). Prints a table.

    python benchmarks/bench_pipeline.py [--code DIR] [--work DIR] [--repeat N]

--code DIR measures another checkout (e.g. the main branch, for a before/after table): it is put
first on PYTHONPATH. The network time is what each result records (backbone_s + decoder_s of its
timings); "per image" in the folder row is the process's wall time (and CPU time) divided by seven.
CPU s is user + system time of the process (all its threads): on a busy machine it moves less than
the wall time. Peak RSS is the child process's own (wait4). The photos are made from the bundled samples, upscaled to
4000x3000 with a little noise, and saved as JPEG quality 92 (about 2 MB each).
Run it on a quiet machine; on a shared one, compare ratios measured in the same run.
"""
from __future__ import annotations

import argparse
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


def network_seconds(results: Path) -> list[float]:
    items = json.loads(results.read_text())["items"]
    return [it["metadata"]["timings"]["backbone_s"] + it["metadata"]["timings"]["decoder_s"]
            for it in items if not it.get("error")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    ap.add_argument("--work", type=Path, default=None, help="folder for photos and outputs (default: a temp folder)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each short command (the median is shown)")
    ap.add_argument("--no-gui", action="store_true", help="leave out the GUI row (it needs PySide6)")
    args = ap.parse_args()
    work = (args.work or Path(tempfile.mkdtemp(prefix="declip-bench-pipeline-"))).resolve()
    # In a child process: Linux counts a forked child's pre-exec size in its peak RSS, so this process
    # stays small (no numpy, no 12 MP images in memory).
    subprocess.run([sys.executable, __file__, "--make-photos", str(work / "photos")], check=True)
    photos = sorted((work / "photos").glob("photo*.jpg"))
    env = dict(os.environ, PYTHONPATH=str(args.code.resolve()), DECLIP_HOME=str(work / "home"))
    rows = []

    def short(label: str, cmd: list[str]) -> None:
        runs = [run(cmd, env) for _ in range(args.repeat)]
        bad = [r for r in runs if r[2] != 0]
        if bad:
            raise SystemExit(f"{label}: exit {bad[0][2]}: {bad[0][3].strip()[-300:]}")
        rows.append((label, statistics.median(r[0] for r in runs), None, max(r[1] for r in runs),
                     statistics.median(r[4] for r in runs)))

    short("declip --help", ["--help"])
    case = work / "bench.declip"
    if not case.exists():
        for cmd in (["case", "new", case, "--title", "bench", "--number", "1", "--examiner", "bench"],
                    ["case", "add", case, photos[0]]):
            wall, _, rc, err, _ = run(cmd, env)
            if rc != 0:
                raise SystemExit(f"{' '.join(map(str, cmd[:2]))}: exit {rc}: {err.strip()[-300:]}")
    short("declip case status", ["case", "status", case])

    one = work / "out-one"
    shutil.rmtree(one, ignore_errors=True)
    wall, rss, rc, err, cpu = run(["analyze", "--out", one, photos[0]], env)
    if rc != 0:
        raise SystemExit(f"analyze: exit {rc}: {err.strip()[-300:]}")
    rows.append(("analyze, one 12 MP photo", wall, network_seconds(one / "results.json")[0], rss, cpu))

    folder = work / "out-folder"
    shutil.rmtree(folder, ignore_errors=True)
    wall, rss, rc, err, cpu = run(["analyze", "--out", folder, work / "photos"], env)
    if rc != 0:
        raise SystemExit(f"analyze folder: exit {rc}: {err.strip()[-300:]}")
    net = network_seconds(folder / "results.json")
    rows.append((f"analyze, folder of {N_FOLDER}: per image", wall / N_FOLDER, statistics.mean(net), rss,
                 cpu / N_FOLDER))

    if not args.no_gui:
        first, ready = gui_first_result(case, env)
        rows.append(("GUI: Analyse to first result (1 photo)", first, None, None, None))
        if ready >= 0:  # this checkout loads the model when a case opens
            rows.append(("GUI: model load in the background", ready, None, None, None))

    print(f"code: {args.code.resolve()}   cpus: {os.cpu_count()}   load average: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"| {'what':38} | {'wall s':>7} | {'CPU s':>6} | {'network s':>9} | {'wall / network':>14} "
          f"| {'peak RSS MB':>11} |")
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 8}|{'-' * 11}|{'-' * 16}|{'-' * 13}|")
    for label, wall, net, rss, cpu in rows:
        ratio = f"{wall / net:.2f}x" if net else "-"
        print(f"| {label:38} | {wall:7.2f} | {(f'{cpu:.2f}' if cpu else '-'):>6} | {(f'{net:.2f}' if net else '-'):>9} "
              f"| {ratio:>14} | {(f'{rss:.0f}' if rss else '-'):>11} |")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--make-photos"]:
        make_photos(Path(sys.argv[2]), N_FOLDER)
        sys.exit(0)
    sys.exit(main())
