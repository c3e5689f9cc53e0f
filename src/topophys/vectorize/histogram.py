"""Birth–death histograms of persistence diagrams: the descriptor of the amorphous-carbon papers.

The papers bin the H1 diagram of each structure on a 128 × 128 mesh over
``[0, 8]_birth × [0, 8]_death`` (squared radii, Å², for amorphous carbon; ``[0, 4]²`` for
amorphous graphene), turn each histogram into a probability distribution, and standardize each
feature over the training set (z-score for carbon, min–max for graphene). Those are the defaults
here, except that the range must be set for graphene and ``standardize="minmax"`` chosen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from topophys._validate import positive_int, real_array
from topophys.diagrams import Diagrams
from topophys.vectorize._base import (
    DiagramTransformer,
    check_bins,
    check_interval,
    check_size,
    points_of_dim,
)

__all__ = ["PersistenceHistogram", "bin_index"]


def bin_index(x: np.ndarray, low: float, high: float, n: int) -> np.ndarray:
    """Index of the bin of each value among ``n`` equal bins over ``[low, high]``.

    Bins are half-open ``[e_k, e_{k+1})`` on the edges ``np.linspace(low, high, n + 1)`` except
    the last, which is closed, exactly as :func:`numpy.histogram` assigns them (including values
    that sit on an edge up to rounding). Values must already lie in ``[low, high]``.

    Parameters
    ----------
    x : ndarray, shape (m,)
    low, high : float
    n : int

    Returns
    -------
    ndarray of intp, shape (m,)
    """
    x = real_array("x", x)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {x.shape}")
    n = positive_int("n", n)
    low, high = check_interval("(low, high)", (low, high), n)
    if x.size and not (x.min() >= low and x.max() <= high):
        raise ValueError(f"x must lie in [low, high] = [{low:g}, {high:g}]")
    return _bin_index(x, low, high, n)


def _bin_index(x: np.ndarray, low: float, high: float, n: int) -> np.ndarray:
    edges = np.linspace(low, high, n + 1)
    idx = ((x - low) * (n / (high - low))).astype(np.intp)
    np.minimum(idx, n - 1, out=idx)
    # The multiply can round across an edge; fix those few the way numpy.histogram does.
    idx[x < edges[idx]] -= 1
    idx[(x >= edges[idx + 1]) & (idx != n - 1)] += 1
    return idx


class PersistenceHistogram(DiagramTransformer):
    """Two-dimensional birth–death histogram of one homology dimension, flattened.

    Parameters
    ----------
    bins : int or (int, int), default 128
        Number of bins ``(nb, nd)`` along birth and death; an int is used for both.
    birth_range, death_range : (float, float), default (0.0, 8.0)
        Closed intervals covered by the histogram, in filtration units (squared radii for alpha
        diagrams as in HomCloud).
    dim : int, default 1
        Homology dimension whose points are binned; the others are ignored.
    normalize : {"probability", "none"}, default "probability"
        ``"probability"`` divides each histogram by its total count so it sums to 1, which makes
        it independent of system size; a histogram with no points stays all zeros.
        ``"none"`` keeps raw counts.
    standardize : {"zscore", "minmax", "none"}, default "zscore"
        Per-feature scaling fitted on the training diagrams: ``(h - mean) / std`` (population
        std) or ``(h - min) / (max - min)``. Features constant over the training set get scale
        1 and offset equal to their value, so they map to 0 on it (never NaN).
    outside : {"drop", "clip"}, default "drop"
        Points whose birth or death falls outside the ranges are dropped, or clipped onto the
        border bins. Dropped points do not count towards the probability normalization.
    essential : {"drop", "clip"}, default "drop"
        Essential points (``death = inf``) are dropped, as HomCloud's ``births``/``deaths`` do,
        or given death ``death_range[1]`` (so they land in the last death bin when their birth
        is in range).

    Attributes
    ----------
    birth_edges_ : ndarray, shape (nb + 1,)
    death_edges_ : ndarray, shape (nd + 1,)
    offset_, scale_ : ndarray, shape (nb * nd,)
        Standardization: output ``(h - offset_) / scale_`` (0 and 1 for ``"none"``).
    n_features_out_ : int
        ``nb * nd``.

    Notes
    -----
    Output row ``j`` reshaped to ``(nb, nd)`` is ``H[ib, id]`` with birth along axis 0, death
    along axis 1, the layout of ``np.histogram2d(birth, death)``; transpose it to plot death
    upwards. Bins are half-open ``[e_k, e_{k+1})`` except the last closed one, as in numpy.
    """

    def __init__(
        self,
        bins: int | tuple[int, int] = 128,
        birth_range: tuple[float, float] = (0.0, 8.0),
        death_range: tuple[float, float] = (0.0, 8.0),
        dim: int = 1,
        normalize: str = "probability",
        standardize: str = "zscore",
        outside: str = "drop",
        essential: str = "drop",
    ) -> None:
        self.bins = bins
        self.birth_range = birth_range
        self.death_range = death_range
        self.dim = dim
        self.normalize = normalize
        self.standardize = standardize
        self.outside = outside
        self.essential = essential

    def _check_params(self) -> dict[str, Any]:
        nb, nd = check_bins("bins", self.bins)
        check_size("bins", 3.0 * nb * nd, f"a histogram of {nb} × {nd} bins")
        return {
            "nb": nb,
            "nd": nd,
            "birth_range": check_interval("birth_range", self.birth_range, nb),
            "death_range": check_interval("death_range", self.death_range, nd),
            "dim": self._check_dim(self.dim),
            "normalize": self._check_choice("normalize", self.normalize, ("probability", "none")),
            "standardize": self._check_choice(
                "standardize", self.standardize, ("zscore", "minmax", "none")
            ),
            "outside": self._check_choice("outside", self.outside, ("drop", "clip")),
            "essential": self._check_choice("essential", self.essential, ("drop", "clip")),
        }

    def _histograms(self, X: Diagrams, p: dict[str, Any]) -> np.ndarray:
        """Unstandardized ``(n, nb * nd)`` histograms."""
        nb, nd = p["nb"], p["nd"]
        (b_lo, b_hi), (d_lo, d_hi) = p["birth_range"], p["death_range"]
        birth, death, which = points_of_dim(X, p["dim"], p["essential"], d_hi)
        if p["outside"] == "clip":
            birth = np.clip(birth, b_lo, b_hi)
            death = np.clip(death, d_lo, d_hi)
        else:
            inside = (birth >= b_lo) & (birth <= b_hi) & (death >= d_lo) & (death <= d_hi)
            birth, death, which = birth[inside], death[inside], which[inside]
        n = len(X)
        check_size("bins", 2.0 * n * nb * nd, f"{n} histograms of {nb} × {nd} bins")
        flat = which * (nb * nd) + _bin_index(birth, b_lo, b_hi, nb) * nd
        flat += _bin_index(death, d_lo, d_hi, nd)
        hist = np.bincount(flat, minlength=n * nb * nd).astype(np.float64).reshape(n, nb * nd)
        if p["normalize"] == "probability":
            total = hist.sum(axis=1, keepdims=True)
            # Empty histograms stay zero rather than 0/0.
            np.divide(hist, total, out=hist, where=total > 0)
        return hist

    def _fit(self, X: Diagrams) -> None:
        p = self._check_params()
        n_features = p["nb"] * p["nd"]
        offset, scale = np.zeros(n_features), np.ones(n_features)
        if p["standardize"] != "none":
            if len(X) == 0:
                raise ValueError(
                    f"X must hold at least one diagram to fit standardize={p['standardize']!r}"
                )
            hist = self._histograms(X, p)
            low, high = hist.min(axis=0), hist.max(axis=0)
            constant = high == low
            if p["standardize"] == "zscore":
                offset, scale = hist.mean(axis=0), hist.std(axis=0)
            else:
                offset, scale = low, high - low
            offset = np.where(constant, low, offset)
            scale = np.where(constant, 1.0, scale)
        (b_lo, b_hi), (d_lo, d_hi) = p["birth_range"], p["death_range"]
        self.birth_edges_ = np.linspace(b_lo, b_hi, p["nb"] + 1)
        self.death_edges_ = np.linspace(d_lo, d_hi, p["nd"] + 1)
        self.offset_, self.scale_ = offset, scale
        self.n_features_out_ = n_features
        self._params_ = p

    def _transform(self, X: Diagrams) -> np.ndarray:
        hist = self._histograms(X, self._params_)
        if self._params_["standardize"] != "none":
            hist -= self.offset_
            hist /= self.scale_
        return hist

    def _feature_names(self) -> list[str]:
        p = self._params_
        return [f"h{p['dim']}_b{i}_d{j}" for i in range(p["nb"]) for j in range(p["nd"])]
