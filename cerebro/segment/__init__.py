"""Vessel segmentation models (nnU-Net/U-Mamba results folders, MambaVesselNet++, ...) and their inference."""
