"""Method and limitations: what the detector can say and what it cannot."""
from __future__ import annotations

from reportlab.platypus import Flowable, Spacer

from .blocks import P, X, box, esc, fmt_threshold
from .findings import Findings
from .scope import FROM_STORE, NOT_RECORDED, model_id, scope_of

# The method's source, cited wherever the report follows it.
DECLIP_PAPER = ("S. Smeu, E. Oneata, D. Oneata, \"DeCLIP: Decoding CLIP representations for deepfake "
                "localization\", IEEE/CVF Winter Conference on Applications of Computer Vision (WACV), 2025.")


def method(findings: list[Findings]) -> list[Flowable]:
    cards: dict[str, dict] = {}
    firsts: dict[str, Findings] = {}  # one item per model: its card and recorded metadata
    modes: set[str] = set()
    sizes: set[str] = set()
    for f in findings:
        if f.analysed:
            md = f.metadata
            modes.add(str(md.get("mode", "?")))
            card = f.card or {"name": md.get("model_name", "?"), "id": md.get("model_id", "?")}
            cards.setdefault(str(card.get("id") or card.get("name")), card)
            firsts.setdefault(str(card.get("id") or card.get("name")), f)
            inp = (card.get("input") or {}).get("size")
            if inp:
                sizes.add(str(inp))
    size = "/".join(sorted(sizes)) or "224"
    out: list[Flowable] = [P("Method and limitations", "h1")]
    out.append(P("What the detector does", "h2"))
    out.append(P("Each image is passed through a frozen, general-purpose vision backbone (a CLIP-style image encoder or "
                 "a smaller CNN, named per item) and a convolutional decoder trained to mark pixels that belong to a "
                 "locally manipulated region. Which kinds of manipulation a decoder can mark depends on what it was "
                 "trained on, and differs from model to model: each model's card states its intended use and its "
                 "limitations, printed below under \"Models used\"; a finding holds only within that scope. The "
                 "decoder outputs a probability for every pixel; the report shows it as a heat overlay, a thresholded "
                 "mask and crops of the strongest connected regions. The score is the mean of that probability map "
                 "over the whole image; the flagged area is the share of pixels above the threshold."))
    out.append(P("What a finding means — and does not mean", "h2"))
    for text in (
        "<b>A low score does not mean an image is authentic.</b> The detector only recognises manipulations similar to "
        "those it was trained on. Global edits (colour grading, resizing, recompression, cropping), re-photographing a "
        "screen or a print, and manipulation methods absent from its training data can go undetected.",
        "<b>A high score is not proof of manipulation.</b> Heavy compression, unusual sensors, text, screenshots, "
        "strong noise reduction or HDR processing can raise probabilities locally. Flagged regions are leads for "
        "examination by a trained analyst, not conclusions.",
        "<b>The threshold is a display choice.</b> The score does not depend on it; the mask, the flagged area and "
        "the crops do. Each item states the threshold used.",
        "<b>Reproducibility.</b> Running the same model (same weights SHA-256) in the same mode on the same file "
        "(same SHA-256) reproduces the map, up to small floating-point differences between devices, precisions "
        "and CPU thread counts; with those equal too (each item's \"How to reproduce\" command) it is reproduced "
        "value for value.",
    ):
        out.append(X("• " + text, "bullet"))
    out.append(P("Resolution", "h2"))
    out.append(P(f"In paper mode the whole image is resized to the model's input size ({size} pixels square) before "
                 "analysis, as in the DeCLIP paper [1], and the map is scaled back up. Small manipulated regions and fine "
                 "boundaries can disappear at that resolution, and maps look coarse on large photos. Tiled mode "
                 "analyses overlapping windows of a working image: reduced (long side at most 1024 pixels, so a "
                 "24-megapixel photo is analysed at about a sixth of its size) or at the photo's full resolution. It "
                 "is better for small regions and slower; the working size and window settings are recorded with "
                 "each item. Modes used in this report: "
                 f"{', '.join(sorted(modes)) or 'none (no item analysed)'}."))
    out.append(P("Models used", "h2"))
    if not cards:
        out.append(P("No item in this report was analysed."))
    for f in firsts.values():
        out += _model_scope(f)
    out.append(Spacer(1, 6))
    out.append(box([P("Independent verification", "h3"),
                    P("An independent expert can verify this report by (1) checking each evidence file's SHA-256 "
                      "against appendix A, (2) obtaining the model with the weights SHA-256 stated per item, "
                      "(3) running each item's \"How to reproduce\" command on the evidence file and comparing the "
                      "pixels SHA-256, scores and flagged pixels it lists with the run's results.json, and (4) checking "
                      "the SHA-256 of this PDF against the .sha256 file written next to it and against the case audit "
                      "log."),
                    P("The pixels SHA-256 is taken over a map's 16-bit values, big-endian, row by row, at the "
                      "EXIF-oriented image size (in Python: hashlib.sha256(numpy.asarray(PIL.Image.open(png))"
                      ".astype('>u2').tobytes())). A PNG file's own SHA-256 also depends on the compressor that wrote "
                      "it, so compare pixels, not files. The same device, thread count, precision and software versions give "
                      "equal values; another device or precision, or a CPU with other vector instructions (each result "
                      "records its CPU's, listed under \"Must match\"), can differ slightly.")],
                   "note"))
    out.append(P("References", "h2"))
    out.append(X("[1] " + esc(DECLIP_PAPER), "bullet"))
    return out


def _model_scope(f: Findings) -> list[Flowable]:
    """One model: what its card says it is for and what it misses (or that this is not known)."""
    card = f.card or {}
    md = f.metadata or {}
    out: list[Flowable] = [X(f"<b>{esc(card.get('name') or md.get('model_name') or '?')}</b> (id {esc(model_id(f))}"
                             f"{', backbone ' + esc(card['backbone']) if card.get('backbone') else ''})", "body")]
    sc = scope_of(f)
    if sc.source:
        out.append(X(f"<b>Intended use</b> (stated on its card): {esc(sc.intended_use or 'not stated')}", "bullet"))
        out.append(X(f"<b>Stated limitations</b>: {esc(sc.limitations or 'none stated on its card')}", "bullet"))
        if sc.source == FROM_STORE:
            out.append(X(f"Intended use and limitations {esc(FROM_STORE)}.", "bullet"))
    else:
        out.append(X(esc(NOT_RECORDED), "bullet"))
    out.append(X("Training data, licence and weights SHA-256: Appendix A, Models.", "bullet"))
    out.append(Spacer(1, 4))
    return out


