"""Persistent homology of 2D scalar fields on cubical complexes.

A field ``f`` of shape ``(H, W)`` is filtered by its level sets and the persistence diagrams of
homology dimensions 0 and 1 (and 2 on the torus) are returned as rows ``[dim, birth, death]``,
``death = +inf`` for essential classes. Two cubical constructions are offered, since the papers
leave the choice open and it changes the diagrams:

``construction="top"`` (T-construction)
    Each pixel is a closed unit square (a top-dimensional cell); edges and vertices take the
    minimum of the squares that contain them. Sublevel sets connect pixels that touch at an edge
    or a corner: **8-connectivity** for H0. Same complex as
    ``gudhi.CubicalComplex(top_dimensional_cells=f)``.
``construction="vertex"`` (V-construction)
    Each pixel is a vertex; edges and squares take the maximum of their vertices. Sublevel sets
    connect pixels that share an edge only: **4-connectivity** for H0. Same complex as
    ``gudhi.CubicalComplex(vertices=f)``.

How it is computed (all exact, checked pair for pair against GUDHI in the tests):

* non-periodic, top: GUDHI's dedicated 2D routine (about 100x faster than building a
  ``gudhi.CubicalComplex``; it is private to GUDHI, so without it, and for fields 2 pixels wide,
  the general ``gudhi.CubicalComplex`` is used).
* non-periodic, vertex: by Alexander duality. Pad ``-f`` with a one-pixel ring of a value below
  every pixel and run the top-cell routine on it. The V-complex of ``{f <= t}`` and the T-complex of
  ``{f > t}`` plus the ring are complementary in the plane (4- versus 8-connectivity), so an H1
  pair ``(b', d')`` of the padded T-filtration of ``-f`` is an H0 pair ``(-d', -b')`` of the
  V-filtration of ``f`` and an H0 pair is an H1 pair the same way. The ring's own loop, born at
  the pad value, is the dual of the essential H0 class of ``f``; the ring's component is dropped.
* periodic (either construction): on the torus, H0 by merging basins of steepest descent
  (numpy-vectorized descent and pointer jumping), then Borůvka rounds under the elder rule on the
  much smaller basin graph, finished if they stall by a scipy minimum spanning tree and a
  union-find loop. Finite H1 pairs by Poincaré–Lefschetz duality on
  the torus: the finite H1 pairs of the T-(V-)filtration of ``f`` are the finite H0 pairs of the
  V-(T-)filtration of ``-f``, reflected. The torus has two essential H1 classes; their births
  are where ``beta_1(t) - #(finite H1 pairs alive at t)`` steps up, with
  ``beta_1 = beta_0 + beta_2 - chi`` and the Euler characteristic ``chi(t)`` counted from the
  cells directly. The essential H2 class is born at ``max f``.

Pairs of zero persistence (``birth == death``) are omitted, as GUDHI does by default.

Examples
--------
>>> import numpy as np
>>> from topophys.homology.cubical import cubical_diagram
>>> f = np.array([[0.0, 2.0], [2.0, 1.0]])  # two wells touching at a corner
>>> cubical_diagram(f, construction="top")  # 8-connected: one component from the start
array([[ 0.,  0., inf]])
>>> cubical_diagram(f, construction="vertex")  # 4-connected: the wells meet at 2
array([[ 0.,  0., inf],
       [ 0.,  1.,  2.]])
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from sklearn.base import BaseEstimator, TransformerMixin

from .. import _validate
from ..parallel import pmap

if TYPE_CHECKING:
    from ..diagrams import Diagrams

try:
    # GUDHI's 2D top-cell routine; private, so fall back to the public (slower, exact) complex.
    from gudhi._pers_cub_low_dim_ext import (
        _persistence_on_rectangle_from_top_cells as _gudhi_rectangle,
    )
except ImportError:  # pragma: no cover - depends on the GUDHI build
    _gudhi_rectangle = None

__all__ = ["CONSTRUCTIONS", "FILTRATIONS", "CubicalPersistence", "cubical_diagram"]

CONSTRUCTIONS = ("top", "vertex")
FILTRATIONS = ("sublevel", "superlevel")

# Neighbour offsets (dy, dx); the other half of each neighbourhood is their negation.
_HALF_OFFSETS = {4: ((0, 1), (1, 0)), 8: ((0, 1), (1, 0), (1, 1), (1, -1))}
# Sublevel H0 connectivity of each construction, and that of its dual (the other construction).
_CONNECTIVITY = {"top": 8, "vertex": 4}
_DUAL_CONNECTIVITY = {"top": 4, "vertex": 8}


def cubical_diagram(
    field: Any,
    *,
    construction: str = "top",
    filtration: str = "sublevel",
    periodic: bool = False,
    homology_dimensions: Sequence[int] = (0, 1),
) -> np.ndarray:
    """Persistence diagram of one 2D scalar field.

    Parameters
    ----------
    field
        Array-like of shape ``(H, W)``, real and finite, ``H, W >= 2``; values in the field's own
        units.
    construction, filtration, periodic, homology_dimensions
        As in :class:`CubicalPersistence`.

    Returns
    -------
    numpy.ndarray
        Shape ``(k, 3)`` float64, rows ``[dim, birth, death]`` sorted by dim, birth, death;
        ``death = +inf`` for essential classes. For ``filtration="superlevel"`` the values are
        those of ``-field`` (see :class:`CubicalPersistence`).
    """
    construction, filtration, periodic, dims = _check_params(
        construction, filtration, periodic, homology_dimensions
    )
    f = _check_field(field, "field")
    return _diagram(f, construction, filtration, periodic, dims)


class CubicalPersistence(TransformerMixin, BaseEstimator):
    """Persistence diagrams of a batch of 2D scalar fields (scikit-learn transformer).

    Parameters
    ----------
    construction
        ``"top"`` (default): pixels are top-dimensional cells (T-construction, 8-connectivity of
        sublevel sets). ``"vertex"``: pixels are vertices (V-construction, 4-connectivity). The
        NRP papers do not say which they used; ``"top"`` is our choice because the TDGL field
        ``phi`` is the average spin of a grid *cell*, so each value belongs to a square, and it is
        GUDHI's default, so diagrams compare directly with other GUDHI-based work. See
        :mod:`topophys.homology.cubical` for the exact complexes.
    filtration
        ``"sublevel"`` (default): grow ``{f <= t}`` with ``t``. For magnetic domain fields
        ``phi`` in about ``[-1, 1]`` this makes H0 the ``phi < 0`` domains (born near ``-1``) and
        H1 the ``phi > 0`` domains they enclose. ``"superlevel"``: grow ``{f >= t}`` as ``t``
        decreases. It is computed and **reported as the sublevel filtration of** ``-f``: births
        and deaths are values of ``-f``, so ``birth < death`` and essential classes have
        ``death = +inf`` like every other diagram (and ``superlevel(f) == sublevel(-f)`` exactly:
        a spin flip ``phi -> -phi`` swaps the two). Negate birth and death to read them in the
        field's own values, where a superlevel feature is born at the higher value.
    periodic
        ``False`` (default): the field is a rectangle with open boundaries. ``True``: both axes
        wrap around (a torus), as for fields from :mod:`topophys.simulate.tdgl`. The torus adds
        two essential H1 classes and one essential H2 class (the latter reported only if 2 is in
        ``homology_dimensions``).
    homology_dimensions
        Which dimensions to report, a subset of ``(0, 1, 2)``; default ``(0, 1)``. Only a
        periodic field has H2.
    n_jobs
        Local worker processes for :meth:`transform`: ``None`` or ``1`` runs in this process,
        ``-1`` uses every core. Ignored when ``scheduler`` is given. Starting the pool costs
        seconds and sending a field to a worker costs more than computing an open-boundary
        diagram (about 10 ns per pixel), so more workers pay off only for large batches of
        periodic fields (about 200 ns per pixel); see ``benchmarks/homology_cubical.py``.
    scheduler
        A Dask distributed scheduler address or ``distributed.Client``; see
        :func:`topophys.parallel.pmap`.
    progress
        Progress bar: ``True`` always, ``False`` never, ``None`` only on a terminal.

    Notes
    -----
    Pairs of zero persistence are omitted. ``fit`` learns nothing; :meth:`transform` is a pure
    function of its input.

    Examples
    --------
    >>> import numpy as np
    >>> from topophys.homology import CubicalPersistence
    >>> fields = np.random.default_rng(0).standard_normal((4, 32, 32))
    >>> diagrams = CubicalPersistence(periodic=True).fit_transform(fields)
    >>> len(diagrams)
    4
    >>> first = diagrams[0]
    >>> first[np.isinf(first[:, 2]), 0].tolist()  # essential: a component, the torus's 2 loops
    [0.0, 1.0, 1.0]
    """

    def __init__(
        self,
        construction: str = "top",
        filtration: str = "sublevel",
        periodic: bool = False,
        homology_dimensions: Sequence[int] = (0, 1),
        n_jobs: int | None = None,
        scheduler: Any = None,
        progress: bool | None = None,
    ) -> None:
        self.construction = construction
        self.filtration = filtration
        self.periodic = periodic
        self.homology_dimensions = homology_dimensions
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.progress = progress

    def fit(self, X: Any, y: Any = None) -> CubicalPersistence:
        """Check the parameters and the fields; nothing is learned.

        Parameters
        ----------
        X
            Fields, as in :meth:`transform`.
        y
            Ignored.

        Returns
        -------
        CubicalPersistence
            ``self``.
        """
        _check_params(self.construction, self.filtration, self.periodic, self.homology_dimensions)
        _n_jobs(self.n_jobs)
        _check_fields(X)
        return self

    def transform(self, X: Any) -> Diagrams:
        """Compute the persistence diagram of each field.

        Parameters
        ----------
        X
            Array-like of shape ``(n, H, W)``, or a sequence of ``n`` arrays of shape
            ``(H_i, W_i)``; real, finite, every side at least 2 pixels.

        Returns
        -------
        Diagrams
            ``n`` diagrams, rows ``[dim, birth, death]`` in the units of the field (of ``-X``
            for ``filtration="superlevel"``), sorted by dim, birth, death.
        """
        from ..diagrams import Diagrams

        construction, filtration, periodic, dims = _check_params(
            self.construction, self.filtration, self.periodic, self.homology_dimensions
        )
        workers = _n_jobs(self.n_jobs)
        fields = _check_fields(X)
        worker = functools.partial(
            _diagrams_of_chunk,
            construction=construction,
            filtration=filtration,
            periodic=periodic,
            homology_dimensions=dims,
        )
        # Chunks amortize the per-task cost of pickling and scheduling; a few per worker keep
        # the load balanced when field sizes differ.
        parallel = self.scheduler is not None or workers > 1
        n_chunks = min(len(fields), 4 * workers if self.scheduler is None else 256)
        size = math.ceil(len(fields) / n_chunks) if parallel else 1
        chunks = [fields[i : i + size] for i in range(0, len(fields), size)]
        results = pmap(
            worker,
            chunks,
            workers=workers,
            scheduler=self.scheduler,
            desc="cubical persistence",
            progress=self.progress,
        )
        return Diagrams.from_list([d for chunk in results for d in chunk])


def _diagrams_of_chunk(
    fields: list[np.ndarray],
    *,
    construction: str,
    filtration: str,
    periodic: bool,
    homology_dimensions: tuple[int, ...],
) -> list[np.ndarray]:
    # Module level so that it pickles for worker processes and Dask.
    return [_diagram(f, construction, filtration, periodic, homology_dimensions) for f in fields]


# ---------------------------------------------------------------------------------------------
# argument checks


def _check_params(
    construction: Any, filtration: Any, periodic: Any, homology_dimensions: Any
) -> tuple[str, str, bool, tuple[int, ...]]:
    construction = _validate.choice("construction", construction, CONSTRUCTIONS)
    filtration = _validate.choice("filtration", filtration, FILTRATIONS)
    if not isinstance(periodic, (bool, np.bool_)):
        raise TypeError(f"periodic must be True or False, got {periodic!r}")
    if isinstance(homology_dimensions, (Integral, str)) or not hasattr(
        homology_dimensions, "__iter__"
    ):
        raise TypeError(
            f"homology_dimensions must be a sequence of ints from (0, 1, 2), "
            f"got {homology_dimensions!r}"
        )
    dims = tuple(homology_dimensions)
    if not dims or any(
        isinstance(d, bool) or not isinstance(d, Integral) or d not in (0, 1, 2) for d in dims
    ):
        raise ValueError(
            f"homology_dimensions must be a non-empty sequence of ints from (0, 1, 2), "
            f"got {homology_dimensions!r}"
        )
    return construction, filtration, bool(periodic), tuple(sorted({int(d) for d in dims}))


def _n_jobs(n_jobs: Any) -> int:
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, Integral) and not isinstance(n_jobs, bool) and n_jobs == -1:
        return os.cpu_count() or 1
    return _validate.positive_int("n_jobs", n_jobs)


def _check_field(field: Any, name: str) -> np.ndarray:
    """Return ``field`` as a C-contiguous float64 ``(H, W)`` array, or raise naming ``name``."""
    try:
        array = np.asarray(field)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} must be a 2D array of real numbers: {err}") from err
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold real numbers (bool, int or float), got dtype {array.dtype}"
        )
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2D field of shape (H, W), got shape {array.shape}")
    if min(array.shape) < 2:
        raise ValueError(f"{name} must be at least 2x2 pixels, got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.isfinite(array).all():
        bad = int(array.size - np.isfinite(array).sum())
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    return array


def _check_fields(X: Any) -> list[np.ndarray]:
    """Return the fields of ``X`` (``(n, H, W)`` or a sequence of 2D arrays) as a list."""
    if isinstance(X, (np.ndarray, Sequence)) and not isinstance(X, (str, bytes)):
        if isinstance(X, np.ndarray) and X.dtype != object and X.ndim != 3:
            raise ValueError(
                f"X must have shape (n, H, W) or be a sequence of (H, W) fields, got shape "
                f"{X.shape}" + (" (for one field use X[None])" if X.ndim == 2 else "")
            )
        if len(X) == 0:
            raise ValueError("X must contain at least one field, got none")
        return [_check_field(x, f"X[{i}]") for i, x in enumerate(X)]
    array = np.asarray(X)  # e.g. a torch tensor or an xarray DataArray
    if array.ndim != 3:
        raise ValueError(
            f"X must have shape (n, H, W) or be a sequence of (H, W) fields, got "
            f"{type(X).__name__} of shape {array.shape}"
        )
    return _check_fields(array)


# ---------------------------------------------------------------------------------------------
# diagrams


def _diagram(
    f: np.ndarray,
    construction: str,
    filtration: str,
    periodic: bool,
    dims: tuple[int, ...],
) -> np.ndarray:
    if filtration == "superlevel":
        f = -f
    if periodic:
        pairs = _torus_pairs(f, construction)
    elif construction == "top":
        pairs = _rectangle_top_pairs(f)
    else:
        pairs = _rectangle_vertex_pairs(f)
    rows = [np.column_stack([np.full(len(pairs[d]), float(d)), pairs[d]]) for d in dims]
    out = np.concatenate(rows).reshape(-1, 3)
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


def _pairs(births: Any, deaths: Any) -> np.ndarray:
    out = np.column_stack([np.asarray(births, float), np.asarray(deaths, float)]).reshape(-1, 2)
    return out[out[:, 1] > out[:, 0]]


_EMPTY = np.empty((0, 2))


def _rectangle_top_pairs(f: np.ndarray) -> list[np.ndarray]:
    """Sublevel ``[H0, H1, H2]`` pairs of the T-construction on a rectangle."""
    if _gudhi_rectangle is not None and min(f.shape) >= 3:
        h0, h1 = _gudhi_rectangle(f, 0.0)
        return [_pairs(h0[:, 0], h0[:, 1]), _pairs(h1[:, 0], h1[:, 1]), _EMPTY]
    return _gudhi_complex_pairs(f, "top")  # the dedicated routine wants both sides >= 3


def _rectangle_vertex_pairs(f: np.ndarray) -> list[np.ndarray]:
    """Sublevel ``[H0, H1, H2]`` pairs of the V-construction on a rectangle, by duality."""
    if _gudhi_rectangle is None:  # pragma: no cover - depends on the GUDHI build
        return _gudhi_complex_pairs(f, "vertex")
    g = -f
    pad = np.nextafter(g.min(), -np.inf)  # strictly below every pixel, whatever their scale
    if not np.isfinite(pad):  # pragma: no cover - a field reaching the largest float
        return _gudhi_complex_pairs(f, "vertex")
    h0, h1 = _gudhi_rectangle(np.pad(g, 1, constant_values=pad), 0.0)
    ring = h1[:, 0] == pad
    if ring.sum() != 1:  # pragma: no cover - would be a bug in the duality argument
        raise RuntimeError(f"expected one loop around the padding ring, found {ring.sum()}")
    interior = h1[~ring]
    finite0 = h0[np.isfinite(h0[:, 1])]  # the ring's own component is the essential one
    births0 = np.concatenate([-interior[:, 1], -h1[ring, 1]])
    deaths0 = np.concatenate([-interior[:, 0], [np.inf]])
    return [_pairs(births0, deaths0), _pairs(-finite0[:, 1], -finite0[:, 0]), _EMPTY]


def _gudhi_complex_pairs(f: np.ndarray, construction: str) -> list[np.ndarray]:
    import gudhi

    key = "top_dimensional_cells" if construction == "top" else "vertices"
    complex_ = gudhi.CubicalComplex(**{key: f})
    complex_.compute_persistence()
    return [
        complex_.persistence_intervals_in_dimension(d).reshape(-1, 2).astype(float)
        for d in range(3)
    ]


def _torus_pairs(f: np.ndarray, construction: str) -> list[np.ndarray]:
    """Sublevel ``[H0, H1, H2]`` pairs of a construction on the torus."""
    n = f.size
    index_type = np.int32 if n < 2**31 else np.int64  # halves the memory traffic
    order = np.argsort(f, axis=None).astype(index_type)
    sorted_values = f.ravel()[order]
    rank = np.empty(n, index_type)
    rank[order] = np.arange(n, dtype=index_type)
    rank = rank.reshape(f.shape)

    finite0 = _torus_h0(sorted_values, order, rank, _CONNECTIVITY[construction])
    h0 = np.vstack([finite0, [[sorted_values[0], np.inf]]])
    # Reversing the order of f is a valid total order for -f (ties broken the other way, which
    # changes no diagram), so the dual needs no second sort.
    dual0 = _torus_h0(
        -sorted_values[::-1], order[::-1], (n - 1) - rank, _DUAL_CONNECTIVITY[construction]
    )
    finite1 = np.column_stack([-dual0[:, 1], -dual0[:, 0]]).reshape(-1, 2)
    essential1 = _torus_essential_h1(sorted_values, rank, construction, h0, finite1)
    h1 = np.vstack([finite1, np.column_stack([essential1, np.full(2, np.inf)])])
    h2 = np.array([[sorted_values[-1], np.inf]])
    return [h0, h1, h2]


def _neighbours(padded: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """View of ``a[(i + dy) % H, (j + dx) % W]`` from ``padded = np.pad(a, 1, mode="wrap")``."""
    height, width = padded.shape[0] - 2, padded.shape[1] - 2
    return padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def _torus_h0(
    sorted_values: np.ndarray, order: np.ndarray, rank: np.ndarray, connectivity: int
) -> np.ndarray:
    """Finite sublevel H0 pairs on the torus, shape ``(k, 2)``.

    ``rank`` (H, W) is a permutation of ``0..N-1`` ordering the pixels by value, ties broken
    arbitrarily, ``order`` its inverse (flat pixel index of each rank) and ``sorted_values`` the
    values in that order. Pixels are joined to their ``connectivity``-neighbours at the later of
    the two ranks (the lower-star filtration of the pixel graph).
    """
    half = _HALF_OFFSETS[connectivity]
    padded = np.pad(rank, 1, mode="wrap")

    # Joining each pixel to its lowest neighbour when it enters only creates zero-persistence
    # pairs, so the merge tree is that of the graph of steepest-descent basins.
    lowest = rank.copy()
    for dy, dx in half + tuple((-a, -b) for a, b in half):
        np.minimum(lowest, _neighbours(padded, dy, dx), out=lowest)
    parent = order[lowest.ravel()]
    while True:  # pointer jumping: log2(longest descent path) rounds
        grand = parent[parent]
        if np.array_equal(grand, parent):
            break
        parent = grand
    # Number the basins 0, 1, ... in order of birth (the rank of their minimum).
    is_root = parent == np.arange(parent.size)
    n_basins = int(np.count_nonzero(is_root))
    if n_basins == 1:
        return _EMPTY
    flat_rank = rank.ravel()
    births = np.sort(flat_rank[is_root])
    basin_of_rank = np.empty(parent.size, rank.dtype)
    basin_of_rank[births] = np.arange(n_basins, dtype=rank.dtype)
    basin = basin_of_rank[flat_rank[parent]].reshape(rank.shape)

    padded_basin = np.pad(basin, 1, mode="wrap")
    heads, tails, weights = [], [], []
    for dy, dx in half:
        other = _neighbours(padded_basin, dy, dx)
        cross = basin != other
        heads.append(basin[cross])
        tails.append(other[cross])
        weights.append(np.maximum(rank[cross], _neighbours(padded, dy, dx)[cross]))
    dying, dies_at = _elder_rule(
        births.astype(np.int64),
        np.concatenate(heads).astype(np.int64),
        np.concatenate(tails).astype(np.int64),
        np.concatenate(weights).astype(np.int64),
    )
    return _pairs(sorted_values[dying], sorted_values[dies_at])


def _elder_rule(
    births: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Finite H0 pairs of a filtered connected graph, as ``(birth ranks, death ranks)``.

    Node ``i`` is born at ``births[i]`` (increasing: a smaller id is older); edge ``j`` joins
    ``u[j]`` and ``v[j]`` at ``w[j]``, later than both births. Duplicate edges are allowed.
    """
    dead_birth, dead_at = [], []
    n_nodes = births.size
    while n_nodes > 1:
        # A Borůvka round under the elder rule: a node whose cheapest edge leads to an older node
        # dies at that edge whatever else happens, so it can be merged into that node at once.
        ids = np.arange(n_nodes)
        ends, others, weights = np.concatenate([u, v]), np.concatenate([v, u]), np.tile(w, 2)
        cheapest = np.full(n_nodes, np.iinfo(np.int64).max)
        np.minimum.at(cheapest, ends, weights)
        tied = weights == cheapest[ends]
        target = ids.copy()
        np.minimum.at(target, ends[tied], others[tied])  # the oldest among tied cheapest edges
        dies = target < ids
        n_dying = int(np.count_nonzero(dies))
        if 8 * n_dying < n_nodes:
            break  # a chain of ever younger nodes: few merges per round, finish with Kruskal
        dead_birth.append(births[dies])
        dead_at.append(cheapest[dies])
        parent = target
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        alive = ~dies
        new_id = np.cumsum(alive) - 1
        u, v = new_id[parent[u]], new_id[parent[v]]
        crossing = u != v
        u, v, w = u[crossing], v[crossing], w[crossing]
        births = births[alive]
        n_nodes = births.size
    if n_nodes > 1:
        rest_birth, rest_at = _kruskal(births, u, v, w)
        dead_birth.append(rest_birth)
        dead_at.append(rest_at)
    if not dead_birth:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(dead_birth), np.concatenate(dead_at)


def _kruskal(
    births: np.ndarray, u: np.ndarray, v: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as :func:`_elder_rule`, by a minimum spanning tree and union-find."""
    n_nodes = births.size
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    # Keep the earliest edge between each pair of nodes: a sparse matrix would sum duplicates.
    keep = np.lexsort((w, hi, lo))
    lo, hi, w = lo[keep], hi[keep], w[keep]
    first = np.ones(lo.size, bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, w = lo[first], hi[first], w[first]
    # +1: scipy's sparse graphs treat a weight of 0 as no edge. Ranks < 2**53 are exact floats.
    graph = coo_matrix((w + 1.0, (lo, hi)), shape=(n_nodes, n_nodes)).tocsr()
    tree = minimum_spanning_tree(graph).tocoo()
    by_weight = np.argsort(tree.data, kind="stable")
    edges_u = tree.row[by_weight].tolist()
    edges_v = tree.col[by_weight].tolist()
    edges_w = (tree.data[by_weight] - 1.0).astype(np.int64).tolist()

    up = list(range(n_nodes))
    dying, dies_at = [], []
    for a, b, at in zip(edges_u, edges_v, edges_w, strict=True):
        while up[a] != a:
            up[a] = up[up[a]]
            a = up[a]
        while up[b] != b:
            up[b] = up[up[b]]
            b = up[b]
        if a > b:
            a, b = b, a
        dying.append(b)
        dies_at.append(at)
        up[b] = a
    return births[np.asarray(dying, np.int64)], np.asarray(dies_at, np.int64)


def _torus_essential_h1(
    sorted_values: np.ndarray,
    rank: np.ndarray,
    construction: str,
    h0: np.ndarray,
    finite1: np.ndarray,
) -> np.ndarray:
    """Births of the two essential H1 classes of the torus, from the Euler characteristic.

    At every level ``t``, ``beta_1 = beta_0 + beta_2 - chi`` and the essential H1 classes born
    by ``t`` are ``beta_1`` minus the finite H1 pairs alive at ``t``.
    """
    # Work on dense ranks (indices into the distinct values) so that counting what is present
    # at every level is a bincount and one cumsum, with no sort.
    distinct = np.ones(sorted_values.size, bool)
    distinct[1:] = sorted_values[1:] != sorted_values[:-1]
    levels = sorted_values[distinct]
    k = levels.size
    dense = (np.cumsum(distinct, dtype=rank.dtype) - 1)[rank]
    padded = np.pad(dense, 1, mode="wrap")
    right, down = _neighbours(padded, 0, 1), _neighbours(padded, 1, 0)

    # Cells enter at the min (top) or max (vertex) of the pixels they touch.
    combine = np.minimum if construction == "top" else np.maximum
    horizontal, vertical = combine(dense, right), combine(dense, down)
    blocks = combine(horizontal, combine(down, _neighbours(padded, 1, 1)))
    vertices, squares = (blocks, dense) if construction == "top" else (dense, blocks)

    def entering(level_index: np.ndarray) -> np.ndarray:
        return np.bincount(level_index.ravel(), minlength=k + 1)[:k]

    def level_of(values: np.ndarray) -> np.ndarray:
        # Every birth and death is a pixel value; +inf maps past the end and is never counted.
        return np.where(np.isfinite(values), np.searchsorted(levels, values), k)

    chi = entering(vertices) - entering(horizontal) - entering(vertical) + entering(squares)
    beta0 = entering(level_of(h0[:, 0])) - entering(level_of(h0[:, 1]))
    alive1 = entering(level_of(finite1[:, 0])) - entering(level_of(finite1[:, 1]))
    steps = beta0 - chi - alive1  # new essential H1 classes at each level
    steps[-1] += 1  # beta_2: the whole torus, once the last cell is in
    if steps.sum() != 2 or (steps < 0).any():  # pragma: no cover - would be a bug
        raise RuntimeError("Euler characteristic bookkeeping of the torus is inconsistent")
    return np.repeat(levels, steps)
