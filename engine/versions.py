"""Software versions recorded with every result and report."""
from __future__ import annotations

import functools
import platform


def app_version() -> str:
    from importlib import metadata  # about 0.1 s to import: only when a version is asked for

    try:
        return metadata.version("declip-desktop")
    except metadata.PackageNotFoundError:
        return "0.1.0+source"


def software_versions() -> dict[str, str]:
    # Read once per process: parsing the distributions' METADATA cost about 85 ms per result, and the
    # modules this process has loaded do not change version while it runs.
    return dict(_installed_versions())


@functools.lru_cache(maxsize=1)
def _installed_versions() -> dict[str, str]:
    from importlib import metadata

    out = {"app": app_version(), "python": platform.python_version()}
    for dist, key in (("torch", "torch"), ("open_clip_torch", "open_clip"), ("timm", "timm"),
                      ("pillow", "pillow"), ("numpy", "numpy")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out
