"""Packaged resources: icons, model cards, the embedded default model, sample images."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path(*parts: str) -> Path:
    return ROOT.joinpath(*parts)
