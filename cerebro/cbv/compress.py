"""Compress a Volume with any registered codec and decompress it (the in-memory form of a ``.cbv`` file is
:class:`cerebro.cbv.compressed.CompressedVolume`; a measured round trip is :mod:`cerebro.cbv.roundtrip`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from cerebro.cbv.compressed import CompressedVolume
from cerebro.cbv.container import overhead_nbytes
from cerebro.codecs.base import Codec, accepted_options, get_codec
from cerebro.codecs.setting import CodecSetting, as_setting
from cerebro.errors import CerebroError
from cerebro.progress import Progress
from cerebro.volume import Volume


def compress_volume(
    volume: Volume,
    codec: str | Codec | CodecSetting,
    mode: str | None = None,
    settings: dict[str, Any] | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> CompressedVolume:
    """Compress ``volume`` at a :class:`~cerebro.codecs.setting.CodecSetting` (validated when it was made), or with
    ``codec`` in ``mode`` with ``settings`` (validated here: CerebroError if out of range).

    ``workers``: processes for chunk-parallel codecs (None = all cores, 1 = in-process).
    """
    setting = as_setting(codec, mode, settings)
    found = codec if isinstance(codec, Codec) else get_codec(setting.codec)
    volume.require_finite()
    start = time.perf_counter()
    settings = {**found.defaults(setting.mode), **setting.as_dict()}

    def file_overhead(meta: dict[str, Any]) -> int:
        return overhead_nbytes(volume, found.name, setting.mode, settings, meta)

    encoded = found.encode(volume, setting.mode, settings, progress,
                           **accepted_options(found.encode, workers=workers, file_overhead=file_overhead))
    seconds = time.perf_counter() - start
    return CompressedVolume(
        encoded=encoded, dtype=volume.dtype.name, shape=volume.shape, spacing=volume.spacing,
        origin=volume.origin, direction=volume.direction.copy(), metadata=dict(volume.metadata),
        encode_seconds=seconds,
    )


def decompress(compressed: CompressedVolume, progress: Progress | None = None, workers: int | None = None) -> Volume:
    """Decode a CompressedVolume back to a Volume with the original dtype and geometry.

    The codec's meta is validated first; a decoder that fails on data it cannot take (any exception, a
    codec-library error or a shape that does not fit) or returns another shape or type than the header
    declares gives one CerebroError: the file does not hold what its header says.
    """
    codec = get_codec(compressed.encoded.codec)
    shape, dtype = tuple(compressed.shape), np.dtype(compressed.dtype)
    codec.validate_meta(compressed.encoded.meta, shape, dtype, [len(c) for c in compressed.encoded.chunks])
    try:
        array = codec.decode(compressed.encoded, shape, dtype, progress,
                             **accepted_options(codec.decode, workers=workers))
    except CerebroError:
        raise
    except MemoryError:
        raise CerebroError(f"decoding the {codec.name} data ran out of memory; decode it on a machine with more "
                           "memory") from None
    except Exception as exc:  # noqa: BLE001 - a decoder fed damaged data may raise anything; none may escape
        raise CerebroError(f"the {codec.name} data cannot be decoded ({type(exc).__name__}: {str(exc)[:100]}); "
                           "the file is corrupt, re-create it from the original") from None
    if array.shape != shape or array.dtype != dtype:
        raise CerebroError(f"the {codec.name} data decodes to {array.shape} {array.dtype}, not the {shape} {dtype} "
                           "its header declares; the file is corrupt")
    return Volume(array, spacing=compressed.spacing, origin=compressed.origin, direction=compressed.direction,
                  metadata=dict(compressed.metadata))
