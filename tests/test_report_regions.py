import numpy as np

from declip_desktop.report.regions import flagged_regions


def test_regions_are_ranked_by_strength_with_exact_boxes():
    p = np.zeros((200, 300), np.float32)
    p[10:30, 20:60] = 0.9        # small, confident
    p[100:180, 150:290] = 0.7    # large: more summed probability
    regs = flagged_regions(p, 0.5)
    assert [r.box for r in regs] == [(150, 100, 290, 180), (20, 10, 60, 30)]
    assert regs[0].rank == 1 and abs(regs[0].mean_probability - 0.7) < 1e-5
    assert abs(regs[1].area_fraction - 800 / 60000) < 1e-6


def test_threshold_and_limits():
    p = np.zeros((100, 100), np.float32)
    for k in range(6):
        p[k * 15:k * 15 + 5, 10:20] = 0.6
    assert len(flagged_regions(p, 0.5, max_regions=4)) == 4
    assert flagged_regions(p, 0.6) == []              # strictly above the threshold
    p[90, 90] = 1.0                                   # one pixel: below the minimum area
    assert all(r.box != (90, 90, 91, 91) for r in flagged_regions(p, 0.5, max_regions=10))


def test_large_maps_are_searched_downscaled_but_boxes_are_full_size():
    p = np.zeros((3000, 4000), np.float32)
    p[1000:1600, 2000:3000] = 1.0
    (r,) = flagged_regions(p, 0.5)
    x0, y0, x1, y1 = r.box
    assert abs(x0 - 2000) <= 6 and abs(y0 - 1000) <= 6 and abs(x1 - 3000) <= 6 and abs(y1 - 1600) <= 6
