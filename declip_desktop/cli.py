"""`declip`: the headless command line. Each package registers its own subcommands.

Exit codes: 0 success, 1 some inputs failed (the rest were processed), 2 usage error.
Errors are printed as one line on stderr; tracebacks only with DECLIP_DEBUG=1.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading

from engine.errors import DeclipError


# The packages whose `register(subparsers)` adds their commands. Each keeps its heavy imports
# (numpy, torch, the model code) inside its commands, so building the parser stays cheap.
COMMAND_MODULES = ("engine.cli", "trainer.cli", "declip_desktop.case.cli", "declip_desktop.validate_cli")


class BrokenInstall(DeclipError):
    """A command module, or a module it needs, cannot be imported: the installation is incomplete."""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="declip", description="DeCLIP Desktop: localise manipulated regions in photos.")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for modname in COMMAND_MODULES:
        try:
            mod = importlib.import_module(modname)
        except ImportError as exc:
            # Never drop a command silently: a missing dependency is a broken install, say which.
            missing = exc.name or str(exc)
            raise BrokenInstall(f"cannot load the commands of {modname}: module {missing!r} is missing "
                                f"({exc}); reinstall DeCLIP Desktop with its dependencies") from exc
        mod.register(sub)
    return parser


class _VersionAction(argparse.Action):
    """--version, with the version looked up only when asked for (importlib.metadata costs ~25 ms
    of every command's start-up)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the program's version number and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())  # on stdout, as argparse's own version action prints it
        parser.exit()


def _version() -> str:
    from engine.versions import app_version

    return f"declip {app_version()}"


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except BrokenInstall as exc:
        if os.environ.get("DECLIP_DEBUG"):
            raise
        print(f"declip: error: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # surface a closed pipe here, not in the interpreter's exit flush
    except BrokenPipeError:
        # `declip models list | head -1`: the reader went away; stop quietly (Python docs' recipe)
        from engine.cli import silence_stream

        silence_stream("stdout")
        return 1
    except DeclipError as exc:
        print(f"declip: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("declip: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, the traceback only on request
        if os.environ.get("DECLIP_DEBUG"):
            raise
        print(f"declip: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return int(rc or 0)


def run() -> None:
    """The `declip` process: main(), then exit. After a model ran, the interpreter's own teardown
    (collecting and freeing torch's ~10^5 objects and a 1-2 GB heap, one object at a time) took
    0.5-0.9 s of a 4 s one-photo analysis. By then every file is written, closed and renamed into
    place, so when no other Python thread is left, the exit handlers run, the output is flushed and
    the process ends at once (os._exit). Otherwise, or without torch, it exits the ordinary way.
    Before main(), large blocks are set to be reused from glibc's heap (engine.heap: about a sixth
    less wall time per photo in a folder, the same outputs); tests call main() in their own process, which
    keeps its settings."""
    from engine.heap import reuse_large_blocks

    reuse_large_blocks()
    rc = main()
    if "torch" in sys.modules and threading.active_count() == 1:
        import atexit

        atexit._run_exitfuncs()  # what the interpreter would run at exit (logging, weakref finalizers)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
                pass
        os._exit(rc)
    sys.exit(rc)


if __name__ == "__main__":
    run()
