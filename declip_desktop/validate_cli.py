"""`declip validate`: re-hash a model's files, run the bundled golden set, compare with the recorded
maps, print PASS/FAIL per item, and write a validation record (JSON + one-page PDF).

Exit 0 when everything passes, 1 otherwise. The record always goes to $DECLIP_HOME/validation/
(the report cites the newest there) and also to --out when given."""
from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
from pathlib import Path

from engine.cli import device_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check this installation against the bundled golden set (exit 1 on any FAIL)")
    p.add_argument("--model", default=None, metavar="ID|DIR", help="model to validate (default: the default model)")
    p.add_argument("--device", default="cpu", type=device_arg, help="cpu, cuda, cuda:N or auto (default cpu)")
    p.add_argument("--precision", default="exact", choices=["exact", "fast"])
    p.add_argument("--out", type=Path, default=None, help="also write the record (JSON + PDF) into this folder")
    p.set_defaults(func=cmd_validate)


def validate(model=None, device="cpu", precision="exact", out: Path | None = None, progress=None, cancel=None):
    """Run the validation and write its record; returns (Validation, record dict, [written paths])."""
    from engine.golden import GOLDEN_FILE, golden_dir, records_dir, run_validation, write_record

    from .report.validation_pdf import write_validation_pdf

    v = run_validation(model, device=device, precision=precision, progress=progress, cancel=cancel)
    golden_sha = hashlib.sha256((golden_dir() / GOLDEN_FILE).read_bytes()).hexdigest()
    record = v.record(golden_sha)
    json_path = write_record(record, records_dir())
    written = [json_path, write_validation_pdf(record, json_path.with_suffix(".pdf"))]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        written += [Path(shutil.copy2(p, out / p.name)) for p in written[:2]]
    return v, record, written


def cmd_validate(args) -> int:
    def progress(done, total, name):
        print(f"validate {done}/{total}", file=sys.stderr, flush=True)

    if args.out is not None:
        # checked before the golden set runs, not after it (a file there used to end the run in a traceback line)
        from engine.cli import prepare_out

        prepare_out(args.out, "the record's copies")
    v, record, written = validate(args.model, args.device, args.precision, args.out, progress)
    dtype = f" ({v.dtype})" if v.dtype else ""
    print(f"model {v.model_id} ({v.model_name}) on {v.device_name or args.device}, precision {v.precision or args.precision}{dtype}")
    for f in v.files:
        print(f"{'PASS' if f['ok'] else 'FAIL'}  file {f['name']:<23} sha256 {'matches the card' if f['ok'] else 'DIFFERS from the card'}")
    for i in v.items:
        print(i.line())
    for p in v.problems:
        print(f"FAIL  {p}")
    for n in v.notes:
        print(f"NOTE  {n}")
    print(f"validation {record['result']}: record {written[0]} (+ PDF)" + (f"; copies in {args.out}" if args.out else ""))
    return 0 if v.ok else 1
