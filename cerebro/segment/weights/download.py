"""Getting model weights: Hugging Face downloads into a user-settable cache, sha256 checks, safe unzip.

Cache layout: ``<cache>/<model id>/<file>`` (the ``local_dir`` layout of ``hf_hub_download``, which
resumes interrupted downloads), archives extracted to ``<cache>/<model id>/extracted/``. The cache
is ``cache_dir``, else ``$CEREBRO_CACHE``, else ``~/.cache/cerebrobench``. Offline mode
(``offline=True`` or ``HF_HUB_OFFLINE=1``) never touches the network and says where to put a file by hand.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path, PurePosixPath

import cerebro
from cerebro.errors import CerebroError
from cerebro.fsutil import sha256_file
from cerebro.progress import Progress
from cerebro.segment.catalog import ModelEntry

MAX_UNZIPPED_BYTES = 8 * 1024**3  # no published model archive comes near this

CACHE_ENV = "CEREBRO_CACHE"
EXTRACTED = "extracted"
_TRUE = ("1", "true", "yes", "on")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$CEREBRO_CACHE``, else ``~/.cache/cerebrobench``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path.home() / ".cache" / "cerebrobench"


def require_cache_folder(folder: Path) -> None:
    """CerebroError naming the fix unless the cache ``folder`` is (or can be made) a writable folder: a
    ``CEREBRO_CACHE`` that points to a file, or a home folder that cannot be written, is one line, not a
    huggingface_hub error about its own sub-folders."""
    where = f"set {CACHE_ENV} or --cache-dir to a writable folder"
    for place in (folder, *folder.parents):
        if place.exists():
            if not place.is_dir():
                raise CerebroError(f"the model cache {folder} cannot be made: {place} is a file; {where}")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CerebroError(f"cannot create the model cache {folder}: {error.strerror or error}; {where}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CerebroError(f"the model cache {folder} is not writable; {where}")


def expected_path(entry: ModelEntry, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the weights file of ``entry`` lives in the cache (also where to put it by hand)."""
    if entry.file is None:
        raise CerebroError(f"model '{entry.id}' needs no weights file")
    return cache_root(cache_dir) / entry.id / entry.file


def is_offline(offline: bool | None = None) -> bool:
    """True when downloads are disabled: ``offline`` if given, else ``HF_HUB_OFFLINE`` in the environment."""
    if offline is not None:
        return offline
    import huggingface_hub.constants as hf_constants

    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE or bool(hf_constants.HF_HUB_OFFLINE)


def download_url(entry: ModelEntry) -> str:
    """The browser URL of the entry's file on the Hugging Face Hub (for downloading by hand)."""
    return f"https://huggingface.co/{entry.repo}/resolve/{entry.revision or 'main'}/{entry.file}"


def fetch_model(entry: ModelEntry, cache_dir: str | os.PathLike[str] | None = None, offline: bool | None = None,
                progress: Progress | None = None, allow_unpinned: bool = False) -> Path:
    """Make the entry's weights available locally and return their path (the extracted folder for archives).

    Downloads through ``huggingface_hub`` (progress, resume) at the pinned revision, then checks the
    sha256. Unpinned entries (no revision/sha256 in the catalog) are refused unless ``allow_unpinned``;
    then the computed sha256 is reported (warning + progress message) so the entry can be pinned.
    """
    progress = progress or Progress()
    if entry.local is not None:
        return shipped_model(entry, progress)
    target = expected_path(entry, cache_dir)
    if not entry.pinned and not allow_unpinned:
        known = f" (the file in the cache has sha256 {sha256_file(target)})" if target.is_file() else ""
        raise CerebroError(
            f"model '{entry.id}' is not pinned to a revision and sha256 in the catalog{known}; "
            "pass --allow-unpinned (allow_unpinned=True) to use it unverified"
        )
    if entry.repo is None:
        if not target.is_file():
            raise CerebroError(f"model '{entry.id}' has no public weights; put your {entry.file} at {target} "
                               "(or pass the weights file explicitly)")
    else:
        if not target.is_file():
            require_cache_folder(target.parent)
        _download(entry, target, is_offline(offline), progress.sub(0.0, 0.8))
    digest = sha256_file(target, progress.sub(0.8, 0.95))
    if entry.sha256 is not None and digest != entry.sha256:
        raise CerebroError(f"{target} has sha256 {digest} but the catalog expects {entry.sha256}; "
                           "delete the file and download it again")
    if entry.sha256 is None:
        message = f"model '{entry.id}' is unverified: {target.name} has sha256 {digest}; pin it in the catalog"
        warnings.warn(message, stacklevel=2)
        progress.update(0.95, message)
    if entry.archive == "zip":
        folder = extract_once(target, digest)
        progress.update(1.0, "ready")
        return folder
    if entry.archive is not None:
        raise CerebroError(f"model '{entry.id}' has unsupported archive type '{entry.archive}'; use 'zip'")
    progress.update(1.0, "ready")
    return target


def shipped_model(entry: ModelEntry, progress: Progress | None = None) -> Path:
    """The model folder shipped inside the package for ``entry.local``, after checking its folder sha256."""
    from cerebro.segment.weights.digest import folder_sha256

    folder = Path(cerebro.__file__).resolve().parent / entry.local  # entry.local is relative to cerebro/
    if not folder.is_dir():
        raise CerebroError(f"the shipped model folder of '{entry.id}' is missing ({folder}); reinstall CerebroBench")
    if entry.sha256 is None:
        raise CerebroError(f"catalog entry '{entry.id}' ships a model folder without a sha256; fix the catalog")
    digest = folder_sha256(folder)
    if digest != entry.sha256:
        raise CerebroError(f"the shipped model folder {folder} has sha256 {digest} but the catalog expects "
                           f"{entry.sha256}; it was modified: reinstall CerebroBench")
    if progress is not None:
        progress.update(1.0, "ready")
    return folder


def _download(entry: ModelEntry, target: Path, offline: bool, progress: Progress) -> None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    by_hand = f"download {download_url(entry)} by hand and put it at {target}"
    try:
        path = hf_hub_download(repo_id=entry.repo, filename=entry.file, revision=entry.revision,
                               local_dir=target.parent, local_files_only=offline,
                               tqdm_class=_tqdm_reporting_to(progress))
    except LocalEntryNotFoundError:
        why = "offline mode is on (HF_HUB_OFFLINE)" if offline else "the Hugging Face Hub cannot be reached"
        raise CerebroError(f"{entry.file} of model '{entry.id}' is not in the cache and {why}; {by_hand}") from None
    except EntryNotFoundError:
        raise CerebroError(f"{entry.repo} has no file {entry.file} at revision {entry.revision or 'main'}; "
                           "fix the catalog entry") from None
    except HfHubHTTPError as exc:
        raise CerebroError(f"downloading {entry.file} from {entry.repo} failed ({exc}); {by_hand}") from None
    if Path(path).resolve() != target.resolve():
        raise CerebroError(f"huggingface_hub stored {entry.file} at {path}, not {target}; move it there")


def _tqdm_reporting_to(progress: Progress) -> type:
    """A tqdm class for ``hf_hub_download`` that forwards the byte count to ``progress``."""
    from tqdm.auto import tqdm

    class ProgressTqdm(tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            if self.total:
                progress.update(self.n / self.total, "downloading")
            return shown

    return ProgressTqdm


def safe_extract_zip(archive: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Extract a zip into ``folder`` (created atomically), refusing entries that could escape it.

    Absolute paths, drive letters, ``..`` components, symbolic links and archives that unpack to more than
    ``MAX_UNZIPPED_BYTES`` are rejected before anything is written.
    """
    folder = Path(folder)
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _check_member(info)
            if sum(info.file_size for info in zf.infolist()) > MAX_UNZIPPED_BYTES:
                raise CerebroError(f"{archive} unpacks to more than {MAX_UNZIPPED_BYTES >> 30} GiB; refusing to "
                                   "extract it (a zip bomb or not a model archive)")
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder.parent))
            try:
                zf.extractall(tmp)
                if folder.exists():
                    shutil.rmtree(folder)
                os.replace(tmp, folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except zipfile.BadZipFile as exc:
        raise CerebroError(f"{archive} is not a valid zip file ({exc}); delete it and download again") from None
    return folder


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise CerebroError(f"refusing to extract the symbolic link '{info.filename}' from the model archive; "
                           "the archive is unsafe")
    if name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts:
        raise CerebroError(f"refusing to extract '{info.filename}': it points outside the target folder; "
                           "the archive is unsafe")


def extract_once(archive: Path, digest: str, folder: Path | None = None) -> Path:
    """Extract ``archive`` to ``folder`` (default: ``extracted`` next to it) unless this exact file's
    extraction is already there."""
    folder = archive.parent / EXTRACTED if folder is None else folder
    marker = folder.parent / f".{folder.name}.sha256"
    if folder.is_dir() and marker.is_file() and marker.read_text().strip() == digest:
        return folder
    safe_extract_zip(archive, folder)
    marker.write_text(digest + "\n")
    return folder
