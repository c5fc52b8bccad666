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


if __name__ == "__main__":
    sys.exit(main())
