"""Full citations for the short references that evidence layers recorded before their references
carried titles (results stored in older cases). The stored reference is kept as recorded; the report
completes it, since an expert must be able to find the paper. No Qt."""
from __future__ import annotations

# recorded short form -> the citation with its title
TITLES = {
    "Z. Lin et al., Pattern Recognition 42(11), 2009":
        "Z. Lin, J. He, X. Tang, C.-K. Tang, 'Fast, automatic and fine-grained tampered JPEG image detection via "
        "DCT coefficient analysis', Pattern Recognition 42(11), 2009",
    "T. Bianchi, A. Piva, IEEE Trans. Inf. Forensics Security 7(3), 2012":
        "T. Bianchi, A. Piva, 'Image forgery localization via block-grained analysis of JPEG artifacts', "
        "IEEE Trans. Inf. Forensics Security 7(3), 2012",
    "M. Kirchner, ACM Multimedia & Security Workshop 2008":
        "M. Kirchner, 'Fast and reliable resampling detection by spectral analysis of fixed linear predictor "
        "residue', ACM Multimedia & Security Workshop (MM&Sec) 2008",
    "A. C. Popescu, H. Farid, IEEE Trans. Signal Processing 53(2), 2005":
        "A. C. Popescu, H. Farid, 'Exposing digital forgeries by detecting traces of resampling', "
        "IEEE Trans. Signal Processing 53(2), 2005",
    "'Ideal spatial adaptation by wavelet shrinkage', 1994":
        "'Ideal spatial adaptation by wavelet shrinkage', Biometrika 81(3), 1994",
}


def with_titles(reference: str) -> str:
    """`reference` with each known short citation replaced by its full form (others unchanged)."""
    for short, full in TITLES.items():
        reference = reference.replace(short, full)
    return reference
