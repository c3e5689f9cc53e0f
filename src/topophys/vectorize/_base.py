"""Shared pieces of the diagram vectorizers: argument checks and the transformer base class."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from topophys._validate import (
    choice,
    fits_in_memory,
    nonnegative_int,
    positive_int,
    real,
    real_array,
)
from topophys.diagrams import Diagrams, as_diagrams

__all__ = [
    "DiagramTransformer",
    "check_bins",
    "check_grid",
    "check_interval",
    "check_size",
    "fit_grid",
    "points_of_dim",
]


def check_interval(name: str, value: Any, n: int = 1) -> tuple[float, float]:
    """``value`` as a finite ``(low, high)`` pair with ``low < high``, or raise naming ``name``.

    The width ``high - low`` must be finite (``(-1e308, 1e308)`` overflows) and ``n`` equal
    cells of it must be told apart in float64 (each wider than a few rounding steps of the
    ends), so edges, bin indices and Gaussian integrals over it stay finite and distinct.
    """
    not_1d = isinstance(value, np.ndarray) and value.ndim != 1
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or not_1d:
        raise TypeError(f"{name} must be a pair (low, high), got {value!r:.60}")
    try:
        low, high = value
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a pair (low, high), got {value!r:.60}") from exc
    low, high = real(f"{name}[0]", low), real(f"{name}[1]", high)
    if not low < high:
        raise ValueError(f"{name} must satisfy low < high, got ({low}, {high})")
    width = high - low
    if not np.isfinite(width):
        raise ValueError(
            f"{name} ({low:g}, {high:g}) is too wide: its width overflows float64 "
            f"(expected high - low below {np.finfo(np.float64).max:.3g})"
        )
    step = width / n
    ulp = float(np.spacing(max(abs(low), abs(high))))
    if not (step > 8 * ulp and np.isfinite(n / width)):
        raise ValueError(
            f"{name} ({low:g}, {high:g}) is too narrow for {n} cell(s) at float64 precision "
            f"(each would be {step:.3g} wide, the ends are resolved to {ulp:.3g})"
        )
    return low, high


def check_bins(name: str, value: Any) -> tuple[int, int]:
    """An int ``m`` (meaning ``(m, m)``) or a pair of positive ints, as a pair."""
    if isinstance(value, (tuple, list)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r:.60}")
        return positive_int(f"{name}[0]", value[0]), positive_int(f"{name}[1]", value[1])
    m = positive_int(name, value)
    return m, m


def check_size(name: str, n_values: float, what: str) -> None:
    """Refuse, naming ``name``, float64 outputs of ``n_values`` numbers that cannot fit."""
    fits_in_memory(name, 8.0 * float(n_values), what)


def check_grid(grid: Any) -> np.ndarray | int:
    """An int (number of grid points to fit) or a strictly increasing finite 1-D array."""
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        grid = positive_int("grid", grid)
        check_size("grid", 4.0 * grid, f"a grid of {grid} values")
        return grid
    # A copy, so that later edits of the caller's array cannot change a fitted grid_.
    arr = np.array(real_array("grid", grid, finite=False))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"grid must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("grid must be finite (no NaN or inf)")
    if (np.diff(arr) <= 0).any():
        raise ValueError("grid must be strictly increasing")
    return arr


def fit_grid(grid: np.ndarray | int, values: np.ndarray, what: str) -> np.ndarray:
    """``grid`` itself, or that many equally spaced values over the finite ``values``."""
    if isinstance(grid, np.ndarray):
        return grid
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError(
            f"cannot infer grid from X: it has no finite {what} values; pass grid as an array"
        )
    low, high = float(finite.min()), float(finite.max())
    if grid == 1:
        return np.array([low])
    if low == high:
        # A grid must be strictly increasing; span a unit interval from the single value.
        high = low + 1.0 if abs(low) < 2.0**52 else low + abs(low) * 2.0**-40
    with np.errstate(over="ignore", invalid="ignore"):
        inferred = np.linspace(low, high, grid)
    if not (np.isfinite(inferred).all() and (np.diff(inferred) > 0).all()):
        raise ValueError(
            f"cannot infer a grid of {grid} values from X: its {what} values span "
            f"[{low:g}, {high:g}], which float64 cannot step through; pass grid as an array"
        )
    return inferred


def points_of_dim(
    X: Diagrams, dim: int, essential: str, top: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Births, deaths and diagram indices of the points of dimension ``dim``.

    Essential points are dropped (``essential="drop"``) or get death ``top``
    (``essential="clip"``).

    Returns
    -------
    birth, death : ndarray, shape (m,)
    which : ndarray of int64, shape (m,)
        The diagram each point belongs to.
    """
    keep = X.data[:, 0] == dim
    which = X.diagram_index()[keep]
    birth, death = X.data[keep, 1], X.data[keep, 2]
    essential_mask = np.isinf(death)
    if essential == "drop":
        finite = ~essential_mask
        return birth[finite], death[finite], which[finite]
    return birth, np.where(essential_mask, top, death), which


class DiagramTransformer(TransformerMixin, BaseEstimator):
    """Base of the vectorizers: ``X`` is a :class:`~topophys.diagrams.Diagrams` or a sequence of
    ``(k, 3)`` arrays ``[dim, birth, death]``; the output is a float64 ``(n, n_features)`` array.

    Subclasses implement ``_fit(X)`` (validate the parameters, set fitted attributes including
    ``n_features_out_``), ``_transform(X)`` and ``_feature_names()``.
    """

    def fit(self, X: Any, y: Any = None) -> DiagramTransformer:
        """Validate the parameters and fit on the diagrams ``X``; ``y`` is ignored."""
        self._fit(as_diagrams(X))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Vectorize ``X``: ``(n, n_features_out_)`` float64."""
        check_is_fitted(self)
        return self._transform(as_diagrams(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output features (``input_features`` is ignored: the input is diagrams)."""
        check_is_fitted(self)
        return np.asarray(self._feature_names(), dtype=object)

    # Subclass hooks.
    def _fit(self, X: Diagrams) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _transform(self, X: Diagrams) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _feature_names(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _check_dim(dim: Any) -> int:
        return nonnegative_int("dim", dim)

    @staticmethod
    def _check_choice(name: str, value: Any, options: tuple[str, ...]) -> str:
        return choice(name, value, options)
