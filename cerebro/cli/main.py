"""Entry point of the ``cerebro`` command: discovers sub-commands and turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

import cerebro
import cerebro.cli
from cerebro.cli._parent import watch_parent
from cerebro.errors import Cancelled, CerebroError


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command module of :mod:`cerebro.cli` registered."""
    parser = argparse.ArgumentParser(
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 user error, 130 cancelled)."""
    watch_parent()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except Cancelled:
        print("cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except CerebroError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cerebro codecs | head`: the reader left; say nothing more
        _silence_stdout()
        return 0
    except MemoryError:
        print("error: out of memory; use a smaller volume or a machine with more memory", file=sys.stderr)
        return 2
    except OSError as exc:  # a file the command needed vanished or cannot be written: the user's to fix
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot access{where}: {exc.strerror or exc}; check the path, free space and permissions",
              file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail on a closed pipe."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
