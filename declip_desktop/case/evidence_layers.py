"""Evidence layers stored in a case (`declip case analyze --layers ela,dq|all`). No Qt.

Each layer's result is stored like a model's map (`store_analysis`: model id `evidence-<layer>`,
mode `evidence`), so it is hashed, audited and checked by verify. A layer is redone only when the
evidence, the layer's method version or its parameters changed (or with force). A layer that cannot
apply (`dq` on a PNG) is logged and reported, and does not fail the run; the log entry records the
evidence's SHA-256 and the method version, so a later run reports the recorded refusal instead of
trying again and logging it again (an idle re-run adds nothing to the audit log).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class LayersRun:
    stored: list[tuple[str, str]] = field(default_factory=list)          # (evidence id, layer)
    not_applicable: list[tuple[str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    up_to_date: list[tuple[str, str]] = field(default_factory=list)


def check_pinned_layers(names) -> list[str]:
    """Layer names an examiner pins to a finding, in the registry's order; CaseError if one is unknown."""
    from engine.evidence import LAYER_NAMES

    from .errors import CaseError

    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    wanted = [str(n).strip().lower() for n in names if str(n).strip()]   # '' (from `--pin-layers ''`) unpins
    unknown = [n for n in wanted if n not in LAYER_NAMES]
    if unknown:
        raise CaseError(f"cannot pin unknown evidence layer {', '.join(unknown)}; choose from {', '.join(LAYER_NAMES)}")
    return [n for n in LAYER_NAMES if n in wanted]


def _current(case, item, name: str, wanted: dict | None = None, logged: dict | None = None) -> bool:
    """wanted: the parameters asked for beside the defaults; None (no --evidence-param, the viewer) takes
    whatever the stored layer was computed with. logged: analyses.logged_records() of the log; a layer
    stored by a run killed before its audit entry is not current (verify fails it; a re-run redoes it)."""
    from engine import evidence

    from .analyses import is_logged

    old = case.analysis_for(item.id, model_id=f"evidence-{name}", mode="evidence")
    if old is None or old.record.get("evidence_sha256") != item.sha256:
        return False
    if logged is not None and not is_logged(old, logged):
        return False
    md = old.metadata or {}
    if wanted is not None and (md.get("requested_parameters") or {}) != wanted:
        return False
    return md.get("method_version") == evidence.info(name).version


def _recorded_refusals(entries: list[dict]) -> dict[tuple[str, str], dict]:
    """(evidence id, layer) -> the details of its latest `evidence_layer_not_applicable` entry."""
    out = {}
    for e in entries:
        d = e.get("details") if e.get("action") == "evidence_layer_not_applicable" else None
        if isinstance(d, dict):
            out[(d.get("evidence_id"), d.get("layer"))] = dict(d, time_utc=e.get("time_utc", ""))
    return out


def _still_refused(entry: dict | None, item, name: str) -> bool:
    """A refusal recorded for this very file and method version (older entries, without both, never count)."""
    from engine import evidence

    return (entry is not None and entry.get("evidence_sha256") == item.sha256
            and entry.get("method_version") == evidence.info(name).version)


def store_layers(case, items, names: list[str], force: bool = False,
                 say: Callable[[str], None] = lambda s: None,
                 cancel: Callable[[], bool] = lambda: False, params: dict[str, dict] | None = None) -> LayersRun:
    """cancel: polled between computing and storing; when set, nothing more is stored (Cancelled).
    params: {layer: {key: value}} beside the defaults (`case analyze --evidence-param`); with params, a stored
    layer computed with other parameters is redone and replaced (the audit log keeps both stores)."""
    from engine import evidence
    from engine.errors import Cancelled, DeclipError
    from engine.evidence.outputs import without_name

    from .analysis_run import store_error_line

    run = LayersRun()

    def failed(it, name: str, exc: Exception) -> None:   # recorded and audited per layer, said by the caller
        run.failed.append((it.id, name, str(exc)))
        case.log("analysis_failed", {"evidence_id": it.id, "model_id": f"evidence-{name}", "mode": "evidence",
                                     "error": str(exc)})

    # what each layer was asked for beside its defaults, as a stored result records it
    wanted = None if params is None else {n: evidence.explicit_params(n, params.get(n, {})) for n in names}
    from .analyses import logged_records

    entries = case.audit_entries()  # read and parsed once: a long log made the viewer's layer path slow
    # other parameters can make a layer apply (or not), and force means "try again": both re-check
    refusals = {} if force or params else _recorded_refusals(entries)
    logged = logged_records(entries)
    for it in items:
        todo = [n for n in names if force or not _current(case, it, n, None if wanted is None else wanted[n], logged)]
        run.up_to_date += [(it.id, n) for n in names if n not in todo]
        for name in [n for n in todo if _still_refused(refusals.get((it.id, n)), it, n)]:
            entry = refusals[(it.id, name)]
            run.not_applicable.append((it.id, name, str(entry.get("reason", ""))))
            say(f"{it.id} {name}: not applicable (recorded {entry['time_utc'][:19].replace('T', ' ')} UTC): "
                f"{without_name(str(entry.get('reason', '')), str(it.path))}")
            todo.remove(name)
        if not todo:
            continue
        try:
            results = evidence.run_many(todo, it.path, params=params)
        except Exception as exc:      # the image itself cannot be read: every layer fails, said once
            if not isinstance(exc, DeclipError):  # whatever the decoder raised: this image fails, not the batch
                exc = DeclipError(f"{type(exc).__name__}: {str(exc)[:160]}")
            say(f"{it.id} evidence layers ({', '.join(todo)}): FAILED: {without_name(str(exc), str(it.path))}")
            for name in todo:
                failed(it, name, exc)
            continue
        if cancel():
            raise Cancelled("cancelled by the user")
        for name, res in results.items():
            if isinstance(res, evidence.EvidenceError):
                run.not_applicable.append((it.id, name, str(res)))
                case.log("evidence_layer_not_applicable", {"evidence_id": it.id, "evidence_sha256": it.sha256,
                                                          "layer": name, "method_version": evidence.info(name).version,
                                                          "reason": str(res)})
                say(f"{it.id} {name}: not applicable: {without_name(str(res), str(it.path))}")
                continue
            if isinstance(res, Exception):
                failed(it, name, res)
                say(f"{it.id} {name}: FAILED: {without_name(str(res), str(it.path))}")
                continue
            try:
                case.store_analysis(it.id, res)
            except (OSError, DeclipError) as exc:
                # a full disk or a map that cannot be stored fails this layer only, as run_analysis does for maps
                # (an audit log that cannot be written at all still ends the run, in failed()'s case.log)
                why = f"result not stored ({store_error_line(exc, it)})"
                failed(it, name, DeclipError(why))
                say(f"{it.id} {name}: FAILED: {why}")
                continue
            run.stored.append((it.id, name))
            say(f"{it.id} {name}: stored (score {res.score:.4f})")
    return run
