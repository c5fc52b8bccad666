"""Slicer-side library shared by the CerebroBench modules (CerebroCompress, CerebroSegment, CerebroBenchmark).

Qt-free: it imports MRML/VTK (``slicer``, ``vtk``) and the ``cerebro`` core only, so it runs both inside
Slicer and under pytest with the ``slicer-core`` wheel.

- :mod:`CerebroLib.mrml`: the one conversion between MRML nodes (RAS) and ``cerebro.Volume`` (LPS).
- :mod:`CerebroLib.dependencies`: which third-party Python packages are missing (asked for, then pip-installed).
- :mod:`CerebroLib.compress_logic`: the CerebroCompress module's logic (compress, decompress, .cbv files).
"""
