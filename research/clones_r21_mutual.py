"""Clones round 21 diagnostic (issue #38): are `dense`'s confirmed pairs matched both ways? A copy's two areas
are each other's nearest patches, so the offset field points from the source to the target AND back; a chance
pair between two similar textures may be matched one way only. Per confirmed pair of `dense` (today's
defaults): `fwd`, the share of the confirmed source's usable pixels whose offset agrees with the pair's map
within 3 px, and `rev`, the share of the confirmed target's usable pixels whose offset agrees with the inverse
map; the pair is `on` the edit when more than half of its source or of its target lies on the mask (copy-moves:
mask | source mask; removals: the filled hole). One JSON line per pair.

    python research/clones_r21_mutual.py OUT.jsonl SET [SET ...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from clones_scoring import entries  # noqa: E402  (research/ is the script folder)


def share_agreeing(dy, dx, usable, mask, a, tol=3.0) -> float:
    ys, xs = np.nonzero(mask & usable)
    if len(ys) == 0:
        return 0.0
    pred = np.column_stack([xs, ys, np.ones_like(xs)]).astype(np.float64) @ a.T
    got = np.column_stack([xs + dx[ys, xs], ys + dy[ys, xs]])
    return float((np.hypot(*(pred - got).T) <= tol).mean())


def main() -> None:
    import engine.evidence.clones_dense as cd
    from engine import evidence

    out = Path(sys.argv[1])
    state: dict = {}
    init, record = cd.FieldMatches.__init__, cd.pair_record

    def init_spy(self, dy, dx, usable):
        state.update(dy=dy, dx=dx, usable=usable)
        init(self, dy, dx, usable)

    def record_spy(method, srcm, tgt, a, scale, **kw):
        inv = cv2.invertAffineTransform(a)
        dy, dx, usable = state["dy"], state["dx"], state["usable"]
        on = state["on"]
        hit = False
        if on is not None:
            on = cv2.resize(on.astype(np.uint8), srcm.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
            hit = bool(max((srcm & on).sum() / max(srcm.sum(), 1), (tgt & on).sum() / max(tgt.sum(), 1)) > 0.5)
        rec = record(method, srcm, tgt, a, scale, **kw)
        state["pairs"].append({"fwd": share_agreeing(dy, dx, usable, srcm, a),
                               "rev": share_agreeing(dy, dx, usable, tgt, inv), "on": hit,
                               "rotation": rec["rotation_deg"], "scale": rec["scale"],
                               "correlation": rec["correlation"], "area": int(tgt.sum())})
        return rec

    cd.FieldMatches.__init__, cd.pair_record = init_spy, record_spy
    with out.open("a") as fh:
        for folder in map(Path, sys.argv[2:]):
            for e in entries(folder, ("copymove", "removal_patch", "authentic")):
                on = None
                if e["kind"] == "copymove":
                    on = (np.asarray(Image.open(folder / e["mask"]).convert("L")) > 127) | \
                         (np.asarray(Image.open(folder / e["source_mask"]).convert("L")) > 127)
                elif e["kind"] == "removal_patch":
                    on = np.asarray(Image.open(folder / e["mask"]).convert("L")) > 127
                state.update(on=on, pairs=[])
                res = evidence.run("clones", str(folder / e["image"]), method="dense")
                flagged = float((res.probability > 0.5).mean())
                for p in state["pairs"]:
                    fh.write(json.dumps({"set": folder.name, "view": Path(e["image"]).stem, "kind": e["kind"],
                                         "flagged": flagged, **p}) + "\n")
                fh.flush()
                print(folder.name, Path(e["image"]).stem, len(state["pairs"]), flush=True)


if __name__ == "__main__":
    main()
