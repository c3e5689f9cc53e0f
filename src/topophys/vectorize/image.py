"""Persistence images (Adams et al., JMLR 18, 2017), integrated exactly over each pixel.

Each point ``(b, p)`` of a diagram in birth–persistence coordinates (``p = death - birth``)
carries a weight ``w`` and an isotropic Gaussian of standard deviation ``sigma``. The value of
pixel ``[x_a, x_{a+1}] × [y_c, y_{c+1}]`` is the Gaussian mass inside it,

    I[a, c] = Σ_i w_i · (Φ((x_{a+1} - b_i)/σ) - Φ((x_a - b_i)/σ))
                      · (Φ((y_{c+1} - p_i)/σ) - Φ((y_c - p_i)/σ)),

with Φ the standard normal CDF. Writing ``Ex[i, a]`` and ``Ey[i, c]`` for the two factors, the
image is the matrix product ``Exᵀ diag(w) Ey``. This is the same pixel integral that persim's
``PersistenceImager`` computes point by point (its ``kernel_params={"sigma": σ²}`` is a
variance); GUDHI's ``PersistenceImage`` instead samples the density at grid points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtr

from topophys._validate import positive, real_array
from topophys.diagrams import Diagrams
from topophys.vectorize._base import (
    DiagramTransformer,
    check_bins,
    check_interval,
    check_size,
    points_of_dim,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["PersistenceImage", "gaussian_pixel_factors", "persistence_image_torch"]


def gaussian_pixel_factors(centers: np.ndarray, edges: np.ndarray, sigma: float) -> np.ndarray:
    """Mass of a 1-D Gaussian centred at each value inside each interval between edges.

    Parameters
    ----------
    centers : ndarray, shape (m,)
        Gaussian means (filtration units).
    edges : ndarray, shape (r + 1,)
        Increasing pixel edges.
    sigma : float
        Standard deviation, > 0.

    Returns
    -------
    ndarray, shape (m, r)
        ``Φ((edges[a+1] - c)/σ) - Φ((edges[a] - c)/σ)``; each row sums to at most 1.
    """
    centers, edges = real_array("centers", centers), real_array("edges", edges)
    if centers.ndim != 1 or edges.ndim != 1 or edges.size < 2:
        raise ValueError(
            f"centers must be 1-D and edges 1-D with at least 2 values, got shapes "
            f"{centers.shape} and {edges.shape}"
        )
    if np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be strictly increasing")
    return _gaussian_pixel_factors(centers, edges, _check_sigma("sigma", sigma))


def _check_sigma(name: str, sigma: object) -> float:
    sigma = positive(name, sigma)
    if not np.isfinite(1.0 / sigma):
        raise ValueError(f"{name} must be a normal float > 0, got {sigma}")
    return sigma


def _gaussian_pixel_factors(centers: np.ndarray, edges: np.ndarray, sigma: float) -> np.ndarray:
    cdf = ndtr((edges[None, :] - centers[:, None]) * (1.0 / sigma))
    return np.diff(cdf, axis=1)


class PersistenceImage(DiagramTransformer):
    """Persistence image of one homology dimension on a birth–persistence grid, flattened.

    Parameters
    ----------
    resolution : int or (int, int), default (20, 20)
        Pixels ``(nb, np_)`` along birth and persistence.
    birth_range : (float, float), default (0.0, 1.0)
        Birth interval covered by the image (filtration units).
    persistence_range : (float, float), default (0.0, 1.0)
        Persistence (``death - birth``) interval covered by the image.
    bandwidth : float, default 0.1
        Standard deviation σ of the Gaussian (filtration units, not a variance).
    weight : {"linear", "constant"} or callable, default "linear"
        ``"linear"``: ``w = persistence`` (Adams et al.'s ramp without its saturation; persim's
        ``"persistence"`` weight with ``n=1``), so points near the diagonal fade out;
        ``"constant"``: ``w = 1``; a callable ``weight(birth, persistence) -> (m,)`` receives
        ``(m,)`` arrays and must return finite weights.
    dim : int, default 1
        Homology dimension used; the other points are ignored.
    essential : {"drop", "clip"}, default "drop"
        Essential points are dropped, or given persistence ``persistence_range[1]``.

    Attributes
    ----------
    birth_edges_ : ndarray, shape (nb + 1,)
    persistence_edges_ : ndarray, shape (np_ + 1,)
    n_features_out_ : int
        ``nb * np_``.

    Notes
    -----
    Points are never dropped for lying outside the ranges: only the part of each Gaussian that
    falls inside the image counts, so when the image covers all the mass of every Gaussian it
    sums to the total weight. Output row ``j`` reshaped to ``(nb, np_)`` has birth along axis
    0 and persistence along axis 1 (persim's layout). Nothing is fitted from the data: ``fit``
    only validates the parameters. :func:`persistence_image_torch` is the differentiable
    counterpart.
    """

    def __init__(
        self,
        resolution: int | tuple[int, int] = (20, 20),
        birth_range: tuple[float, float] = (0.0, 1.0),
        persistence_range: tuple[float, float] = (0.0, 1.0),
        bandwidth: float = 0.1,
        weight: str | Callable[[np.ndarray, np.ndarray], np.ndarray] = "linear",
        dim: int = 1,
        essential: str = "drop",
    ) -> None:
        self.resolution = resolution
        self.birth_range = birth_range
        self.persistence_range = persistence_range
        self.bandwidth = bandwidth
        self.weight = weight
        self.dim = dim
        self.essential = essential

    def _fit(self, X: Diagrams) -> None:
        nb, np_ = check_bins("resolution", self.resolution)
        check_size("resolution", 2.0 * nb * np_, f"an image of {nb} × {np_} pixels")
        birth_range = check_interval("birth_range", self.birth_range, nb)
        persistence_range = check_interval("persistence_range", self.persistence_range, np_)
        if not callable(self.weight):
            self._check_choice("weight", self.weight, ("linear", "constant"))
        self._check_choice("essential", self.essential, ("drop", "clip"))
        self._sigma_ = _check_sigma("bandwidth", self.bandwidth)
        self._dim_ = self._check_dim(self.dim)
        self.birth_edges_ = np.linspace(*birth_range, nb + 1)
        self.persistence_edges_ = np.linspace(*persistence_range, np_ + 1)
        self.n_features_out_ = nb * np_

    def _weights(self, birth: np.ndarray, pers: np.ndarray) -> np.ndarray:
        weight = self.weight
        if isinstance(weight, str):  # checked again: set_params may have changed it after fit
            if self._check_choice("weight", weight, ("linear", "constant")) == "linear":
                return pers
            return np.ones_like(pers)
        w = np.asarray(weight(birth, pers), dtype=np.float64)
        if w.shape != birth.shape:
            raise ValueError(
                f"weight(birth, persistence) must return shape {birth.shape}, got {w.shape}"
            )
        if not np.isfinite(w).all():
            raise ValueError("weight(birth, persistence) returned non-finite values")
        return w

    def _transform(self, X: Diagrams) -> np.ndarray:
        top = self.persistence_edges_[-1]
        birth, death, which = points_of_dim(X, self._dim_, self.essential, np.inf)
        with np.errstate(over="ignore"):
            pers = np.where(np.isinf(death), top, death - birth)
        if not np.isfinite(pers).all():
            raise ValueError("X holds points whose persistence (death - birth) overflows float64")
        nb, np_ = self.birth_edges_.size - 1, self.persistence_edges_.size - 1
        check_size(
            "resolution",
            len(X) * nb * np_ + pers.size * (nb + np_ + 2),
            f"{len(X)} images of {nb} × {np_} pixels",
        )
        w = self._weights(birth, pers)
        ex = _gaussian_pixel_factors(birth, self.birth_edges_, self._sigma_)
        ey = _gaussian_pixel_factors(pers, self.persistence_edges_, self._sigma_)
        ex *= w[:, None]
        out = np.zeros((len(X), nb, np_))
        # Points are grouped by diagram (rows keep their diagram order), so each image is one
        # matrix product over a contiguous block.
        bounds = np.searchsorted(which, np.arange(len(X) + 1))
        for j in np.flatnonzero(np.diff(bounds)):
            s, e = bounds[j], bounds[j + 1]
            np.matmul(ex[s:e].T, ey[s:e], out=out[j])
        return out.reshape(len(X), nb * np_)

    def _feature_names(self) -> list[str]:
        nb, np_ = self.birth_edges_.size - 1, self.persistence_edges_.size - 1
        return [f"pi{self._dim_}_b{i}_p{j}" for i in range(nb) for j in range(np_)]


def persistence_image_torch(
    birth: torch.Tensor,
    persistence: torch.Tensor,
    weight: torch.Tensor | None = None,
    *,
    resolution: int | tuple[int, int] = (20, 20),
    birth_range: tuple[float, float] = (0.0, 1.0),
    persistence_range: tuple[float, float] = (0.0, 1.0),
    bandwidth: float | torch.Tensor = 0.1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Differentiable persistence image, the same exact pixel integral as :class:`PersistenceImage`.

    Parameters
    ----------
    birth, persistence : Tensor, shape (..., k)
        Points in birth–persistence coordinates (finite), any leading batch shape, floating.
    weight : Tensor, shape (..., k), optional
        Point weights; default ``persistence`` (the ``"linear"`` weight).
    resolution, birth_range, persistence_range
        As in :class:`PersistenceImage`.
    bandwidth : float or 0-d Tensor
        Gaussian standard deviation σ > 0; a tensor may require grad.
    mask : Tensor of bool, shape (..., k), optional
        ``False`` marks padding points of a padded batch; they contribute nothing.

    Returns
    -------
    Tensor, shape (..., nb, np_)
        Birth along the second-to-last axis, persistence along the last; differentiable with
        respect to ``birth``, ``persistence``, ``weight`` and ``bandwidth``.

    Raises
    ------
    ValueError
        On mismatched shapes or NaN/inf in the (unmasked) inputs.
    """
    import torch

    nb, np_ = check_bins("resolution", resolution)
    check_size("resolution", nb * np_, f"an image of {nb} × {np_} pixels")
    b_lo, b_hi = check_interval("birth_range", birth_range, nb)
    p_lo, p_hi = check_interval("persistence_range", persistence_range, np_)
    for name, t in (("birth", birth), ("persistence", persistence)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got {t.dtype}")
    for name, optional in (("weight", weight), ("mask", mask)):
        if optional is not None and not isinstance(optional, torch.Tensor):
            raise TypeError(f"{name} must be a torch tensor or None, got {type(optional).__name__}")
    points = birth.numel()
    check_size(
        "resolution",
        points * (nb + np_ + 2)
        + (points // max(birth.shape[-1], 1) if birth.ndim else 1) * nb * np_,
        f"images of {nb} × {np_} pixels",
    )
    if birth.shape != persistence.shape:
        raise ValueError(
            f"birth and persistence must have the same shape, got {tuple(birth.shape)} and "
            f"{tuple(persistence.shape)}"
        )
    if weight is None:
        weight = persistence
    elif weight.shape != birth.shape:
        raise ValueError(
            f"weight must have the shape of birth {tuple(birth.shape)}, got {tuple(weight.shape)}"
        )
    if mask is not None:
        if mask.shape != birth.shape or mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor of shape {tuple(birth.shape)}")
        # Padding may hold anything; replace it before it can reach the CDF or the gradients.
        birth = torch.where(mask, birth, torch.zeros_like(birth))
        persistence = torch.where(mask, persistence, torch.zeros_like(persistence))
        weight = torch.where(mask, weight, torch.zeros_like(weight))
    for name, t in (("birth", birth), ("persistence", persistence), ("weight", weight)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} must be finite (no NaN or inf) where not masked")
    sigma: float | torch.Tensor
    if isinstance(bandwidth, torch.Tensor):
        if bandwidth.numel() != 1 or not bool(bandwidth.detach().reshape(()) > 0):
            raise ValueError("bandwidth must be a single value > 0")
        sigma = bandwidth.reshape(())
    else:
        sigma = _check_sigma("bandwidth", bandwidth)
    x_edges = torch.linspace(b_lo, b_hi, nb + 1, dtype=birth.dtype, device=birth.device)
    y_edges = torch.linspace(p_lo, p_hi, np_ + 1, dtype=birth.dtype, device=birth.device)
    ex = torch.diff(torch.special.ndtr((x_edges - birth[..., None]) / sigma), dim=-1)
    ey = torch.diff(torch.special.ndtr((y_edges - persistence[..., None]) / sigma), dim=-1)
    return (ex * weight[..., None]).transpose(-1, -2) @ ey
