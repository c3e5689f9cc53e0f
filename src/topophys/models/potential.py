"""The neural reduced potential V_NN(z, c): a smooth scalar function of the latent state.

``c`` holds the physical parameters given to the potential beside ``z`` (for TDGL, the
anisotropy α and the external field h(t)), as in both NRP papers. The latent dynamics it
defines is the gradient flow dz/dt = −∂V/∂z, with the gradient taken by autograd.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .. import _validate
from .autoencoders import _hidden

__all__ = ["PotentialNet"]

_ACTIVATIONS = {"softplus": nn.Softplus, "tanh": nn.Tanh, "silu": nn.SiLU}


class PotentialNet(nn.Module):
    """Multilayer perceptron ``V(z, c) -> R`` with smooth activations.

    The conditions are standardized with a fixed affine map (``condition_mean``,
    ``condition_scale``, buffers saved with the model) so that α ∈ [1, 4] and h ∈ [0, 1.5] enter
    on comparable scales; set them with :meth:`set_condition_scaling` from training data.

    Parameters
    ----------
    latent_dim : int
        Dimension of ``z``.
    n_conditions : int, default 2
        Number of physical parameters in ``c`` (0 for an unconditioned potential).
    hidden : sequence of int, default (64, 64)
        Hidden widths.
    activation : {"softplus", "tanh", "silu"}, default "softplus"
        All three are C^∞, so ∂V/∂z is smooth.

    Examples
    --------
    >>> import torch
    >>> v = PotentialNet(2, n_conditions=2, hidden=(8,))
    >>> z, c = torch.randn(4, 2), torch.randn(4, 2)
    >>> v(z, c).shape, v.gradient(z, c).shape
    (torch.Size([4]), torch.Size([4, 2]))
    """

    def __init__(
        self,
        latent_dim: int,
        n_conditions: int = 2,
        hidden: Sequence[int] = (64, 64),
        activation: str = "softplus",
    ) -> None:
        super().__init__()
        self.latent_dim = _validate.positive_int("latent_dim", latent_dim)
        self.n_conditions = _validate.nonnegative_int("n_conditions", n_conditions)
        act = _validate.choice("activation", activation, tuple(_ACTIVATIONS))
        sizes = (self.latent_dim + self.n_conditions, *_hidden("hidden", hidden), 1)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(_ACTIVATIONS[act]())
        self.net = nn.Sequential(*layers)
        self.register_buffer("condition_mean", torch.zeros(self.n_conditions))
        self.register_buffer("condition_scale", torch.ones(self.n_conditions))

    def set_condition_scaling(self, conditions: torch.Tensor) -> None:
        """Standardize conditions with the mean and standard deviation of ``conditions (n, C)``.

        A constant condition gets scale 1 so that it is shifted, never divided by zero.
        """
        c = torch.as_tensor(conditions, dtype=self.condition_mean.dtype)
        if c.ndim != 2 or c.shape[1] != self.n_conditions or c.shape[0] == 0:
            raise ValueError(
                f"conditions must have shape (n ≥ 1, {self.n_conditions}), got {tuple(c.shape)}"
            )
        if not torch.isfinite(c).all():
            raise ValueError("conditions must be finite")
        std = c.std(dim=0, unbiased=False)
        self.condition_mean.copy_(c.mean(dim=0))
        self.condition_scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def forward(self, z: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """Potential ``V (n,)`` at ``z (n, latent_dim)`` and ``conditions (n, n_conditions)``."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (n, {self.latent_dim}), got {tuple(z.shape)}")
        if self.n_conditions:
            if conditions is None or conditions.shape != (z.shape[0], self.n_conditions):
                got = None if conditions is None else tuple(conditions.shape)
                raise ValueError(
                    f"conditions must have shape ({z.shape[0]}, {self.n_conditions}), got {got}"
                )
            c = (conditions.to(z.dtype) - self.condition_mean) / self.condition_scale
            z = torch.cat([z, c], dim=1)
        return self.net(z)[:, 0]

    def gradient(
        self,
        z: torch.Tensor,
        conditions: torch.Tensor | None = None,
        *,
        create_graph: bool = False,
    ) -> torch.Tensor:
        """∂V/∂z ``(n, latent_dim)`` by autograd.

        Parameters
        ----------
        create_graph
            Keep the graph so that a loss of the gradient can be backpropagated (training).
        """
        with torch.enable_grad():
            zz = z if (create_graph and z.requires_grad) else z.detach().requires_grad_(True)
            v = self.forward(zz, conditions)
            (grad,) = torch.autograd.grad(v.sum(), zz, create_graph=create_graph)
        return grad
