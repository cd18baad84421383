"""`declip models fetch` and `declip models pack` (registered under `declip models`)."""
from __future__ import annotations

import sys
import time



def register_models(msub) -> None:
    fe = msub.add_parser("fetch", help="download released models (after accepting their licence) and import them",
                         description="Download the released DeCLIP models named by the shipped release cards, "
                                     "verify them and import them. The only command that uses the network.")
    fe.add_argument("ids", nargs="*", metavar="ID")
    fe.add_argument("--list", action="store_true", help="list the releases that can be fetched")
    fe.add_argument("--accept-licence", "--accept-license", action="store_true", dest="accept_licence",
                    help="accept the licences shown (otherwise you are asked; without a terminal, nothing is fetched)")
    fe.add_argument("--base-url", metavar="URL", help="a mirror that keeps the original paths (URL + each file's path)")
    fe.add_argument("--dest", metavar="DIR", help="download into DIR and keep the verified files there")
    fe.add_argument("--pack", metavar="FILE", help="write the model to one .declipmodel pack instead of installing it")
    fe.add_argument("--timeout", type=float, default=60.0, help="seconds without data before a retry (default 60)")
    fe.add_argument("--retries", type=int, default=5, help="retries per file, with backoff (default 5)")
    fe.set_defaults(func=cmd_models_fetch, _parser=fe)
    pk = msub.add_parser("pack", help="write a model to one verifiable .declipmodel file (for air-gapped machines)")
    pk.add_argument("id")
    pk.add_argument("--out", required=True, metavar="FILE")
    pk.set_defaults(func=cmd_models_pack)


def cmd_models_fetch(args) -> int:
    from .fetch import fetch_models, release_cards

    catalogue = release_cards()
    if args.list:
        return _list(catalogue)
    if not args.ids:
        args._parser.error("name at least one ID (see `declip models fetch --list`)")
    if args.base_url and not args.base_url.startswith(("http://", "https://")):
        args._parser.error(f"--base-url must start with http:// or https://, found {args.base_url!r}")

    def accept(text: str) -> bool:
        from .text import printable

        print("Licences of the files to be downloaded:\n" + "\n".join(printable(t) for t in text.splitlines()),
              file=sys.stderr)
        if args.accept_licence:
            print("Accepted with --accept-licence.", file=sys.stderr)
            return True
        if not sys.stdin.isatty():
            return False
        return input("Accept these licences and download? [y/N] ").strip().lower() in ("y", "yes")

    cards = fetch_models(args.ids, catalogue=catalogue, accept=accept,
                         accepted_how="--accept-licence" if args.accept_licence else "prompt",
                         base_url=args.base_url, dest=args.dest, pack=args.pack, progress=_Reporter(),
                         log=lambda m: print(f"declip: {m}", file=sys.stderr), timeout=args.timeout,
                         retries=args.retries)
    if args.pack is None:
        for c in cards:
            print(f"installed {c.id}")
            for f in c.files:
                print(f"  [{f['role']}] {f['name']} sha256={f['sha256']} [{f.get('sha256_origin', '')}]")
    return 0


def _list(catalogue) -> int:
    from .download import human_bytes  # here, not at the top: download pulls in http.client, ssl, email
    from .fetch import ROLE_WORD, release_size
    from .store import ModelStore
    from .text import printable

    store = ModelStore()
    states = {e.card.id: e for e in store.list()}
    print(f"{'ID':30} {'SIZE':>10}  {'STATE':13} TRAINING DATA / LICENCES")
    for c in catalogue:
        e = states.get(c.id)
        state = "installed" if e and e.location == "store" and e.status == "ready" else "not installed"
        size = release_size(c)
        known = sum(f.get("size") or 0 for f in c.files)
        size_text = human_bytes(size) if size is not None else f">{human_bytes(known)}"
        print(f"{c.id:30} {size_text:>10}  {state:13} {printable(c.training_data)}")
        by_licence: dict[str, list[str]] = {}
        for f in c.files:
            by_licence.setdefault(f.get("licence") or c.license, []).append(ROLE_WORD.get(f["role"], f["role"]))
        print(f"{'':56} " + printable("; ".join(f"{lic} ({', '.join(roles)})" for lic, roles in by_licence.items())))
    print("\nSizes with '>' leave out files whose size is not published. "
          "CLIP files are shared between models and fetched once.")
    return 0


class _Reporter:
    """Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, p) -> None:
        now = time.monotonic()
        finished = p.total is not None and p.done >= p.total
        if now - self.last < (0.2 if self.tty else 5.0) and not finished:
            return
        self.last = now
        if self.tty:
            print("\r" + p.line().ljust(100), end="\n" if finished else "", file=sys.stderr, flush=True)
        else:
            print(p.line(), file=sys.stderr, flush=True)


def cmd_models_pack(args) -> int:
    from pathlib import Path

    from .packs import pack_model
    from .store import ModelStore

    path, digest = pack_model(ModelStore(), args.id, Path(args.out))
    print(f"wrote {path}\nSHA-256 {digest}")
    return 0
