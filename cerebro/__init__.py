"""CerebroBench core library: compress 3D angiography volumes and measure the effect on vessel segmentation.

This package never imports Qt, CTK, VTK or Slicer; it works on numpy arrays with geometry.
"""

from cerebro.errors import CerebroError
from cerebro.volume import Volume

__version__ = "0.1.0"

__all__ = ["CerebroError", "Volume", "__version__"]
