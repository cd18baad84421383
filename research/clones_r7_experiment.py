"""Round 7 of the `clones` layer (issue #38): an overlap guard for round 6's `Sa` + `H` + `D` + `GA` 1.15.

    python research/clones_r7_experiment.py maps DATA NAME '{"overlap_x": 0.1}' [HYP_DIR]
    python research/clones_r6_experiment.py score DATA NAME          # round 6's scoring (views with a map)
    python research/clones_r7_experiment.py time '{"overlap_x": 0.1}'   # 1.2 and the candidate, 12 MP

`GO` (overlap, X): a confirmed pair is dropped when its source and target regions (after `D`'s growth)
overlap by more than X of the smaller one. A pattern that matches itself across a region larger than the
map's step (textile, brickwork, a band of ornament) yields a source and target that run into each other; a
copy pasted elsewhere does not. This is round 6's `GR` idea (a repeat continues beyond the pair) measured
inside the pair instead of one step further, where wrinkles and perspective break the correlation.
Everything else is round 6's `render` (with `aniso_x` 1.15 and `D`), unchanged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clones_r5_experiment as r5  # noqa: E402
import clones_r6_experiment as r6  # noqa: E402

_confirm_r5 = r5.confirm_r5


def overlaps(src, dst, x: float) -> bool:
    """Whether source and target share more than x of the smaller region's pixels."""
    small = min(int(src.sum()), int(dst.sum()))
    return small > 0 and int((src & dst).sum()) > x * small


def render(gray, hyps, p: dict):
    """Round 6's render, with pairs whose regions overlap by more than `overlap_x` left unconfirmed."""
    def guarded(g, a, s_in, t_in, q):
        ok = _confirm_r5(g, a, s_in, t_in, q)
        if ok is not None and q.get("overlap_x") is not None and overlaps(ok[0], ok[1], q["overlap_x"]):
            return None
        return ok

    r5.confirm_r5 = guarded
    try:
        return r6.render(gray, hyps, p)
    finally:
        r5.confirm_r5 = _confirm_r5


if __name__ == "__main__":
    if sys.argv[1] == "maps":
        r5.render = render
        r5.maps(Path(sys.argv[2]), sys.argv[3], {**r6.D, **json.loads(sys.argv[4])},
                sys.argv[5] if len(sys.argv) > 5 else Path(sys.argv[2]).name + "-r4")
    elif sys.argv[1] == "time":
        from clones_r4_experiment import compare_12mp

        params = json.loads(sys.argv[2])

        def cand(src):
            gray, hyps = r6.hypotheses(src, "Sa")
            render(gray, hyps, {**r5.BASE, **r6.D, **params})

        compare_12mp(cand, int(sys.argv[3]) if len(sys.argv) > 3 else 2)
    else:
        raise SystemExit(__doc__)
