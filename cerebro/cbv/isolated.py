"""Decode a compressed volume read from a file in a child process, so that a codec library crashing or spinning
on a crafted stream ends in one error line instead of taking the program (the CLI, 3D Slicer) down with it.

The header and every checksum are validated before (:mod:`cerebro.cbv.container`), so damaged files never get
here; but a file whose chunks were replaced *and* their SHA-256 recomputed reaches the codec libraries, and
fuzzing (scripts/fuzz_cbv.py) found C decoders that die on such streams (SPERR: SIGFPE / SIGSEGV). The child
writes the voxels into shared memory the parent maps (no copy through a pipe) and reports progress and
errors through a pipe; it dies with its parent.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import warnings
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from cerebro.cbv.compress import decompress
from cerebro.cbv.compressed import CompressedVolume
from cerebro.errors import Cancelled, CerebroError
from cerebro.parallel import exit_with_parent, open_scratch, shared_scratch
from cerebro.progress import Progress
from cerebro.volume import Volume


def _decode_in_child(compressed: CompressedVolume, path: str, workers: int | None, parent: int,
                     pipe: Connection) -> None:
    """Child process: decode into the shared scratch at ``path``; send progress, then ("done",) or ("error", text)."""
    exit_with_parent(parent)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # a dying C++ library's own last words are not the user's error
    try:
        progress = Progress(on_update=lambda fraction, message: pipe.send(("progress", fraction, message)))
        volume = decompress(compressed, progress, workers)
        out = open_scratch(path, tuple(compressed.shape), compressed.dtype, writable=True)
        out[...] = volume.array
        out.flush()
        pipe.send(("done",))
    except CerebroError as error:
        pipe.send(("error", str(error)))
    pipe.close()


def decompress_isolated(compressed: CompressedVolume, progress: Progress | None = None,
                        workers: int | None = None) -> Volume:
    """:func:`cerebro.cbv.compress.decompress` run in a child process; a crash of the codec library there (any
    signal, any exit) is a one-line CerebroError naming the codec. Cancelling ``progress`` ends the child."""
    progress = progress or Progress()
    context = multiprocessing.get_context("forkserver" if sys.platform.startswith("linux") else "spawn")
    receive, send = context.Pipe(duplex=False)
    with shared_scratch(tuple(compressed.shape), np.dtype(compressed.dtype)) as (scratch, path):
        child = context.Process(target=_decode_in_child, name="cerebro-decode",
                                args=(compressed, path, workers, os.getpid(), send))
        try:
            child.start()
        except (OSError, RuntimeError, ValueError) as error:  # a host where processes cannot start
            warnings.warn(f"cannot start a decoding process ({error}); decoding in this process", RuntimeWarning,
                          stacklevel=2)
            send.close()
            receive.close()
            return decompress(compressed, progress, workers)
        send.close()
        outcome: tuple[Any, ...] = ()
        try:
            while not outcome:
                if receive.poll(0.2):
                    try:
                        message = receive.recv()
                    except EOFError:
                        break
                    if message[0] == "progress":
                        progress.update(message[1], message[2])
                    else:
                        outcome = message
                elif not child.is_alive() and not receive.poll(0):
                    break
        except (KeyboardInterrupt, Cancelled):
            child.kill()
            raise
        finally:
            child.join(timeout=30)
            receive.close()
        if outcome and outcome[0] == "error":
            raise CerebroError(outcome[1])
        if outcome != ("done",):
            code = child.exitcode
            how = f"signal {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}"
            raise CerebroError(f"the {compressed.encoded.codec} library crashed decoding this file ({how}); the file "
                               "is corrupt or crafted, re-create it from the original")
        array = np.array(scratch)
    return Volume(array, spacing=compressed.spacing, origin=compressed.origin, direction=compressed.direction,
                  metadata=dict(compressed.metadata))
