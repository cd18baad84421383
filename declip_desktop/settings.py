"""Where the GUI keeps what it remembers (labelme style).

- User preferences (colour map, opacity, threshold, analysis mode, examiner ...) live in one
  readable JSON file, `preferences.json`, in the config folder.
- Window geometry/state and recent cases live in QSettings, stored as an INI file in the same
  folder. The folder is `$DECLIP_CONFIG_HOME` when set (tests set it per test), otherwise the
  platform's user config folder.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 10


def config_dir() -> Path:
    env = os.environ.get("DECLIP_CONFIG_HOME")
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_config_dir("declip", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def qsettings() -> QSettings:
    return QSettings(str(config_dir() / "desktop-state.ini"), QSettings.Format.IniFormat)


def recent_cases() -> list[str]:
    value = qsettings().value("recentCases", [])
    if isinstance(value, str):
        value = [value] if value else []
    return [str(v) for v in (value or []) if v]


def add_recent_case(path: str) -> list[str]:
    path = str(Path(path).resolve())
    items = [p for p in recent_cases() if p != path]
    items.insert(0, path)
    items = items[:MAX_RECENT]
    s = qsettings()
    s.setValue("recentCases", items)
    s.sync()
    return items


def remove_recent_case(path: str) -> None:
    s = qsettings()
    s.setValue("recentCases", [p for p in recent_cases() if p != path])
    s.sync()


# dtype names an earlier precision menu saved; the engine takes exact/fast, so they are read as those
_OLD_PRECISIONS = {"fp32": "exact", "fp16": "fast", "bf16": "fast"}


@dataclass
class Preferences:
    colormap: str = "inferno"
    opacity: float = 0.5
    threshold: float = 0.5
    display_mode: str = "heat"
    analysis_mode: str = "paper"
    precision: str = "auto"
    device: str = "auto"
    batch_size: int = 4
    examiner: str = ""
    trust_anchors: str = ""  # C2PA trust anchors (PEM file or folder); read by engine.provenance.trust

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "preferences.json"

    @classmethod
    def load(cls) -> "Preferences":
        try:
            data = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        known = {f.name for f in fields(cls)}
        prefs = cls()
        if isinstance(data, dict) and data.get("precision") in _OLD_PRECISIONS:
            data["precision"] = _OLD_PRECISIONS[data["precision"]]
        for key, value in (data.items() if isinstance(data, dict) else []):
            if key not in known:
                continue
            current = getattr(prefs, key)
            if isinstance(current, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
                setattr(prefs, key, float(value))
            elif isinstance(value, type(current)) and not isinstance(value, bool):
                setattr(prefs, key, value)
        return prefs

    def save(self) -> None:
        path = self.path()
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)
