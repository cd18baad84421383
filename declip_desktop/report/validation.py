"""What the report says about how far the model and this installation can be trusted: the model's
measured false-alarm rate beside each map, and an appendix with the card's validation figures in
words (the independent set first) and this installation's latest `declip validate` record."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from reportlab.platypus import Flowable, PageBreak, Spacer

from engine.validation_text import false_alarm_text, independent, lines

from .blocks import P, X, box, esc, fmt_threshold
from .findings import Findings
from .installation import Installation


@lru_cache(maxsize=16)
def _store_validation(model_id: str) -> tuple:
    try:
        from engine.store import ModelStore

        return tuple(ModelStore().get(model_id).validation)
    except Exception:  # a model no longer in the store: its card's figures are simply not known
        return ()


def validation_of(f: Findings) -> list[dict[str, Any]]:
    """The validation list of the model an item was analysed with: as recorded with the result,
    else (results from before cards carried it) from the model store."""
    card = f.card or {}
    if isinstance(card.get("validation"), list) and card["validation"]:
        return card["validation"]
    mid = (f.metadata or {}).get("model_id") or card.get("id")
    return list(_store_validation(str(mid))) if mid else []


def false_alarm(f: Findings) -> list[Flowable]:
    """One line beside an item's map: how often this model flags authentic photos."""
    if not f.analysed:
        return []
    val = validation_of(f)
    text = false_alarm_text(val)
    if text is None:
        return [Spacer(1, 3), P("No measured false-alarm rate is recorded on this model's card: "
                                "read the map without a known error rate.", "muted")]
    return [Spacer(1, 3), P(text + threshold_caveat(independent(val), f.threshold), "muted")]


def threshold_caveat(entry: dict | None, used: float) -> str:
    """The rate holds at the threshold it was measured at; say so when this item's mask uses another."""
    thr = (entry or {}).get("threshold")
    if not isinstance(thr, (int, float)) or isinstance(thr, bool) or abs(float(thr) - used) < 1e-9:
        return ""
    return (f" That rate was measured at threshold {float(thr):g}; this item's mask uses {fmt_threshold(used)}, at "
            "which it was not measured (a lower threshold marks more pixels, a higher one fewer).")


def appendix(findings: list[Findings], installs: list[Installation]) -> list[Flowable]:
    out: list[Flowable] = [PageBreak(), P("Appendix D — Validation", "h1"), P("Model validation", "h2")]
    seen = set()
    for f in findings:
        if not f.analysed:
            continue
        md, card = f.metadata or {}, f.card or {}
        mid = md.get("model_id") or card.get("id") or "?"
        if mid in seen:
            continue
        seen.add(mid)
        out.append(X(f"<b>{esc(md.get('model_name') or card.get('name') or mid)}</b> (id {esc(mid)})"))
        texts = lines(validation_of(f)) or ["No validation figures are recorded on this model's card."]
        out += [P(t) for t in texts] + [Spacer(1, 4)]
    if not seen:
        out.append(P("No item was analysed.", "muted"))
    out.append(P("Installation validation", "h2"))
    out.append(P("Only a record of the model used, with the same weights SHA-256, is cited; records of other models, "
                 "weights, devices or precisions prove nothing about these findings.", "muted"))
    for inst in installs:
        out.append(box([X(inst.appendix_xml())], "ok" if inst.passed else "warn"))
        out.append(Spacer(1, 4))
    if not installs:
        out.append(P("No item was analysed: no installation validation applies.", "muted"))
    return out
