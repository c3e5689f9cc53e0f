r"""Representative cycles of cubical H1 pairs: persistence-diagram points back to the field.

The inverse analysis of a field asks which part of the field made a point of its diagram. For a
finite H1 pair ``(b, d)`` of the sublevel filtration of a 2-D field ``f`` the answer here is a
*region* and its *boundary*:

* By duality (see :mod:`topophys.homology.cubical`) the pair is a component of the superlevel
  set ``{f > t}`` (in the dual connectivity: 4 for the top-cell construction, 8 for the vertex
  one) that appears at its maximum ``d`` as ``t`` decreases and merges into an older component
  at ``b``. The ``region`` is that component of ``{f > b}``: the pixels connected to the death
  pixel (the maximum, of value ``d``) through pixels above ``b``. It is the hole that the cycle
  encloses and that
  fills at ``d``; for the TDGL fields of the NRP papers, with the sublevel filtration, it is a
  ``phi > 0`` domain enclosed by ``phi < 0``.
* The ``edges`` are the boundary of the 2-chain of squares that fill the hole: for
  ``construction="top"`` the pixels of the region; for ``"vertex"`` every square of the
  vertex complex with a corner in the region. This is the *death cycle* of the pair, as in
  :mod:`topophys.homology.cycles` for atoms: every edge is present at ``b`` (its value is at
  most ``b``), the cycle is a boundary from ``d`` on and not before, and it is the boundary of
  the death cell's component. It is one loop when the region encloses no island of lower
  values, and the outer loop plus one loop around each island otherwise.

Edges join two vertices of the cubical complex, given as integer ``(row, column)``
coordinates: for ``"top"`` the corners of the pixels (corner ``(i, j)`` is the top-left corner
of pixel ``(i, j)``, so an edge runs along pixel sides), for ``"vertex"`` the pixels
themselves. On the torus coordinates are taken modulo the field's shape.

Ties between pixels of equal value are broken by flat index when pairing (which pixel is the
birth or death pixel of a pair may depend on it; the values do not, and are checked against the
diagram); the region, all of ``{f > b}`` around the death pixel, does not depend on it.

Examples
--------
>>> import numpy as np
>>> f = np.full((5, 5), 2.0)
>>> f[1:4, 1:4] = 0.0  # a ring of low values ...
>>> f[2, 2] = 1.0  # ... around a higher centre: a hole born at 0, filled at 1
>>> (cycle,) = cubical_h1_cycles(f)
>>> cycle.birth, cycle.death, cycle.death_pixel
(0.0, 1.0, (2, 2))
>>> cycle.edges.tolist()  # the four sides of the centre pixel
[[[2, 2], [2, 3]], [[2, 2], [3, 2]], [[2, 3], [3, 3]], [[3, 2], [3, 3]]]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _validate
from ._fields import CONSTRUCTIONS, FILTRATIONS, check_field
from ._kernels import cycle_kernels

__all__ = ["FieldCycle", "cubical_h1_cycles"]


@dataclass(frozen=True)
class FieldCycle:
    """A representative cycle of one finite H1 pair of a 2-D field.

    Attributes
    ----------
    birth, death : float
        The pair, in values of the field (of ``-field`` for the superlevel filtration, as in
        the diagrams).
    birth_pixel, death_pixel : tuple of int
        ``(row, column)`` of the pixel of value ``birth`` whose entry closes the cycle and of
        the pixel of value ``death`` (the region's extremum) whose entry fills it.
    region : numpy.ndarray of bool, shape (H, W)
        The pixels of the hole the cycle encloses (see the module notes).
    edges : numpy.ndarray of int, shape (m, 2, 2)
        The cycle's edges, each ``[[row, col], [row, col]]`` of its two vertices (pixel corners
        for the top-cell construction, pixels for the vertex one), the smaller vertex first,
        sorted.
    """

    birth: float
    death: float
    birth_pixel: tuple[int, int]
    death_pixel: tuple[int, int]
    region: np.ndarray
    edges: np.ndarray


def cubical_h1_cycles(
    field: Any,
    *,
    construction: str = "top",
    filtration: str = "sublevel",
    periodic: bool = False,
    select: Callable[[np.ndarray, np.ndarray], Any] | None = None,
) -> list[FieldCycle]:
    """Representative cycles of the finite H1 pairs of a 2-D field.

    Parameters
    ----------
    field
        Array-like ``(H, W)``, real and finite, both sides at least 2.
    construction, filtration
        As in :class:`~topophys.homology.CubicalPersistence`.
    periodic
        ``False`` (open boundaries) or ``True`` (both axes wrap around).
    select
        ``select(births (k,), deaths (k,)) -> bool mask (k,)`` choosing the pairs to trace,
        e.g. a window of the birth–death plane; ``None``: every finite pair.

    Returns
    -------
    list of FieldCycle
        One per selected finite H1 pair of positive persistence, sorted by (birth, death):
        the same pairs as the finite H1 rows of
        :func:`~topophys.homology.cubical_diagram` with the same arguments.

    Raises
    ------
    ValueError
        If the field is not 2-D, or an argument is not one of its options.
    """
    construction = _validate.choice("construction", construction, CONSTRUCTIONS)
    filtration = _validate.choice("filtration", filtration, FILTRATIONS)
    if not isinstance(periodic, (bool, np.bool_)):
        raise TypeError(f"periodic must be True or False, got {periodic!r}")
    f = check_field(field, "field")
    if f.ndim != 2:
        raise ValueError(f"field must be 2-D (H, W) for cycles, got shape {f.shape}")
    g = -f if filtration == "superlevel" else f
    # The dual filtration: -g, in the other construction's connectivity. Open boundaries get a
    # ring that enters first, the outside every hole is counted against.
    eight = construction == "vertex"
    dual = -g if periodic else np.pad(-g, 1, constant_values=-np.inf)
    height, width = dual.shape
    order = np.argsort(dual.ravel(), kind="stable")  # ties by flat index
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    merge_pairs, component = cycle_kernels()
    merge, oldest = merge_pairs(order, height, width, eight, bool(periodic))
    flat = dual.ravel()
    births, deaths = -flat[merge], -flat[oldest]
    keep = np.flatnonzero(deaths > births)
    keep = keep[np.lexsort((deaths[keep], births[keep]))]
    if select is not None:
        mask = np.asarray(select(births[keep], deaths[keep]), dtype=bool).reshape(-1)
        if mask.shape != keep.shape:
            raise ValueError(f"select must return one bool per pair ({keep.size}), got {mask.size}")
        keep = keep[mask]
    shift = 0 if periodic else 1
    ranked = flat[order]
    out = []
    for k in keep:
        # Pixels strictly below the birth pixel's level in the dual: {g > b}, whatever the
        # order of ties at b. The younger component cannot reach the elder there (they met at
        # a pixel of level b), so the region is the smallest hole, the same for every tie order.
        limit = np.searchsorted(ranked, flat[merge[k]], side="left")
        inside = component(rank, oldest[k], limit, height, width, eight, bool(periodic))
        region = inside.reshape(height, width)[shift : height - shift, shift : width - shift]
        squares = _squares(region, construction, periodic)
        out.append(
            FieldCycle(
                birth=float(births[k]),
                death=float(deaths[k]),
                birth_pixel=_pixel(merge[k], width, shift),
                death_pixel=_pixel(oldest[k], width, shift),
                region=region.copy(),
                edges=_boundary(squares, periodic),
            )
        )
    return out


def _pixel(flat: int, width: int, shift: int) -> tuple[int, int]:
    return int(flat // width) - shift, int(flat % width) - shift


def _squares(region: np.ndarray, construction: str, periodic: bool) -> np.ndarray:
    """The 2-chain that fills the hole, as a mask of the complex's squares.

    Square ``(i, j)`` has corners ``(i, j)``, ``(i, j + 1)``, ``(i + 1, j)``, ``(i + 1, j + 1)``
    in the vertex coordinates of the module notes. For the top-cell construction squares are
    pixels; for the vertex construction a square is in the chain when a corner is in the region.
    """
    if construction == "top":
        return region
    if periodic:
        r = region
        return r | np.roll(r, -1, 0) | np.roll(r, -1, 1) | np.roll(np.roll(r, -1, 0), -1, 1)
    return region[:-1, :-1] | region[1:, :-1] | region[:-1, 1:] | region[1:, 1:]


def _boundary(squares: np.ndarray, periodic: bool) -> np.ndarray:
    """Edges ``(m, 2, 2)`` on the boundary of a 2-chain of unit squares (mod 2)."""
    if periodic:
        below = squares ^ np.roll(squares, 1, 0)  # horizontal edge (i, j)-(i, j+1)
        right = squares ^ np.roll(squares, 1, 1)  # vertical edge (i, j)-(i+1, j)
    else:
        padded = np.pad(squares, 1)
        below = (padded[1:, 1:-1] ^ padded[:-1, 1:-1]).astype(bool)  # rows 0..h, cols 0..w-1
        right = (padded[1:-1, 1:] ^ padded[1:-1, :-1]).astype(bool)  # rows 0..h-1, cols 0..w
    rows_h, cols_h = np.nonzero(below)
    rows_v, cols_v = np.nonzero(right)
    h, w = squares.shape
    mod_r, mod_c = (h, w) if periodic else (h + 1, w + 1)
    start = np.concatenate([np.c_[rows_h, cols_h], np.c_[rows_v, cols_v]])
    end = np.concatenate([np.c_[rows_h, (cols_h + 1) % mod_c], np.c_[(rows_v + 1) % mod_r, cols_v]])
    edges = np.stack([start, end], axis=1)
    # The smaller vertex first (a wrapped edge may start at the larger one), then sorted.
    swap = (edges[:, 0, 0] > edges[:, 1, 0]) | (
        (edges[:, 0, 0] == edges[:, 1, 0]) & (edges[:, 0, 1] > edges[:, 1, 1])
    )
    edges[swap] = edges[swap, ::-1]
    flat = edges.reshape(-1, 4)
    return edges[np.lexsort(flat.T[::-1])].astype(np.int64)
