"""The in-memory form of a ``.cbv`` file (see :mod:`cerebro.cbv.container`): the codec's
:class:`~cerebro.codecs.base.Encoded` plus everything needed to rebuild the Volume (dtype, shape, geometry) and the
timing of the encode. Below both :mod:`cerebro.cbv.compress` and :mod:`cerebro.cbv.container`, which each use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import cerebro
from cerebro.codecs.base import Encoded

MB = 1e6  # throughputs are in MB/s of the original's native bytes, 1 MB = 10^6 bytes


@dataclass
class CompressedVolume:
    """A compressed volume: codec output plus dtype, shape and LPS geometry of the original."""

    encoded: Encoded
    dtype: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    cerebro_version: str = cerebro.__version__
    encode_seconds: float = 0.0

    @property
    def original_nbytes(self) -> int:
        """Size of the original voxels in their native dtype (bytes)."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize

    @property
    def voxel_count(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.shape))

    @property
    def payload_nbytes(self) -> int:
        """Bytes of codec payload (all chunks, without the file container)."""
        return self.encoded.nbytes
