"""The benchmark: segmentation quality versus compression, swept over codecs x settings x models x cases.

:mod:`~cerebro.benchmark.sweep` names the compression settings (the paper's ZFP grid by default, presets, and
``target_ratio`` settings reached by rate control), :mod:`~cerebro.benchmark.store` keeps one record per (case,
setting, model) with its kept prediction so that a run can be resumed, :mod:`~cerebro.benchmark.runner` does the
work, :mod:`~cerebro.benchmark.summary` turns records into the paper's tables (overall = pooled voxels, mean =
average over cases), :mod:`~cerebro.benchmark.limits` answers "how far can I compress?" (the largest ratio within a
Dice-loss bound), :mod:`~cerebro.benchmark.search` bisects a codec's setting for that limit,
:mod:`~cerebro.benchmark.plot` and :mod:`~cerebro.benchmark.overlay` draw the figures and
:mod:`~cerebro.benchmark.report` puts everything into one HTML file.
"""
