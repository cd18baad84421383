"""What the report says about how far the model and this installation can be trusted: the model's
measured false-alarm rate beside each map, and an appendix with the card's validation figures in
words (the independent set first) and this installation's latest `declip validate` record."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from reportlab.platypus import Flowable, PageBreak, Spacer

from engine.validation_text import false_alarm_text, lines

from .blocks import P, X, box, esc
from .findings import Findings


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
    text = false_alarm_text(validation_of(f))
    return [Spacer(1, 3), P(text or "No measured false-alarm rate is recorded on this model's card: "
                                 "read the map without a known error rate.", "muted")]


def appendix(findings: list[Findings], record: dict | None) -> list[Flowable]:
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
    if record is None:
        out.append(box([X("No validation record on this machine: run <b>declip validate</b> or Help → Validate "
                          "installation to show that this installation reproduces the validated maps.")], "note"))
    else:
        model = record.get("model") or {}
        dev = record.get("device") or {}
        ok = record.get("result") == "PASS"
        rows = record.get("items", [])
        layers = [i for i in rows if str(i.get("name", "")).startswith("layer ")]  # records since layers were checked
        items = [i for i in rows if i not in layers]

        def passed(group: list) -> str:
            return f"{sum(1 for i in group if i.get('ok'))} of {len(group)}"

        checked = f"{passed(items)} golden items" + (f" and {passed(layers)} evidence layers" if layers else "")
        out.append(box([X(f"Latest validation: <b>{esc(record.get('result'))}</b> on {esc(record.get('created_utc'))} "
                          f"(UTC), model {esc(model.get('id'))} on {esc(dev.get('name') or dev.get('device') or '?')}, "
                          f"precision {esc(dev.get('precision') or '?')}, app {esc((record.get('versions') or {}).get('app'))}; "
                          f"{checked} within tolerance. Record: {esc(record.get('path', ''))}")], "ok" if ok else "warn"))
    return out
