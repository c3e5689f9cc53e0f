r"""Per-atom persistence images in torch: the smooth vectorization of the local diagrams.

Each pair ``(b, d)`` of atom *i*'s diagrams in block *k* (its homology dimension, offset past
the centred complex's for the complex without the centre: ``LocalPairs.block``) adds a Gaussian
of standard deviation ``bandwidth`` at ``(b, d − b)``, weighted by ``w = (p/t_max)²`` (or
``p/t_max``) of its persistence ``p = d − b``, to pixel image *k* of atom *i*, integrated
exactly over each pixel (as :class:`topophys.vectorize.PersistenceImage` does) on
``[0, t_max]²`` in birth and persistence. With ``image_axes="root"`` the same is done with
the values' square roots, ``b = √birth``, ``d = √death``, on ``[0, √t_max]²``, the weight
``(p/√t_max)²``. A pair born and dying together contributes nothing, so
pairs appearing or vanishing at switches leave the image continuous (and, with the quadratic
weight, its derivatives too).

A pair's block depends on its own ``(b, d)`` only, so its derivatives are closed forms
(:func:`image_blocks`, :func:`image_factors`), and ``∂E/∂(b, d)`` follows from ``∂E/∂features``
by one gather and a few products per pair (:func:`value_gradients`): neither training nor
molecular dynamics has to differentiate through the images.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, NamedTuple, overload

from .config import LocalPHConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "ImageFactors",
    "atom_images",
    "image_blocks",
    "image_factors",
    "value_gradients",
]


def _pixel_mass(
    x: torch.Tensor, n: int, high: float, sigma: float, derivative: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gaussian mass of each value in each of ``n`` pixels of ``[0, high]`` ``(P, n)``, and
    (if asked) its derivative with respect to the value."""
    import torch

    edges = torch.linspace(0.0, high, n + 1, dtype=x.dtype, device=x.device)
    z = (edges[None, :] - x[:, None]) / sigma
    cdf = torch.special.ndtr(z)
    mass = cdf[:, 1:] - cdf[:, :-1]
    if not derivative:
        return mass, None
    pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return mass, -(pdf[:, 1:] - pdf[:, :-1]) / sigma


class ImageFactors(NamedTuple):
    """A pair's image ``weight · birth ⊗ persistence`` in factors, with their derivatives:
    ``weight``, ``d_weight`` ``(P,)`` (with respect to the persistence), ``birth``,
    ``d_birth`` ``(P, nb)`` and ``persistence``, ``d_persistence`` ``(P, np)`` (pixel masses
    and their derivatives with respect to the birth and to the persistence; None if made
    without derivatives), all on the images' axes; ``birth_slope`` and ``death_slope``
    ``(P,)``, the derivatives of the axes' birth and death with respect to the values (None
    when the axes are the values)."""

    weight: torch.Tensor
    d_weight: torch.Tensor
    birth: torch.Tensor
    d_birth: torch.Tensor | None
    persistence: torch.Tensor
    d_persistence: torch.Tensor | None
    birth_slope: torch.Tensor | None = None
    death_slope: torch.Tensor | None = None

    def blocks(self) -> torch.Tensor:
        """Each pair's own image ``(P, nb · np)``, birth-major."""
        outer = self.birth[:, :, None] * self.persistence[:, None, :]
        return (self.weight[:, None, None] * outer).reshape(len(self.weight), -1)


def image_factors(
    birth: torch.Tensor, death: torch.Tensor, config: LocalPHConfig, *, derivatives: bool = True
) -> ImageFactors:
    """The factors of each pair's image and (if ``derivatives``) their derivatives, in closed
    form: the image is separable, so neither it nor its derivatives need be formed pixel by
    pixel to be contracted with ``∂E/∂features`` (:func:`value_gradients`)."""
    nb, npers = config.resolution
    extent = config.image_extent
    (b, birth_slope), (d, death_slope) = _axis(birth, config), _axis(death, config)
    persistence = d - b
    ex, dex = _pixel_mass(b, nb, extent, config.bandwidth, derivatives)
    ey, dey = _pixel_mass(persistence, npers, extent, config.bandwidth, derivatives)
    weight, d_weight = _weight(persistence, config)
    return ImageFactors(weight, d_weight, ex, dex, ey, dey, birth_slope, death_slope)


def _axis(values: torch.Tensor, config: LocalPHConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The values on the images' axes ``(P,)`` and their derivatives with respect to the
    values (None for ``image_axes="squared"``, where they are the values)."""
    import torch

    if config.image_axes == "squared":
        return values, None
    # A value of exactly 0 does not move (the centre's birth, or an entrance with κ = 0
    # inside r_inner): its slope is 0, not the root's infinite one, in the closed form and
    # for autograd alike (the root is taken of 1 there and discarded), so no 0 · ∞.
    positive = values > 0.0
    root = torch.where(positive, torch.sqrt(torch.where(positive, values, 1.0)), 0.0)
    slope = torch.where(positive, 0.5 / torch.where(positive, root, 1.0), 0.0)
    return root, slope


def _weight(persistence: torch.Tensor, config: LocalPHConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pair's weight ``(P,)`` in the images and its derivative in the persistence (on
    the images' axes)."""
    import torch

    extent = config.image_extent
    scaled = persistence / extent
    if config.weight == "quadratic":
        return scaled * scaled, 2.0 * scaled / extent
    return scaled, torch.ones_like(scaled) / extent


def _to_values(
    d_birth: torch.Tensor, d_death: torch.Tensor, factors: ImageFactors
) -> tuple[torch.Tensor, torch.Tensor]:
    """Derivatives with respect to the axes' birth and death ``(P, …)`` as derivatives with
    respect to the values."""
    if factors.birth_slope is None or factors.death_slope is None:
        return d_birth, d_death
    shape = (-1,) + (1,) * (d_birth.dim() - 1)
    return (
        d_birth * factors.birth_slope.reshape(shape),
        d_death * factors.death_slope.reshape(shape),
    )


@overload
def image_blocks(
    birth: torch.Tensor,
    death: torch.Tensor,
    config: LocalPHConfig,
    *,
    derivatives: Literal[True] = ...,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...


@overload
def image_blocks(
    birth: torch.Tensor, death: torch.Tensor, config: LocalPHConfig, *, derivatives: Literal[False]
) -> tuple[torch.Tensor, None, None]: ...


@overload
def image_blocks(
    birth: torch.Tensor, death: torch.Tensor, config: LocalPHConfig, *, derivatives: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]: ...


def image_blocks(
    birth: torch.Tensor, death: torch.Tensor, config: LocalPHConfig, *, derivatives: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Each pair's own image ``(P, nb · np)``, birth-major, and (if ``derivatives``) its
    derivatives with respect to the pair's birth and death (same shape), in closed form."""
    nb, npers = config.resolution
    if not derivatives:
        return image_factors(birth, death, config, derivatives=False).blocks(), None, None
    f = image_factors(birth, death, config)
    assert f.d_birth is not None and f.d_persistence is not None
    weight, d_weight = f.weight[:, None, None], f.d_weight[:, None, None]
    outer = f.birth[:, :, None] * f.persistence[:, None, :]
    # d/dd acts on the weight and on the persistence factor; d/db also on the birth factor.
    d_death = d_weight * outer + weight * f.birth[:, :, None] * f.d_persistence[:, None, :]
    d_birth = weight * f.d_birth[:, :, None] * f.persistence[:, None, :] - d_death
    d_birth, d_death = _to_values(d_birth, d_death, f)
    size = nb * npers
    return (weight * outer).reshape(-1, size), d_birth.reshape(-1, size), d_death.reshape(-1, size)


def atom_images(
    centre: torch.Tensor,
    block: torch.Tensor,
    birth: torch.Tensor,
    death: torch.Tensor,
    n_atoms: int,
    config: LocalPHConfig,
    *,
    blocks: torch.Tensor | None = None,
) -> torch.Tensor:
    """Persistence images of every atom's local diagrams, ``(n_atoms, config.n_features)``.

    Parameters
    ----------
    centre, block : Tensor, shape (P,) int64
        Atom and image of each pair (``LocalPairs.block``: the homology dimension, offset
        past the centred complex's images for the complex without the centre).
    birth, death : Tensor, shape (P,)
        Values, Å² (floating; autograd flows through them).
    n_atoms : int
    config : LocalPHConfig
    blocks : Tensor, shape (P, nb · np), optional
        The pairs' blocks if :func:`image_blocks` already computed them.

    Returns
    -------
    Tensor, shape (n_atoms, n_blocks · nb · np)
        Block-major: image of H0, then H1, …, then those of the complex without the centre
        (``config.removed_blocks`` of them); each image birth-major.
    """
    import torch

    blocks_ = image_blocks(birth, death, config, derivatives=False)[0] if blocks is None else blocks
    slot = centre * config.n_blocks + block
    out = torch.zeros(
        n_atoms * config.n_blocks, blocks_.shape[1], dtype=blocks_.dtype, device=blocks_.device
    )
    return out.index_add(0, slot, blocks_).reshape(n_atoms, -1)


def value_gradients(
    d_features: torch.Tensor,
    centre: torch.Tensor,
    block: torch.Tensor,
    factors: ImageFactors,
    config: LocalPHConfig,
) -> torch.Tensor:
    """``∂E/∂values`` ``(2, P)`` (births, deaths) of the pairs ``(centre, block)`` from
    ``∂E/∂features`` ``(n_atoms, n_features)`` and the pairs' :class:`ImageFactors`: a few
    products per pair, no derivative image formed; differentiable in ``d_features``."""
    import torch

    nb, npers = config.resolution
    f = factors
    if f.d_birth is None or f.d_persistence is None:
        raise ValueError("factors must be made with derivatives=True")
    grid = _pair_rows(d_features, centre, block, config).reshape(-1, nb, npers)
    along = torch.bmm(grid, torch.stack((f.persistence, f.d_persistence), 2))  # (P, nb, 2)
    plain = (f.birth * along[..., 0]).sum(1)  # Σ g · birth ⊗ persistence
    d_death = f.d_weight * plain + f.weight * (f.birth * along[..., 1]).sum(1)
    d_birth = f.weight * (f.d_birth * along[..., 0]).sum(1) - d_death
    return torch.stack(_to_values(d_birth, d_death, f))


def _pair_rows(
    d_features: torch.Tensor, centre: torch.Tensor, block: torch.Tensor, config: LocalPHConfig
) -> torch.Tensor:
    """Each pair's slice ``(P, nb · np)`` of ``∂E/∂features``: its atom's, its block's."""
    size = config.resolution[0] * config.resolution[1]
    return d_features.reshape(-1, config.n_blocks, size)[centre, block]
