"""Image-quality and segmentation metrics (pure numpy / scikit-image; no Qt, no VTK)."""
