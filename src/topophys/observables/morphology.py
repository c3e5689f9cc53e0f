r"""Topological measures of the cubical graphs of an angle field, as curves over a threshold Θ.

Construction (our precise reading of the paper's "series of graph representations")
-----------------------------------------------------------------------------------
For a periodic field ``theta (L, L)`` (plaquette convention of :mod:`.charge`) and a filtration
parameter Θ ∈ [0, π], the cubical complex K(Θ) on the torus has

* **vertices**: all N = L² sites, always;
* **edges**: the 2N nearest-neighbour bonds whose wrapped angle difference
  :math:`w = |\mathrm{saw}(\theta_j - \theta_i)| \in [0, \pi]` satisfies w ≤ Θ;
* **plaquettes**: the N unit squares whose four edges are all in K(Θ), i.e. whose largest edge
  weight is ≤ Θ.

K(Θ) grows with Θ (a filtration, as in persistent homology): from N isolated points at Θ below
the smallest difference to the whole torus at Θ = π. Aligned regions fill in first; defects and
domain walls last. On it, per field and per Θ:

* area :math:`A = F` (number of plaquettes in);
* perimeter :math:`P = 2E - 4F`: every edge has two sides, every plaquette covers four of them, so
  P counts the edges on the boundary of the filled region once and bare edges twice (the
  Minkowski perimeter of a segment is twice its length);
* Euler characteristic :math:`\chi = V - E + F` of the complex (``euler``) and
  :math:`\chi_E = V - E` of its edge graph (``euler_edges``); A, P and χ are the three 2-D
  Minkowski functionals of the complex (Michielsen & De Raedt's counting of cells);
* ``components``: connected clusters of the edge graph (its Betti number b₀);
* ``radius``, ``diameter``: graph distances (in bonds) within clusters of the edge graph. For a
  cluster C the eccentricity of a site is its largest distance to another site of C; the
  cluster's radius is the smallest eccentricity in C and its diameter the largest. The curves are
  their averages over sites (each cluster weighted by its number of sites): the radius and
  diameter of the cluster a random site belongs to. Isolated sites count 0; the whole torus has
  radius = diameter = 2⌊L/2⌋.

All are raw counts or lengths in lattice units (divide A, P, χ by N for densities). At Θ = π,
A = N, P = 0 and χ = 0 (the torus).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numba
import numpy as np

from .. import _validate
from .charge import wrap_angle

__all__ = ["MorphologyCurves", "edge_weights", "morphology_curves"]


@dataclass
class MorphologyCurves:
    """Topological measures of fields over a threshold grid.

    Attributes
    ----------
    thresholds
        ``(m,)`` the grid Θ, radians.
    area, perimeter, euler, euler_edges, components, radius, diameter
        ``(n, m)`` float64, one row per field (module notes for the definitions).
    """

    thresholds: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    euler: np.ndarray
    euler_edges: np.ndarray
    components: np.ndarray
    radius: np.ndarray
    diameter: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """Name → array, the grid included."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def mean(self) -> dict[str, np.ndarray]:
        """The ensemble mean curve ``(m,)`` of every measure (the grid excluded)."""
        return {k: v.mean(axis=0) for k, v in self.as_dict().items() if k != "thresholds"}


def _fields(theta: Any) -> np.ndarray:
    arr = _validate.real_array("theta", theta)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[-1] < 2 or not len(arr):
        raise ValueError(
            f"theta must have shape (L, L) or (n, L, L) with n >= 1 and L >= 2, got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("theta contains NaN or infinite values")
    return arr


def edge_weights(theta: Any) -> tuple[np.ndarray, np.ndarray]:
    """Wrapped absolute angle differences of the +x and +y bonds: two ``(n, L, L)`` arrays.

    ``wx[..., i, j]`` belongs to bond (i, j)–(i, j+1), ``wy[..., i, j]`` to (i, j)–(i+1, j); values
    in [0, π]. A 2-D field is treated as a batch of one.
    """
    arr = _fields(theta).astype(np.float64)
    diff_x = np.roll(arr, -1, axis=-1) - arr
    diff_y = np.roll(arr, -1, axis=-2) - arr
    wx = np.abs(wrap_angle(diff_x))
    wy = np.abs(wrap_angle(diff_y))
    return wx, wy


# Most thresholds of one computation: each costs a pass over every bond of every field.
_MAX_THRESHOLDS = 10_000


def _grid(thresholds: Any) -> np.ndarray:
    if thresholds is None:
        return np.linspace(0.0, np.pi, 33)
    if isinstance(thresholds, (int, np.integer)) and not isinstance(thresholds, bool):
        if not 2 <= thresholds <= _MAX_THRESHOLDS:
            raise ValueError(
                f"thresholds must be at least 2 grid points (and at most {_MAX_THRESHOLDS}), "
                f"got {thresholds}"
            )
        return np.linspace(0.0, np.pi, int(thresholds))
    grid = _validate.real_array("thresholds", thresholds, finite=False)
    if grid.size > _MAX_THRESHOLDS:
        raise ValueError(f"thresholds must hold at most {_MAX_THRESHOLDS} values, got {grid.size}")
    if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all():
        raise ValueError(f"thresholds must be a non-empty finite 1-D grid, got shape {grid.shape}")
    if np.any(np.diff(grid) <= 0):
        raise ValueError("thresholds must be strictly increasing")
    return grid


def _neighbour_table(wx: np.ndarray, wy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sites' neighbours ``(N, 4)`` (right, left, down, up) and bond weights ``(n, N, 4)``."""
    n, L = wx.shape[0], wx.shape[-1]
    idx = np.arange(L * L).reshape(L, L)
    nbr = np.stack(
        [np.roll(idx, -1, 1), np.roll(idx, 1, 1), np.roll(idx, -1, 0), np.roll(idx, 1, 0)], axis=-1
    ).reshape(L * L, 4)
    w = np.stack([wx, np.roll(wx, 1, -1), wy, np.roll(wy, 1, -2)], axis=-1).reshape(n, L * L, 4)
    return nbr, np.ascontiguousarray(w)


@numba.njit(cache=True)
def _radius_diameter(nbr, w, grid):  # pragma: no cover - compiled; tested through the caller
    n, N = w.shape[0], w.shape[1]
    m = grid.shape[0]
    radius = np.zeros((n, m))
    diameter = np.zeros((n, m))
    dist = np.empty(N, np.int64)
    queue = np.empty(N, np.int64)
    ecc = np.empty(N, np.int64)
    label = np.empty(N, np.int64)
    rad = np.empty(N, np.int64)
    dia = np.empty(N, np.int64)
    for s in range(n):
        previous = -1
        for g in range(m):
            t = grid[g]
            active = 0
            for v in range(N):
                for k in range(4):
                    if w[s, v, k] <= t:
                        active += 1
            if active == previous:  # same graph as at the last threshold
                radius[s, g] = radius[s, g - 1]
                diameter[s, g] = diameter[s, g - 1]
                continue
            previous = active
            for v in range(N):
                dist[v] = -1
            for v in range(N):
                dist[v] = 0
                queue[0] = v
                head, tail, low = 0, 1, v
                while head < tail:
                    u = queue[head]
                    head += 1
                    nxt = dist[u] + 1
                    for k in range(4):
                        x = nbr[u, k]
                        if w[s, u, k] <= t and dist[x] < 0:
                            dist[x] = nxt
                            queue[tail] = x
                            tail += 1
                            if x < low:
                                low = x
                ecc[v] = dist[queue[tail - 1]]  # BFS visits in order of distance
                label[v] = low  # the smallest site index names the cluster
                for q in range(tail):  # reset only what this search touched
                    dist[queue[q]] = -1
            for v in range(N):
                rad[v] = N
                dia[v] = 0
            for v in range(N):
                c = label[v]
                rad[c] = min(rad[c], ecc[v])
                dia[c] = max(dia[c], ecc[v])
            r_sum, d_sum = 0, 0
            for v in range(N):
                r_sum += rad[label[v]]
                d_sum += dia[label[v]]
            radius[s, g] = r_sum / N
            diameter[s, g] = d_sum / N
    return radius, diameter


def morphology_curves(theta: Any, thresholds: Any = None) -> MorphologyCurves:
    """Area, perimeter, Euler characteristics, clusters, radius and diameter against Θ.

    Parameters
    ----------
    theta
        ``(n, L, L)`` or ``(L, L)`` angles (numpy or torch).
    thresholds
        The grid Θ: ``None`` (33 points on [0, π]), a number of points on [0, π], or a strictly
        increasing array of radians.

    Returns
    -------
    MorphologyCurves
        ``(n, m)`` curves (module notes for the construction).

    Examples
    --------
    >>> import numpy as np
    >>> c = morphology_curves(np.zeros((1, 4, 4)), thresholds=[0.0, 1.0])
    >>> c.area[0].tolist(), c.euler[0].tolist(), c.radius[0].tolist(), c.diameter[0].tolist()
    ([16.0, 16.0], [0.0, 0.0], [4.0, 4.0], [4.0, 4.0])
    """
    grid = _grid(thresholds)
    wx, wy = edge_weights(theta)
    n, L = wx.shape[0], wx.shape[-1]
    # A plaquette (i, j) enters with its largest edge: bottom wx[i,j], top wx[i+1,j], left
    # wy[i,j], right wy[i,j+1].
    plaquette = np.maximum(
        np.maximum(wx, np.roll(wx, -1, axis=-2)), np.maximum(wy, np.roll(wy, -1, axis=-1))
    )
    edges_w = np.concatenate([wx.reshape(n, -1), wy.reshape(n, -1)], axis=1)
    n_edges = np.stack([(edges_w <= t).sum(axis=1) for t in grid], axis=1).astype(np.float64)
    n_faces = np.stack([(plaquette.reshape(n, -1) <= t).sum(axis=1) for t in grid], axis=1).astype(
        np.float64
    )
    n_vertices = float(L * L)
    radius, diameter = _radius_diameter(*_neighbour_table(wx, wy), grid)
    components = _components(wx, wy, grid)
    return MorphologyCurves(
        thresholds=grid,
        area=n_faces,
        perimeter=2 * n_edges - 4 * n_faces,
        euler=n_vertices - n_edges + n_faces,
        euler_edges=n_vertices - n_edges,
        components=components,
        radius=radius,
        diameter=diameter,
    )


def _components(wx: np.ndarray, wy: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Number of clusters of the edge graph, ``(n, m)``, by union–find over the sorted edges."""
    n, L = wx.shape[0], wx.shape[-1]
    idx = np.arange(L * L).reshape(L, L)
    src = np.concatenate([idx.ravel(), idx.ravel()])
    dst = np.concatenate([np.roll(idx, -1, axis=1).ravel(), np.roll(idx, -1, axis=0).ravel()])
    weights = np.concatenate([wx.reshape(n, -1), wy.reshape(n, -1)], axis=1)
    return _count_components(src, dst, weights, grid)


@numba.njit(cache=True)
def _find(parent, x):  # pragma: no cover - compiled
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@numba.njit(cache=True)
def _count_components(src, dst, weights, grid):  # pragma: no cover - compiled
    n, n_edges = weights.shape
    n_vertices = src.shape[0] // 2
    out = np.zeros((n, grid.shape[0]))
    parent = np.empty(n_vertices, np.int64)
    for s in range(n):
        for v in range(n_vertices):
            parent[v] = v
        order = np.argsort(weights[s])
        count = n_vertices
        e = 0
        for g in range(grid.shape[0]):
            while e < n_edges and weights[s, order[e]] <= grid[g]:
                a, b = _find(parent, src[order[e]]), _find(parent, dst[order[e]])
                if a != b:
                    parent[a] = b
                    count -= 1
                e += 1
            out[s, g] = count
    return out
