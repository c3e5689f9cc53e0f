r"""Representative cycles of H1 pairs of a periodic alpha complex: PD points back to atoms.

The inverse analysis of the amorphous-carbon paper (Fig. 6) maps birth–death pairs to the
rings of atoms that carry them. The paper used HomCloud's stable volumes; this module needs no
HomCloud and works on the same exact periodic alpha complex as
:func:`~topophys.homology.alpha.periodic_alpha_diagram` (so its pairs are those of the diagram).

Method (ours): the *death cycle*, made a single loop. The H1 pairs are computed by the
standard Z/2 reduction of the triangle–edge boundary matrix of the alpha complex, triangles in
filtration order. The reduced column of the death triangle of a pair (b, d) is the boundary of
a 2-chain of triangles present at d (the chain that kills the class) whose youngest edge is the
birth edge; so it is a cycle present at b that becomes a boundary exactly at d: a
representative of the pair, with its birth edge. For a ring that closes at b and fills at d it
is that ring. It can also be a sum of loops (two rings sharing the birth edge, or two parallel
winding loops bounding an annulus on the torus); the loop reported is the shortest one through
the birth edge made of the column's edges (Dijkstra, Euclidean bond lengths). Paths are
searched in the periodic lift (each atom with the lattice offset of its image), so a ring that
closes in space comes with the image offsets that make it contiguous, ready for bond lengths and
angles; only when no loop through the birth edge closes in space (a winding loop) is the loop
on the torus returned, with its ``winding``.

Compared with HomCloud's stable volumes (the paper's choice) or volume-optimal cycles, no
optimisation picks the smallest chain among the representatives; ties between equally valid
rings follow the reduction order. For the ring statistics of the inverse analysis (bond lengths
and angles) both give the ring of atoms that closes at b.

Examples
--------
>>> import numpy as np
>>> angles = np.arange(6) * np.pi / 3 + 1e-3 * np.arange(6) ** 2  # slightly irregular
>>> hexagon = 1.4 * np.c_[np.cos(angles), np.sin(angles)]
>>> points = np.vstack([hexagon, 3.0 * hexagon])  # a ring inside a wider one, no cell
>>> [sorted(c.atoms.tolist()) for c in h1_cycles(points, select=lambda b, d: b < 1.0)]
[[0, 1, 2, 3, 4, 5]]
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from .. import _validate
from ._torus import Torus, check_points, default_zero_tolerance, triangulated

__all__ = ["Cycle", "atoms_h1_cycles", "h1_cycles"]


@dataclass(frozen=True)
class Cycle:
    """A closed ring of atoms representing one H1 pair.

    Attributes
    ----------
    birth, death : float
        The pair (squared radii, Å²).
    atoms : numpy.ndarray of int, shape (m,)
        Atom indices (into the input points) in order around the ring; ``atoms[0]`` and
        ``atoms[1]`` are the birth edge.
    shifts : numpy.ndarray of int, shape (m, d)
        Lattice offset of each atom's image: its position is the wrapped position (fractional
        coordinates in [0, 1)) plus ``shifts @ cell``.
    positions : numpy.ndarray, shape (m, d)
        Cartesian positions of those images: consecutive atoms are bonded in space.
    winding : numpy.ndarray of int, shape (d,)
        Net lattice translation around the loop (0 for a ring that closes in space).
    cell : numpy.ndarray, shape (d, d)
        Lattice vectors as rows (zeros for a non-periodic cloud).
    """

    birth: float
    death: float
    atoms: np.ndarray
    shifts: np.ndarray
    positions: np.ndarray
    winding: np.ndarray
    cell: np.ndarray

    def _closed(self) -> np.ndarray:
        """Positions ``(m + 2, d)``: the ring with its last atom before and its first after."""
        close = self.positions[0] + self.winding @ self.cell
        before = self.positions[-1] - self.winding @ self.cell
        return np.vstack([before, self.positions, close])

    def bond_lengths(self) -> np.ndarray:
        """Lengths ``(m,)`` of the ring's bonds (atom i to i + 1, the last closing the ring)."""
        p = self._closed()[1:]
        return np.linalg.norm(p[1:] - p[:-1], axis=1)

    def bond_angles(self) -> np.ndarray:
        """Angles ``(m,)`` in degrees at each ring atom between its two ring bonds."""
        p = self._closed()
        a, b = p[:-2] - p[1:-1], p[2:] - p[1:-1]
        cos = np.einsum("md,md->m", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


class _RecordingTorus(Torus):
    """The periodic alpha construction, keeping the top simplices' image offsets."""

    top: tuple[np.ndarray, np.ndarray] | None = None

    def _filtration(
        self, atoms: np.ndarray, shifts: np.ndarray, xyz: np.ndarray, flat: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        self.top = (atoms, shifts)
        return super()._filtration(atoms, shifts, xyz, flat)


def _periodic_complex(
    points: np.ndarray, cell: np.ndarray, margin: float | None
) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray, np.ndarray]:
    """Levels of the quotient complex, the edges' image offsets ``(E, d)``, wrapped Cartesian
    positions ``(n, d)`` and the cell (same retry policy as ``periodic_alpha_diagram``)."""
    n, d = points.shape
    levels, torus = triangulated(_RecordingTorus, points, cell, margin)
    if torus.top is None:
        raise RuntimeError("periodic alpha: the triangulation recorded no top simplices")
    top_atoms, top_shifts = torus.top
    # Every edge is a face of a top simplex, whose atoms are sorted: the offset of the larger
    # atom relative to the smaller one is the edge's.
    pairs = [(a, b) for a in range(d + 1) for b in range(a + 1, d + 1)]
    i = np.concatenate([top_atoms[:, a] for a, _ in pairs])
    j = np.concatenate([top_atoms[:, b] for _, b in pairs])
    rel = np.concatenate([top_shifts[:, b] - top_shifts[:, a] for a, b in pairs])
    keys = i.astype(np.int64) * n + j
    _, first = np.unique(keys, return_index=True)
    edge_atoms = levels[1][0]
    edge_keys = edge_atoms[:, 0].astype(np.int64) * n + edge_atoms[:, 1]
    order = np.searchsorted(keys[first], edge_keys)
    if not np.array_equal(keys[first][order], edge_keys):
        raise RuntimeError("periodic alpha: an edge is not a face of any top simplex")
    return levels, rel[first][order], torus.frac @ torus.cell, torus.cell


def h1_cycles(
    points: Any,
    cell: Any = None,
    *,
    select: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    margin: float | None = None,
    zero_tolerance: float | None = None,
    max_length: float | None = None,
) -> list[Cycle]:
    """Tightest representative cycles of the finite H1 pairs of an alpha complex.

    Parameters
    ----------
    points : array_like, shape (n, d)
        Cartesian coordinates, d = 2 or 3 (Å).
    cell : array_like, shape (d, d), optional
        Lattice vectors as rows for a periodic structure; None: a non-periodic point cloud.
    select : callable, optional
        ``select(births (k,), deaths (k,)) -> bool mask (k,)`` choosing the pairs to trace
        (e.g. those in a region of the birth–death plane); None: all finite pairs.
    margin : float, optional
        Initial cover width (see :func:`~topophys.homology.alpha.periodic_alpha_diagram`).
    zero_tolerance : float, optional
        Pairs with death − birth ≤ this are dropped, as in the diagram; None: as the diagram's
        default (0 for a point cloud, relative to the squared mean spacing for a periodic one).
    max_length : float, optional
        Longest ring (sum of bond lengths, Å) searched for in space; default: twice the sum
        of the cell's lattice-vector lengths.

    Returns
    -------
    list of Cycle
        One per selected finite H1 pair, sorted by (birth, death).
    """
    import gudhi

    pts = check_points(points)
    n, d = pts.shape
    if zero_tolerance is None:
        zero_tolerance = 0.0 if cell is None else default_zero_tolerance(cell, n, d)
    _validate.nonnegative("zero_tolerance", zero_tolerance)
    if cell is None:
        st = gudhi.AlphaComplex(points=pts).create_simplex_tree()
        by_dim: dict[int, list[Any]] = {1: [], 2: []}
        for simplex, value in st.get_skeleton(2):
            if len(simplex) in (2, 3):
                by_dim[len(simplex) - 1].append((sorted(simplex), value))
        edges = np.array([s for s, _ in by_dim[1]], dtype=np.int64).reshape(-1, 2)
        values = np.array([v for _, v in by_dim[1]], dtype=np.float64)
        tris = np.array([s for s, _ in by_dim[2]], dtype=np.int64).reshape(-1, 3)
        t_values = np.array([v for _, v in by_dim[2]], dtype=np.float64)
        edge_shift = np.zeros((len(edges), d), dtype=np.int64)
        wrapped, lattice = pts, np.zeros((d, d))
    else:
        levels, edge_shift, wrapped, lattice = _periodic_complex(pts, cell, margin)
        (edges, values), (tris, t_values) = levels[1], levels[2]

    pairs = _h1_pairs(edges, values, tris, t_values, n)
    births_a = np.array([values[e] for e, _, _ in pairs], dtype=np.float64)
    deaths_a = np.array([t_values[t] for _, t, _ in pairs], dtype=np.float64)
    keep = deaths_a - births_a > zero_tolerance
    pairs = [p for p, k in zip(pairs, keep, strict=True) if k]
    births_a, deaths_a = births_a[keep], deaths_a[keep]
    order = np.lexsort((deaths_a, births_a))
    if select is not None:
        mask = np.asarray(select(births_a, deaths_a), dtype=bool).reshape(-1)
        if mask.shape != births_a.shape:
            raise ValueError(
                f"select must return one bool per pair ({births_a.size}), got {mask.size}"
            )
        order = order[mask[order]]
    if not len(order):
        return []

    if max_length is None:
        max_length = 2.0 * float(np.linalg.norm(lattice, axis=1).sum()) or math.inf
    elif isinstance(max_length, bool) or not isinstance(max_length, Real) or not max_length > 0:
        raise ValueError(f"max_length must be a length > 0 (inf: unbounded), got {max_length!r}")
    graph = _Graph(edges, values, edge_shift, wrapped, lattice)
    out = []
    for k in order:
        e, _, chain = pairs[k]
        u, v = (int(x) for x in edges[e])
        ring, shifts, winding = graph.tightest(u, v, set(chain), float(max_length))
        out.append(
            Cycle(
                birth=float(births_a[k]),
                death=float(deaths_a[k]),
                atoms=np.array(ring, dtype=np.int64),
                shifts=np.array(shifts, dtype=np.int64).reshape(len(ring), d),
                positions=wrapped[ring] + np.array(shifts, dtype=np.float64) @ lattice,
                winding=np.array(winding, dtype=np.int64),
                cell=lattice.copy(),
            )
        )
    return out


def _h1_pairs(
    edges: np.ndarray, values: np.ndarray, tris: np.ndarray, t_values: np.ndarray, n: int
) -> list[tuple[int, int, list[int]]]:
    """Finite H1 pairs by the standard Z/2 reduction of the triangle–edge boundary matrix.

    Edges ``(E, 2)`` and triangles ``(T, 3)`` hold sorted atom indices, with their filtration
    values. Returns ``(birth edge, death triangle, cycle)`` per pair, where the cycle (a list
    of edge indices) is the reduced column: the boundary of the 2-chain that kills the class,
    whose youngest edge is the birth edge.
    """
    e_rank = np.empty(len(edges), dtype=np.int64)
    e_order = np.lexsort((np.arange(len(edges)), values))
    e_rank[e_order] = np.arange(len(edges))
    keys = edges[:, 0].astype(np.int64) * n + edges[:, 1]
    key_order = np.argsort(keys)
    faces = np.stack(
        [tris[:, 0] * n + tris[:, 1], tris[:, 0] * n + tris[:, 2], tris[:, 1] * n + tris[:, 2]],
        axis=1,
    ).astype(np.int64)
    pos = np.searchsorted(keys[key_order], faces)
    pos = np.minimum(pos, len(keys) - 1)
    if not np.array_equal(keys[key_order][pos], faces):
        raise RuntimeError("alpha complex: a triangle's edge is missing")
    face_rank = e_rank[key_order[pos]]  # (T, 3) ranks of each triangle's edges
    pivot: dict[int, set[int]] = {}
    out = []
    for t in np.lexsort((np.arange(len(tris)), t_values)):
        column = set(face_rank[t].tolist())
        while column:
            low = max(column)
            other = pivot.get(low)
            if other is None:
                pivot[low] = column
                out.append((int(e_order[low]), int(t), [int(e_order[r]) for r in column]))
                break
            column ^= other
    return out


class _Graph:
    """The alpha 1-skeleton with edge lengths and image offsets, for walking cycles."""

    def __init__(
        self,
        edges: np.ndarray,
        values: np.ndarray,
        shifts: np.ndarray,
        wrapped: np.ndarray,
        cell: np.ndarray,
    ) -> None:
        vec = wrapped[edges[:, 1]] + shifts @ cell - wrapped[edges[:, 0]]
        self.length = np.linalg.norm(vec, axis=1).tolist()
        self.edges = edges.tolist()
        self.shifts = [tuple(s) for s in shifts.tolist()]
        self.d = cell.shape[0]

    def _search(
        self,
        adj: dict[int, list[tuple[int, tuple[int, ...], float]]],
        u: int,
        v: int,
        sv: tuple[int, ...],
        lifted: bool,
        limit: float,
    ) -> list[tuple[int, tuple[int, ...]]] | None:
        """Shortest path from (v, sv) to (u, 0) over ``adj``; in the periodic lift (node =
        atom and image) or on the torus (node = atom). Returned from the goal back."""
        zero = (0,) * self.d
        start, goal = (v, sv if lifted else zero), (u, zero)
        dist = {start: 0.0}
        parent: dict[tuple[int, tuple[int, ...]], Any] = {start: None}
        heap = [(0.0, start)]
        while heap:
            dcur, node = heapq.heappop(heap)
            if dcur > dist[node]:
                continue
            if node == goal:
                path = []
                while node is not None:
                    path.append(node)
                    node = parent[node]
                return path
            if dcur > limit:
                return None
            atom, image = node
            for nbr, s, ln in adj.get(atom, ()):
                nimage = tuple(a + b for a, b in zip(image, s, strict=True)) if lifted else zero
                nxt, nd = (nbr, nimage), dcur + ln
                if nd < dist.get(nxt, math.inf):
                    dist[nxt] = nd
                    parent[nxt] = node
                    heapq.heappush(heap, (nd, nxt))
        return None

    def tightest(
        self, u: int, v: int, chain: set[int], limit: float
    ) -> tuple[list[int], list[tuple[int, ...]], tuple[int, ...]]:
        """Atoms, image offsets and winding of the shortest loop through edge {u, v} (u < v)
        made of the edges in ``chain`` (edge indices, the birth edge among them)."""
        adj: dict[int, list[tuple[int, tuple[int, ...], float]]] = {}
        s_uv = None
        for k in chain:
            i, j = self.edges[k]
            s = self.shifts[k]
            if (i, j) == (u, v):
                s_uv = s
                continue  # the birth edge closes the loop
            adj.setdefault(i, []).append((j, s, self.length[k]))
            adj.setdefault(j, []).append((i, tuple(-x for x in s), self.length[k]))
        if s_uv is None:
            raise RuntimeError(f"the cycle does not contain its birth edge ({u}, {v})")
        path = self._search(adj, u, v, s_uv, lifted=True, limit=limit)
        winding = (0,) * self.d
        if path is None:  # no closed lift: the shortest loop on the torus, with its winding
            path = self._search(adj, u, v, s_uv, lifted=False, limit=math.inf)
            if path is None:
                raise RuntimeError(f"no loop through the birth edge ({u}, {v}) in its cycle")
            steps = {}
            for k in chain:
                i, j = self.edges[k]
                steps[(i, j)], steps[(j, i)] = self.shifts[k], tuple(-x for x in self.shifts[k])
            atoms = [u, *(a for a, _ in path[::-1][:-1])]
            images = [(0,) * self.d]
            for a, b in zip(atoms, [*atoms[1:], u], strict=True):
                images.append(tuple(x + y for x, y in zip(images[-1], steps[(a, b)], strict=True)))
            return atoms, images[:-1], images[-1]
        # goal (u, 0) ... start (v, s_uv): reversed, the ring reads u, v, ..., back to u.
        ring = [path[0], *path[::-1][:-1]]
        return [a for a, _ in ring], [img for _, img in ring], winding


def atoms_h1_cycles(
    atoms: Any,
    *,
    dimension: int = 3,
    select: Callable[[np.ndarray, np.ndarray], Any] | None = None,
    **kwargs: Any,
) -> list[Cycle]:
    """:func:`h1_cycles` of an ``ase.Atoms`` (periodic when all its ``pbc`` are; with
    ``dimension=2``, x and y and the in-plane cell block, as in
    :class:`~topophys.homology.AlphaPersistence`)."""
    if not hasattr(atoms, "get_positions") or not hasattr(atoms, "get_pbc"):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    _validate.choice("dimension", dimension, (2, 3))
    pos = np.asarray(atoms.get_positions(), dtype=np.float64)[:, :dimension]
    pbc = np.asarray(atoms.get_pbc(), dtype=bool)[:dimension]
    if pbc.any() and not pbc.all():
        raise ValueError(f"atoms have mixed periodicity pbc={atoms.get_pbc().tolist()}")
    cell = np.asarray(atoms.get_cell()[:], dtype=np.float64)[:dimension, :dimension]
    return h1_cycles(pos, cell if pbc.all() else None, select=select, **kwargs)
