r"""Persistence landscapes and silhouettes of one homology dimension, sampled on a grid.

Each finite point ``(b, d)`` of a diagram is a *tent* over the filtration axis,
``Λ(t) = max(0, min(t - b, d - t))``: zero outside ``[b, d]``, rising with slope 1 to
``(d - b) / 2`` at the midpoint. The **landscape** (Bubenik, JMLR 16, 2015) is the sequence of
functions ``λ_k(t)``, the ``k``-th largest tent at ``t`` (``k = 1, 2, ...``; 0 where fewer than
``k`` tents are positive). The **silhouette** (Chazal et al., SoCG 2014) is their weighted
mean ``φ(t) = Σ w_i Λ_i(t) / Σ w_i`` with ``w_i = (d_i - b_i) ** power``.

These are the textbook definitions, in filtration units. GUDHI's ``representations.Landscape``
and ``Silhouette`` draw the diagram rotated by 45°, so their values are these times ``√2``;
the tests check that ratio on the same grid. An empty diagram gives zeros (GUDHI's silhouette
gives NaN there).

Examples
--------
>>> import numpy as np
>>> from topophys.diagrams import Diagrams
>>> X = Diagrams.from_list([np.array([[1, 0.0, 2.0], [1, 0.5, 1.5]])])
>>> PersistenceLandscape(n_layers=2, grid=[0.5, 1.0, 1.5]).fit_transform(X)
array([[0.5, 1. , 0.5, 0. , 0.5, 0. ]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topophys._validate import positive_int, real
from topophys.diagrams import Diagrams
from topophys.vectorize._base import DiagramTransformer, check_grid, fit_grid, points_of_dim

__all__ = ["PersistenceLandscape", "PersistenceSilhouette"]


def _tents(birth: np.ndarray, death: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Tent heights ``(g, k)`` of ``k`` points at ``g`` grid values (in place: two arrays)."""
    tents = np.subtract.outer(grid, birth)
    fall = np.subtract.outer(grid, death)
    np.negative(fall, out=fall)
    np.minimum(tents, fall, out=tents)
    return np.maximum(tents, 0.0, out=tents)


class _GridTransformer(DiagramTransformer):
    """What the landscape and the silhouette share: a dimension, a grid, essential points."""

    dim: int
    grid: Any
    essential: str

    def _fit_grid(self, X: Diagrams) -> None:
        self._dim_ = self._check_dim(self.dim)
        self._check_choice("essential", self.essential, ("drop", "clip"))
        grid = check_grid(self.grid)
        rows = X.data[X.data[:, 0] == self._dim_]
        self.grid_ = fit_grid(grid, rows[:, 1:].ravel(), f"dimension-{self._dim_}")

    def _points(self, X: Diagrams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Births, deaths (essential ones dropped or clipped at the grid's end) and, per
        diagram, where its points start: ``(n + 1,)`` offsets into the first two."""
        birth, death, which = points_of_dim(X, self._dim_, self.essential, float(self.grid_[-1]))
        starts = np.searchsorted(which, np.arange(len(X) + 1))
        return birth, death, starts


class PersistenceLandscape(_GridTransformer):
    """The first ``n_layers`` landscape functions of one homology dimension, on a grid.

    Parameters
    ----------
    dim : int, default 1
        Homology dimension; the other points are ignored.
    n_layers : int, default 5
        Landscape functions ``λ_1 ... λ_L`` returned.
    grid : int or array_like, default 100
        Filtration values ``(g,)``, strictly increasing; or a number ``g`` of equally spaced
        values from the smallest birth to the largest finite death of dimension ``dim`` in the
        training diagrams.
    essential : {"drop", "clip"}, default "drop"
        Essential points are dropped, or given death ``grid_[-1]``.

    Attributes
    ----------
    grid_ : ndarray, shape (g,)
    n_features_out_ : int
        ``n_layers * g``.

    Notes
    -----
    Output row ``j`` reshaped to ``(n_layers, g)`` holds ``λ_k`` of diagram ``j`` at
    ``grid_`` in row ``k - 1``, in filtration units (see the module notes).
    """

    def __init__(
        self, dim: int = 1, n_layers: int = 5, grid: int | Any = 100, essential: str = "drop"
    ) -> None:
        self.dim = dim
        self.n_layers = n_layers
        self.grid = grid
        self.essential = essential

    def _fit(self, X: Diagrams) -> None:
        self._layers_ = positive_int("n_layers", self.n_layers)
        self._fit_grid(X)
        self.n_features_out_ = self._layers_ * self.grid_.size

    def _transform(self, X: Diagrams) -> np.ndarray:
        birth, death, starts = self._points(X)
        layers, g = self._layers_, self.grid_.size
        out = np.zeros((len(X), layers, g))
        # One diagram at a time: padding a block of diagrams to one partition call was twice
        # as slow (measured), the larger arrays falling out of cache.
        for i in range(len(X)):
            a, b = starts[i], starts[i + 1]
            if a == b:
                continue
            tents = _tents(birth[a:b], death[a:b], self.grid_)
            k = b - a
            if k > layers:
                # Only the top `layers` heights at each grid value are needed, in order.
                tents.partition(k - layers, axis=1)
                tents = tents[:, k - layers :]
            tents.sort(axis=1)
            out[i, : tents.shape[1]] = tents[:, ::-1].T
        return out.reshape(len(X), layers * g)

    def _feature_names(self) -> list[str]:
        return [
            f"landscape{self._dim_}_{k + 1}_{j}"
            for k in range(self._layers_)
            for j in range(self.grid_.size)
        ]


class PersistenceSilhouette(_GridTransformer):
    """The power-weighted silhouette of one homology dimension, on a grid.

    Parameters
    ----------
    dim : int, default 1
        Homology dimension; the other points are ignored.
    power : float, default 1.0
        Weight ``(death - birth) ** power`` of each point's tent; ``0`` weighs all points
        alike (GUDHI's default), larger powers favour long-lived points.
    grid : int or array_like, default 100
        As in :class:`PersistenceLandscape`.
    essential : {"drop", "clip"}, default "drop"
        As in :class:`PersistenceLandscape`.

    Attributes
    ----------
    grid_ : ndarray, shape (g,)
    n_features_out_ : int
        ``g``.
    """

    def __init__(
        self, dim: int = 1, power: float = 1.0, grid: int | Any = 100, essential: str = "drop"
    ) -> None:
        self.dim = dim
        self.power = power
        self.grid = grid
        self.essential = essential

    def _fit(self, X: Diagrams) -> None:
        self._power_ = real("power", self.power)
        if self._power_ < 0:
            raise ValueError(f"power must be >= 0, got {self._power_}")
        self._fit_grid(X)
        self.n_features_out_ = self.grid_.size

    def _transform(self, X: Diagrams) -> np.ndarray:
        birth, death, starts = self._points(X)
        weight = (death - birth) ** self._power_
        out = np.zeros((len(X), self.grid_.size))
        for i in range(len(X)):
            a, b = starts[i], starts[i + 1]
            total = weight[a:b].sum()
            if total > 0:
                out[i] = _tents(birth[a:b], death[a:b], self.grid_) @ weight[a:b] / total
        return out

    def _feature_names(self) -> list[str]:
        return [f"silhouette{self._dim_}_{j}" for j in range(self.grid_.size)]
