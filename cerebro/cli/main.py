"""Entry point of the ``cerebro`` command: discovers sub-commands and turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import Any

import cerebro
import cerebro.cli
from cerebro.cli._common import printable
from cerebro.cli._parent import watch_parent
from cerebro.errors import Cancelled, CerebroError


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error:`` line (with where to look) and exit status 2, as every
    other user error, instead of the usage block; sub-command parsers are of this class too."""

    arguments: Sequence[str] = ()  # the command line being parsed, for the hint below

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = ""
        dashed = [a for a in self.arguments if a.startswith("-") and len(a) > 1 and os.path.exists(a)]
        if dashed:
            hint = f" ({dashed[0]} is a file: put -- before file names that start with '-', or write ./{dashed[0]})"
        self.exit(2, f"error: {printable(message)}{hint}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command module of :mod:`cerebro.cli` registered."""
    parser = OneLineParser(
        prog="cerebro",
        description="CerebroBench: compress 3D brain angiography (CTA / TOF-MRA) and measure what "
        "the compression does to automated vessel segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"cerebro {cerebro.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cerebro.cli.__path__), key=lambda i: i.name):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cerebro.cli.{info.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that it ends as a Ctrl+C does: workers and their shared memory
    released, temporary files removed, the result store left with complete records only."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 130 cancelled by Ctrl+C, 143 by SIGTERM)."""
    watch_parent()
    warnings.showwarning = _plain_warning
    parser = build_parser()
    OneLineParser.arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return _run(args)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    """The command's function, with user errors as one line."""
    try:
        return int(args.func(args) or 0)
    except Terminated:
        print("cancelled (terminated)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except CerebroError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cerebro codecs | head`: the reader left; say nothing more
        _silence_stdout()
        return 0
    except MemoryError:
        print("error: out of memory; use a smaller volume or a machine with more memory", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command needed vanished or cannot be written: the user's to fix
        where = f" {exc.filename}" if exc.filename else ""
        print(printable(f"error: cannot access{where}: {exc.strerror or exc}; check the path, free space and "
                        "permissions"), file=sys.stderr)
        return 2


def _plain_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                   line: Any = None) -> None:
    """Show a warning as one plain ``warning:`` line (not Python's file, line number and source line)."""
    print(f"warning: {printable(str(message))}", file=file or sys.stderr)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail on a closed pipe."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
