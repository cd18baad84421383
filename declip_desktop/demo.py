"""The demo case (`declip-desktop --demo`): the sample photos bundled in resources/samples/.

Each sample's licence and source come from resources/samples/LICENSES.json and are written
into the case's audit log and description, so the demo is as traceable as real evidence.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import resources
from engine.cli import IMAGE_SUFFIXES  # the samples are the images `declip analyze` would take from the folder


def samples() -> tuple[list[Path], dict]:
    folder = resources.path("samples")
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    try:
        entries = json.loads((folder / "LICENSES.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        entries = []
    # A list of {file, licence, attribution, ...} (the layout scripts/collect_photos.py writes).
    licences = {e["file"]: e for e in entries if isinstance(e, dict) and "file" in e} if isinstance(entries, list) else {}
    return files, licences


def demo_home() -> Path:
    home = os.environ.get("DECLIP_HOME")
    if home:
        return Path(home) / "demo"
    import platformdirs

    return Path(platformdirs.user_data_dir("declip", appauthor=False)) / "demo"


def build_demo_case(folder: Path | None = None) -> Path:
    """Create the demo case (once) and return its folder."""
    from declip_desktop.case import Case, CaseError

    folder = Path(folder) if folder else demo_home()
    path = folder / "DeCLIP demo.declip"
    if Case.is_case(path):
        return path
    files, licences = samples()
    if not files:
        raise CaseError(f"no sample photos found in {resources.path('samples')}")
    lines = []
    for f in files:
        lic = licences.get(f.name, {})
        note = " [manipulated on purpose: " + lic["manipulation"] + "]" if lic.get("manipulated") else ""
        lines.append(f"{f.name}: {lic.get('licence') or 'licence unknown'}"
                     f" ({lic.get('attribution') or 'source unknown'}){note}")
    folder.mkdir(parents=True, exist_ok=True)
    case = Case.create(path, title="DeCLIP demo", number="DEMO-1", examiner="demo",
                       description="Sample photos bundled with DeCLIP Desktop.\n" + "\n".join(lines))
    try:
        case.add_paths([str(f) for f in files])
        case.log("demo_sample_licences", {"licences": licences})
    finally:
        case.close()
    return path
