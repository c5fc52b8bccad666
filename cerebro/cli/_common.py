"""Helpers shared by CLI sub-commands: tqdm progress and JSON printing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from cerebro.progress import Progress


@contextmanager
def cli_progress(description: str, enabled: bool = True) -> Iterator[Progress]:
    """A Progress that drives a tqdm bar on stderr (percent), hidden when ``enabled`` is False."""
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


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout (numpy scalars converted)."""
    print(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
