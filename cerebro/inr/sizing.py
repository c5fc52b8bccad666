"""Pick the largest network whose quantised weights fit a byte budget (rate control of the ``ratio`` modes).

The estimate assumes every integer code costs ``bits`` / 8 bytes times the fraction zstd typically keeps
of such codes (EXPECTED_ZSTD_KEEP, measured on trained networks fitted to vessel phantoms: about 0.86-0.92
for SIREN, 0.77 for hash grids), plus the scales and the zstd frame. The estimate is deliberately a little
optimistic: after training, :func:`cerebro.inr.quantize.fitting_levels` trims the number of quantisation
levels until the real zstd blob fits the budget, so the achieved ratio lands at or just above the target.
When a trained network's codes compress much better than expected (large hash tables whose entries are
mostly near zero), the codecs measure the fraction zstd really kept (:func:`measured_keep`) and size the
network once more with it.
"""

from __future__ import annotations

from typing import Any

from cerebro.errors import CerebroError
from cerebro.inr.arch import parameter_count, tensor_count

ZSTD_FRAME_BYTES = 16
EXPECTED_ZSTD_KEEP = {"siren": 0.85, "hashgrid": 0.75}
MIN_WIDTH = 4
MAX_WIDTH = 4096
MIN_TABLE = 8
MAX_TABLE = 2**24


def weight_bytes(arch: dict[str, Any], bits: int, keep: float | None = None) -> int:
    """Estimated packed size in bytes of ``arch``'s weights at ``bits`` (16 = float16), before metadata.

    ``keep``: the fraction of the integer codes' bytes zstd keeps (default: EXPECTED_ZSTD_KEEP of the kind).
    """
    n_tensors = tensor_count(arch)
    if bits == 16:
        return 2 * parameter_count(arch) + ZSTD_FRAME_BYTES
    codes = parameter_count(arch) * bits / 8 * (EXPECTED_ZSTD_KEEP[arch["kind"]] if keep is None else keep)
    return int(codes) + 4 * n_tensors + ZSTD_FRAME_BYTES


def measured_keep(arch: dict[str, Any], bits: int, blob_bytes: int) -> float:
    """The fraction of ``arch``'s integer-code bytes at ``bits`` that a packed blob of ``blob_bytes`` kept."""
    codes = blob_bytes - 4 * tensor_count(arch) - ZSTD_FRAME_BYTES
    return max(codes, 1) / (parameter_count(arch) * bits / 8)


def size_siren(budget_bytes: float, depth: int, bits: int, keep: float | None = None) -> dict[str, Any]:
    """The widest SIREN of ``depth`` sine layers whose weights fit ``budget_bytes``; CerebroError if none does.

    ``keep`` as in :func:`weight_bytes`.
    """
    best = None
    for width in range(MIN_WIDTH, MAX_WIDTH + 1):
        arch = {"kind": "siren", "width": width, "depth": depth}
        if weight_bytes(arch, bits, keep) > budget_bytes:
            break
        best = arch
    if best is None:
        raise CerebroError(f"the target ratio leaves {budget_bytes:.0f} bytes, too few for a SIREN of depth {depth}; "
                           "lower the ratio, the depth or quant_bits")
    return best


def size_hashgrid(budget_bytes: float, levels: int, features: int, width: int, depth: int,
                  max_resolution: int, bits: int, keep: float | None = None) -> dict[str, Any]:
    """The hash-grid MLP with the largest table size whose weights fit ``budget_bytes`` (binary search).

    ``keep`` as in :func:`weight_bytes`.
    """
    def arch_for(table: int) -> dict[str, Any]:
        return {"kind": "hashgrid", "levels": levels, "features": features, "table_size": table,
                "max_resolution": max_resolution, "width": width, "depth": depth}

    if weight_bytes(arch_for(MIN_TABLE), bits, keep) > budget_bytes:
        raise CerebroError(f"the target ratio leaves {budget_bytes:.0f} bytes, too few for a hash grid of {levels} "
                           f"levels with an MLP of width {width}; lower the ratio, levels or width")
    low, high = MIN_TABLE, min(MAX_TABLE, (max_resolution + 1) ** 3)
    while low < high:
        middle = (low + high + 1) // 2
        if weight_bytes(arch_for(middle), bits, keep) <= budget_bytes:
            low = middle
        else:
            high = middle - 1
    return arch_for(low)
