"""The Neural Reduced Potential model: an autoencoder and a potential on its latent space.

``ReducedPotentialModel`` joins an encoder/decoder pair (``E``, ``D``) with a potential
``V(z, c)``. Its latent dynamics is the gradient flow

    dz/dt = −∂V/∂z (z, c(t)),

integrated with explicit Euler steps; a one-step prediction of a snapshot is
``x̂_t = D(z_{t−1} − Δt · ∂V/∂z(z_{t−1}, c_{t−1}))`` (Tsuji et al. 2023, Fig. 1C).
"""

from __future__ import annotations

from typing import Protocol, cast

import torch
from torch import nn

from .. import _validate
from .potential import FieldCoupledPotential, PotentialNet

__all__ = ["ReducedPotentialModel"]


class _Codec(Protocol):
    """What ``ReducedPotentialModel`` calls on its autoencoder."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


class ReducedPotentialModel(nn.Module):
    """Autoencoder + potential network.

    Parameters
    ----------
    autoencoder : nn.Module
        Any module with ``encode(x) -> z (n, L)``, ``decode(z) -> x̂`` and a ``latent_dim``
        attribute (:class:`~topophys.models.autoencoders.MLPAutoencoder`,
        :class:`~topophys.models.autoencoders.ConvAutoencoder`).
    potential : PotentialNet or FieldCoupledPotential
        ``V(z, c)`` with the same ``latent_dim``.
    """

    def __init__(
        self, autoencoder: nn.Module, potential: PotentialNet | FieldCoupledPotential
    ) -> None:
        super().__init__()
        if getattr(autoencoder, "latent_dim", None) != potential.latent_dim:
            raise ValueError(
                f"autoencoder latent_dim={getattr(autoencoder, 'latent_dim', None)} differs from "
                f"potential latent_dim={potential.latent_dim}"
            )
        self.autoencoder = autoencoder
        self.potential = potential

    @property
    def latent_dim(self) -> int:
        """Dimension of the latent state."""
        return self.potential.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Snapshots ``x (n, *shape)`` → latent states ``(n, latent_dim)``."""
        # cast: the documented contract of ``autoencoder`` (nn.Module types attributes loosely)
        return cast(_Codec, self.autoencoder).encode(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent states ``(n, latent_dim)`` → reconstructions ``(n, *shape)``."""
        return cast(_Codec, self.autoencoder).decode(z)  # cast: as in encode

    def energy(self, z: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """``V(z, c)``: ``(n,)``."""
        return self.potential(z, conditions)

    def gradient(
        self, z: torch.Tensor, conditions: torch.Tensor | None = None, *, create_graph: bool = False
    ) -> torch.Tensor:
        """``∂V/∂z``: ``(n, latent_dim)``."""
        return self.potential.gradient(z, conditions, create_graph=create_graph)

    def step(
        self,
        z: torch.Tensor,
        conditions: torch.Tensor | None,
        dt: torch.Tensor | float,
        substeps: int = 1,
    ) -> torch.Tensor:
        """Advance ``z (n, L)`` by ``dt`` (scalar or ``(n,)``) along −∂V/∂z.

        ``substeps`` explicit Euler steps of ``dt / substeps`` each, with the conditions held
        at their value at the start of the interval. ``substeps=1`` is the papers' update.
        """
        substeps = _validate.positive_int("substeps", substeps)
        dt = torch.as_tensor(dt, dtype=z.dtype, device=z.device)
        if dt.ndim == 1:
            dt = dt[:, None]
        h = dt / substeps
        for _ in range(substeps):
            z = z - h * self.gradient(z, conditions)
        return z

    def rollout(
        self,
        z0: torch.Tensor,
        conditions: torch.Tensor | None,
        times: torch.Tensor,
        substeps: int = 1,
    ) -> torch.Tensor:
        """Integrate from ``z0 (n, L)`` over the time grid ``times (n, k+1)``.

        ``conditions`` is ``(n, k+1, C)`` (the value at the start of each interval is used) or
        None. Returns ``(n, k+1, L)`` with ``z0`` first.
        """
        if times.ndim != 2 or times.shape[0] != z0.shape[0]:
            raise ValueError(f"times must have shape (n, k+1), got {tuple(times.shape)}")
        out = [z0]
        z = z0
        for i in range(times.shape[1] - 1):
            c = None if conditions is None else conditions[:, i]
            z = self.step(z, c, times[:, i + 1] - times[:, i], substeps=substeps)
            out.append(z)
        return torch.stack(out, dim=1)
