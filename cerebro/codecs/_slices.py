"""Shared plumbing of the library-backed codecs: slabs and slices, integer mapping, exact error bounds.

Every codec in this package that wraps a third-party compressor uses these helpers, so that

- 3D compressors (SZ3, SPERR, LERC, zstd, blosc2) see the volume as slabs of at most :data:`SLAB`
  slices along k (one chunk each: bounded memory, progress and cancellation between slabs);
- 2D image codecs (JPEG 2000, HTJ2K, JPEG XL, JPEG-LS) see one 2D image per slice along a chosen
  axis (``k``, ``j`` or ``i``), stored as unsigned 16-bit after subtracting the volume minimum;
- an absolute tolerance ``t`` means the same everywhere (image units, like ZFP fixed-accuracy) and is
  checked on the decoded voxels before an encoding is returned.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from cerebro.codecs.base import Codec, Encoded, Setting
from cerebro.codecs.meta import MAX_DIMENSION, corrupt, meta_choice, meta_int, meta_int_list, require_chunk_count
from cerebro.codecs.setting import format_value
from cerebro.errors import CerebroError
from cerebro.metrics.quality import max_abs_error
from cerebro.progress import Progress
from cerebro.volume import Volume

SLAB = 64
"""Number of k-slices per chunk for the 3D compressors."""

AXES = ("k", "j", "i")
"""Axis names of a Volume array ``[k, j, i]``, in array-axis order."""

LOSSLESS_BOUND = "0 (bit-exact)"
"""``Encoded.meta["error_bound"]`` of lossless modes (same wording as ZFP reversible)."""

AXIS_SETTING = Setting(
    "axis", kind=str, default="k", choices=AXES,
    help="index axis along which the volume is cut into 2D images (k = axial for axial acquisitions)",
)

FLOAT_MARGIN = 0.5 - 1.0 / 64.0
"""For integer volumes compressed in floating point: the float-domain bound is floor(t) + this margin,
so that rounding back to integers gives |error| <= floor(t) <= t (see :func:`float_tolerance`); the
1/64 absorbs float round-off. The same rule as ZFP's fixed-accuracy mode (cerebro.codecs.zfp)."""


def slab_ranges(depth: int, slab: int = SLAB) -> list[tuple[int, int]]:
    """Half-open (start, stop) ranges that cut ``depth`` slices into slabs of at most ``slab``."""
    return [(start, min(start + slab, depth)) for start in range(0, depth, slab)]


def encode_parts(
    parts: Sequence[np.ndarray], encode_one: Callable[[np.ndarray], bytes], progress: Progress | None, what: str
) -> list[bytes]:
    """Encode each part (slab or slice) with ``encode_one``, reporting progress between parts.

    A failure inside the codec library (imagecodecs/pysz raise RuntimeError or ValueError subclasses)
    becomes a one-line CerebroError naming the codec and the part.
    """
    return _each_part(parts, lambda part, _: bytes(encode_one(part)), progress, what,
                      "the codec library failed", "try other settings or another codec")


def decode_parts(
    chunks: Sequence[bytes], decode_one: Callable[[bytes, int], np.ndarray], progress: Progress | None, what: str
) -> list[np.ndarray]:
    """Decode each chunk with ``decode_one(chunk, index)``, reporting progress between chunks.

    A failure inside the codec library becomes a one-line CerebroError (damaged or foreign data).
    """
    return _each_part(chunks, decode_one, progress, what, "the codec library could not decode it",
                      "the file is damaged or was written by an incompatible version")


def _each_part(
    items: Sequence[Any], work: Callable[[Any, int], Any], progress: Progress | None, what: str, failed: str,
    advice: str,
) -> list[Any]:
    """``work(item, index)`` for each item with progress between items; a codec-library error (RuntimeError,
    ValueError) becomes one CerebroError line "``what`` n/N: ``failed`` (error); ``advice``"."""
    results = []
    for index, item in enumerate(items):
        try:
            results.append(work(item, index))
        except (RuntimeError, ValueError) as exc:
            raise CerebroError(f"{what} {index + 1}/{len(items)}: {failed} ({exc}); {advice}") from exc
        if progress is not None:
            progress.update((index + 1) / len(items), f"{what} {index + 1}/{len(items)}")
    return results


def split_slabs(array: np.ndarray) -> list[np.ndarray]:
    """Contiguous slabs of ``array`` (nz, ny, nx) along axis 0 (see :func:`slab_ranges`)."""
    return [np.ascontiguousarray(array[a:b]) for a, b in slab_ranges(array.shape[0])]


def little_endian(array: np.ndarray) -> np.ndarray:
    """``array`` in little-endian byte order (the byte layout the byte-oriented codecs store)."""
    return array.astype(array.dtype.newbyteorder("<"), copy=False)


def split_slices(array: np.ndarray, axis: str) -> list[np.ndarray]:
    """The 2D images of ``array`` (nz, ny, nx) cut perpendicular to index axis ``axis`` (k, j or i)."""
    moved = np.moveaxis(array, AXES.index(axis), 0)
    return [np.ascontiguousarray(moved[n]) for n in range(moved.shape[0])]


def stack_slices(images: Sequence[np.ndarray], axis: str) -> np.ndarray:
    """Inverse of :func:`split_slices`: stack 2D images back into a (nz, ny, nx) array."""
    return np.ascontiguousarray(np.moveaxis(np.stack(images), 0, AXES.index(axis)))


def slice_count(shape: tuple[int, int, int], axis: str) -> int:
    """Number of 2D images :func:`split_slices` makes along ``axis``."""
    return int(shape[AXES.index(axis)])


def to_unsigned16(array: np.ndarray, codec: str) -> tuple[np.ndarray, int, int]:
    """Map an integer array onto uint16 by subtracting its minimum, for codecs that need unsigned input.

    Returns ``(values, offset, bits)``: ``values = array - offset`` as uint16 and ``bits`` the number
    of significant bits (1..16) of the largest value. Raises CerebroError for float voxels or a value
    range wider than 65535.
    """
    if array.dtype.kind not in "iu":
        raise CerebroError(
            f"{codec} stores integer images only, got {array.dtype} voxels; use sz3, sperr, lerc or zfp "
            "for float volumes, or convert the volume to int16/uint16"
        )
    low, high = int(array.min()), int(array.max())
    if high - low > 0xFFFF:
        raise CerebroError(
            f"{codec} stores at most 16-bit images but the voxel range is {low}..{high}; "
            "rescale the volume to 16 bits or use sz3, sperr, lerc or zfp"
        )
    values = (array.astype(np.int64) - low).astype(np.uint16)
    return values, low, max(1, (high - low).bit_length())


def from_unsigned16(values: np.ndarray, offset: int, dtype: np.dtype) -> np.ndarray:
    """Inverse of :func:`to_unsigned16`: add ``offset`` back and clip into ``dtype``'s range."""
    info = np.iinfo(dtype)
    return np.clip(values.astype(np.int64) + int(offset), info.min, info.max).astype(dtype)


def float_working_dtype(dtype: np.dtype) -> np.dtype:
    """Float type that holds every value of ``dtype`` exactly (float32 up to 16-bit integers)."""
    dtype = np.dtype(dtype)
    if dtype == np.float32 or (dtype.kind in "iu" and dtype.itemsize <= 2):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def float_tolerance(tolerance: float, dtype: np.dtype) -> float:
    """Float-domain bound to give a floating-point compressor so the result in ``dtype`` is within ``tolerance``.

    For float volumes this is ``tolerance`` itself. For integer volumes decoded values are rounded to
    the nearest integer; a float error < floor(t) + 0.5 rounds to an integer error <= floor(t) <= t,
    and for t < 1 the result is lossless.
    """
    if np.dtype(dtype).kind in "iu":
        return math.floor(tolerance) + FLOAT_MARGIN
    return float(tolerance)


def guaranteed_error(tolerance: float, dtype: np.dtype) -> float:
    """The max absolute error promised in ``dtype`` for tolerance ``t`` (floor(t) for integer voxels)."""
    return float(math.floor(tolerance)) if np.dtype(dtype).kind in "iu" else float(tolerance)


def bound_text(bound: float, dtype: np.dtype) -> str:
    """The promised bound in words, as stored in ``Encoded.meta["error_bound"]`` (same wording as ZFP)."""
    unit = " (integer voxels)" if np.dtype(dtype).kind in "iu" else ""
    return f"max |error| <= {format_value(float(bound))}{unit}"


def restore_dtype(values: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
    """Cast decoded floats back to ``dtype``: round to nearest and clip for integers (never adds error).
    With ``out`` (an array of ``dtype`` and ``values``' shape) the result is written there, ``values`` serving as
    scratch: one pass less over a slab."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        scratch = values if out is not None else None
        if values.dtype.kind == "f":
            values = np.rint(values, out=scratch)
            scratch = values
        values = np.clip(values, info.min, info.max, out=scratch)
    if out is None:
        return values.astype(dtype, copy=False)
    np.copyto(out, values, casting="unsafe")
    return out


def check_bound(original: np.ndarray, decoded: np.ndarray, bound: float, codec: str) -> float:
    """Return max |decoded - original|; raise CerebroError if it exceeds ``bound``: the bound a file states holds.

    A float volume whose values are spaced wider apart than ``bound`` (1e-5 at 3000 in float32) cannot be kept
    within it by a lossy coder; the message says so and what tolerance would be possible.
    """
    if not original.size:
        return 0.0
    error = max_abs_error(original, decoded)
    if not error <= bound:
        spacing = float(np.spacing(np.max(np.abs(original)))) if original.dtype.kind == "f" else 1.0
        raise CerebroError(
            f"{codec} cannot keep max |error| <= {bound:g} on this {original.dtype} volume (it gave {error:g}; its "
            f"largest values are {spacing:g} apart): use a larger tolerance, a lossless mode, or another codec"
        )
    return error


def tolerance_setting(maximum: float = 1e9) -> Setting:
    """The absolute-error ``tolerance`` setting shared by all error-bounded codecs (image units, > 0)."""
    return Setting(
        "tolerance", kind=float, minimum=1e-6, maximum=maximum, unit="image units", monotonic="increasing",
        help="max absolute error per voxel in the image's units (HU for CT); integer volumes get floor(t)",
    )


def encode_bounded_slabs(
    array: np.ndarray,
    tolerance: float,
    encode_slab: Callable[[np.ndarray], bytes],
    decode_slab: Callable[[bytes, tuple[int, int, int]], np.ndarray],
    codec: str,
    progress: Progress | None,
) -> tuple[list[bytes], dict[str, float]]:
    """Encode ``array`` slab by slab, decode each slab again and check the promised error bound.

    ``encode_slab`` compresses one slab; ``decode_slab(chunk, shape)`` must return it in ``array``'s
    dtype. Returns the chunks and meta ``{"error_bound": promise in words, "max_error_bound": promised,
    "max_abs_error": measured, "slab"}``.
    """
    bound = guaranteed_error(tolerance, array.dtype)
    worst = 0.0

    def encode_checked(slab: np.ndarray) -> bytes:
        nonlocal worst
        chunk = encode_slab(slab)
        worst = max(worst, check_bound(slab, decode_slab(chunk, slab.shape), bound, codec))
        return chunk

    chunks = encode_parts(split_slabs(array), encode_checked, progress, f"{codec} slab")
    meta = {"error_bound": bound_text(bound, array.dtype), "max_error_bound": bound, "max_abs_error": worst,
            "slab": SLAB}
    return chunks, meta


def decode_slabs(
    chunks: Sequence[bytes],
    shape: tuple[int, int, int],
    slab: int,
    decode_slab: Callable[[bytes, tuple[int, int, int]], np.ndarray],
    progress: Progress | None,
    what: str,
) -> np.ndarray:
    """Rebuild a (nz, ny, nx) array from slab chunks made with slabs of ``slab`` k-slices."""
    ranges = slab_ranges(shape[0], slab)
    if len(ranges) != len(chunks):
        raise CerebroError(f"{what}: expected {len(ranges)} slab chunks, found {len(chunks)}; the file is damaged")
    parts = decode_parts(
        chunks, lambda chunk, n: decode_slab(chunk, (ranges[n][1] - ranges[n][0], shape[1], shape[2])), progress, what
    )
    return np.concatenate(parts, axis=0)


def encode_byte_slabs(
    array: np.ndarray, compress: Callable[[bytes], bytes], codec: str, progress: Progress | None
) -> tuple[list[bytes], dict[str, Any]]:
    """Lossless byte codecs (zstd, blosc2): ``compress`` the little-endian voxel bytes of each slab.

    Returns the chunks and meta ``{"slab", "error_bound"}`` needed by :func:`decode_byte_slabs`.
    """
    chunks = encode_parts(split_slabs(little_endian(array)), lambda slab: compress(slab.tobytes()), progress,
                          f"{codec} slab")
    return chunks, {"slab": SLAB, "error_bound": LOSSLESS_BOUND}


def validate_slab_meta(meta: dict[str, Any], shape: tuple[int, int, int], chunk_sizes: Sequence[int],
                       codec: str) -> int:
    """Check the ``slab`` field of a slab codec's meta against the volume and its chunks; returns it."""
    slab = meta_int(meta, "slab", 1, MAX_DIMENSION, codec)
    require_chunk_count(chunk_sizes, len(slab_ranges(shape[0], slab)), codec)
    return slab


def decode_byte_slabs(
    chunks: Sequence[bytes], shape: tuple[int, int, int], dtype: np.dtype, meta: dict[str, Any],
    decompress: Callable[[bytes, int], bytes], codec: str, progress: Progress | None,
) -> np.ndarray:
    """Inverse of :func:`encode_byte_slabs`: ``decompress(chunk, nbytes)`` each slab and view its bytes as ``dtype``.

    ``decompress`` must not produce more than ``nbytes`` (the slab's size): a chunk claiming more is refused
    by the library instead of allocated (a decompression bomb).
    """
    stored = np.dtype(dtype).newbyteorder("<")

    def decode_slab(chunk: bytes, slab_shape: tuple[int, int, int]) -> np.ndarray:
        data = decompress(chunk, math.prod(slab_shape) * stored.itemsize)
        return np.frombuffer(data, dtype=stored).reshape(slab_shape)

    array = decode_slabs(chunks, shape, meta["slab"], decode_slab, progress, f"{codec} slab")
    return array.astype(dtype)


def encode_slices(
    array: np.ndarray, axis: str, encode_image: Callable[[np.ndarray, int | None], bytes], codec: str,
    progress: Progress | None, error_bound: str,
) -> tuple[list[bytes], dict[str, Any]]:
    """Encode ``array`` as unsigned 16-bit 2D images along ``axis`` (see :func:`to_unsigned16`).

    ``encode_image(image, bits)`` compresses one uint16 image whose values use ``bits`` (9..16) bits, or
    one uint8 image with ``bits=None`` when the values fit in 8 bits (imagecodecs' JPEG 2000 and JPEG XL
    mishandle uint16 images declared as <= 8 bits: all-zero output or an encoder error). The
    codestreams of :data:`SLAB` consecutive slices are concatenated into one chunk (fewer container
    members); returns the chunks and meta ``{"axis", "offset", "bits", "slab", "image_bytes"}`` (the
    byte length of every slice's codestream) needed by :func:`decode_slices`, plus ``error_bound``
    (the promise in words).
    """
    values, offset, bits = to_unsigned16(array, codec)
    declared = bits if bits > 8 else None
    if declared is None:
        values = values.astype(np.uint8)
    streams = encode_parts(split_slices(values, axis), lambda image: encode_image(image, declared), progress,
                           f"{codec} slice")
    chunks = [b"".join(streams[a:b]) for a, b in slab_ranges(len(streams))]
    meta = {"axis": axis, "offset": offset, "bits": bits, "slab": SLAB, "image_bytes": [len(s) for s in streams],
            "error_bound": error_bound}
    return chunks, meta


def validate_slice_meta(meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                        chunk_sizes: Sequence[int], codec: str) -> None:
    """Check a slice codec's meta (axis, offset, bits, slab, image_bytes) against the volume and its chunks."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "iu":
        raise CerebroError(f"{codec} stores integer images only but the header declares {dtype} voxels; "
                           "the file is corrupt")
    axis = meta_choice(meta, "axis", AXES, codec)
    meta_int(meta, "bits", 1, 16, codec)
    info = np.iinfo(dtype)
    meta_int(meta, "offset", int(info.min), int(info.max), codec)
    slab = meta_int(meta, "slab", 1, MAX_DIMENSION, codec)
    sizes = meta_int_list(meta, "image_bytes", slice_count(shape, axis), 0, MAX_DIMENSION, codec)
    groups = slab_ranges(len(sizes), slab)
    require_chunk_count(chunk_sizes, len(groups), codec)
    if any(size != sum(sizes[a:b]) for size, (a, b) in zip(chunk_sizes, groups)):
        raise corrupt(codec, "image_bytes", "the byte lengths of the slices in each chunk", "other lengths")


def decode_slices(
    chunks: Sequence[bytes], shape: tuple[int, int, int], dtype: np.dtype, meta: dict[str, Any],
    decode_image: Callable[[bytes, np.ndarray], np.ndarray], codec: str, progress: Progress | None,
    lossless: bool = False,
) -> np.ndarray:
    """Inverse of :func:`encode_slices`: decode each 2D image, restack along the axis, add the offset back.

    ``decode_image(stream, out)`` decodes into ``out`` (the slice's shape, uint8 or uint16 as ``bits`` says):
    a codestream declaring another size or type is refused before the library allocates it. In a
    ``lossless`` mode a decoded value outside ``bits`` or outside ``dtype`` after the offset means the header
    does not belong to the data (lossy modes may overshoot; their values are clipped into ``dtype``).
    """
    dtype = np.dtype(dtype)
    validate_slice_meta(meta, shape, dtype, [len(c) for c in chunks], codec)
    axis, sizes, bits, offset = meta["axis"], meta["image_bytes"], meta["bits"], meta["offset"]
    groups = slab_ranges(len(sizes), meta["slab"])
    streams = []
    for chunk, (a, b) in zip(chunks, groups):
        ends = np.cumsum([0, *sizes[a:b]])
        streams.extend(chunk[ends[n]:ends[n + 1]] for n in range(b - a))
    image_shape = tuple(n for index, n in enumerate(shape) if index != AXES.index(axis))
    stored = np.uint8 if bits <= 8 else np.uint16
    info = np.iinfo(dtype)
    highest = min(2**bits - 1, int(info.max) - offset) if lossless else np.iinfo(stored).max

    def decode_checked(stream: bytes, index: int) -> np.ndarray:
        image = decode_image(stream, np.empty(image_shape, dtype=stored))
        if image.size and int(image.max()) > highest:
            raise CerebroError(f"{codec} slice {index + 1}: value {int(image.max())} + offset {offset} does not fit "
                               f"{bits} bits / {dtype}; the header does not match the data, the file is corrupt")
        return image

    images = decode_parts(streams, decode_checked, progress, f"{codec} slice")
    return from_unsigned16(stack_slices(images, axis), offset, dtype)


class SliceCodec(Codec):
    """A 2D image codec run slice by slice through :func:`encode_slices` and :func:`decode_slices`.

    Subclasses write ``encode`` with :meth:`encode_images` and say how one slice is decoded in ``decode_image``.
    """

    @abstractmethod
    def decode_image(self, stream: bytes, out: np.ndarray) -> np.ndarray:
        """Decode one slice's codestream into ``out`` (its 2D image, of the expected shape and type)."""

    def validate_meta(self, meta: dict[str, Any], shape: tuple[int, int, int], dtype: np.dtype,
                      chunk_sizes: Sequence[int]) -> None:
        """Check axis, offset, bits, slab and image_bytes against the volume and its chunks."""
        validate_slice_meta(meta, shape, dtype, chunk_sizes, self.name)

    def encode_images(
        self, volume: Volume, mode: str, settings: dict[str, Any],
        encode_image: Callable[[np.ndarray, int | None], bytes], progress: Progress | None, error_bound: str,
    ) -> Encoded:
        """Encode ``volume`` slice by slice along ``settings["axis"]`` with ``encode_image(image, bits)``."""
        chunks, meta = encode_slices(volume.array, settings["axis"], encode_image, self.name, progress, error_bound)
        return Encoded(self.name, mode, dict(settings), chunks, meta)

    def decode(
        self, encoded: Encoded, shape: tuple[int, int, int], dtype: np.dtype, progress: Progress | None = None
    ) -> np.ndarray:
        """Decode every slice and restack it into the original dtype."""
        return decode_slices(encoded.chunks, shape, dtype, encoded.meta, self.decode_image, self.name, progress,
                             lossless=self.modes[encoded.mode].lossless)
