"""How long a job thread holds the GIL while it decodes a 24 MP photo, with and without the GUI's
process settings (declip_desktop.responsiveness). Every stretch the GIL is held is a stretch in
which the GUI thread cannot paint.

A probe thread sleeps 1 ms in a loop; each wake-up needs the GIL, so its longest delay is the
longest hold. Two job threads decode the same JPEG at once, as the display and analysis jobs do
after a drop, for several rounds (glibc's heap is recycled from the second round on). Each setting
runs in a fresh process.

    python benchmarks/bench_gil_holds.py [--rounds 6]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _photo(folder: Path) -> Path:
    import numpy as np
    from PIL import Image

    path = folder / "24mp.jpg"
    rng = np.random.default_rng(0)
    rgb = np.repeat(np.linspace(0, 255, 6000, dtype=np.uint8)[None, :, None], 4000, 0).repeat(3, 2)
    rgb[::7] = rng.integers(0, 255, (rgb[::7].shape), dtype=np.uint8)
    Image.fromarray(rgb).save(path, quality=90)
    return path


def _child(photo: str, rounds: int, tuned: bool) -> dict:
    import numpy as np
    from PIL import Image

    applied = {}
    if tuned:
        from declip_desktop.responsiveness import tune_for_gui

        applied = tune_for_gui()
    delays: list[float] = []
    running = True

    def probe():
        last = time.perf_counter()
        while running:
            time.sleep(0.001)
            now = time.perf_counter()
            delays.append(now - last - 0.001)
            last = now

    def decode():
        with Image.open(photo) as im:
            arr = np.asarray(im.convert("RGB"))
        return arr.mean()

    p = threading.Thread(target=probe)
    p.start()
    walls = []
    for _ in range(rounds):
        t = time.perf_counter()
        jobs = [threading.Thread(target=decode) for _ in range(2)]
        for j in jobs:
            j.start()
        for j in jobs:
            j.join()
        walls.append(time.perf_counter() - t)
    running = False
    p.join()
    delays.sort()
    return {"applied": applied, "max_ms": delays[-1] * 1000, "p99_ms": delays[int(len(delays) * 0.99)] * 1000,
            "over_30ms": sum(d > 0.03 for d in delays), "round_s": statistics.median(walls)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], args.rounds, args.child[1] == "tuned")))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        photo = _photo(Path(tmp))
        print(f"two threads decode a 24 MP JPEG at once, {args.rounds} rounds; probe = 1 ms sleeps")
        print(f"{'setting':<10} {'longest hold':>13} {'p99':>8} {'holds > 30 ms':>14} {'s/round':>8}")
        for setting in ("default", "tuned", "default", "tuned"):
            out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds), "--child", str(photo), setting],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{setting:<10} {r['max_ms']:>10.1f} ms {r['p99_ms']:>5.1f} ms {r['over_30ms']:>14d} {r['round_s']:>8.2f}")
            if setting == "tuned":
                applied = r["applied"]
        print(f"tuned = {', '.join(f'{k} {v}' for k, v in applied.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
