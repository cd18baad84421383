"""Clones round 19 diagnostic (issue #38): what separates `dense`'s confirmed pairs on copies from its chance
pairs on untouched views? Per confirmed pair of `dense` (today's defaults): the pair's correlation, how many
pixels of the offset field agree with its refitted map (per pixel of the confirmed source), the share of the
confirmed target whose pixels equal their moved copy up to noise (|g - moved| below 0.5 x local sd), the median
of |g - moved| / local sd there, rotation, scale, and whether the pair lies on the known copy (more than half its
pixels on mask | source mask) or is a chance pair (untouched view, or off the copy). Writes one JSON line per pair.
Also (added after round 19's check): the residual's 25th percentile, and its median after both images are
blurred (Gaussian, sigma 1.5 px), which a rescaled copy's resampling changes less. And (added after round 21):
`fwd` and `rev`, the shares of the confirmed source's and target's usable pixels whose offset agrees within 3 px with
the pair's map and with its inverse (a copy's two areas are each other's nearest patches, so the field should point
both ways), and `on_fill` for removals (more than half of the source or of the target on the filled hole).

    python research/clones_r19_pairs.py OUT.jsonl [--kinds=copymove,authentic,removal_patch] SET [SET ...]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from clones_scoring import entries  # noqa: E402  (research/ is the script folder)


def main() -> None:
    import engine.evidence.clones_dense as cd
    from engine import evidence
    from engine.evidence.clone_regions import local_sd

    out = Path(sys.argv[1])
    kinds = ("copymove", "authentic")
    if sys.argv[2].startswith("--kinds="):
        kinds = tuple(sys.argv.pop(2).split("=", 1)[1].split(","))
    state: dict = {}
    refit, confirm, record = cd.FieldMatches.refit, cd.confirm, cd.pair_record
    init = cd.FieldMatches.__init__

    def init_spy(self, dy, dx, usable):
        init(self, dy, dx, usable)
        state["matches"] = self

    def share_agreeing(mask, a, tol=3.0):
        # the engine's own agreement test (FieldMatches.agreeing), over the field's usable pixels in `mask`
        matches = state["matches"]
        inside = mask[matches.ys, matches.xs]
        return float(matches.agreeing(np.asarray(a, np.float64), tol)[inside].mean()) if inside.any() else 0.0

    def refit_spy(self, a, rounds, tol):
        res = refit(self, a, rounds, tol)
        state["agree"] = len(res[1])
        return res

    def confirm_spy(g, *args, **kw):
        state["g"] = g
        return confirm(g, *args, **kw)

    def record_spy(method, srcm, tgt, a, scale, **kw):
        g = state["g"]
        moved = cv2.warpAffine(g, a, g.shape[::-1], flags=cv2.INTER_LINEAR)
        sd = np.maximum(local_sd(g), 1e-3)
        r = np.abs(g - moved)[tgt] / sd[tgt]
        gb, mb = cv2.GaussianBlur(g, (0, 0), 1.5), cv2.GaussianBlur(moved, (0, 0), 1.5)
        sdb = np.maximum(local_sd(gb), 1e-3)
        rb = np.abs(gb - mb)[tgt] / sdb[tgt]
        on = state["on"]
        if on is not None:
            on = cv2.resize(on.astype(np.uint8), g.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
            both = srcm | tgt
            state["true"] = bool((both & on).sum() > 0.5 * both.sum())
            state["on_fill"] = bool(max((srcm & on).sum() / max(srcm.sum(), 1), (tgt & on).sum() / max(tgt.sum(), 1))
                                    > 0.5)
        else:
            state["true"] = state["on_fill"] = False
        rec = record(method, srcm, tgt, a, scale, **kw)
        agree = state.get("agree", 0)
        state["pairs"].append({"agree": agree, "agree_density": agree / max(int(srcm.sum()), 1),
                               "eq_share": float((r < 0.5).mean()), "res_median": float(np.median(r)),
                               "res_p25": float(np.percentile(r, 25)), "res_blur": float(np.median(rb)),
                               "true": state["true"], "rotation": rec["rotation_deg"], "scale": rec["scale"],
                               "correlation": rec["correlation"], "area": int(tgt.sum()),
                               "fwd": share_agreeing(srcm, a), "rev": share_agreeing(tgt, cv2.invertAffineTransform(a)),
                               "on_fill": state["on_fill"]})
        return rec

    cd.FieldMatches.refit, cd.confirm, cd.pair_record = refit_spy, confirm_spy, record_spy
    cd.FieldMatches.__init__ = init_spy
    with out.open("a") as fh:
        for folder in map(Path, sys.argv[2:]):
            for e in entries(folder, kinds):
                on = None
                if e["kind"] == "copymove":
                    on = (np.asarray(Image.open(folder / e["mask"]).convert("L")) > 127) | \
                         (np.asarray(Image.open(folder / e["source_mask"]).convert("L")) > 127)
                elif e["kind"] == "removal_patch":   # a pair on a fill: more than half of it on the filled hole
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
