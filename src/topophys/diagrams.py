"""A ragged batch of persistence diagrams stored as one flat array plus offsets.

Layout
------
``data``    ``(N, 3)`` float64, one row ``[dim, birth, death]`` per point of every diagram, in
            filtration units (whatever the producer used: field values for cubical complexes,
            squared radii for alpha complexes as in HomCloud). ``dim`` is the homology dimension,
            stored as an integer-valued float. ``death`` is ``+inf`` for essential classes.
``offsets`` ``(n + 1,)`` int64, non-decreasing, ``offsets[0] == 0`` and ``offsets[-1] == N``;
            diagram ``i`` is ``data[offsets[i]:offsets[i + 1]]``.

Both arrays are read-only: every view handed out shares memory with them, so nothing can break
the invariants checked at construction. Essential classes are kept everywhere (use
:meth:`Diagrams.finite` to drop them explicitly) and empty diagrams are valid.

Conversions
-----------
To and from GUDHI's ``persistence()`` lists (:meth:`Diagrams.to_gudhi`,
:meth:`Diagrams.from_gudhi`), giotto-tda's padded ``(n, n_points, 3)`` arrays of rows
``[birth, death, dim]`` (:meth:`Diagrams.to_giotto`, :meth:`Diagrams.from_giotto`),
ripser/persim's lists of ``(k, 2)`` arrays per dimension (:meth:`Diagrams.to_persim`,
:meth:`Diagrams.from_persim`), HomCloud's diagrams, superlevel ones included (birth > death in the
field's values; :meth:`Diagrams.to_homcloud_pairs`, :meth:`Diagrams.from_homcloud`), and torch
tensors (:meth:`Diagrams.to_torch`). :func:`topophys.testing.assert_diagrams_equal` compares
diagrams as multisets whatever their source's row order.

Distances
---------
:func:`pairwise_distances` (and :meth:`Diagrams.distances`) gives the matrix of bottleneck or
p-Wasserstein distances between two batches, one homology dimension at a time. Both are exact:
the bottleneck distance by GUDHI, the Wasserstein distance as an assignment problem solved by
SciPy's ``linear_sum_assignment``; the tests check them against GUDHI's exact bottleneck and its
POT-based Wasserstein distance.

On disk (Zarr v3, see :meth:`Diagrams.save`) a batch is a group holding the arrays ``data`` and
``offsets`` and the attributes ``format``, ``version``, ``n_diagrams``, ``n_points`` and
``complete``; ``complete`` is set to ``True`` only after both arrays are fully written, and
:meth:`Diagrams.load` refuses a group without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np

from topophys._validate import nonnegative, nonnegative_int
from topophys._validate import path as _validate_path

if TYPE_CHECKING:  # pragma: no cover
    import torch
    import zarr

__all__ = ["METRICS", "Diagrams", "GudhiPersistence", "as_diagrams", "pairwise_distances"]

#: GUDHI's ``persistence()`` form of one diagram: ``[(dim, (birth, death)), ...]``.
GudhiPersistence = list[tuple[int, tuple[float, float]]]

_FORMAT = "topophys.diagrams"
_FORMAT_VERSION = 1
# Rows per Zarr chunk: ~1.5 MiB of float64 rows, large enough that chunk overhead is negligible.
_CHUNK_ROWS = 1 << 16


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _as_float_rows(name: str, value: Any) -> np.ndarray:
    """``value`` as a float64 array, or a TypeError naming ``name`` when it is not real numbers.

    Complex values and strings are refused rather than cast (a cast would drop the imaginary
    part or parse text silently).
    """
    try:
        raw = np.asarray(value)
        if raw.dtype.kind in "cUSVM" or (raw.dtype == object and _has_complex(raw)):
            raise TypeError
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a real numeric array of rows [dim, birth, death], "
            f"got {type(value).__name__}" + (f" of dtype {raw.dtype}" if "raw" in locals() else "")
        ) from exc
    return arr


def _has_complex(arr: np.ndarray) -> bool:
    return any(isinstance(x, (complex, np.complexfloating)) for x in arr.ravel()[:10_000])


def _check_sequence(name: str, value: Any) -> None:
    zero_d = isinstance(value, np.ndarray) and value.ndim == 0
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or zero_d:
        raise TypeError(f"{name} must be a sequence (one item per diagram), got {value!r:.60}")


def _check_rows(data: np.ndarray, offsets: np.ndarray, name: str) -> None:
    """Raise ValueError naming diagram and row for the first row that breaks the invariants."""
    if data.shape[0] == 0:
        return

    def where(bad: np.ndarray) -> str:
        row = int(np.flatnonzero(bad)[0])
        diagram = int(np.searchsorted(offsets, row, side="right") - 1)
        local = row - int(offsets[diagram])
        return (
            f"{int(bad.sum())} bad row(s); first is row {local} of diagram {diagram} "
            f"({name} row {row}: {data[row].tolist()})"
        )

    nan = np.isnan(data).any(axis=1)
    if nan.any():
        raise ValueError(f"{name} must not contain NaN: {where(nan)}")
    dim, birth, death = data[:, 0], data[:, 1], data[:, 2]
    bad_dim = ~np.isfinite(dim) | (dim < 0) | (dim != np.floor(dim))
    if bad_dim.any():
        raise ValueError(f"{name}[:, 0] (dim) must hold integers >= 0: {where(bad_dim)}")
    bad_birth = ~np.isfinite(birth)
    if bad_birth.any():
        raise ValueError(f"{name}[:, 1] (birth) must be finite: {where(bad_birth)}")
    # -inf deaths fail here too, since they are below every finite birth.
    bad_death = ~(death >= birth)
    if bad_death.any():
        raise ValueError(f"{name}[:, 2] (death) must be >= birth or +inf: {where(bad_death)}")


class Diagrams:
    """``n`` persistence diagrams in two arrays (see the module notes for the layout).

    Parameters
    ----------
    data : array_like, shape (N, 3)
        Rows ``[dim, birth, death]`` of all diagrams, concatenated; converted to float64.
        ``dim`` must be an integer >= 0, ``birth`` finite, ``death >= birth`` or ``+inf``.
        Nothing may be NaN.
    offsets : array_like of int, shape (n + 1,)
        Non-decreasing, starting at 0 and ending at N; diagram ``i`` is
        ``data[offsets[i]:offsets[i + 1]]``.

    Raises
    ------
    TypeError
        If ``data`` is not numeric or ``offsets`` is not integer.
    ValueError
        If a shape is wrong, ``offsets`` is not a valid partition of the rows, or a row breaks
        the rules above (the message names the diagram and row).

    Notes
    -----
    The constructor copies its inputs and marks the copies read-only. ``d[i]`` is a view,
    ``d[1:3]`` or ``d[[0, 2]]`` a new :class:`Diagrams`. Equality (``==``) is exact: same
    offsets and identical rows in the same order.

    Examples
    --------
    >>> d = Diagrams.from_list([np.array([[0, 0.0, 1.0], [1, 0.5, np.inf]]), np.empty((0, 3))])
    >>> len(d), d.sizes().tolist()
    (2, [2, 0])
    >>> d.select(1)[0]
    array([[1. , 0.5, inf]])
    """

    __slots__ = ("data", "offsets")

    data: np.ndarray
    offsets: np.ndarray

    def __init__(self, data: Any, offsets: Any) -> None:
        data = _as_float_rows("data", data)
        if data.ndim != 2 or data.shape[1] != 3:
            raise ValueError(
                f"data must have shape (N, 3) with rows [dim, birth, death], got shape {data.shape}"
            )
        try:
            offsets_in = np.asarray(offsets)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"offsets must be a 1-D integer array, got {offsets!r:.60}") from exc
        if offsets_in.ndim != 1 or offsets_in.size == 0:
            raise ValueError(
                f"offsets must have shape (n + 1,) with n >= 0, got {offsets_in.shape}"
            )
        if offsets_in.dtype == bool or not np.issubdtype(offsets_in.dtype, np.integer):
            raise TypeError(f"offsets must be an integer array, got dtype {offsets_in.dtype}")
        offsets_arr = offsets_in.astype(np.int64)
        n_rows = data.shape[0]
        if offsets_arr[0] != 0 or offsets_arr[-1] != n_rows:
            raise ValueError(
                f"offsets must start at 0 and end at len(data) = {n_rows}, "
                f"got offsets[0] = {offsets_arr[0]} and offsets[-1] = {offsets_arr[-1]}"
            )
        steps = np.diff(offsets_arr)
        if (steps < 0).any():
            i = int(np.flatnonzero(steps < 0)[0])
            raise ValueError(
                f"offsets must be non-decreasing, got offsets[{i}] = {offsets_arr[i]} > "
                f"offsets[{i + 1}] = {offsets_arr[i + 1]}"
            )
        _check_rows(data, offsets_arr, "data")
        self.data = _readonly(np.array(data, dtype=np.float64, order="C", copy=True))
        self.offsets = _readonly(np.array(offsets_arr, dtype=np.int64, copy=True))

    @classmethod
    def _trusted(cls, data: np.ndarray, offsets: np.ndarray) -> Diagrams:
        """Wrap arrays already known to be valid, without checks or copies (internal use)."""
        obj = cls.__new__(cls)
        obj.data = _readonly(np.ascontiguousarray(data, dtype=np.float64))
        obj.offsets = _readonly(np.ascontiguousarray(offsets, dtype=np.int64))
        return obj

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_list(cls, diagrams: Sequence[Any]) -> Diagrams:
        """Build from one array per diagram.

        Parameters
        ----------
        diagrams : sequence of array_like, each shape (k, 3)
            Rows ``[dim, birth, death]``; ``k`` may be 0 (an array of size 0 of any shape is
            taken as an empty diagram).

        Returns
        -------
        Diagrams
            ``len(diagrams)`` diagrams, rows in the given order.
        """
        if isinstance(diagrams, Diagrams):
            return diagrams
        if isinstance(diagrams, np.ndarray) and diagrams.dtype != object and diagrams.ndim == 2:
            raise TypeError(
                "diagrams must be a sequence of (k, 3) arrays, got one 2-D array of shape "
                f"{diagrams.shape}; wrap it in a list for a single diagram"
            )
        _check_sequence("diagrams", diagrams)
        parts = []
        for i, d in enumerate(diagrams):
            arr = _as_float_rows(f"diagrams[{i}]", d)
            if arr.size == 0:
                arr = arr.reshape(0, 3)
            if arr.ndim != 2 or arr.shape[1] != 3:
                raise ValueError(
                    f"diagrams[{i}] must have shape (k, 3) with rows [dim, birth, death], "
                    f"got shape {arr.shape}"
                )
            parts.append(arr)
        sizes = np.array([p.shape[0] for p in parts], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        data = np.concatenate(parts, axis=0) if parts else np.empty((0, 3))
        _check_rows(data, offsets, "diagrams")
        return cls._trusted(data, offsets)

    @classmethod
    def empty(cls, n: int) -> Diagrams:
        """``n`` empty diagrams (``n`` >= 0)."""
        n = nonnegative_int("n", n)
        return cls._trusted(np.empty((0, 3)), np.zeros(n + 1, dtype=np.int64))

    @classmethod
    def concat(cls, parts: Sequence[Diagrams]) -> Diagrams:
        """Concatenate batches: the result holds the diagrams of ``parts[0]``, then ``parts[1]``…

        Parameters
        ----------
        parts : sequence of Diagrams
            May be empty (gives ``Diagrams.empty(0)``).
        """
        parts = list(parts)
        for i, p in enumerate(parts):
            if not isinstance(p, Diagrams):
                raise TypeError(f"parts[{i}] must be a Diagrams, got {type(p).__name__}")
        if not parts:
            return cls.empty(0)
        data = np.concatenate([p.data for p in parts], axis=0)
        shifts = np.cumsum([0] + [p.data.shape[0] for p in parts[:-1]])
        offsets = np.concatenate(
            [[0]] + [p.offsets[1:] + s for p, s in zip(parts, shifts, strict=True)]
        )
        return cls._trusted(data, offsets)

    # ------------------------------------------------------------------ container protocol

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def _index(self, i: Any) -> int:
        if isinstance(i, bool) or not isinstance(i, Integral):
            raise TypeError(f"diagram index must be an integer, got {i!r} ({type(i).__name__})")
        n = len(self)
        j = int(i) + n if i < 0 else int(i)
        if not 0 <= j < n:
            raise IndexError(f"diagram index {i} out of range for {n} diagrams")
        return j

    def __getitem__(self, i: Any) -> Any:
        """Diagram ``i`` as a read-only ``(k, 3)`` view; a slice, integer or boolean array gives a
        new :class:`Diagrams` of the selected diagrams, in the selected order."""
        if isinstance(i, slice):
            return self._take(np.arange(len(self))[i])
        if isinstance(i, (list, tuple, np.ndarray)):
            idx = np.asarray(i)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    raise IndexError(
                        f"boolean index must have shape ({len(self)},), got {idx.shape}"
                    )
                return self._take(np.flatnonzero(idx))
            if idx.size == 0:
                return self._take(np.empty(0, dtype=np.int64))
            if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
                raise TypeError(
                    f"index array must be 1-D integer or boolean, got dtype {idx.dtype} and "
                    f"shape {idx.shape}"
                )
            n = len(self)
            if ((idx < -n) | (idx >= n)).any():
                raise IndexError(f"diagram index out of range for {n} diagrams: {idx.tolist()}")
            return self._take(np.where(idx < 0, idx + n, idx))
        j = self._index(i)
        return self.data[self.offsets[j] : self.offsets[j + 1]]

    def _take(self, idx: np.ndarray) -> Diagrams:
        idx = idx.astype(np.int64)
        sizes = self.sizes()[idx]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # Row r of the output comes from row (start of its source diagram) + (r - its new start).
        rows = np.repeat(self.offsets[idx] - offsets[:-1], sizes) + np.arange(offsets[-1])
        return Diagrams._trusted(self.data[rows], offsets)

    def __iter__(self) -> Iterator[np.ndarray]:
        for j in range(len(self)):
            yield self.data[self.offsets[j] : self.offsets[j + 1]]

    def __repr__(self) -> str:
        dims = ", ".join(str(d) for d in self.dims())
        return (
            f"Diagrams(n={len(self)}, points={self.data.shape[0]}, dims=[{dims}], "
            f"essential={int(np.isinf(self.data[:, 2]).sum())})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Diagrams, (np.array(self.data), np.array(self.offsets)))

    # ------------------------------------------------------------------ queries and filters

    def sizes(self) -> np.ndarray:
        """``(n,)`` int64: number of points in each diagram."""
        return np.diff(self.offsets)

    def dims(self) -> list[int]:
        """Sorted homology dimensions present in any diagram."""
        return [int(d) for d in np.unique(self.data[:, 0])]

    def diagram_index(self) -> np.ndarray:
        """``(N,)`` int64: the diagram each row of :attr:`data` belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.sizes())

    def _mask(self, keep: np.ndarray) -> Diagrams:
        counts = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
        return Diagrams._trusted(self.data[keep], counts[self.offsets])

    def select(self, dim: int) -> Diagrams:
        """The same ``n`` diagrams restricted to homology dimension ``dim`` (3 columns kept)."""
        dim = nonnegative_int("dim", dim)
        return self._mask(self.data[:, 0] == dim)

    def finite(self) -> Diagrams:
        """The same ``n`` diagrams without their essential (``death = inf``) points."""
        return self._mask(np.isfinite(self.data[:, 2]))

    def essential(self) -> Diagrams:
        """The same ``n`` diagrams with only their essential (``death = inf``) points."""
        return self._mask(np.isinf(self.data[:, 2]))

    def nontrivial(self) -> Diagrams:
        """The same ``n`` diagrams without their points on the diagonal (``birth == death``).

        Such points carry no information; GUDHI and giotto-tda leave them out, HomCloud reports
        them.
        """
        return self._mask(self.data[:, 1] != self.data[:, 2])

    def pairs(self, i: int, dim: int | None = None) -> np.ndarray:
        """``(k, 2)`` ``[birth, death]`` of diagram ``i``, all dimensions or only ``dim``.

        Essential points are included with ``death = inf``. Without ``dim`` the result is a
        read-only view, with ``dim`` a copy.
        """
        d = self[self._index(i)]
        if dim is None:
            return d[:, 1:]
        dim = nonnegative_int("dim", dim)
        return d[d[:, 0] == dim, 1:]

    # ------------------------------------------------------------------ comparison

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diagrams):
            return NotImplemented
        return bool(
            np.array_equal(self.offsets, other.offsets) and np.array_equal(self.data, other.data)
        )

    # Unhashable (equality compares contents); typeshed types __hash__ as a method.
    __hash__ = None  # type: ignore[assignment]

    def allclose(self, other: Diagrams, atol: float = 1e-8, rtol: float = 0.0) -> bool:
        """Same layout, same dims and essential points, finite values within tolerance.

        Parameters
        ----------
        other : Diagrams
        atol, rtol : float
            Absolute and relative tolerance on births and finite deaths (filtration units),
            as in :func:`numpy.allclose`. Rows are compared in order.
        """
        if not isinstance(other, Diagrams):
            raise TypeError(f"other must be a Diagrams, got {type(other).__name__}")
        atol = nonnegative("atol", atol)
        rtol = nonnegative("rtol", rtol)
        if not np.array_equal(self.offsets, other.offsets):
            return False
        if not np.array_equal(self.data[:, 0], other.data[:, 0]):
            return False
        # equal_nan is irrelevant (no NaN); infinities must match exactly, which allclose does.
        return bool(np.allclose(self.data[:, 1:], other.data[:, 1:], atol=atol, rtol=rtol))

    def distances(
        self,
        other: Diagrams | None = None,
        *,
        dim: int,
        metric: str = "bottleneck",
        p: float = 2.0,
        internal_p: float = np.inf,
    ) -> np.ndarray:
        """Distances between these diagrams and ``other`` (default: themselves).

        See :func:`pairwise_distances`; returns ``(len(self), len(other))`` float64.

        Examples
        --------
        >>> d = Diagrams.from_list([np.array([[0, 0.0, 1.0]]), np.array([[0, 0.0, 1.5]])])
        >>> d.distances(dim=0).tolist()
        [[0.0, 0.5], [0.5, 0.0]]
        """
        return pairwise_distances(self, other, dim=dim, metric=metric, p=p, internal_p=internal_p)

    # ------------------------------------------------------------------ conversions

    def to_list(self) -> list[np.ndarray]:
        """One ``(k, 3)`` copy per diagram."""
        return [np.array(d) for d in self]

    def to_gudhi(self, i: int) -> GudhiPersistence:
        """Diagram ``i`` in the form of GUDHI's ``persistence()``: ``[(dim, (birth, death))]``.

        Rows keep their stored order; essential deaths are ``float('inf')`` as in GUDHI.
        """
        d = self[self._index(i)]
        return [(int(r[0]), (float(r[1]), float(r[2]))) for r in d.tolist()]

    @classmethod
    def from_gudhi(cls, persistences: Sequence[Sequence[Any]]) -> Diagrams:
        """Build from GUDHI ``persistence()`` lists, one per diagram.

        Parameters
        ----------
        persistences : sequence of lists of ``(dim, (birth, death))``
            As returned by ``SimplexTree.persistence()`` or
            ``CubicalComplex.persistence()``; an empty list is an empty diagram.
        """
        _check_sequence("persistences", persistences)
        parts = []
        for i, pers in enumerate(persistences):
            _check_sequence(f"persistences[{i}]", pers)
            rows = []
            for j, item in enumerate(pers):
                try:
                    dim, (birth, death) = item
                    rows.append((float(dim), float(birth), float(death)))
                except (TypeError, ValueError) as exc:
                    raise TypeError(
                        f"persistences[{i}][{j}] must be a (dim, (birth, death)) pair, got "
                        f"{item!r}; pass one persistence list per diagram"
                    ) from exc
            parts.append(np.array(rows, dtype=np.float64).reshape(-1, 3))
        return cls.from_list(parts)

    def to_homcloud_pairs(self, i: int, dim: int, *, superlevel: bool = False) -> np.ndarray:
        """``(k, 2)`` ``[birth, death]`` of the finite points of dimension ``dim`` of diagram ``i``.

        This is what HomCloud gives as ``np.column_stack([pd.births, pd.deaths])`` for
        ``pd = pdlist.dth_diagram(dim)``: HomCloud keeps essential pairs apart (their births are
        ``pd.essential_births``, see :meth:`to_homcloud_essential_births`). Row order is ours,
        so compare with HomCloud as multisets (e.g. after ``np.lexsort``). Values are in the
        units the diagram was made in (HomCloud's alpha filtrations use squared radii).

        Parameters
        ----------
        i : int
            The diagram.
        dim : int
            The homology dimension.
        superlevel : bool, default False
            The diagram is a superlevel one stored, as topophys stores them, as the sublevel
            diagram of ``-f`` (e.g. ``CubicalPersistence(filtration="superlevel")``). HomCloud's
            superlevel diagrams (``mode="superlevel"``) are in the field's own values, born at
            the higher one: both columns are negated, so ``birth > death``.

        Examples
        --------
        >>> d = Diagrams.from_list([np.array([[0, -2.0, -1.0], [0, -2.0, np.inf]])])
        >>> d.to_homcloud_pairs(0, 0, superlevel=True), d.to_homcloud_essential_births(
        ...     0, 0, superlevel=True
        ... )
        (array([[2., 1.]]), array([2.]))
        """
        d = self[self._index(i)]
        dim = nonnegative_int("dim", dim)
        keep = (d[:, 0] == dim) & np.isfinite(d[:, 2])
        pairs = d[keep, 1:]
        return -pairs if superlevel else pairs.copy()

    def to_homcloud_essential_births(
        self, i: int, dim: int, *, superlevel: bool = False
    ) -> np.ndarray:
        """``(k,)`` births of the essential points of dimension ``dim`` of diagram ``i``
        (HomCloud's ``pd.essential_births``; negated for ``superlevel``, see
        :meth:`to_homcloud_pairs`)."""
        d = self[self._index(i)]
        dim = nonnegative_int("dim", dim)
        births = d[(d[:, 0] == dim) & np.isinf(d[:, 2]), 1]
        return -births if superlevel else births.copy()

    @classmethod
    def from_homcloud(
        cls, diagrams: Sequence[Sequence[Any]], *, superlevel: bool | None = None
    ) -> Diagrams:
        """Build from HomCloud persistence diagrams, one sequence of them per diagram.

        Parameters
        ----------
        diagrams : sequence of sequences of HomCloud ``PD``
            For diagram ``i``, its HomCloud diagrams of each dimension, e.g.
            ``[pdlist.dth_diagram(d) for d in (0, 1)]``; each needs ``degree``, ``births``,
            ``deaths`` and ``essential_births``.
        superlevel : bool, optional
            Whether they are superlevel diagrams (``birth > death``, HomCloud's
            ``mode="superlevel"``); they are negated into topophys's convention (the sublevel
            diagram of ``-f``, see :meth:`to_homcloud_pairs`). Default: per PD, its
            ``sign_flipped`` attribute, or any of its pairs born above its death.

        Returns
        -------
        Diagrams
            Rows ``[degree, birth, death]``; essential births get ``death = inf``.
        """
        parts = []
        for i, pds in enumerate(diagrams):
            rows = []
            for j, pd in enumerate(pds):
                try:
                    dim = int(pd.degree)
                    births = np.asarray(pd.births, dtype=np.float64).reshape(-1)
                    deaths = np.asarray(pd.deaths, dtype=np.float64).reshape(-1)
                    ess = np.asarray(pd.essential_births, dtype=np.float64).reshape(-1)
                except AttributeError as exc:
                    raise TypeError(
                        f"diagrams[{i}][{j}] must be a HomCloud PD (degree, births, deaths, "
                        f"essential_births), got {type(pd).__name__}"
                    ) from exc
                flip = superlevel
                if flip is None:  # type="cubical" PDs of a superlevel filtration say False
                    flipped = bool(getattr(pd, "sign_flipped", False))
                    flip = flipped or bool((births > deaths).any())
                sign = -1.0 if flip else 1.0
                rows.append(np.column_stack([np.full(births.size, dim), sign * births,
                                             sign * deaths]))  # fmt: skip
                rows.append(np.column_stack([np.full(ess.size, dim), sign * ess,
                                             np.full(ess.size, np.inf)]))  # fmt: skip
            parts.append(np.concatenate(rows) if rows else np.empty((0, 3)))
        return cls.from_list(parts)

    # ------------------------------------------------------------------ giotto-tda, persim

    def to_giotto(
        self, homology_dimensions: Sequence[int] | None = None, *, infinity: float | None = None
    ) -> np.ndarray:
        """The batch as giotto-tda's padded 3-D array: ``(n, n_points, 3)`` rows
        ``[birth, death, dim]``.

        As giotto-tda's persistence transformers make it (``gtda.homology``): one block of rows
        per homology dimension in ascending order, each as long as the largest count of that
        dimension in any diagram (at least 1); a diagram with fewer points is padded with
        ``[m, m, dim]``, where ``m`` is the smallest birth of that dimension in the batch (0 if
        there is none). Points on the diagonal (``birth == death``) carry no information and
        are left out, as giotto-tda does, so :meth:`from_giotto` can drop every padding row.

        Parameters
        ----------
        homology_dimensions : sequence of int, optional
            The dimensions to include (default: every dimension present; ``[0]`` for an empty
            batch).
        infinity : float, optional
            Death given to essential classes (giotto-tda's ``infinity_values``, e.g. the largest
            filtration value). Default: keep ``inf``, which giotto-tda's ``check_diagrams``
            accepts but some of its vectorizers do not.

        Returns
        -------
        numpy.ndarray, shape (n, n_points, 3), float64

        Examples
        --------
        >>> d = Diagrams.from_list([np.array([[0, 0.0, 1.0], [1, 0.5, 2.0]]),
        ...                         np.array([[0, 0.2, 0.4], [0, 0.1, 0.3]])])
        >>> d.to_giotto()
        array([[[0. , 1. , 0. ],
                [0. , 0. , 0. ],
                [0.5, 2. , 1. ]],
        <BLANKLINE>
               [[0.2, 0.4, 0. ],
                [0.1, 0.3, 0. ],
                [0.5, 0.5, 1. ]]])
        """
        dims = self.dims() if homology_dimensions is None else _dims(homology_dimensions)
        if not dims:
            dims = [0]
        data = self.data
        if infinity is not None:
            infinity = float(infinity)
            data = data.copy()
            data[np.isinf(data[:, 2]), 2] = infinity
        keep = data[:, 1] < data[:, 2]
        which = self.diagram_index()
        blocks = []
        for dim in dims:
            rows = keep & (data[:, 0] == dim)
            counts = np.bincount(which[rows], minlength=len(self))
            width = max(int(counts.max(initial=0)), 1)
            pad = float(data[rows, 1].min()) if rows.any() else 0.0
            block = np.empty((len(self), width, 3))
            block[:, :, :2] = pad
            block[:, :, 2] = dim
            # The rank of each kept point within its diagram places it in the block.
            idx = which[rows]
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            slot = np.arange(idx.size) - starts[idx]
            block[idx, slot, 0] = data[rows, 1]
            block[idx, slot, 1] = data[rows, 2]
            blocks.append(block)
        return np.concatenate(blocks, axis=1)

    @classmethod
    def from_giotto(cls, X: Any, *, infinity: float | None = None) -> Diagrams:
        """Build from giotto-tda's ``(n, n_points, 3)`` array of rows ``[birth, death, dim]``.

        Rows on the diagonal (``birth == death``: giotto-tda's padding and trivial points) are
        dropped; with ``infinity``, deaths equal to it become ``inf`` (essential classes, see
        :meth:`to_giotto`). Rows keep their order.

        Raises
        ------
        ValueError
            If ``X`` is not 3-D with 3 columns, a dimension is not an integer >= 0 (giotto-tda's
            ``inf`` dimension of stacked diagrams included), or a point lies below the diagonal.
        """
        arr = _as_float_rows("X", X)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(
                "X must have shape (n_samples, n_points, 3) with rows [birth, death, dim] "
                f"(giotto-tda's layout), got {arr.shape}"
            )
        parts = []
        for i, rows in enumerate(arr):
            dim = rows[:, 2]
            if (~np.isfinite(dim) | (dim < 0) | (dim != np.floor(dim))).any():
                raise ValueError(
                    f"X[{i}][:, 2] (dim) must hold integers >= 0; giotto-tda's stacked diagrams "
                    "(dimension inf) have no homology dimension to convert"
                )
            death = rows[:, 1].copy()
            if infinity is not None:
                death[death == float(infinity)] = np.inf
            keep = rows[:, 0] != death
            parts.append(np.column_stack([dim, rows[:, 0], death])[keep])
        return cls.from_list(parts)

    def to_persim(self, maxdim: int | None = None) -> list[list[np.ndarray]]:
        """Per diagram, the list of ``(k, 2)`` ``[birth, death]`` arrays of dimensions
        ``0 … maxdim``: ripser's ``dgms`` and what persim's functions take.

        ``maxdim`` defaults to the largest dimension in the batch; essential classes keep
        ``death = inf``, as in ripser's H0.

        Examples
        --------
        >>> d = Diagrams.from_list([np.array([[0, 0.0, np.inf], [1, 0.5, 2.0]])])
        >>> d.to_persim()
        [[array([[ 0., inf]]), array([[0.5, 2. ]])]]
        """
        top = max(self.dims(), default=0) if maxdim is None else nonnegative_int("maxdim", maxdim)
        return [[np.array(d[d[:, 0] == dim, 1:]) for dim in range(top + 1)] for d in self]

    @classmethod
    def from_persim(cls, diagrams: Sequence[Sequence[Any]]) -> Diagrams:
        """Build from ripser/persim diagrams: per diagram, a list of ``(k, 2)`` arrays whose
        position is the dimension (``ripser(X)["dgms"]`` is one; wrap it in a list).

        Raises
        ------
        TypeError
            If an entry is not a sequence of ``(k, 2)`` arrays.
        """
        parts = []
        for i, per_dim in enumerate(diagrams):
            if isinstance(per_dim, np.ndarray) and per_dim.ndim == 2:
                raise TypeError(
                    f"diagrams[{i}] must be a list of (k, 2) arrays (one per dimension), got one "
                    "2-D array; pass [ripser(X)['dgms']] for one diagram"
                )
            rows = []
            for dim, pairs in enumerate(per_dim):
                arr = _as_float_rows(f"diagrams[{i}][{dim}]", pairs)
                if arr.size == 0:
                    continue
                if arr.ndim != 2 or arr.shape[1] != 2:
                    raise ValueError(
                        f"diagrams[{i}][{dim}] must have shape (k, 2) [birth, death], got "
                        f"{arr.shape}"
                    )
                rows.append(np.column_stack([np.full(len(arr), dim), arr]))
            parts.append(np.concatenate(rows) if rows else np.empty((0, 3)))
        return cls.from_list(parts)

    def to_torch(
        self,
        i: int | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Copy to torch tensors.

        Parameters
        ----------
        i : int, optional
            A diagram index: return its ``(k, 3)`` tensor. Without it, return the pair
            ``(data, offsets)`` of shapes ``(N, 3)`` and ``(n + 1,)`` (offsets int64).
        device : torch.device or str, optional
        dtype : torch.dtype, optional
            Floating dtype of the rows (default float64).
        """
        import torch

        dtype = torch.float64 if dtype is None else dtype
        if i is not None:
            # torch.tensor copies: torch.from_numpy would warn about our read-only arrays.
            return torch.tensor(self[self._index(i)], dtype=dtype, device=device)
        return (
            torch.tensor(self.data, dtype=dtype, device=device),
            torch.tensor(self.offsets, dtype=torch.int64, device=device),
        )

    # ------------------------------------------------------------------ Zarr IO

    def save(
        self,
        group_or_path: zarr.Group | str | os.PathLike[str],
        name: str = "diagrams",
        *,
        overwrite: bool = False,
    ) -> None:
        """Write to the Zarr group ``name`` inside ``group_or_path`` (v3 for a new store).

        Parameters
        ----------
        group_or_path : zarr.Group or path
            A writable group, or a path where a group is opened (created if missing).
        name : str
            Name of the sub-group that will hold ``data``, ``offsets`` and the attributes.
        overwrite : bool
            Replace an existing ``name``; otherwise an existing one raises FileExistsError.

        Notes
        -----
        An existing group being overwritten is first marked ``complete = False``; the new
        sub-group is created with ``complete = False``, its arrays are written, then
        ``complete`` is set to ``True``. A process killed at any point leaves a group that
        :meth:`load` either reads in full or refuses.
        """
        parent = _open_parent(group_or_path, write=True)
        name = _check_name(name)
        if name in parent:
            if not overwrite:
                raise FileExistsError(
                    f"{name!r} already exists in {parent.store_path}; "
                    "pass overwrite=True to replace it"
                )
            existing = parent[name]
            if hasattr(existing, "group_keys"):
                # Unmark first: a kill while Zarr deletes the old arrays must not leave the old
                # 'complete' flag above partly deleted data.
                existing.attrs["complete"] = False
        n_rows = self.data.shape[0]
        # Zarr v2 groups cannot hold dimension names; v3 ones (the default) get them.
        v3 = parent.metadata.zarr_format == 3
        group = parent.create_group(
            name,
            overwrite=True,
            attributes={"format": _FORMAT, "version": _FORMAT_VERSION, "complete": False},
        )
        group.create_array(
            "data",
            shape=self.data.shape,
            dtype=np.float64,
            chunks=(max(1, min(n_rows, _CHUNK_ROWS)), 3),
            dimension_names=["point", "column"] if v3 else None,
        )[...] = self.data
        group.create_array(
            "offsets",
            shape=self.offsets.shape,
            dtype=np.int64,
            chunks=(max(1, min(self.offsets.shape[0], 4 * _CHUNK_ROWS)),),
            dimension_names=["boundary"] if v3 else None,
        )[...] = self.offsets
        group.attrs.update(
            {"n_diagrams": len(self), "n_points": n_rows, "columns": "dim birth death"}
        )
        group.attrs["complete"] = True  # last: marks the write finished

    @classmethod
    def load(
        cls, group_or_path: zarr.Group | str | os.PathLike[str], name: str = "diagrams"
    ) -> Diagrams:
        """Read a batch written by :meth:`save`.

        Raises
        ------
        FileNotFoundError
            If the path or the sub-group ``name`` does not exist.
        ValueError
            If the group is not a complete diagrams group (e.g. a write was interrupted), or
            its arrays break the :class:`Diagrams` invariants.
        """
        import zarr

        parent = _open_parent(group_or_path, write=False)
        name = _check_name(name)
        if name not in parent:
            raise FileNotFoundError(f"no diagrams group {name!r} in {parent.store_path}")
        node = parent[name]
        group = node if isinstance(node, zarr.Group) else None  # an array is no diagrams group
        attrs = {} if group is None else dict(group.attrs)
        if group is None or attrs.get("format") != _FORMAT:
            raise ValueError(
                f"{name!r} in {parent.store_path} is not a diagrams group "
                f"(format attribute {attrs.get('format')!r}, expected {_FORMAT!r})"
            )
        if attrs.get("complete") is not True:
            raise ValueError(
                f"diagrams group {name!r} in {parent.store_path} is incomplete: its write was "
                "interrupted; write it again"
            )
        data, offsets = _group_array(group, "data", name), _group_array(group, "offsets", name)
        n_diagrams = attrs.get("n_diagrams")
        if data.shape[0] != attrs.get("n_points") or not (
            isinstance(n_diagrams, int) and offsets.shape[0] == n_diagrams + 1
        ):
            raise ValueError(
                f"diagrams group {name!r}: arrays of shapes {data.shape} and {offsets.shape} do "
                f"not match n_points={attrs.get('n_points')!r}, n_diagrams={n_diagrams!r}"
            )
        return cls(data, offsets)


def _group_array(group: zarr.Group, key: str, name: str) -> np.ndarray:
    import zarr

    node = group[key]
    if not isinstance(node, zarr.Array):
        raise ValueError(f"diagrams group {name!r}: {key!r} is a group, not an array")
    return np.asarray(node[...])


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\x00" in name:
        raise ValueError(f"name must be a non-empty string without '/' or NUL, got {name!r}")
    return name


def _open_parent(group_or_path: Any, *, write: bool) -> zarr.Group:
    import zarr

    if isinstance(group_or_path, zarr.Group):
        return group_or_path
    if isinstance(group_or_path, (str, os.PathLike)):
        path = _validate_path("group_or_path", group_or_path)
        if not write and not path.exists():
            raise FileNotFoundError(f"no Zarr store at {path}")
        return zarr.open_group(str(path), mode="a" if write else "r")
    raise TypeError(
        f"group_or_path must be a zarr.Group or a path, got {type(group_or_path).__name__}"
    )


def as_diagrams(X: Any, name: str = "X") -> Diagrams:
    """``X`` as :class:`Diagrams`: a Diagrams is returned as is, a sequence of ``(k, 3)`` arrays
    (or a ``(n, k, 3)`` array) goes through :meth:`Diagrams.from_list`.

    Raises
    ------
    TypeError
        For a single 2-D array (ambiguous: wrap one diagram in a list) or non-sequences.
    """
    if isinstance(X, Diagrams):
        return X
    if isinstance(X, np.ndarray) and X.dtype != object and X.ndim != 3:
        raise TypeError(
            f"{name} must be a Diagrams or a sequence of (k, 3) arrays [dim, birth, death], got "
            f"an array of shape {X.shape}; wrap a single diagram in a list"
        )
    if isinstance(X, (str, bytes)) or not hasattr(X, "__iter__"):
        raise TypeError(
            f"{name} must be a Diagrams or a sequence of (k, 3) arrays, got {type(X).__name__}"
        )
    try:
        return Diagrams.from_list(list(X))
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from exc


def _dims(values: Sequence[int]) -> list[int]:
    out = sorted({nonnegative_int("homology_dimensions[]", v) for v in values})
    return out


# --------------------------------------------------------------------------- distances

#: The distances :func:`pairwise_distances` computes.
METRICS = ("bottleneck", "wasserstein")

# Above this many point pairs the bottleneck value is not snapped to a candidate (memory) and
# GUDHI's exact, slower mode runs instead.
_SNAP_MAX_PAIRS = 1 << 22


def pairwise_distances(
    X: Any,
    Y: Any = None,
    *,
    dim: int,
    metric: str = "bottleneck",
    p: float = 2.0,
    internal_p: float = np.inf,
) -> np.ndarray:
    """Bottleneck or p-Wasserstein distances between every diagram of ``X`` and of ``Y``.

    Parameters
    ----------
    X, Y
        :class:`Diagrams` (or sequences of ``(k, 3)`` arrays), ``n`` and ``m`` diagrams; ``Y``
        defaults to ``X`` (then only half the matrix is computed, and the diagonal is 0).
    dim
        Homology dimension compared; points of other dimensions are ignored.
    metric
        ``"bottleneck"``: the largest distance of a matched pair in the best matching.
        ``"wasserstein"``: ``(sum of distance**p over the matched pairs) ** (1 / p)``. Points
        may be matched to the diagonal; the distance between two points is the ``L_q`` norm of
        their difference with ``q = internal_p``, and that of a point to the diagonal its
        distance to the nearest diagonal point, ``(death - birth) / 2 * 2 ** (1 / q)``.
    p
        Order of the Wasserstein distance, ``>= 1``.
    internal_p
        ``q`` above, ``>= 1`` or ``inf`` (default, as GUDHI and persim). The bottleneck
        distance is defined with ``inf`` only.

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` float64, in filtration units. Essential points (``death = inf``) are matched
        among themselves by birth; where two diagrams have different numbers of them the
        distance is ``inf`` (GUDHI's convention).

    Notes
    -----
    Exact: the bottleneck distance is GUDHI's (its fast mode, whose last bits of mantissa may
    be wrong, snapped to the candidate value it approximates, or its exact mode); the
    Wasserstein distance solves the assignment of the points of the smaller diagram to the
    points of the other or to the diagonal (``scipy.optimize.linear_sum_assignment``).
    Checked against GUDHI's exact bottleneck and POT-based Wasserstein distances.

    Examples
    --------
    >>> a = Diagrams.from_list([np.array([[1, 0.0, 2.0], [1, 1.0, 1.2]])])
    >>> b = Diagrams.from_list([np.array([[1, 0.0, 2.5]])])
    >>> pairwise_distances(a, b, dim=1).tolist()  # (0, 2) to (0, 2.5); (1, 1.2) to the diagonal
    [[0.5]]
    >>> round(float(pairwise_distances(a, b, dim=1, metric="wasserstein", p=1)[0, 0]), 12)
    0.6
    """
    from ._validate import choice, real

    X = as_diagrams(X, "X")
    symmetric = Y is None
    Y = X if symmetric else as_diagrams(Y, "Y")
    dim = nonnegative_int("dim", dim)
    metric = choice("metric", metric, METRICS)
    p = real("p", p)
    if p < 1:
        raise ValueError(f"p must be >= 1, got {p}")
    internal_p = float(internal_p) if isinstance(internal_p, (int, float)) else internal_p
    if not isinstance(internal_p, float) or np.isnan(internal_p) or internal_p < 1:
        raise ValueError(f"internal_p must be a number >= 1 or inf, got {internal_p!r}")
    if metric == "bottleneck" and internal_p != np.inf:
        raise ValueError("internal_p must be inf for the bottleneck distance (L-infinity)")
    left = [X.pairs(i, dim) for i in range(len(X))]
    right = left if symmetric else [Y.pairs(j, dim) for j in range(len(Y))]
    out = np.zeros((len(left), len(right)))
    for i, a in enumerate(left):
        for j in range(i + 1 if symmetric else 0, len(right)):
            b = right[j]
            if metric == "bottleneck":
                out[i, j] = _bottleneck(a, b)
            else:
                out[i, j] = _wasserstein(a, b, p, internal_p)
    if symmetric:
        out += out.T
    return out


def _essential_births(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted births of the essential points of ``a`` and ``b`` (k, 2), None if counts differ."""
    ea, eb = np.sort(a[np.isinf(a[:, 1]), 0]), np.sort(b[np.isinf(b[:, 1]), 0])
    return (ea, eb) if ea.size == eb.size else None


def _bottleneck(a: np.ndarray, b: np.ndarray) -> float:
    import gudhi

    essential = _essential_births(a, b)
    if essential is None:
        return np.inf
    far = float(np.abs(essential[0] - essential[1]).max(initial=0.0))
    fa, fb = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    if not len(fa) and not len(fb):
        return far
    if len(fa) * len(fb) > _SNAP_MAX_PAIRS:
        return max(far, float(gudhi.bottleneck_distance(fa, fb, 0.0)))
    approx = float(gudhi.bottleneck_distance(fa, fb))
    # The exact distance is one of these values (L-infinity distances and half persistences);
    # the fast mode is off by a few units in the last place at most.
    candidates = np.concatenate(
        [
            np.abs(fa[:, None, 0] - fb[None, :, 0]).ravel(),
            np.abs(fa[:, None, 1] - fb[None, :, 1]).ravel(),
            (fa[:, 1] - fa[:, 0]) / 2,
            (fb[:, 1] - fb[:, 0]) / 2,
        ]
    )
    near = np.unique(candidates[np.abs(candidates - approx) <= 16 * np.spacing(approx)])
    exact = float(near[0]) if near.size == 1 else float(gudhi.bottleneck_distance(fa, fb, 0.0))
    return max(far, exact)


def _wasserstein(a: np.ndarray, b: np.ndarray, p: float, q: float) -> float:
    from scipy.optimize import linear_sum_assignment

    essential = _essential_births(a, b)
    if essential is None:
        return np.inf
    cost = float((np.abs(essential[0] - essential[1]) ** p).sum())
    fa, fb = a[np.isfinite(a[:, 1])], b[np.isfinite(b[:, 1])]
    if len(fa) > len(fb):
        fa, fb = fb, fa
    scale = 0.5 if q == np.inf else 0.5 * 2.0 ** (1.0 / q)
    to_diag_a = (scale * (fa[:, 1] - fa[:, 0])) ** p
    to_diag_b = (scale * (fb[:, 1] - fb[:, 0])) ** p
    n, m = len(fa), len(fb)
    if n:
        # Rows: the points of the smaller diagram; columns: those of the other, then one
        # diagonal slot per row. A point of b left unmatched goes to the diagonal: its cost is
        # counted up front and refunded where it is matched, so the problem is n x (m + n)
        # rather than (n + m)^2.
        delta = np.abs(fa[:, None, :] - fb[None, :, :])
        ground = delta.max(axis=2) if q == np.inf else (delta**q).sum(axis=2) ** (1.0 / q)
        matrix = np.full((n, m + n), np.inf)
        matrix[:, :m] = ground**p - to_diag_b[None, :]
        matrix[np.arange(n), m + np.arange(n)] = to_diag_a
        rows, cols = linear_sum_assignment(matrix)
        cost += float(matrix[rows, cols].sum())
    cost += float(to_diag_b.sum())
    return max(cost, 0.0) ** (1.0 / p)
