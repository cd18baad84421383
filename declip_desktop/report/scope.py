"""What a model is for and what it misses (its card's intended use and limitations), and which
weights a result was made with. No Qt.

Results analysed before the card summary carried these two fields lack them: the card is then
taken from the local model store, but only when its id and weights SHA-256 are those of the
result, so a different model of the same name can never lend its words to a finding.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from engine.cards import ROLES

RECORDED = "recorded with the analysis"
FROM_STORE = ("taken from the model card in this installation's model store (same id and weights SHA-256); "
              "not recorded with the analysis")
NOT_RECORDED = ("The card's intended use and limitations were not recorded with the analysis, and no card with the "
                "same id and weights SHA-256 is in this installation's model store: read the findings without them.")


@dataclass
class Scope:
    intended_use: str = ""
    limitations: str = ""
    source: str = ""      # RECORDED, FROM_STORE, or "" when neither is known


def recorded_card(f: Any) -> dict:
    """The card summary stored with the result (not one looked up later by id)."""
    if isinstance(f.item.model_card, dict):
        return f.item.model_card
    md = f.metadata or {}
    for key in ("model_card", "model"):
        if isinstance(md.get(key), dict):
            return md[key]
    return {}


def model_weights(f: Any) -> frozenset[str]:
    """The SHA-256s of the model's own files, as its card lists them (what `declip validate` hashes);
    from the result's weights list when the recorded card has no files (shared package weights,
    role 'backbone', are not card files)."""
    files = recorded_card(f).get("files")
    if isinstance(files, list) and files:
        return frozenset(str(x.get("sha256")).lower() for x in files if isinstance(x, dict) and x.get("sha256"))
    return frozenset(str(w.get("sha256")).lower() for w in (f.metadata or {}).get("weights") or []
                     if isinstance(w, dict) and w.get("sha256") and w.get("role") in ROLES)


def model_id(f: Any) -> str:
    return str((f.metadata or {}).get("model_id") or recorded_card(f).get("id") or "?")


def scope_of(f: Any) -> Scope:
    card = recorded_card(f)
    if "limitations" in card or "intended_use" in card:
        return Scope(str(card.get("intended_use") or ""), str(card.get("limitations") or ""), RECORDED)
    used = {str(w.get("sha256")).lower() for w in (f.metadata or {}).get("weights") or [] if isinstance(w, dict)}
    return _store_scope(model_id(f), frozenset(used))


@lru_cache(maxsize=16)
def _store_scope(mid: str, used: frozenset[str]) -> Scope:
    try:
        from engine.store import ModelStore

        card = ModelStore().get(mid)
    except Exception:  # not in the store (removed, other machine): the report says so
        return Scope()
    shas = {str(x.get("sha256") or "").lower() for x in card.files}
    if not shas or "" in shas or not shas <= used:
        return Scope()  # same id, other weights: its words are not this result's model's
    return Scope(card.intended_use, card.limitations, FROM_STORE)
