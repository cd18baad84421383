"""`clones`: copy-move detection, both the copied source and the pasted target, with the transform.

Two published methods, chosen with `method=`:
- `keypoints` (default; chosen on the synthetic validation split, docs/evidence.md): SIFT keypoints,
  g2NN matching, sequential RANSAC for affine transforms (Amerini et al. 2011), each transform
  verified densely by local correlation of the image's fine detail with its own warped copy;
  `clones_keypoints.py`.
- `dense`: rotation-invariant Zernike-moment features at every pixel, nearest neighbours
  by PatchMatch, seeds chosen by a dense linear fit of the offset field (Cozzolino, Poggi, Verdoliva
  2015), each seed's affine map refitted to every pixel of the field that agrees with it (1.8) and verified
  densely like the keypoints', from those pixels; `clones_dense.py`. It also finds
  copies in flat-ish or mirrored content that has no keypoints, and every genuine repeat (tiles,
  seamless textures).
Both confirm a hypothesis the same way (`clone_regions.confirm`): local correlation of fine detail,
then the confirmed areas grown by hysteresis and their holes filled, since a copy's flat parts
correlate with nothing. A fill stage (`clone_fill.py`; default in `dense`, `fill=True` in `keypoints`)
marks exemplar (PatchMatch) fills: areas dense in pixels with a near-exact unrotated copy elsewhere.
"""
from __future__ import annotations

from .base import EvidenceInput, LayerOutput

VERSION = "1.8"   # 1.8: dense refits each seed's map to the agreeing field, seeds its check with those pixels and grows like keypoints; 1.7: dense runs 12 PatchMatch iterations (was 4); 1.6: dense drops pairs by the same two repeat guards as keypoints; 1.5: the overlap guard measured before growth (copies over part of their own source kept); 1.4: flat copies confirmed by pixel values when many isotropic matches support them; 1.3: low-texture keypoints under 2048 px, difference growth, anisotropy and overlap guards; 1.2: keypoint matching seeded (the same finding on every run), dedupe option; 1.1: grown areas, fill stage
TITLE = "Copy-move"
REFERENCE = ("D. Cozzolino, G. Poggi, L. Verdoliva, 'Efficient dense-field copy-move forgery detection', IEEE Trans. "
             "Inf. Forensics Security 10(11), 2015; I. Amerini et al., 'A SIFT-based forensic method for copy-move "
             "attack detection and transformation recovery', IEEE Trans. Inf. Forensics Security 6(3), 2011.")
HOW_TO_READ = ("Bright = this area is a copy of another area of the same image, or the original of such a copy. "
               "Each pair's source (S) and target (T) boxes are listed with the transform between them; both ends "
               "of a pair are marked, and which one is the copy cannot be told from the pixels alone. With the "
               "fill stage, areas made of many small unrotated copies (an object removed by exemplar inpainting) "
               "are marked too, with the places they were copied from; they are listed as fills (F1, F2 ... in the "
               "viewer's dashed boxes), without pairs. A pair "
               "'confirmed by equal pixel values' lies on content too flat to correlate (sky, walls): many keypoint "
               "matches agree on one undistorted move and the two areas are equal up to noise; it is drawn at map value 0.6.")
SCORE_MEANING = "strength of the strongest confirmed copy, 0 when none"
LIMITS = ("Repetitive content (windows, tiles, leaves, sky, water) can match itself. Both methods drop a pair whose "
          "source and target overlap by more than a set share when first checked (the max_overlap parameter): that is "
          "a repeating pattern; a copy pasted over part of its own original is kept, but only the part of the original "
          "it left uncovered can be marked. A pair whose map stretches unevenly is dropped too (max_aniso). A "
          "perfectly tiled texture can still match itself across abutting halves. Mostly missed: regions smaller "
          "than about min_area pixels at the working scale, copies scaled strongly (beyond about 0.7-1.4), heavy blur "
          "or noise on the copy, and copies of flat content. In tests no copy whose fine detail was below about 0.8 "
          "grey levels (at the working scale; smooth sky, walls, gradients, clipped highlights) was found by "
          "correlation, and the keypoint method confirms one by its pixel values only when at least flat_inliers "
          "(20) matches agree on one undistorted move (3 such copies in tests); each image's own note says how much "
          "of it is that flat (on photos worked at 2048 px, conservatively). The keypoint method needs some texture "
          "(on images worked below 2048 px it also finds copies in faint grain such as sky); the dense method works "
          "at a reduced working scale on large photos (the working_scale parameter). The fill stage misses fills in "
          "flat or smooth areas and ones recompressed or rescaled strongly, and marks only their densest cores.")
DEFAULTS = {"method": "keypoints"}
METHODS = ("dense", "keypoints")


def _detector(method: str):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, found {method!r}")
    if method == "dense":
        from .clones_dense import detect
    else:
        from .clones_keypoints import detect
    return detect


def parameters(params: dict) -> dict:
    """{name: inspect.Parameter} of what `compute` takes with these params: `method` and the chosen method's own."""
    import inspect

    try:
        detect = _detector(params.get("method", DEFAULTS["method"]))
    except ValueError as exc:
        from .base import EvidenceError

        raise EvidenceError(f"layer 'clones': {exc}") from None
    return {"method": inspect.signature(compute).parameters["method"],
            **{k: p for k, p in inspect.signature(detect).parameters.items() if k != "src"}}


def compute(src: EvidenceInput, method: str = "keypoints", **params) -> LayerOutput:
    detect = _detector(method)
    src.require_size("clones", 32)
    out = detect(src, **params)
    out.parameters = {"method": method, **out.parameters}
    return out
