"""Segmentation model families: each module builds one published network and its inference recipe."""
