"""`declip case ...`: create, fill, analyse, review, verify and report on a case from the shell.

Exit codes follow declip_desktop/cli.py: 0 all done, 1 something failed or was refused (the rest
was processed) or an integrity failure, 2 usage error; `verify` also exits 2 when it could not
verify at all (no case there, an unreadable case.json or index), so its 1 always means "checked:
failed". Progress goes to stderr, results to stdout.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time

from engine.atomic import DISK_FULL
from engine.cli import Repeatable, device_arg, positive_int, restore_threads, tile_scale
from engine.errors import DeclipError
from engine.provenance import stored_record

from .case_folder import Case
from .errors import READ_ONLY_STILL_WORKS, CaseError
from .provenance_cli import provenance_suffix, status_line
from .records import FINDING_STATUSES
from .analysis_run import dimension_warning
from .util import printable as _printable


def register(subparsers) -> None:
    p = subparsers.add_parser("case", help="case folders: evidence, analyses, findings, audit, verify",
                              description="Work with a case folder (<name>.declip).")
    sub = p.add_subparsers(dest="case_command", metavar="ACTION")
    sub.required = True

    def common(sp, examiner=True):
        sp.add_argument("dir", metavar="DIR", help="case folder (the .declip suffix may be left out)")
        if examiner:
            sp.add_argument("--examiner", help="who is working now (audit log); default: the case examiner")

    sp = sub.add_parser("new", help="create a case")
    sp.add_argument("dir", metavar="DIR", help="folder to create (.declip is appended if missing)")
    sp.add_argument("--title", required=True)
    sp.add_argument("--number", required=True, help="case number")
    sp.add_argument("--examiner", required=True)
    sp.add_argument("--org", default="", help="organisation")
    sp.add_argument("--description", default="")
    sp.set_defaults(func=cmd_new)

    sp = sub.add_parser("edit", help="change the case details (logged with old and new values)")
    common(sp)
    sp.add_argument("--title")
    sp.add_argument("--number", help="case number")
    sp.add_argument("--case-examiner", help="the case's examiner (--examiner names who makes this change)")
    sp.add_argument("--org", help="organisation")
    sp.add_argument("--description")
    sp.set_defaults(func=cmd_edit)

    sp = sub.add_parser("add", help="ingest image files and folders (recursively)")
    common(sp)
    sp.add_argument("paths", nargs="*", metavar="PATH")
    sp.add_argument("--resume", action="store_true",
                    help="index the items an interrupted ingest logged but never indexed, from their copies in the "
                         "case (the originals need not be at hand); each copy must still have its logged SHA-256")
    sp.add_argument("--trust-anchors", metavar="PATH", help="PEM file or folder of C2PA trust anchors "
                    "(default: the settings file's; with neither, signer trust is not judged)")
    sp.set_defaults(func=cmd_add, _parser=sp)

    sp = sub.add_parser("analyze", help="analyse evidence that has no up-to-date analysis")
    common(sp)
    sp.add_argument("--model", help="model id from `declip models list`, or a model folder given as a path "
                                    "(./NAME); default: the store's default model")
    sp.add_argument("--mode", choices=("paper", "tiled"), default="paper")
    sp.add_argument("--precision", choices=("auto", "exact", "fast"),
                    help="exact = fp32; fast = bf16 on CPU / fp16 on GPU (auto: fast on GPU, exact on CPU)")
    sp.add_argument("--device", type=device_arg, help="auto, cpu, cuda, cuda:N (passed to the engine)")
    # as in `declip analyze` (engine/cli.py), so that a case item's recorded thread count and tiling can be
    # asked for again in a case, and the report's command (made from what was recorded) repeats them
    sp.add_argument("--threads", type=positive_int, default=None, metavar="N",
                    help="CPU threads for the network (default: torch's, usually the number of cores); a CPU map's "
                         "last bits depend on it; recorded as 'CPU (N threads)'")
    sp.add_argument("--tile-stride", type=positive_int, default=None, metavar="PX",
                    help="tiled mode: window stride in pixels (1 up to the window size; default three quarters of it)")
    sp.add_argument("--tile-scale", type=tile_scale, default=None, metavar="S",
                    help="tiled mode: image scale, above 0 and at most 4 (default: auto)")
    sp.add_argument("--items", nargs="+", metavar="ID", action=Repeatable,
                    help="only these evidence items (id, file name or sha256)")
    sp.add_argument("--evidence", nargs="+", metavar="LAYERS|ID", action=Repeatable,
                    help="evidence layers, as in `declip analyze --evidence` (ela,ghost,... or all; the same as "
                         "--layers); values that are not layer names select evidence items, as --items does")
    sp.add_argument("--force", action="store_true", help="re-analyse even when up to date")
    sp.add_argument("--evidence-param", action="append", default=[], metavar="LAYER.KEY=VALUE",
                    help="a parameter of one of the evidence layers (JSON value; repeatable), e.g. clones.method=dense; "
                         "a stored layer computed with other parameters is redone")
    sp.add_argument("--layers", type=_layer_names, default=[], metavar="LAYERS", action=Repeatable,
                    help="also store evidence layers: ela, ghost, noise, dq, clones, resampling (comma list) or all")
    sp.set_defaults(func=cmd_analyze, _parser=sp)

    sp = sub.add_parser("status", help="evidence items with analysis state, scores and findings")
    common(sp, examiner=False)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.set_defaults(func=cmd_status)

    from .provenance_cli import register_provenance

    register_provenance(sub, common)

    sp = sub.add_parser("finding", help="record a finding for one evidence item")
    common(sp)
    sp.add_argument("evidence", metavar="EVIDENCE", help="evidence id (E0001), file name or sha256 prefix")
    sp.add_argument("--status", required=True, help="one of: " + ", ".join(f"'{s}'" for s in FINDING_STATUSES))
    sp.add_argument("--note", help="analyst note")
    sp.add_argument("--threshold", type=float, help="map threshold the finding relies on, 0..1")
    sp.add_argument("--opacity", type=float, help="overlay opacity used, 0..1")
    sp.add_argument("--model", help="the analysis (model id) the finding relies on; default: the latest analysis")
    sp.add_argument("--mode", choices=["paper", "tiled"], help="that analysis's mode; default: the latest analysis's")
    sp.add_argument("--pin-layers", metavar="LAYERS", type=_comma_list, action=Repeatable,
                    help="evidence layers pinned to the finding, e.g. ela,clones (repeatable; '' unpins all); "
                         "shown on the item's report page")
    sp.set_defaults(func=cmd_finding)

    sp = sub.add_parser("verify", help="re-hash evidence and check the audit chain (exit 0 intact, 1 integrity "
                                       "failure, 2 could not verify)")
    common(sp)
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    anchor = sp.add_mutually_exclusive_group()
    anchor.add_argument("--against", metavar="REPORT.pdf",
                        help="also prove the audit log is unchanged up to the head this report printed")
    anchor.add_argument("--head", metavar="COUNT:SHA256", help="the same, with the head typed from a report's cover")
    sp.add_argument("--pubkey", metavar="KEY.pub",
                    help="with --against: the report's audit head must carry a valid signature by this examiner key")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("log", help="print the audit log")
    common(sp, examiner=False)
    sp.add_argument("--json", action="store_true", help="one JSON entry per line, as stored")
    sp.set_defaults(func=cmd_log)

    sp = sub.add_parser("report", help="export the forensic PDF report")
    common(sp)
    sp.add_argument("--out", required=True, metavar="FILE.pdf")
    sp.add_argument("--threshold", type=float, help="one map threshold for every item (default: each finding's own)")
    sp.add_argument("--items", nargs="+", metavar="ID", action=Repeatable, help="only these evidence items")
    sp.add_argument("--sign-key", metavar="KEY", help="sign the audit head the report prints with this Ed25519 "
                                                      "private key (`declip case keygen`)")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("keygen", help="make an examiner signing key (Ed25519) for `report --sign-key`")
    sp.add_argument("--out", required=True, metavar="KEY", help="private key file to create (KEY.pub is written too)")
    sp.set_defaults(func=cmd_keygen)

    for action in sub.choices.values():  # every case command, provenance included
        action.set_defaults(func=_os_errors_in_words(action.get_default("func")))


def _os_errors_in_words(func):
    """A file the command could not write or read (a full disk, an I/O error, no permission) is one line
    naming the file and the cause, never an 'internal error'. Case files are replaced whole, so the one
    that failed still holds its previous content."""
    @functools.wraps(func)
    def run(args):
        try:
            return func(args)
        except (BrokenPipeError, KeyboardInterrupt):
            raise
        except DeclipError as exc:
            # messages quote names from the case and its files (paths, a lock's user and host): one
            # terminal line, control characters escaped, whatever a hostile case folder holds
            if len(exc.args) == 1 and isinstance(exc.args[0], str):
                exc.args = (_printable(exc.args[0]),)
            raise
        except OSError as exc:
            name = os.fsdecode(exc.filename) if exc.filename is not None else ""
            why = f"{name + ': ' if name else ''}{exc.strerror or exc}"
            if exc.errno in DISK_FULL:
                why += " (the disk is full; no case file was left half-written: free space, then run the command again)"
            raise CaseError(_printable(why)) from None
    return run


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _open(args, readonly: bool = False) -> Case:
    return Case.open(args.dir, examiner=getattr(args, "examiner", None), readonly=readonly)


# -- handlers --------------------------------------------------------------------------------------
def cmd_new(args) -> int:
    with Case.create(args.dir, title=args.title, number=args.number, examiner=args.examiner,
                     organisation=args.org, description=args.description) as case:
        print(_printable(f"created case {case.path} (uuid {case.uuid})"))
    return 0


def cmd_edit(args) -> int:
    fields = {k: v for k, v in (("title", args.title), ("number", args.number), ("examiner", args.case_examiner),
                                ("organisation", args.org), ("description", args.description)) if v is not None}
    if not fields:
        raise CaseError("nothing to change: give --title, --number, --case-examiner, --org or --description")
    with _open(args) as case:
        before = case.info
        case.update_info(**{k: v.strip() if k != "description" else v for k, v in fields.items()})
        after = case.info
    changed = [k for k in fields if before[k] != after[k]]
    print(_printable(f"changed {', '.join(changed)}" if changed else "no change (the values were already set)"))
    return 0


def cmd_add(args) -> int:
    tty = sys.stderr.isatty()

    def progress(done: int, total: int, msg: str) -> None:
        if tty and total:
            print(f"\r[{done}/{total}] {_printable(msg)[:60]:<60}", end="", file=sys.stderr, flush=True)

    if not args.paths and not args.resume:
        args._parser.error("give the files or folders to add (or --resume)")
    with _open(args) as case:
        if args.resume:
            rep = case.resume_ingest(trust_anchors=args.trust_anchors)
            if args.paths:
                more = case.add_paths(args.paths, progress=progress, trust_anchors=args.trust_anchors)
                for key in ("added", "skipped", "duplicates", "errors"):
                    getattr(rep, key).extend(getattr(more, key))
                rep.cancelled = more.cancelled
            elif not rep.added and not rep.errors:
                print("nothing to resume: every item the audit log added is in the index")
        else:
            rep = case.add_paths(args.paths, progress=progress, trust_anchors=args.trust_anchors)
    if tty:
        print(file=sys.stderr)
    for it in rep.added:
        print(_printable(f"added {it.id} {it.file_name}  sha256 {it.sha256}{provenance_suffix(it)}"))
        note = dimension_warning(it)
        if note:
            _err(f"warning: {_printable(note)}")
    for iss in rep.duplicates:
        _err(_printable(f"refused {iss}"))
    for iss in rep.errors:
        _err(_printable(f"error {iss}"))
    for iss in rep.skipped:
        _err(_printable(f"skipped {iss}"))
    print(f"{len(rep.added)} added, {len(rep.duplicates)} duplicate(s) refused, {len(rep.skipped)} skipped, "
          f"{len(rep.errors)} error(s)")
    # Non-images met while walking a folder are expected (sidecars, notes); anything the user named
    # explicitly that was not added, and every duplicate or read error, makes the run "partly failed".
    failed = rep.duplicates or rep.errors or any(i.explicit for i in rep.skipped) or rep.cancelled
    return 1 if failed else 0


def _detector(args):
    try:
        from engine import Detector
    except ImportError as exc:
        raise CaseError(f"the analysis engine is not available ({exc})") from None
    kwargs = {}
    if args.device:
        kwargs["device"] = args.device
    if args.precision:
        kwargs["precision"] = args.precision
    try:
        return Detector.from_model(args.model or None, **kwargs)
    except TypeError as exc:
        raise CaseError(f"this engine does not accept {', '.join('--' + k for k in kwargs)} ({exc})") from None


def _comma_list(text: str) -> list[str]:
    """'ela,clones' as ['ela', 'clones']; '' as [] (unpin all)."""
    return [part for part in text.split(",") if part] if text else []


def _layer_names(text: str) -> list[str]:
    from engine.evidence.outputs import layers_arg

    return layers_arg(text)


def _split_evidence_arg(values: list[str] | None) -> tuple[list[str], list[str]]:
    """(layers, item refs) of `case analyze --evidence`. The flag means layers in `declip analyze`, so a
    value made only of layer names (or 'all') means layers here too; anything else is an item reference
    (an item whose file is named like a layer is still chosen by its id or sha256, or with --items)."""
    from engine.evidence import EvidenceError, parse_layers

    layers: list[str] = []
    refs: list[str] = []
    for value in values or []:
        try:
            layers += [n for n in parse_layers(value) if n not in layers]
        except EvidenceError:
            refs.append(value)
    return layers, refs


def _resolve(case, ref: str, via_evidence_flag: bool):
    """The item `ref` names; given with --evidence, a ref that is neither an item nor a layer says both."""
    try:
        return case.resolve(ref)
    except CaseError as exc:
        if not via_evidence_flag:
            raise
        from engine.evidence import LAYER_NAMES

        raise CaseError(f"{exc}; nor is it an evidence layer ({', '.join(LAYER_NAMES)} or all)") from None


def cmd_analyze(args) -> int:
    if (args.tile_stride is not None or args.tile_scale is not None) and args.mode != "tiled":
        args._parser.error("--tile-stride and --tile-scale need --mode tiled")
    try:
        return _analyze(args)
    finally:  # --threads is given back after the run (in-process callers, the GUI's process, tests)
        restore_threads(args)


def _analyze(args) -> int:
    from engine.cli import set_threads

    from .analysis_run import analyze_each, run_analysis

    layers_asked, evidence_refs = _split_evidence_arg(args.evidence)
    args.layers = list(args.layers) + [n for n in layers_asked if n not in args.layers]
    layer_params = None
    if args.evidence_param:  # checked before the case is opened or a model loaded
        from engine.evidence import parse_layer_params

        from engine.evidence import EvidenceError

        try:
            layer_params = parse_layer_params(args.evidence_param, args.layers)
        except EvidenceError as exc:  # a usage error (exit 2), as in `declip analyze`
            args._parser.error(str(exc))
    refs = list(args.items or []) + evidence_refs
    with _open(args) as case:
        items = [_resolve(case, ref, ref in evidence_refs) for ref in refs] if refs else case.evidence
        if not items:
            print("no evidence in the case")
            return 0
        set_threads(args)  # before the network is built, as `declip analyze` does
        det = _detector(args)
        tiling = {k: v for k, v in (("stride", args.tile_stride), ("scale", args.tile_scale)) if v is not None}
        if tiling.get("stride", 0) > getattr(det, "input_size", tiling.get("stride", 0)):
            args._parser.error(f"--tile-stride must be at most the model's {det.input_size} px window, "
                               f"found {args.tile_stride}")
        for it in items:
            note = dimension_warning(it)
            if note:
                _err(f"warning: {_printable(note)}")
        tty = sys.stderr.isatty()
        started = [time.monotonic()]

        def tiles(n: int, it, done: int, total: int) -> None:
            if tty and total > 1:  # tiled mode on a large image can take minutes: show the tiles moving
                print(f"\r{it.id} {_printable(it.file_name)}: tile {done}/{total}", end="",
                      file=sys.stderr, flush=True)

        def shown(done) -> None:
            head = f"[{done.index + 1}/{done.total}] {done.item.id} {_printable(done.item.file_name)}"
            if tty:
                print("\r", end="", file=sys.stderr)
            if done.error:
                _err(f"{head}: FAILED: {_printable(done.error)}")
            else:
                _err(f"{head}: score {done.stored.score:.4f} ({time.monotonic() - started[0]:.1f} s)")
                # what reading the file changed or found (EXIF orientation, first frame of many, damage), as
                # `declip analyze` says it; it is stored with the analysis too
                image = ((done.stored.result or {}).get("metadata") or {}).get("image") or {}
                for note in image.get("notes") or []:
                    _err(f"  {done.item.id}: note: {_printable(note)}")
            started[0] = time.monotonic()

        run = run_analysis(case, det, items, args.mode, on_item=shown, force=args.force, tiling=tiling,
                           results=analyze_each(det, args.mode, progress=tiles, tiling=tiling))
        if run.up_to_date:
            _err(f"{len(run.up_to_date)} item(s) already analysed with {run.model_id} ({args.mode}); "
                 "use --force to redo")
        layers_failed = 0
        if args.layers:  # evidence layers are stored as analyses too (declip_desktop/case/evidence_layers.py)
            from .evidence_layers import store_layers

            layers = store_layers(case, items, args.layers, force=args.force, say=lambda m: _err(_printable(m)),
                                  params=layer_params)
            print(f"evidence layers: {len(layers.stored)} stored, {len(layers.not_applicable)} not applicable, "
                  f"{len(layers.failed)} failed, {len(layers.up_to_date)} already up to date")
            layers_failed = len(layers.failed)
    print(f"{len(run.analysed)} analysed, {len(run.failed)} failed, {len(run.up_to_date)} already up to date")
    return 1 if run.failed or layers_failed else 0


def _tile_progress(n: int, total: int, it):
    def cb(done: int, tiles: int, _msg: str) -> None:
        if tiles > 1:  # tiled mode on a large image can take minutes: show the tiles moving
            print(f"\r[{n}/{total}] {it.id} {it.file_name}: {done}/{tiles}", end="", file=sys.stderr, flush=True)
    return cb


def _status_rows(case: Case) -> list[dict]:
    rows = []
    for it in case.evidence:
        f = case.finding(it.id)
        an = [{"model_id": a.model_id, "mode": a.mode, "score": a.score, "stored_utc": a.stored_utc,
               "current": a.record.get("evidence_sha256") == it.sha256} for a in case.analyses(it.id)]
        rows.append({"id": it.id, "file_name": it.file_name, "sha256": it.sha256, "width": it.width,
                     "height": it.height, "analyses": an, "finding": f.to_dict(),
                     "provenance": stored_record(it.metadata)})
    return rows


def _score(analysis: dict) -> str:
    return f"{analysis['score']:.4f}" if analysis["score"] is not None else "-"


def cmd_status(args) -> int:
    with _open(args, readonly=True) as case:
        rows = _status_rows(case)
        head = {"path": str(case.path), "title": case.title, "number": case.number, "examiner": case.examiner,
                "organisation": case.organisation, "uuid": case.uuid, "created_utc": case.created_utc,
                "modified_utc": case.modified_utc}
    if args.json:
        print(json.dumps({"case": head, "evidence": rows}, ensure_ascii=False, indent=2))
        return 0
    print(_printable(f"{head['title']}  (case {head['number']}, examiner {head['examiner']}"
                     f"{', ' + head['organisation'] if head['organisation'] else ''})"))
    print(f"{len(rows)} evidence item(s)")
    if any(a["mode"] == "evidence" for r in rows for a in r["analyses"]):
        print("layer scores: the share of the image above 0.5 (clones: strength of the strongest confirmed copy)")
    for r in rows:
        f = r["finding"]
        note = f"  note: {f['note']}" if f.get("note") else ""
        print(_printable(f"{r['id']}  {r['file_name']}  {r['width']}x{r['height']}  finding: {f['status']}{note}"))
        # the learned maps and the evidence layers on lines of their own: seven analyses on the item's
        # line made it unreadable in a terminal
        maps = [a for a in r["analyses"] if a["mode"] != "evidence"]
        layers = [a for a in r["analyses"] if a["mode"] == "evidence"]
        print(_printable("       maps: " + ("; ".join(f"{a['model_id']} ({a['mode']}) score " + _score(a) for a in maps)
                                            or "not analysed")))
        if layers:
            pins = f.get("layers") if isinstance(f.get("layers"), list) else []  # as findings.json holds them
            pinned = f"  (pinned: {', '.join(map(str, pins))})" if pins else ""
            print(_printable("       layers: " + ", ".join(f"{a['model_id'].removeprefix('evidence-')} {_score(a)}"
                                                         for a in layers) + pinned))
        print(_printable(f"       Content Credentials: {status_line(r['provenance'])}"))
    return 0




def cmd_finding(args) -> int:
    with _open(args) as case:
        it = case.resolve(args.evidence)
        # Pin the finding to one analysis, so a later re-analysis (another model or mode) is not
        # shown beside it in the report as if it were what the examiner looked at.
        sa = case.analysis_for(it.id, model_id=args.model, mode=args.mode)
        if sa is not None and sa.mode == "evidence" and not (args.model or args.mode):
            # the latest may be an evidence layer (those are pinned with --pin-layers): credit the learned map
            sa = max((a for a in case.analyses(it.id) if a.mode != "evidence"), key=lambda a: a.stored_utc or "",
                     default=None)
        if sa is None and (args.model or args.mode):
            raise CaseError(f"{it.id} has no analysis with model {args.model or 'any'} and mode {args.mode or 'any'}")
        f = case.set_finding(it.id, args.status, note=args.note, threshold=args.threshold, opacity=args.opacity,
                             model_id=sa.model_id if sa else None, mode=sa.mode if sa else None,
                             layers=args.pin_layers)
        unstored = [n for n in (f.layers or []) if case.analysis_for(it.id, model_id=f"evidence-{n}", mode="evidence") is None]
    print(_printable(f"{it.id} {it.file_name}: {f.status}" + (f" (on the {sa.model_id} {sa.mode} analysis)" if sa else "")))
    if unstored:
        # pinned all the same (the examiner's choice), but the report can only say it is not shown
        _err(_printable(f"note: {it.id} has no stored analysis of {', '.join(unstored)} (not run, or the layer does "
                        f"not apply to this image): the report lists {'it' if len(unstored) == 1 else 'them'} as pinned "
                        f"but cannot show {'it' if len(unstored) == 1 else 'them'}; "
                        f"`declip case analyze {args.dir} --items {it.id} --layers {','.join(unstored)}` stores it"))
    return 0


def _open_or_read_only(args, doing: str) -> tuple[Case, bool]:
    """(case, writable). A case open elsewhere or archived write-protected can still be checked
    and reported on, read-only; the check or report is then not logged in it."""
    try:
        return _open(args), True
    except READ_ONLY_STILL_WORKS as exc:
        _err(f"note: {exc}; {doing} read-only, not logged in the case")
        return _open(args, readonly=True), False


VERIFY_NOT_RUN = 2  # "could not verify", as a usage error: never 1, which means the check ran and failed


def cmd_verify(args) -> int:
    """0 intact, 1 integrity failure, 2 could not verify (no case there, an unreadable case.json or
    index, a bad --against/--head/--pubkey, an internal error). A script must tell 1 (evidence of
    tampering) from 2 (nothing was checked); with --json both print one JSON object."""
    try:
        # OSErrors become one CaseError line here, as for every case command
        return _os_errors_in_words(_verify)(args)
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if not isinstance(exc, DeclipError) and os.environ.get("DECLIP_DEBUG"):
            raise
        why = str(exc) if isinstance(exc, DeclipError) else f"internal error: {type(exc).__name__}: {exc}"
        why = _printable(why)
        _err(f"declip: error: {why}" if isinstance(exc, DeclipError) else f"declip: {why}")
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, "verified": False, "error": why, "exit_code": VERIFY_NOT_RUN,
                              "case": args.dir}, ensure_ascii=False, indent=2))
        return VERIFY_NOT_RUN


def _verify(args) -> int:
    from .anchor import head_from_report, parse_head

    head = head_from_report(args.against) if args.against else parse_head(args.head) if args.head else None
    if args.pubkey:
        if head is None:
            raise CaseError("--pubkey needs --against REPORT.pdf")
        from .signing import read_public_key

        head["expected_public_key"] = read_public_key(args.pubkey)
    case, _writable = _open_or_read_only(args, "verifying")
    with case:
        rep = case.verify(against=head)
    if args.json:
        print(json.dumps(rep.to_dict() | {"verified": True, "error": None, "exit_code": 0 if rep.ok else 1,
                                          "against": head}, ensure_ascii=False, indent=2))
    else:
        for w in rep.warnings:
            print(_printable(f"warning: {w}"))
        for p in rep.problems:
            print(_printable(f"FAIL: {p.message}"))
        for note in rep.notes:
            if _writable or not note.startswith("opened read-only"):  # read-only was said when the case was opened
                _err(_printable(f"note: {note}"))
        state = "INTACT" if rep.ok else f"INTEGRITY FAILURE ({rep.summary()})"
        anchored = (f"; unchanged up to entry {head['entries']} as witnessed by {_printable(head['source'])}"
                    + (f", whose head is signed by examiner key {head['signature']['public_key']}"
                       if head.get("signature") else "") if head and rep.ok else "")
        print(f"{state}: {rep.checked_files} evidence file(s) re-hashed, {rep.audit_entries} audit entries checked"
              f"{anchored}")
    return 0 if rep.ok else 1


def cmd_keygen(args) -> int:
    from .signing import keygen

    pub = keygen(args.out)
    print(_printable(f"private key {args.out} (keep it to yourself); public key {args.out}.pub: {pub}"))
    return 0


def cmd_log(args) -> int:
    with _open(args, readonly=True) as case:
        entries = case.audit_entries()
    for e in entries:
        if args.json:
            print(json.dumps(e, ensure_ascii=False))
        elif "invalid" in e:
            print(f"{e['seq']:>5}  <damaged entry: {e['invalid']}>")
        else:
            d = json.dumps(e.get("details", {}), ensure_ascii=False)
            print(_printable(f"{e.get('seq'):>5}  {e.get('time_utc')}  {e.get('examiner')} ({e.get('os_user')})  "
                             f"{e.get('action')}  {d[:200]}{'...' if len(d) > 200 else ''}"))
    return 0


def cmd_report(args) -> int:
    try:
        from declip_desktop.report import build_report
    except ImportError as exc:
        raise CaseError(f"PDF reports are not available in this build (declip_desktop.report: {exc})") from None
    from .report_target import check_report_target

    case, _ = _open_or_read_only(args, "reporting")
    with case:
        check_report_target(case, args.out)  # never over evidence or case data
        # build_report verifies the case, writes the PDF (+ .sha256) and logs the report's hash itself.
        signing = {"sign_key": args.sign_key} if args.sign_key else {}
        try:
            info = build_report(case, args.out, threshold=args.threshold, items=args.items, **signing)
        except OSError as exc:  # e.g. a folder where files cannot be created: one line, not an internal error
            raise CaseError(f"{args.out}: cannot write the report ({exc.strerror or exc})") from None
    path = getattr(info, "path", args.out)
    sha = getattr(info, "sha256", None)
    print(_printable(f"report written to {path}" + (f"  sha256 {sha}" if sha else "")))
    bad = list(getattr(info, "integrity_failures", None) or [])
    if bad:  # the report flags them; the console must not look like all is well
        _err(f"warning: the report flags {len(bad)} item(s) whose evidence copy failed its integrity check: "
             f"{', '.join(bad[:10])}{' …' if len(bad) > 10 else ''} (see `declip case verify`)")
    return 0
