"""Helpers shared by CLI sub-commands: tqdm or JSON-lines progress, and JSON printing."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from tqdm import tqdm

from cerebro.progress import Progress
from cerebro.segment.device import PRECISIONS


@contextmanager
def cli_progress(description: str, enabled: bool = True) -> Iterator[Progress]:
    """A Progress that drives a tqdm bar on stderr (percent) when stderr is a terminal; otherwise (a log file)
    it prints only the milestones of :meth:`Progress.log`, one short line each. Nothing when ``enabled`` is
    False."""
    if enabled and not sys.stderr.isatty():
        def log(message: str) -> None:
            print(f"{description}: {message}", file=sys.stderr, flush=True)

        yield Progress(on_log=log)
        return
    bar = tqdm(total=100, desc=description, unit="%", disable=not enabled, file=sys.stderr, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def update(fraction: float, message: str) -> None:
        bar.n = round(fraction * 100, 1)
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()

    try:
        yield Progress(on_update=update)
    finally:
        bar.close()


PROGRESS_FORMATS = ("bar", "json")


def add_progress_format(parser: argparse.ArgumentParser) -> None:
    """The ``--progress-format bar|json`` option: json is the protocol the Slicer modules' job runner reads."""
    parser.add_argument("--progress-format", choices=PROGRESS_FORMATS, default="bar",
                        help="bar (default) or json: one JSON line per update on stdout "
                        '({"progress": f, "message": m}), then {"result": {...}} (for programs)')


def add_precision_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--precision auto|float32`` option of the commands that segment."""
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="number type of the network: auto (default: bfloat16 on CPUs that compute it in "
                        "hardware, e.g. AMX / AVX-512 BF16, and float16 on CUDA, for the families checked so) or "
                        "float32 (nnU-Net's CPU numbers exactly; slower)")


@contextmanager
def json_progress() -> Iterator[Progress]:
    """A Progress that prints one JSON line per visible change on stdout, for programs driving the CLI.

    Each line is ``{"progress": fraction in [0, 1], "message": text}``, flushed at once; updates that change
    neither the message nor the fraction by at least 0.001 are not printed.
    """
    last: list[tuple[int, str]] = []

    def update(fraction: float, message: str) -> None:
        key = (int(fraction * 1000), message)
        if not last or key != last[0]:
            last[:] = [key]
            print_json_line({"progress": round(fraction, 4), "message": message})

    yield Progress(on_update=update)


def command_progress(description: str, progress_format: str = "bar",
                     enabled: bool = True) -> AbstractContextManager[Progress]:
    """The progress of a sub-command: a tqdm bar (``"bar"``) or JSON lines on stdout (``"json"``)."""
    return json_progress() if progress_format == "json" else cli_progress(description, enabled=enabled)


def print_json_line(data: Any) -> None:
    """Print ``data`` as one compact JSON line on stdout and flush (machine-readable output)."""
    print(json.dumps(data, default=_default), flush=True)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (numpy scalars converted)."""
    print(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def printable(text: str) -> str:
    """``text`` with control characters (newlines, terminal escape sequences) shown as escapes, not sent: what a
    file name or a file's field holds never breaks a message into lines or reaches the terminal raw."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
