"""When and by whom a record was made: the one UTC timestamp format and the OS user.

Case files, audit entries, results.json and model cards all use utc_now(), so every stored time
sorts as a string and reads the same way.
"""
from __future__ import annotations

import getpass
import os
from datetime import datetime, timezone


def utc_now() -> str:
    """ISO-8601 UTC with microseconds and a Z, e.g. '2026-11-30T05:41:07.123456Z'."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def os_user() -> str:
    """The logged-in user's name, or 'uid:N' where there is none (containers without a passwd entry)."""
    try:
        return getpass.getuser()
    except Exception:  # getpass raises OSError or KeyError, depending on the platform and version
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
