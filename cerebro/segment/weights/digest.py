"""A sha256 for a model folder (e.g. an nnU-Net results folder shipped inside the package).

The digest is the sha256 of the ``sha256sum``-style listing of every file, sorted by relative POSIX path
(``<hex>  <path>\\n`` per line), so it can be checked by hand with
``cd FOLDER && find . -type f | cut -c3- | LC_ALL=C sort | xargs sha256sum | sha256sum``.
Hidden files and ``__pycache__`` folders are ignored.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cerebro.errors import CerebroError
from cerebro.fsutil import sha256_file


def folder_files(folder: str | os.PathLike[str]) -> list[str]:
    """Relative POSIX paths of the files under ``folder`` that the digest covers, sorted bytewise."""
    root = Path(folder)
    if not root.is_dir():
        raise CerebroError(f"model folder {root} not found; reinstall CerebroBench or check the path")
    names = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            names.append(rel.as_posix())
    return sorted(names, key=lambda n: n.encode())


def folder_sha256(folder: str | os.PathLike[str]) -> str:
    """Hex sha256 of the folder's file listing with per-file sha256 (see module doc)."""
    root = Path(folder)
    listing = "".join(f"{sha256_file(root / name)}  {name}\n" for name in folder_files(root))
    return hashlib.sha256(listing.encode()).hexdigest()
