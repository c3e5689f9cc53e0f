"""Betti and Euler characteristic curves of persistence diagrams over a filtration grid.

Convention (half-open): a point ``(birth, death)`` is alive at ``t`` when
``birth <= t < death``. This is the homology of the sublevel complex ``K_t`` (every cell of
filtration value ``<= t``): a class is present in ``K_t`` from its birth value on, and gone once
the cell that kills it, of value ``death``, has entered. Essential points (``death = inf``) are
alive for every ``t >= birth``. Points with ``birth == death`` are never alive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topophys.diagrams import Diagrams
from topophys.vectorize._base import DiagramTransformer, check_grid, check_size, fit_grid

__all__ = ["BettiCurve", "EulerCurve", "step_counts"]


def step_counts(
    X: Diagrams, rows: np.ndarray, grid: np.ndarray, sign: np.ndarray | None = None
) -> np.ndarray:
    """Signed count of points alive (``birth <= t < death``) at each grid value.

    Parameters
    ----------
    X : Diagrams
        ``n`` diagrams.
    rows : ndarray of bool, shape (N,)
        Which rows of ``X.data`` count.
    grid : ndarray, shape (g,)
        Strictly increasing filtration values.
    sign : ndarray, shape (N,), optional
        Weight of each row (default 1).

    Returns
    -------
    ndarray of float64, shape (n, g)
    """
    n, g = len(X), grid.size
    check_size("grid", 3.0 * n * (g + 1), f"{n} curves of {g} values")
    which = X.diagram_index()[rows]
    birth, death = X.data[rows, 1], X.data[rows, 2]
    weights = np.ones(which.size) if sign is None else sign[rows]
    # A point enters at the first grid value >= birth and leaves at the first >= death; an
    # entry/exit at index g (past the grid, e.g. death = inf) never shows.
    enter = which * (g + 1) + np.searchsorted(grid, birth, side="left")
    leave = which * (g + 1) + np.searchsorted(grid, death, side="left")
    steps = np.bincount(enter, weights, minlength=n * (g + 1))
    steps -= np.bincount(leave, weights, minlength=n * (g + 1))
    return np.cumsum(steps.reshape(n, g + 1), axis=1)[:, :g]


class BettiCurve(DiagramTransformer):
    """Betti number of one homology dimension at each value of a filtration grid.

    Parameters
    ----------
    dim : int, default 1
        Homology dimension.
    grid : int or array_like, default 100
        Filtration values ``(g,)``, strictly increasing; or a number ``g`` of equally spaced
        values from the smallest birth to the largest finite death of dimension ``dim`` in the
        training diagrams (``[v, v + 1]`` when all those values equal ``v``; raises when there
        are none).

    Attributes
    ----------
    grid_ : ndarray, shape (g,)
    n_features_out_ : int

    Notes
    -----
    ``β(t) = #{points of dimension dim with birth <= t < death}``, essential points included
    (see the module notes). Output is float64 ``(n, g)``.
    """

    def __init__(self, dim: int = 1, grid: int | Any = 100) -> None:
        self.dim = dim
        self.grid = grid

    def _fit(self, X: Diagrams) -> None:
        dim = self._check_dim(self.dim)
        grid = check_grid(self.grid)
        rows = X.data[X.data[:, 0] == dim]
        self.grid_ = fit_grid(grid, rows[:, 1:].ravel(), f"dimension-{dim}")
        self._dim_ = dim
        self.n_features_out_ = self.grid_.size

    def _transform(self, X: Diagrams) -> np.ndarray:
        return step_counts(X, X.data[:, 0] == self._dim_, self.grid_)

    def _feature_names(self) -> list[str]:
        return [f"betti{self._dim_}_{k}" for k in range(self.grid_.size)]


class EulerCurve(DiagramTransformer):
    """Euler characteristic ``χ(t) = Σ_d (-1)^d β_d(t)`` at each value of a filtration grid.

    Parameters
    ----------
    grid : int or array_like, default 100
        As in :class:`BettiCurve`, inferred from all dimensions.

    Attributes
    ----------
    grid_ : ndarray, shape (g,)
    n_features_out_ : int

    Notes
    -----
    Uses every homology dimension present in each diagram, essential points included, with the
    half-open convention of the module notes. It equals the Euler characteristic of the
    sublevel complex only when the diagrams hold all dimensions, including the top one (e.g.
    GUDHI's ``persistence(persistence_dim_max=True)``).
    """

    def __init__(self, grid: int | Any = 100) -> None:
        self.grid = grid

    def _fit(self, X: Diagrams) -> None:
        grid = check_grid(self.grid)
        self.grid_ = fit_grid(grid, X.data[:, 1:].ravel(), "birth or death")
        self.n_features_out_ = self.grid_.size

    def _transform(self, X: Diagrams) -> np.ndarray:
        sign = np.where(X.data[:, 0] % 2 == 0, 1.0, -1.0)
        return step_counts(X, np.ones(X.data.shape[0], dtype=bool), self.grid_, sign)

    def _feature_names(self) -> list[str]:
        return [f"euler_{k}" for k in range(self.grid_.size)]
