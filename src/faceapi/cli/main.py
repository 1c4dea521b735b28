"""Entry point of the `faceapi` command. Results go to stdout (JSON lines), messages to stderr."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from faceapi import __version__
from faceapi.errors import FaceApiError

#: Errors of a full or failing disk (stdout to a file, too): a clear message, not a traceback.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})

#: Subcommand modules under faceapi.cli; each has register(subparsers) that sets `func` on its parser.
SUBCOMMANDS = ("models_cmd", "detect_cmd", "analyze_cmd", "verify_cmd", "find_cmd", "serve_cmd", "people_cmd",
               "export_cmd", "eval_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceapi", description="face-api.js's nets in Python")
    parser.add_argument("--version", action="version", version=f"faceapi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"faceapi.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"faceapi.cli.{name}":
                continue  # that subcommand is not part of this build
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv) == ["--version"]:  # without importing the subcommands
        print(f"faceapi {__version__}")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except FaceApiError as exc:
        print(f"faceapi: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("faceapi: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        print(f"faceapi: error: {exc.filename or 'writing the output'}: {exc.strerror}", file=sys.stderr)
        _drop_stdout()
        return 1


def _drop_stdout() -> None:
    """Point stdout at /dev/null: what is left in its buffer cannot be written either, and flushing it at
    exit would print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (captured in-process): nothing to drop
        pass


if __name__ == "__main__":
    sys.exit(main())
