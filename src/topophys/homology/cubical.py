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
* periodic (either construction): on the torus, by kernels compiled with numba on first use
  (seconds; numba caches the machine code on disk). H0: every pixel points to its
  lowest neighbour, and joining it there as it enters makes only zero-persistence pairs, so
  the basins of this steepest descent are the nodes of a much smaller graph, whose edges are
  the pixel edges between basins (repeats merged). Kruskal's sweep of that graph under the
  elder rule gives the pairs: only its edges are sorted, never the pixels. Finite H1 pairs by
  Poincaré–Lefschetz duality on the torus: the finite H1 pairs of the T-(V-)filtration of
  ``f`` are the finite H0 pairs of the V-(T-)filtration of ``-f``, reflected. The torus's two
  essential H1 classes, by the same duality: the loops of ``{f <= t}`` span ``2 - r``
  dimensions of the torus's H1 when those of the complement ``{f > t}`` span ``r``, and that
  complement is the sublevel set of ``-f`` in the dual construction. So the essential classes
  are born at the levels where the sublevel graph of ``-f`` first holds a cycle winding around
  the torus, and then one winding in an independent direction; the windings come from
  unwrapped displacements carried along the descent paths and the union-find. The essential
  H2 class is born at ``max f``.

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

import contextlib
import functools
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .. import _validate
from ..parallel import pmap
from ._kernels import kernels, work_arrays

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
        ``homology_dimensions``). The periodic path runs compiled kernels: the first periodic
        call of a process loads them (under a second), or compiles them (seconds) the first
        time after an install or where no cache directory is writable.
    homology_dimensions
        Which dimensions to report, a subset of ``(0, 1, 2)``; default ``(0, 1)``. Only a
        periodic field has H2.
    n_jobs
        Local worker processes for :meth:`transform`: ``None`` or ``1`` runs in this process,
        ``-1`` uses every core. Ignored when ``scheduler`` is given. Starting the pool costs
        seconds, and sending a field to a worker costs about as much as computing its diagram
        (about 10 ns per pixel with open boundaries, 30 ns periodic), so more local workers
        rarely pay off; see ``benchmarks/homology_cubical.py``.
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
        params = {
            "construction": construction,
            "filtration": filtration,
            "periodic": periodic,
            "homology_dimensions": dims,
        }
        # Chunks amortize the per-task cost of pickling and scheduling; a few per worker keep
        # the load balanced when field sizes differ.
        parallel = self.scheduler is not None or workers > 1
        n_chunks = min(len(fields), 4 * workers if self.scheduler is None else 256)
        size = math.ceil(len(fields) / n_chunks) if parallel else 1
        bounds = [(i, min(i + size, len(fields))) for i in range(0, len(fields), size)]
        same_shape = len({f.shape for f in fields}) == 1
        if self.scheduler is None and workers > 1 and same_shape:
            # Local workers read their slices from one memory-mapped file in /dev/shm instead
            # of receiving pickled copies: piping the fields cost about as much as computing
            # their diagrams, so two workers were slower than one.
            with _shared_file(np.stack(fields)) as path:
                results = pmap(
                    functools.partial(_diagrams_of_slice, path, **params),
                    bounds,
                    workers=workers,
                    desc="cubical persistence",
                    progress=self.progress,
                )
        else:
            results = pmap(
                functools.partial(_diagrams_of_chunk, **params),
                [fields[a:b] for a, b in bounds],
                workers=workers,
                scheduler=self.scheduler,
                desc="cubical persistence",
                progress=self.progress,
            )
        return Diagrams.from_list([d for chunk in results for d in chunk])


@contextlib.contextmanager
def _shared_file(array: np.ndarray) -> Iterator[str]:
    """Write ``array`` to a temporary ``.npy`` (in RAM-backed /dev/shm when there is one)."""
    shm = "/dev/shm"
    directory = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    fd, path = tempfile.mkstemp(prefix="topophys-fields-", suffix=".npy", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _diagrams_of_slice(
    path: str,
    bounds: tuple[int, int],
    *,
    construction: str,
    filtration: str,
    periodic: bool,
    homology_dimensions: tuple[int, ...],
) -> list[np.ndarray]:
    fields = np.load(path, mmap_mode="r")[bounds[0] : bounds[1]]
    return [
        _diagram(np.array(f), construction, filtration, periodic, homology_dimensions)
        for f in fields
    ]


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
    if (
        isinstance(homology_dimensions, (Integral, str))
        or not hasattr(homology_dimensions, "__iter__")
        or (isinstance(homology_dimensions, np.ndarray) and homology_dimensions.ndim != 1)
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
        pairs = _torus_pairs(f, construction, dims)
    elif construction == "top":
        pairs = _rectangle_top_pairs(f)
    else:
        pairs = _rectangle_vertex_pairs(f)
    sizes = [len(pairs[d]) for d in dims]
    out = np.empty((sum(sizes), 3))
    start = 0
    for d, size in zip(dims, sizes, strict=True):
        out[start : start + size, 0] = d
        out[start : start + size, 1:] = _by_birth_then_death(pairs[d])
        start += size
    return out


def _by_birth_then_death(pairs: np.ndarray) -> np.ndarray:
    """``(k, 2)`` pairs sorted by birth, then death: a few quicksorts, 3-5x faster than lexsort."""
    order = np.argsort(pairs[:, 0])
    births = pairs[order, 0]
    tied = births[1:] == births[:-1]
    if tied.any():
        # Sort by (dense rank of birth, rank of death), one integer key.
        k = order.size
        birth_rank = np.concatenate([[0], np.cumsum(~tied)])
        death_rank = np.empty(k, np.int64)
        death_rank[np.argsort(pairs[order, 1])] = np.arange(k)
        order = order[np.argsort(birth_rank * k + death_rank)]
    return pairs[order]


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


def _torus_pairs(f: np.ndarray, construction: str, dims: tuple[int, ...]) -> list[np.ndarray]:
    """Sublevel ``[H0, H1, H2]`` pairs of a construction on the torus (only those in ``dims``)."""
    h0 = h1 = _EMPTY
    dual_lowest = None  # the minimum of -f, once the dual sweep has run
    if 0 in dims:
        births, deaths, _, bottom = _torus_sweep(f, _CONNECTIVITY[construction], dual=False)
        h0 = _with_essential(births, deaths, [bottom])
    if 1 in dims:
        # Duality: a finite H0 pair (b, d) of -f in the dual construction is the finite H1 pair
        # (-d, -b) of f, and where the dual sweep first closes loops around the torus in two
        # independent directions, f's two essential H1 classes are born (see _torus_sweep).
        births, deaths, loops, dual_lowest = _torus_sweep(
            f, _DUAL_CONNECTIVITY[construction], dual=True
        )
        if loops.size != 2:  # pragma: no cover - would be a bug
            raise RuntimeError(f"expected 2 independent loops on the torus, found {loops.size}")
        h1 = _with_essential(-deaths, -births, -loops)
    highest = f.max() if dual_lowest is None else -dual_lowest
    h2 = _with_essential(_EMPTY[:, 0], _EMPTY[:, 0], [highest])
    return [h0, h1, h2]


def _with_essential(births: np.ndarray, deaths: np.ndarray, essential: Any) -> np.ndarray:
    """Finite pairs ``(births, deaths)`` and essential classes born at ``essential``, (k, 2)."""
    essential = np.asarray(essential, float)
    k = births.size
    out = np.empty((k + essential.size, 2))
    out[:k, 0] = births
    out[:k, 1] = deaths
    out[k:, 0] = essential
    out[k:, 1] = np.inf
    return out


def _torus_sweep(
    f: np.ndarray, connectivity: int, *, dual: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Finite sublevel H0 pairs of the pixel graph of ``g`` on the torus, and its loops.

    ``g`` is ``-f`` if ``dual`` else ``f``. Pixels are the vertices of a graph with their
    ``connectivity``-neighbours on the torus as edges, each edge entering at the larger of its
    two values of ``g`` (the lower-star filtration, whose H0 is that of the T-construction for
    8-connectivity and of the V-construction for 4-connectivity).

    Returns
    -------
    births, deaths
        Shape ``(k,)`` each: the finite H0 pairs of positive persistence, in values of ``g``,
        unsorted.
    loops
        With ``dual``, shape ``(2,)``: the levels of ``g`` at which the sublevel graph first
        holds a cycle that winds around the torus, and then one that winds in an independent
        direction. Empty otherwise.
    lowest
        The minimum of ``g``.
    """
    basin_graph, elder_sweep = kernels(connectivity, dual)
    down, path = work_arrays(f.size)
    basin_min, basin_value, head, tail, level, gain, n_edges = basin_graph(f, down, path, 0)
    if n_edges > head.size:  # rare: more edges than guessed
        basin_min, basin_value, head, tail, level, gain, _ = basin_graph(f, down, path, n_edges)
    # Ties in any order: each level is done before the next, which is all that the pairs'
    # values and the levels of the loops depend on.
    order = np.argsort(level)
    births, deaths, loops = elder_sweep(
        basin_min, basin_value, head, tail, level, gain, order, dual
    )
    return births, deaths, loops, float(basin_value.min())
