"""The one table renderer of the benchmark's outputs: text cells as a fixed-width text table, Markdown or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from cerebro.errors import CerebroError

FORMATS = ("text", "markdown", "csv")


def check_format(fmt: str, formats: Sequence[str] = FORMATS) -> None:
    """A one-line CerebroError unless ``fmt`` is one of ``formats``."""
    if fmt not in formats:
        raise CerebroError(f"unknown table format {fmt!r}; use one of: {', '.join(formats)}")


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool],
                 fmt: str = "text") -> str:
    """``rows`` of text cells under ``headers`` as text (columns padded, ``numeric`` ones right-aligned, a rule
    under the headers), Markdown (numeric columns right-aligned) or CSV."""
    check_format(fmt)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(headers)
        writer.writerows(rows)
        return out.getvalue()
    cells = [list(headers), *(list(row) for row in rows)]
    if fmt == "markdown":
        lines = ["| " + " | ".join(line) + " |" for line in cells]
        lines.insert(1, "|" + "|".join("---:" if right else "---" for right in numeric) + "|")
        return "\n".join(lines) + "\n"
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if right else c.ljust(w) for c, w, right in zip(line, widths, numeric))
             for line in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n"
