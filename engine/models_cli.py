"""`declip models ...`: list, show, import, verify, remove and choose the default model (the store's
commands; fetch and pack are registered from engine.fetch_cli)."""
from __future__ import annotations

import argparse
import json

from .errors import DeclipError
from .text import json_text, printable


def register_models_commands(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("models", help="list, show, import, verify and remove models")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION")
    msub.required = True
    ls = msub.add_parser("list", help="list known models and their state")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_models_list)
    sh = msub.add_parser("show", help="show a model card")
    sh.add_argument("id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=cmd_models_show)
    im = msub.add_parser("import", help="import an official DeCLIP .pth (with CLIP weights), a trained model "
                                        "folder or a .declipmodel pack")
    im.add_argument("path")
    im.add_argument("--backbone-weights", action="append", default=[], metavar="PATH")
    im.add_argument("--id", dest="model_id")
    im.add_argument("--name")
    im.add_argument("--json", action="store_true")
    im.set_defaults(func=cmd_models_import)
    ve = msub.add_parser("verify", help="re-hash a model's files against its card (exit 1 on mismatch)")
    ve.add_argument("id")
    ve.add_argument("--json", action="store_true")
    ve.set_defaults(func=cmd_models_verify)
    rm = msub.add_parser("remove", help="remove an imported model")
    rm.add_argument("id")
    rm.set_defaults(func=cmd_models_remove)
    de = msub.add_parser("default", help="show or set the default model")
    de.add_argument("id", nargs="?")
    de.set_defaults(func=cmd_models_default)
    from .fetch_cli import register_models  # fetch (the only network use) and pack

    register_models(msub)


def _store():
    from .store import ModelStore

    return ModelStore()


def cmd_models_list(args) -> int:
    store = _store()
    entries = store.list()
    default = store.default_id
    if args.json:
        print(json_text([dict(e.card.to_dict(), status=e.status, location=e.location,
                           default=e.card.id == default) for e in entries], indent=2))
        return 0
    print(f"{'':2}{'ID':40} {'STATUS':14} {'BACKBONE':34} DECODER")
    for e in entries:
        mark = "* " if e.card.id == default else "  "
        print(f"{mark}{e.card.id:40} {e.status:14} {printable(e.card.backbone_name)[:34]:34} "
              f"{printable(e.card.decoder_name)}")
    print(f"\n* default model. Store: {printable(store.home)}")
    return 0


def cmd_models_show(args) -> int:
    from .cards import FLIP_AVERAGE_TEXT

    e = _store().find(args.id)
    if args.json:
        print(json_text(dict(e.card.to_dict(), status=e.status, location=e.location), indent=2))
        return 0
    c = e.card
    rows = [("id", c.id), ("name", c.name), ("status", f"{e.status} ({e.location})"),
            ("folder", str(c.root) if c.root else "(none)"), ("source", c.source or "(not recorded)"),
            ("created", f"{c.created_utc} (UTC)" if c.created_utc else "(not recorded)"),
            ("imported", f"{c.extra['imported_utc']} (UTC)" if c.extra.get("imported_utc") else "(not recorded)"),
            ("backbone", c.backbone_name),
            ("feature layer", c.feature_layer), ("decoder", c.decoder_name),
            ("input", f"{c.input.get('size')} px, {c.input.get('resize')}, mean {c.input.get('mean')}, std {c.input.get('std')}"
                      + (f"; {FLIP_AVERAGE_TEXT}" if c.flip_average else "")),
            ("license", c.license), ("training data", c.training_data), ("intended use", c.intended_use),
            ("limitations", c.limitations)]
    from .validation_text import lines, training_summary

    # the independent figure comes first, in words: it is what an examiner can quote
    rows[3:3] = [("validated", v) for v in lines(c.validation)] or [("validated", "no validation recorded on this card")]
    if c.training:
        rows.append(("training", training_summary(c.training)))
    for f in c.files:
        rows += _file_rows(c, f)
    if c.metrics:
        rows.append(("metrics", json.dumps(c.metrics)))
    for k, v in rows:
        # card text comes from users' folders and packs: control characters are shown, never obeyed
        print(f"{k:>14}: {printable(v)}" if k else f"{'':16}{printable(v)}")
    return 0


def _file_rows(card, f: dict) -> list[tuple[str, str]]:
    """What an examiner quotes about one file: its name and role, size, SHA-256 (and how it is
    known) and where it lives."""
    from .fetch import hash_note

    note = hash_note(f)
    path = card.path_of(f["role"])
    size = f.get("size")
    if size is None and path is not None and path.is_file():
        size = path.stat().st_size
    return [("file", f"[{f['role']}] {f['name']}"),
            ("", f"size {size:,} bytes" if isinstance(size, int) else "size (not recorded)"),
            ("", f"sha256 {f.get('sha256') or '(recorded at import)'}" + (f"  [{note}]" if note else "")),
            ("", f"location {path.resolve() if path is not None else '(not in the store)'}")]


def cmd_models_import(args) -> int:
    from .packs import import_pack, is_pack

    if is_pack(args.path):
        if args.backbone_weights or args.model_id or args.name:
            raise DeclipError("a .declipmodel pack carries its own card and files; "
                              "--backbone-weights, --id and --name do not apply")
        card = import_pack(args.path, _store())
    else:
        card = _store().import_path(args.path, args.backbone_weights, model_id=args.model_id, name=args.name)
    if args.json:
        print(json_text(card.to_dict(), indent=2))
    else:
        print(printable(f"imported {card.id} ({card.backbone_name}, {card.decoder_name})"))
        for f in card.files:
            print(printable(f"  [{f['role']}] {f['name']} sha256={f['sha256']}"))
    return 0


def cmd_models_verify(args) -> int:
    rows = _store().verify(args.id)
    bad = [r for r in rows if not r["ok"]]
    if args.json:
        print(json.dumps({"id": args.id, "ok": not bad, "files": rows}, indent=2))
    else:
        for r in rows:
            state = "OK" if r["ok"] else r["problem"].upper()
            print(printable(f"{state:14} [{r['role']}] {r['name']}"))
            if not r["ok"] and r["actual"]:
                print(f"{'':14} expected {r['expected']}\n{'':14} found    {r['actual']}")
    return 1 if bad else 0


def cmd_models_remove(args) -> int:
    problem = _store().remove(args.id)
    print(printable(f"removed {args.id}" + (f" (its card was unreadable: {problem})" if problem else "")))
    return 0


def cmd_models_default(args) -> int:
    store = _store()
    if args.id:
        store.default_id = args.id
    print(printable(store.default_id))
    return 0
