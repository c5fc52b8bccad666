"""The Mamba layer (Gu & Dao 2023) and its selective scan, shared by U-Mamba and MambaVesselNet++."""
