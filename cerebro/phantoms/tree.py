"""A synthetic cerebral arterial tree: tapered segments between nodes, with a circle-of-Willis-like ring.

Coordinates here are millimetres in the *grid frame*: ``u = spacing * (i, j, k)`` measured along the image
index axes from voxel (0, 0, 0) (so +u[2] is superior for an identity direction). Radii are millimetres.
The tree is built at real anatomical size and the image grid is a field of view onto it: a 512 x 512 x 300
CTA grid holds the whole head, a 64^3 grid a crop centred on the circle of Willis.

Construction:
- a ring of 10 nodes (radius about 11 mm, vessel radius 1 mm) — the anastomosis that gives the tree loops;
- two internal carotids (radius 2.4 mm) and a basilar artery (1.7 mm) rising tortuously from below the
  head to the ring;
- six root branches from the ring (anterior, middle and posterior cerebral artery pairs) that bifurcate
  generation by generation: child radii follow Murray's law ``r0^3 = r1^3 + r2^3`` with a random
  asymmetry, branch angles Murray's optimal angles, vessel length 28 mm * r^0.6 in 4 segments,
  centrelines a persistent random walk steered to stay inside the brain ellipsoid; growth stops below ``min_radius``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

# Anatomical sizes in mm (adult head), used unscaled.
BRAIN_SEMI_AXES_MM = np.array([68.0, 82.0, 60.0])  # left-right, anterior-posterior, inferior-superior
SCALP_SKULL_MM = (2.0, 8.0, 13.0)  # outer radius beyond the brain surface of CSF, skull, scalp
RING_RADIUS_MM = 11.0
RING_VESSEL_RADIUS_MM = 1.0
ICA_RADIUS_MM = 2.4
BASILAR_RADIUS_MM = 1.7
# (ring angle in degrees, 0 = anterior, + = left; initial direction (x=L, y=P, z=S); radius mm)
ROOT_BRANCHES = (
    (25.0, (0.25, -0.55, 0.8), 1.3),  # left ACA
    (-25.0, (-0.25, -0.55, 0.8), 1.3),  # right ACA
    (60.0, (1.0, -0.1, 0.25), 1.8),  # left MCA
    (-60.0, (-1.0, -0.1, 0.25), 1.8),  # right MCA
    (150.0, (0.45, 0.85, 0.35), 1.3),  # left PCA
    (-150.0, (-0.45, 0.85, 0.35), 1.3),  # right PCA
)
# Cerebellar branches of the basilar artery: (fraction along the basilar trunk, initial direction, radius mm)
BASILAR_BRANCHES = (
    (0.7, (1.0, 0.6, -0.2), 1.1),
    (0.7, (-1.0, 0.6, -0.2), 1.1),
    (0.85, (1.0, 0.4, 0.1), 1.1),
    (0.85, (-1.0, 0.4, 0.1), 1.1),
)
RING_ANGLES_DEG = (0.0, 25.0, 60.0, 110.0, 150.0, 180.0, -150.0, -110.0, -60.0, -25.0)
# Vessel length between bifurcations: LENGTH_SCALE_MM * (radius / 1 mm) ** LENGTH_EXPONENT (thin vessels are
# relatively longer: about 22 radii for a 1.8 mm MCA, 70 radii for a 0.1 mm arteriole).
LENGTH_SCALE_MM = 28.0
LENGTH_EXPONENT = 0.6
MIN_RADIUS_MM = 0.1  # branches stop below this radius (sub-voxel for the usual 0.35-0.6 mm grids)
NECK_MM = 60.0  # the trunks start this far below the head, outside any usual field of view
OUTWARD_BIAS = 0.2  # pull away from the circle of Willis, so branches spread through the brain
STEPS_PER_VESSEL = 4
MAX_GENERATIONS = 40


@dataclass
class VesselTree:
    """Vessel segments between nodes (grid-frame mm).

    ``nodes`` (N, 3) positions; ``edges`` (E, 2) node indices; ``radius_start`` / ``radius_end`` (E,) the radius
    at each end of an edge (each edge is a tapered capsule); ``node_radius`` (N,) the radius of the vessel
    through a node (for centreline output); ``brain_center`` (3,) and ``brain_semi_axes`` (3,) the brain
    ellipsoid the tree was grown in.
    """

    nodes: np.ndarray
    edges: np.ndarray
    radius_start: np.ndarray
    radius_end: np.ndarray
    node_radius: np.ndarray
    brain_center: np.ndarray
    brain_semi_axes: np.ndarray

    @property
    def n_segments(self) -> int:
        """Number of tapered segments."""
        return int(len(self.edges))

    def independent_cycles(self) -> int:
        """Number of independent loops of the vessel graph (edges - nodes + connected components)."""
        n = len(self.nodes)
        graph = coo_matrix((np.ones(len(self.edges)), (self.edges[:, 0], self.edges[:, 1])), shape=(n, n))
        n_components = connected_components(graph, directed=False)[0]
        return int(len(self.edges) - n + n_components)


class _Builder:
    """Accumulates nodes and edges while the tree grows."""

    def __init__(self) -> None:
        self.nodes: list[np.ndarray] = []
        self.node_radius: list[np.ndarray] = []
        self.edges: list[np.ndarray] = []
        self.r0: list[np.ndarray] = []
        self.r1: list[np.ndarray] = []
        self.count = 0

    def add_nodes(self, points: np.ndarray, radii: np.ndarray) -> np.ndarray:
        points = np.atleast_2d(points)
        ids = np.arange(self.count, self.count + len(points))
        self.nodes.append(points)
        self.node_radius.append(np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(points),)).copy())
        self.count += len(points)
        return ids

    def add_edges(self, a: np.ndarray, b: np.ndarray, r0: np.ndarray, r1: np.ndarray) -> None:
        a, b = np.atleast_1d(a), np.atleast_1d(b)
        self.edges.append(np.stack([a, b], axis=1))
        self.r0.append(np.broadcast_to(np.asarray(r0, dtype=np.float64), a.shape).copy())
        self.r1.append(np.broadcast_to(np.asarray(r1, dtype=np.float64), a.shape).copy())


def build_tree(
    brain_center: np.ndarray,
    rng: np.random.Generator,
    min_radius: float = MIN_RADIUS_MM,
    semi_axes: np.ndarray = BRAIN_SEMI_AXES_MM,
) -> VesselTree:
    """Grow a vessel tree in the brain ellipsoid at ``brain_center`` (grid-frame mm).

    ``min_radius`` (mm) is the radius below which branches stop. The tree relative to ``brain_center`` depends
    only on ``rng`` (and ``min_radius``), so a seed gives the same tree whatever the image grid.
    """
    center = np.asarray(brain_center, dtype=np.float64)
    axes = np.asarray(semi_axes, dtype=np.float64)
    bottom_z = center[2] - axes[2] - SCALP_SKULL_MM[-1] - NECK_MM
    builder = _Builder()
    ring_center = center + np.array([0.0, -8.0, -0.45 * axes[2]])
    ring_ids, ring_points = _add_ring(builder, ring_center, rng)
    angle_to_id = dict(zip(RING_ANGLES_DEG, ring_ids))
    angle_to_point = dict(zip(RING_ANGLES_DEG, ring_points))

    trunks = []
    for angle, radius, x_offset in ((60.0, ICA_RADIUS_MM, 22.0), (-60.0, ICA_RADIUS_MM, -22.0),
                                    (180.0, BASILAR_RADIUS_MM, 0.0)):
        start = np.array([ring_center[0] + x_offset, ring_center[1] + 4.0, bottom_z])
        trunks.append(_add_trunk(builder, start, angle_to_id[angle], angle_to_point[angle], radius, rng))

    roots = [(angle_to_id[a], angle_to_point[a], np.asarray(d, dtype=np.float64), r) for a, d, r in ROOT_BRANCHES]
    basilar_ids, basilar_points = trunks[-1]
    for where, direction, radius in BASILAR_BRANCHES:
        n = int(where * (len(basilar_ids) - 1))
        roots.append((basilar_ids[n], basilar_points[n], np.asarray(direction, dtype=np.float64), radius))
    _grow_branches(builder, roots, center, axes, ring_center, min_radius, rng)
    return VesselTree(
        nodes=np.concatenate(builder.nodes),
        edges=np.concatenate(builder.edges).astype(np.int64),
        radius_start=np.concatenate(builder.r0),
        radius_end=np.concatenate(builder.r1),
        node_radius=np.concatenate(builder.node_radius),
        brain_center=center,
        brain_semi_axes=axes,
    )


def _add_ring(builder: _Builder, ring_center: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    angles = np.deg2rad(np.asarray(RING_ANGLES_DEG))
    radius = RING_RADIUS_MM * rng.uniform(0.85, 1.15, len(angles)) * np.where(np.abs(angles) > np.pi / 2, 0.8, 1.0)
    points = ring_center + np.stack(
        [radius * np.sin(angles), -radius * np.cos(angles), rng.uniform(-1.5, 1.5, len(angles))], axis=1
    )
    ids = builder.add_nodes(points, RING_VESSEL_RADIUS_MM)
    order = np.argsort(angles)
    a, b = ids[order], np.roll(ids[order], -1)
    builder.add_edges(a, b, RING_VESSEL_RADIUS_MM, RING_VESSEL_RADIUS_MM)
    return ids, points


def _add_trunk(builder: _Builder, start: np.ndarray, target_id: int, target: np.ndarray, radius: float,
               rng: np.random.Generator) -> tuple[list[int], list[np.ndarray]]:
    """A tortuous vessel from ``start`` up to the ring node ``target_id`` (a siphon-like random walk).

    Returns the trunk's node ids and positions (bottom to top, without the ring node)."""
    n_steps = 24
    previous = builder.add_nodes(start, radius)[0]
    ids, points = [previous], [start]
    position, direction = start.copy(), np.array([0.0, 0.0, 1.0])
    for step in range(n_steps - 1):
        remaining = target - position
        pull = remaining / (np.linalg.norm(remaining) + 1e-9)
        direction = _normalise(direction + 0.45 * rng.normal(size=3) + (0.6 + 2.0 * step / n_steps) * pull)
        position = position + direction * np.linalg.norm(remaining) / (n_steps - step)
        node = builder.add_nodes(position, radius)[0]
        builder.add_edges(previous, node, radius, radius)
        previous = node
        ids.append(node)
        points.append(position)
    builder.add_edges(previous, target_id, radius, radius)
    return ids, points


def _grow_branches(builder: _Builder, roots: list, center: np.ndarray, axes: np.ndarray, ring_center: np.ndarray,
                   min_radius: float, rng: np.random.Generator) -> None:
    """Grow all vessel generations at once (vectorised over the vessels alive in a generation)."""
    node = np.array([r[0] for r in roots], dtype=np.int64)
    position = np.array([r[1] for r in roots], dtype=np.float64)
    direction = _normalise(np.array([r[2] for r in roots], dtype=np.float64))
    radius = np.array([r[3] for r in roots], dtype=np.float64)
    for _generation in range(MAX_GENERATIONS):
        if len(node) == 0:
            break
        step = LENGTH_SCALE_MM * radius**LENGTH_EXPONENT * rng.lognormal(0.0, 0.35, len(radius)) / STEPS_PER_VESSEL
        taper = 0.06 / STEPS_PER_VESSEL
        r_now = radius
        for _ in range(STEPS_PER_VESSEL):
            direction = _normalise(direction + 0.35 * rng.normal(size=direction.shape)
                                   + OUTWARD_BIAS * _normalise(position - ring_center)
                                   + _steer_inside(position, center, axes))
            position = position + direction * step[:, None]
            r_next = r_now * (1.0 - taper)
            new = builder.add_nodes(position, r_next)
            builder.add_edges(node, new, r_now, r_next)
            node, r_now = new, r_next
        inside = _ellipsoid_level(position, center, axes) < 1.0
        node, position, direction, r_now = node[inside], position[inside], direction[inside], r_now[inside]
        node, position, direction, radius = _bifurcate(node, position, direction, r_now, min_radius, rng)


def _bifurcate(node: np.ndarray, position: np.ndarray, direction: np.ndarray, radius: np.ndarray,
               min_radius: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Split every vessel into two children (Murray's law radii and optimal angles); drop those < min_radius."""
    ratio = rng.uniform(0.35, 1.0, len(radius))  # r2 / r1
    r1 = radius / np.cbrt(1.0 + ratio**3)
    r2 = ratio * r1
    cos1 = np.clip((radius**4 + r1**4 - r2**4) / (2 * radius**2 * r1**2), -1.0, 1.0)
    cos2 = np.clip((radius**4 + r2**4 - r1**4) / (2 * radius**2 * r2**2), -1.0, 1.0)
    normal = _normalise(np.cross(direction, rng.normal(size=direction.shape)))
    d1 = cos1[:, None] * direction + np.sqrt(1 - cos1**2)[:, None] * normal
    d2 = cos2[:, None] * direction - np.sqrt(1 - cos2**2)[:, None] * normal
    nodes = np.concatenate([node, node])
    positions = np.concatenate([position, position])
    directions = np.concatenate([d1, d2])
    radii = np.concatenate([r1, r2])
    keep = radii >= min_radius
    return nodes[keep], positions[keep], directions[keep], radii[keep]


def _ellipsoid_level(position: np.ndarray, center: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """sqrt(sum(((p - c) / a)^2)): below 1 inside the brain ellipsoid."""
    return np.sqrt((((position - center) / axes) ** 2).sum(axis=-1))


def _steer_inside(position: np.ndarray, center: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """A pull towards the brain centre that grows as a vessel nears the ellipsoid surface."""
    level = _ellipsoid_level(position, center, axes)
    weight = np.clip((level - 0.6) / 0.2, 0.0, 3.0)
    inward = _normalise(-(position - center) / axes**2)
    return weight[:, None] * inward


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)
