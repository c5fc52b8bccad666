"""The benchmark: segmentation quality versus compression, swept over codecs x settings x models x cases.

:mod:`~cerebro.benchmark.sweep` names the compression settings (the paper's ZFP grid by default),
:mod:`~cerebro.benchmark.store` keeps one record per (case, setting, model) so that a run can be resumed,
:mod:`~cerebro.benchmark.runner` does the work, :mod:`~cerebro.benchmark.summary` turns records into the
paper's tables (overall = pooled voxels, mean = average over cases) and :mod:`~cerebro.benchmark.plot` draws
its dual-axis compression-ratio / Dice figures.
"""
