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
import threading
from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np
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
    basin_graph, elder_sweep = _kernels(connectivity, dual)
    down, path = _work_arrays(f.size)
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


# The kernels' two work arrays of one int64 per pixel, kept between the calls of a thread:
# fresh memory costs a page fault every 4 KiB (or the zeroing of 2 MiB with transparent huge
# pages), which took about as long as the sweep itself. Fields above this many pixels get
# fresh ones, so as not to hold on to more than 64 MiB per thread.
_REUSE_MAX_PIXELS = 1 << 22
_WORK = threading.local()


def _work_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two int64 work arrays of ``n`` or more entries each."""
    if n > _REUSE_MAX_PIXELS:
        return np.empty(n, np.int64), np.empty(n, np.int64)
    arrays = getattr(_WORK, "arrays", None)
    if arrays is None or arrays.shape[1] < n:
        arrays = _WORK.arrays = np.empty((2, max(n, 1024)), np.int64)
    return arrays[0], arrays[1]


# ---------------------------------------------------------------------------------------------
# compiled kernels of the periodic sweep
#
# Plain Python here, compiled by numba on first use (see _kernels) so that importing topophys
# imports no numba and compiles nothing. With NUMBA_DISABLE_JIT set they run as Python: same
# results, about 1000x slower.

# Displacements (dy, dx) on the unwrapped plane are packed into one integer, dy * 2**32 + dx:
# packing is linear, so packed displacements add and compare like the vectors, at half the
# memory traffic. Exact while no displacement reaches 2**31 pixels; none exceeds the number of
# pixels of the field.
_PACK = 1 << 32
# Neighbour slot k of a pixel is the step (_STEP_Y[k], _STEP_X[k]); slots 0-3 are the
# 4-neighbours.
_STEP_Y = np.array([0, 1, 0, -1, 1, 1, -1, -1], np.int64)
_STEP_X = np.array([1, 0, -1, 0, 1, -1, -1, 1], np.int64)
# Slots of the direct-mapped table that merges repeated edges (a power of 2).
_EDGE_TABLE = 4096


def _make_basin_graph(eight: bool, dual: bool) -> Any:
    """The basin-graph kernel for 8- (``eight``) or 4-connectivity, of ``f`` or (``dual``) ``-f``.

    The flags are closure constants, so numba compiles one kernel per combination with the
    other branches removed: choosing the neighbour list at run time made the kernel three
    times slower. The dual sweep, of ``-f``, is the one that needs windings.
    """
    step_y = _STEP_Y
    step_x = _STEP_X
    table_mask = _EDGE_TABLE - 1
    pack = _PACK
    sign = -1.0 if dual else 1.0  # an exact negation
    winding = dual

    def basin_graph(
        f: np.ndarray, down: np.ndarray, path: np.ndarray, capacity: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Contract the pixel graph of ``g`` on the torus to its basins of steepest descent.

        ``g = sign * f`` with ``f`` of shape (H, W); ``down`` and ``path`` are work arrays of
        at least H W entries; ``capacity`` is the room for edges (0: a guess). Pixels are
        totally ordered by (value, flat index). Joining each pixel, as it enters, to its
        lowest neighbour creates only zero-persistence pairs, so H0 is that of the graph
        whose nodes are the basins (numbered 0, 1, ...) and whose edges are the pixel edges
        between two basins.

        Returns ``basin_min``, ``basin_value`` (B,): the flat index and value of each basin's
        minimum; ``head``, ``tail`` (m,), the basins of each edge, ``level`` (m,) its value
        and, with windings, ``gain`` (m,): the displacement (packed) from the minimum of
        ``head`` down the descent path to the edge, across it and up to the minimum of
        ``tail``, on the unwrapped plane. With windings, edges inside one basin whose cycle
        winds around the torus (nonzero gain) are kept too. Edges with the same basins and
        gain are parallel (the cycle they close does not wind), so only the lowest matters;
        most repeats are merged as they come. Last, the number of edges, which is more than
        were stored if ``capacity`` was too small.
        """
        height, width = f.shape
        n = height * width
        values = f.ravel()
        # Packed displacement added by a step that wraps, by wrap code 3 (wy + 1) + (wx + 1).
        wrap_shift = np.empty(9, np.int64)
        for code in range(9):
            wrap_shift[code] = (code // 3 - 1) * height * pack + (code % 3 - 1) * width

        # down[p] = 16 q + c: q is the lowest of p and its neighbours (q = p at a local
        # minimum) and c the wrap code of the step. Selects rather than branches: which
        # neighbour is lowest is unpredictable.
        n_minima = 0
        for i in range(height):
            up_ = i - 1 if i > 0 else height - 1
            dn = i + 1 if i < height - 1 else 0
            for j in range(width):
                lf = j - 1 if j > 0 else width - 1
                rt = j + 1 if j < width - 1 else 0
                if eight:
                    neighbours = (
                        (i, rt, 0), (dn, j, 1), (i, lf, 2), (up_, j, 3),
                        (dn, rt, 4), (dn, lf, 5), (up_, lf, 6), (up_, rt, 7),
                    )  # fmt: skip
                else:
                    neighbours = ((i, rt, 0), (dn, j, 1), (i, lf, 2), (up_, j, 3))
                best = (i * width + j) * 8 + 7
                best_value = sign * f[i, j]
                for a, b, k in neighbours:
                    v = sign * f[a, b]
                    key = (a * width + b) * 8 + k
                    lower = (v < best_value) | ((v == best_value) & (key < best))
                    best = key if lower else best
                    best_value = v if lower else best_value
                code = 4  # 3 (wy + 1) + (wx + 1) for a step that wraps by (wy, wx) periods
                if winding:
                    k = best & 7
                    if i == height - 1 and step_y[k] == 1:
                        code += 3
                    elif i == 0 and step_y[k] == -1:
                        code -= 3
                    if j == width - 1 and step_x[k] == 1:
                        code += 1
                    elif j == 0 and step_x[k] == -1:
                        code -= 1
                down[i * width + j] = (best >> 3) * 16 + code
                if best >> 3 == i * width + j:
                    n_minima += 1

        # Then down[p] becomes ~c (= -1 - c, negative) for the class c of pixel p: its basin b
        # (c = b) and, with windings, where p sees the minimum of b on the unwrapped plane.
        # That is b's own place unless the descent from p wraps around the torus on the way:
        # then c >= n names the pair (b, shift) of the basin and the packed displacement of
        # that copy of the minimum (sheet_basin[c - n], sheet_shift[c - n]). Two neighbours of
        # one class are in one basin and their edge closes no cycle around the torus. Walk
        # down to a pixel already done, then fill in the path on the way back.
        basin = down  # one array for both: half the memory traffic
        # Arrays sized by what they hold, not by the pixels: with transparent huge pages, the
        # first touch of a large fresh array can cost the zeroing of 2 MiB.
        basin_min = np.empty(n_minima, np.int64)
        basin_place = np.empty(n_minima if winding else 0, np.int64)  # packed (row, column)
        # Only a step from the first or last row or column wraps, so few sheets.
        max_sheets = 2 * (height + width) + 8 if winding else 0
        sheet_basin = np.empty(max_sheets, np.int64)
        sheet_shift = np.empty(max_sheets, np.int64)
        sheet_table = np.full(_EDGE_TABLE if winding else 0, -1, np.int64)
        n_sheets = 0
        n_basins = 0
        for p in range(n):
            x = p
            top = 0
            while down[x] >= 0:
                q = down[x] >> 4
                if q == x:
                    basin[x] = ~n_basins
                    basin_min[n_basins] = x
                    if winding:
                        basin_place[n_basins] = (x // width) * pack + x % width
                    n_basins += 1
                    break
                path[top] = x
                top += 1
                x = q
            c = ~basin[x]
            while top > 0:
                top -= 1
                y = path[top]
                if winding and down[y] & 15 != 4:  # the step from y wraps
                    if c >= n:
                        owner = sheet_basin[c - n]
                        shift = sheet_shift[c - n] + wrap_shift[down[y] & 15]
                    else:
                        owner = c
                        shift = wrap_shift[down[y] & 15]
                    if shift == 0:
                        c = owner
                    else:
                        # (a repeated sheet would only cost time: equal classes stay exact)
                        slot = (
                            owner * 40503 + (shift >> 32) * 7919 + (shift & 0xFFFFFFFF) * 6151
                        ) & table_mask
                        k = sheet_table[slot]
                        if k < 0 or sheet_basin[k] != owner or sheet_shift[k] != shift:
                            k = n_sheets
                            sheet_basin[k] = owner
                            sheet_shift[k] = shift
                            sheet_table[slot] = k
                            n_sheets += 1
                        c = n + k
                basin[y] = ~c
        basin_value = np.empty(n_basins, np.float64)
        for b in range(n_basins):
            basin_value[b] = sign * values[basin_min[b]]

        # Room for the edges: if they do not fit, the rest are counted, not stored, and the
        # caller runs the kernel again with room for the count (no growing here: resizing
        # arrays inside the loop slowed it down by a third).
        if capacity <= 0:
            capacity = 4 * n_basins + 64
        head = np.empty(capacity, np.int64)
        tail = np.empty(capacity, np.int64)
        level = np.empty(capacity, np.float64)
        gain = np.empty(capacity if winding else 0, np.int64)
        table = np.full(_EDGE_TABLE, -1, np.int64)  # slot -> an edge with that hash
        m = 0
        for i in range(height):
            dn = i + 1 if i < height - 1 else 0
            shift_dn = height * pack if i == height - 1 else 0
            for j in range(width):
                lf = j - 1 if j > 0 else width - 1
                rt = j + 1 if j < width - 1 else 0
                shift_rt = width if j == width - 1 else 0
                shift_lf = -width if j == 0 else 0
                if eight:
                    forward = (
                        (i, rt, shift_rt),
                        (dn, j, shift_dn),
                        (dn, rt, shift_dn + shift_rt),
                        (dn, lf, shift_dn + shift_lf),
                    )
                else:
                    forward = ((i, rt, shift_rt), (dn, j, shift_dn))
                p = i * width + j
                for a, b, shift in forward:
                    q = a * width + b
                    if basin[p] == basin[q] and (shift == 0 or not winding):
                        continue
                    u = ~basin[p]
                    w = ~basin[q]
                    d = 0
                    if winding:
                        # min(p) -> p -> q -> min(q): nonzero also for one basin around the torus
                        d = shift
                        if u >= n:
                            d -= sheet_shift[u - n]
                            u = sheet_basin[u - n]
                        if w >= n:
                            d += sheet_shift[w - n]
                            w = sheet_basin[w - n]
                        d += basin_place[w] - basin_place[u]
                        if d == 0:
                            continue
                    if u > w or (u == w and d < 0):  # one orientation per edge class
                        u, w, d = w, u, -d
                    v = max(sign * values[p], sign * values[q])
                    # (small factors: no overflow, also when run as Python)
                    slot = (
                        u * 40503 + w * 30011 + (d >> 32) * 7919 + (d & 0xFFFFFFFF) * 6151
                    ) & table_mask
                    e = table[slot]
                    if e >= 0 and head[e] == u and tail[e] == w and (not winding or gain[e] == d):
                        if v < level[e]:
                            level[e] = v
                        continue
                    if m < capacity:
                        table[slot] = m
                        head[m] = u
                        tail[m] = w
                        level[m] = v
                        if winding:
                            gain[m] = d
                    m += 1
        stored = min(m, capacity)
        return (
            basin_min,
            basin_value,
            head[:stored],
            tail[:stored],
            level[:stored],
            gain[: stored if winding else 0],
            m,
        )

    return basin_graph


def _elder_sweep_py(
    basin_min: np.ndarray,
    basin_value: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    level: np.ndarray,
    gain: np.ndarray,
    order: np.ndarray,
    winding: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H0 pairs and loops of a connected basin graph; see :func:`_torus_sweep`.

    The graph is as returned by the basin-graph kernel; ``order`` sorts its edges by level.
    Kruskal's sweep under the elder rule: an edge joining two components kills the one whose
    minimum comes later in the (value, index) order. Union by rank and path halving; with
    ``winding`` every node also keeps its unwrapped displacement to its parent, so an edge
    that closes a cycle tells how that cycle winds around the torus. The levels where the
    windings seen so far first span one, then two dimensions are the ``loops``.
    """
    n_basins = basin_min.size
    parent = np.arange(n_basins)
    oldest = np.arange(n_basins)
    rank = np.zeros(n_basins, np.int64)
    offset = np.zeros(n_basins if winding else 0, np.int64)  # packed, node -> parent
    births = np.empty(max(n_basins - 1, 0), np.float64)
    deaths = np.empty(max(n_basins - 1, 0), np.float64)
    loops = np.empty(2, np.float64)
    first_y = 0
    first_x = 0
    n_pairs = 0
    n_loops = 0
    merges = 0
    for e in order:
        if merges == n_basins - 1 and (n_loops == 2 or not winding):
            break
        a = head[e]
        to_a = 0  # packed, head -> root of its component
        while parent[a] != a:
            up = parent[a]
            if parent[up] != up:
                if winding:
                    offset[a] += offset[up]
                parent[a] = parent[up]
            if winding:
                to_a += offset[a]
            a = parent[a]
        b = tail[e]
        to_b = 0
        while parent[b] != b:
            up = parent[b]
            if parent[up] != up:
                if winding:
                    offset[b] += offset[up]
                parent[b] = parent[up]
            if winding:
                to_b += offset[b]
            b = parent[b]
        if a == b:
            if winding and n_loops < 2:
                # root -> head -> tail -> root: whole periods of the torus each way
                turn = gain[e] + to_b - to_a
                turn_x = ((turn + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)
                turn_y = (turn - turn_x) >> 32
                if n_loops == 0 and turn != 0:
                    loops[0] = level[e]
                    first_y = turn_y
                    first_x = turn_x
                    n_loops = 1
                elif n_loops == 1 and first_y * turn_x != first_x * turn_y:
                    loops[1] = level[e]
                    n_loops = 2
            continue
        older = oldest[a]
        younger = oldest[b]
        if basin_value[younger] < basin_value[older] or (
            basin_value[younger] == basin_value[older] and basin_min[younger] < basin_min[older]
        ):
            older, younger = younger, older
        if level[e] > basin_value[younger]:
            births[n_pairs] = basin_value[younger]
            deaths[n_pairs] = level[e]
            n_pairs += 1
        if rank[a] < rank[b]:  # hang a below b: a -> head -> tail -> b
            parent[a] = b
            oldest[b] = older
            if winding:
                offset[a] = gain[e] + to_b - to_a
        else:  # hang b below a: b -> tail -> head -> a
            parent[b] = a
            oldest[a] = older
            if rank[a] == rank[b]:
                rank[a] += 1
            if winding:
                offset[b] = to_a - gain[e] - to_b
        merges += 1
    return births[:n_pairs], deaths[:n_pairs], loops[:n_loops]


@functools.cache
def _kernels(connectivity: int, dual: bool) -> tuple[Any, Any]:
    """The compiled kernels of :func:`_torus_sweep` for a connectivity (4 or 8)."""
    kernel = _make_basin_graph(connectivity == 8, dual)
    # numba names its on-disk cache after the qualified name. One name for the four closure
    # variants put them in one cache index, and two processes compiling different variants at
    # once (a pool's workers) could map one variant's key to the other's machine code, which
    # then crashed on return. A name per variant gives each its own index.
    kernel.__qualname__ = f"basin_graph_c{connectivity}_{'dual' if dual else 'primal'}"
    return _jit(kernel), _elder_sweep_kernel()


@functools.cache
def _elder_sweep_kernel() -> Any:
    return _jit(_elder_sweep_py)


def _jit(py_func: Any) -> Any:
    """``py_func`` compiled by numba, with its machine code cached on disk where possible.

    Compiling takes seconds, so numba caches the machine code beside this module or, where
    that is read-only, in the user's cache directory (or ``NUMBA_CACHE_DIR``). Where no cache
    directory is writable numba refuses ``cache=True`` with a ``RuntimeError``; then compile
    in memory, every process anew.
    """
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(py_func)
    except RuntimeError:
        return numba.njit(cache=False, nogil=True)(py_func)
