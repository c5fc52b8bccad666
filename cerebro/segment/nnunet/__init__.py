"""nnU-Net v2 results folders (plain nnU-Net, U-Mamba Bot/Enc) and nnU-Net's inference pipeline."""

from cerebro.segment.nnunet.results_folder import NnUNetModel, load_nnunet_model

__all__ = ["NnUNetModel", "load_nnunet_model"]
