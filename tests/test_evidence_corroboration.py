"""Corroboration: each map's regions at its own threshold, and which other maps agree."""
from __future__ import annotations

import numpy as np
import pytest

from engine.evidence.corroboration import corroborate


def test_agreeing_and_lone_regions():
    h, w = 300, 400
    a = np.zeros((h, w), np.float32)
    b = np.zeros((h, w), np.float32)
    a[50:150, 60:160] = 0.9       # flagged by both (b covers most of it)
    b[60:150, 60:160] = 0.7
    a[200:260, 300:380] = 0.9     # only a
    rows = corroborate({"learned map": (a, 0.5), "ela": (b, 0.6)})
    by = {(r.source, r.index): r for r in rows}
    assert set(by) == {("learned map", 1), ("learned map", 2), ("ela", 1)}
    big = by[("learned map", 1)]
    assert big.agrees_with == ["ela"] and big.overlap["ela"] == pytest.approx(0.9, abs=0.03)
    x0, y0, x1, y1 = big.box
    assert abs(x0 - 60) <= 2 and abs(y0 - 50) <= 2 and abs(x1 - 160) <= 2 and abs(y1 - 150) <= 2
    assert by[("learned map", 2)].agrees_with == []
    assert by[("ela", 1)].agrees_with == ["learned map"]
    # a threshold above a map's values flags nothing there
    assert all(r.source != "ela" for r in corroborate({"learned map": (a, 0.5), "ela": (b, 0.8)}))


def test_maps_of_different_sizes_are_refused():
    with pytest.raises(ValueError, match="different sizes"):
        corroborate({"a": (np.zeros((10, 10)), 0.5), "b": (np.zeros((10, 12)), 0.5)})


def test_a_small_region_inside_a_large_one_reads_as_touching_not_as_a_contradiction():
    h, w = 300, 400
    big = np.zeros((h, w), np.float32)
    small = np.zeros((h, w), np.float32)
    big[50:250, 50:350] = 0.9      # 60000 px
    small[100:120, 100:130] = 0.9  # 600 px, inside the big one
    rows = {r.source: r for r in corroborate({"learned map": (small, 0.5), "clones": (big, 0.5)})}
    assert rows["learned map"].agreement_text() == "clones"
    assert rows["clones"].agrees_with == [] and rows["clones"].agreement_text() == "touches: learned map 1 %"
    lone = np.zeros((h, w), np.float32)
    lone[0:20, 0:20] = 0.9
    rows = {r.source: r for r in corroborate({"ela": (lone, 0.5), "clones": (big, 0.5)})}
    assert rows["ela"].agreement_text() == "none"
