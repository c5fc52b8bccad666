"""Random vessel geometry for domain randomisation: tube fields of tortuous, branching tubes of varying radius,
with stenoses and aneurysm-like blobs, as a :class:`cerebro.phantoms.tree.VesselTree` (capsule segments in
grid-frame mm, (x, y, z) = (i, j, k) order) that :func:`cerebro.phantoms.render.render_fraction` voxelises.

Each tube is a persistent random walk: the direction turns by a random amount per step (``tortuosity`` from
0 = straight to about 0.5 = very tortuous), the radius drifts slowly (log-normal steps) and may dip in a
stenosis (a Gaussian narrowing to 30-70 % of the radius); child tubes branch off at random points with a
smaller radius; a blob is a sphere (a zero-length capsule) touching a tube.
"""

from __future__ import annotations

import numpy as np

from cerebro.phantoms.tree import VesselTree

MIN_RADIUS_MM = 0.15


class Segments:
    """Accumulates capsules (a, b, r0, r1)."""

    def __init__(self) -> None:
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.r0: list[float] = []
        self.r1: list[float] = []

    def add(self, a: np.ndarray, b: np.ndarray, r0: float, r1: float) -> None:
        self.a.append(np.asarray(a, dtype=np.float64))
        self.b.append(np.asarray(b, dtype=np.float64))
        self.r0.append(float(r0))
        self.r1.append(float(r1))

    def tree(self) -> VesselTree:
        """The capsules as a VesselTree (every segment its own pair of nodes)."""
        n = len(self.a)
        if n == 0:
            nodes = np.zeros((0, 3))
            return VesselTree(nodes, np.zeros((0, 2), np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                              np.zeros(3), np.ones(3))
        nodes = np.concatenate([np.stack(self.a), np.stack(self.b)])
        edges = np.stack([np.arange(n), np.arange(n, 2 * n)], axis=1)
        radii = np.asarray(self.r0 + self.r1)
        centre = nodes.mean(axis=0)
        return VesselTree(nodes, edges, np.asarray(self.r0), np.asarray(self.r1), radii, centre, np.ones(3))


def random_direction(rng: np.random.Generator) -> np.ndarray:
    """A unit vector drawn uniformly on the sphere."""
    v = rng.normal(size=3)
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _walk(segments: Segments, start: np.ndarray, direction: np.ndarray, radius: float, length_mm: float,
          tortuosity: float, rng: np.random.Generator, extent: np.ndarray, depth: int) -> None:
    """One tube from ``start``; may branch (``depth`` levels more) and carry a stenosis."""
    step = float(np.clip(radius, 0.4, 1.2))
    n = max(int(length_mm / step), 2)
    stenosis_at = rng.integers(n) if rng.random() < 0.25 else -1
    stenosis_depth, stenosis_width = rng.uniform(0.3, 0.7), rng.uniform(2.0, 6.0)
    point, r = np.asarray(start, dtype=np.float64), radius
    margin = 10.0
    for i in range(n):
        direction = direction + rng.normal(scale=tortuosity, size=3)
        direction /= max(float(np.linalg.norm(direction)), 1e-9)
        nxt = point + step * direction
        r_next = float(np.clip(r * np.exp(rng.normal(0.0, 0.03)), MIN_RADIUS_MM, 3.5))
        shrink0 = shrink1 = 1.0
        if stenosis_at >= 0:
            shrink0 = 1 - stenosis_depth * np.exp(-((i - stenosis_at) * step / stenosis_width) ** 2)
            shrink1 = 1 - stenosis_depth * np.exp(-((i + 1 - stenosis_at) * step / stenosis_width) ** 2)
        segments.add(point, nxt, max(r * shrink0, MIN_RADIUS_MM), max(r_next * shrink1, MIN_RADIUS_MM))
        if depth > 0 and r > 0.4 and rng.random() < 0.04:
            child = direction + rng.normal(scale=0.9, size=3)
            child /= max(float(np.linalg.norm(child)), 1e-9)
            _walk(segments, point, child, r * rng.uniform(0.4, 0.8), length_mm * rng.uniform(0.3, 0.7),
                  tortuosity, rng, extent, depth - 1)
        point, r = nxt, r_next
        if np.any(point < -margin) or np.any(point > extent + margin):
            break


def tube_field(extent_mm: np.ndarray, rng: np.random.Generator) -> VesselTree:
    """A random field of 2-12 tubes (radius 0.2-2.5 mm, log-uniform) through a box of ``extent_mm`` (x, y, z),
    some branching, some with a stenosis, sometimes with 1-2 aneurysm-like blobs."""
    return tube_segments(extent_mm, rng).tree()


def tube_segments(extent_mm: np.ndarray, rng: np.random.Generator) -> Segments:
    """The capsules of :func:`tube_field` (the same draws)."""
    extent = np.asarray(extent_mm, dtype=np.float64)
    segments = Segments()
    tortuosity = float(rng.choice([0.0, rng.uniform(0.02, 0.15), rng.uniform(0.15, 0.5)]))
    for _ in range(int(rng.integers(2, 13))):
        radius = float(np.exp(rng.uniform(np.log(0.2), np.log(2.5))))
        start = rng.uniform(0, 1, 3) * extent
        direction = random_direction(rng)
        for sign in (1.0, -1.0):  # from a point inside, both ways until the tube leaves the box
            _walk(segments, start, sign * direction, radius, 2.0 * float(np.linalg.norm(extent)), tortuosity, rng,
                  extent, depth=2)
    for _ in range(int(rng.integers(1, 3)) if rng.random() < 0.25 and segments.a else 0):
        n = int(rng.integers(len(segments.a)))
        blob = rng.uniform(1.0, 4.0)
        centre = segments.a[n] + random_direction(rng) * (segments.r0[n] + 0.6 * blob)
        segments.add(centre, centre, blob, blob)
    return segments
