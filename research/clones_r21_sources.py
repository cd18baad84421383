"""Clones round 21 diagnostic (issue #38): where do `dense`'s false alarms on untouched views come from, its
confirmed pairs or its fill stage (exemplar fills, `detect_fills`)? Per untouched view: the share of pixels above
0.5 with today's defaults and with `fill=false`, and the number of confirmed pairs and fill regions.

    python research/clones_r21_sources.py SET [SET ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

from clones_scoring import entries  # noqa: E402  (research/ is the script folder)


def main() -> None:
    from engine import evidence

    for folder in map(Path, sys.argv[1:]):
        both = pairs_only = fills_only = 0
        n = 0
        for e in entries(folder, ("authentic",)):
            path = str(folder / e["image"])
            full = evidence.run("clones", path, method="dense")
            nofill = evidence.run("clones", path, method="dense", fill=False)
            f_full = float((full.probability > 0.5).mean())
            f_pairs = float((nofill.probability > 0.5).mean())
            d = full.metadata["details"]
            n += 1
            flag_full, flag_pairs = f_full > 0.01, f_pairs > 0.01
            both += flag_full
            pairs_only += flag_pairs
            fills_only += flag_full and not flag_pairs
            print(f"{folder.name} {Path(e['image']).stem}: flagged {f_full:.3f} (pairs alone {f_pairs:.3f}); "
                  f"{len(d.get('pairs', []))} pairs, {len(d.get('fills', []))} fills", flush=True)
        print(f"== {folder.name}: {n} untouched; flagged {both}; by the pairs alone {pairs_only}; "
              f"only with the fill stage {fills_only}", flush=True)


if __name__ == "__main__":
    main()
