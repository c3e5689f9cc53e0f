r"""The neural reduced potential V_NN(z, c): a smooth scalar function of the latent state.

``c`` holds the physical parameters given to the potential beside ``z`` (for TDGL, the
anisotropy α and the external field h(t)), as in both NRP papers. The latent dynamics it
defines is the gradient flow dz/dt = −∂V/∂z, with the gradient taken by autograd.

Two forms:

- :class:`PotentialNet`, the papers' form: one network of (z, c).
- :class:`FieldCoupledPotential`, ours: ``V(z, c) = U(z, c′) − h·m(z)``, with c′ the
  conditions without the field h. This is how the field enters the TDGL energy
  (−h∫φ: minus the field times the magnetization), so h no longer enters V arbitrarily.

Only ∂V/∂z is trained (L_V), so any g(c) added to V leaves the fit unchanged: V itself is
defined up to such a gauge term, which :func:`topophys.evaluate.nrp.anchored_potential`
removes. The field-coupled form narrows the gauge to g(c′) + const·h.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .. import _validate
from ._layers import check_latent, hidden_sizes, mlp

__all__ = ["FieldCoupledPotential", "PotentialNet"]

_ACTIVATIONS = {"softplus": nn.Softplus, "tanh": nn.Tanh, "silu": nn.SiLU}


class _Potential(nn.Module):
    """What both forms share: condition scaling, input checks and ∂V/∂z by autograd."""

    condition_mean: torch.Tensor  # buffers, (C,)
    condition_scale: torch.Tensor

    def __init__(self, latent_dim: int, n_conditions: int, activation: str) -> None:
        super().__init__()
        self.latent_dim = _validate.positive_int("latent_dim", latent_dim)
        self.n_conditions = _validate.nonnegative_int("n_conditions", n_conditions)
        self._activation = _ACTIVATIONS[
            _validate.choice("activation", activation, tuple(_ACTIVATIONS))
        ]
        self.register_buffer("condition_mean", torch.zeros(self.n_conditions))
        self.register_buffer("condition_scale", torch.ones(self.n_conditions))
        self._register_load_state_dict_pre_hook(self._drop_output_biases)

    def _drop_output_biases(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        """Let weights saved by topophys 0.1.0, whose output layers had biases, load.

        Such a bias adds a constant to U (or a term −h·b of the field alone to V): a gauge
        term no loss of ∂V/∂z ever changed, so dropping it changes no gradient.
        """
        for name, child in self.named_children():
            if isinstance(child, nn.Sequential) and child[-1].bias is None:
                state_dict.pop(f"{prefix}{name}.{len(child) - 1}.bias", None)

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

    def _checked_conditions(
        self, z: torch.Tensor, conditions: torch.Tensor | None
    ) -> torch.Tensor | None:
        check_latent(z, self.latent_dim)
        if not self.n_conditions:
            return None
        if conditions is None or conditions.shape != (z.shape[0], self.n_conditions):
            got = None if conditions is None else tuple(conditions.shape)
            raise ValueError(
                f"conditions must have shape ({z.shape[0]}, {self.n_conditions}), got {got}"
            )
        return conditions.to(z.dtype)

    def _scaled(self, conditions: torch.Tensor) -> torch.Tensor:
        return (conditions - self.condition_mean) / self.condition_scale

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
            v = self(zz, conditions)
            (grad,) = torch.autograd.grad(v.sum(), zz, create_graph=create_graph)
        return grad


class PotentialNet(_Potential):
    """Multilayer perceptron ``V(z, c) -> R`` with smooth activations (the papers' form).

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
        super().__init__(latent_dim, n_conditions, activation)
        sizes = (self.latent_dim + self.n_conditions, *hidden_sizes("hidden", hidden), 1)
        self.net = mlp(sizes, self._activation, last_bias=False)

    def forward(self, z: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """Potential ``V (n,)`` at ``z (n, latent_dim)`` and ``conditions (n, n_conditions)``."""
        c = self._checked_conditions(z, conditions)
        if c is not None:
            z = torch.cat([z, self._scaled(c)], dim=1)
        return self.net(z)[:, 0]


class FieldCoupledPotential(_Potential):
    """``V(z, c) = U(z, c′) − h·m(z)``: the external field couples to a learned magnetization.

    ``U`` is an MLP of z and the conditions other than the field (standardized as in
    :class:`PotentialNet`); ``m`` is an MLP of z alone; ``h`` enters in its own units, as
    −h∫φ enters the TDGL energy.

    Parameters
    ----------
    latent_dim : int
        Dimension of ``z``.
    n_conditions : int, default 2
        Number of physical parameters in ``c``, the field included (≥ 1).
    hidden : sequence of int, default (64, 64)
        Hidden widths of ``U`` and of ``m``.
    activation : {"softplus", "tanh", "silu"}, default "softplus"
    field_index : int, default -1
        Position of the field h in ``c`` (TDGL's conditions are (α, h)).

    Examples
    --------
    >>> import torch
    >>> v = FieldCoupledPotential(2, hidden=(8,))
    >>> z, c = torch.randn(4, 2), torch.randn(4, 2)
    >>> c0 = c.clone(); c0[:, 1] = 0
    >>> m = v.magnetization(z)
    >>> torch.allclose(v(z, c), v(z, c0) - c[:, 1] * m, atol=1e-6)
    True
    """

    def __init__(
        self,
        latent_dim: int,
        n_conditions: int = 2,
        hidden: Sequence[int] = (64, 64),
        activation: str = "softplus",
        field_index: int = -1,
    ) -> None:
        super().__init__(latent_dim, n_conditions, activation)
        if self.n_conditions < 1:
            raise ValueError("n_conditions must be ≥ 1: the field h is one of the conditions")
        if not -self.n_conditions <= int(field_index) < self.n_conditions:
            raise ValueError(
                f"field_index={field_index} is out of range for {self.n_conditions} conditions"
            )
        self.field_index = int(field_index) % self.n_conditions
        widths = hidden_sizes("hidden", hidden)
        # No output biases: a constant in U, or in m (a term −h·b of the field alone), is a
        # gauge term no loss of ∂V/∂z can train.
        self.internal = mlp(
            (self.latent_dim + self.n_conditions - 1, *widths, 1), self._activation, last_bias=False
        )
        self.magnetization_net = mlp(
            (self.latent_dim, *widths, 1), self._activation, last_bias=False
        )

    def magnetization(self, z: torch.Tensor) -> torch.Tensor:
        """The learned m(z) that the field couples to: ``(n,)``."""
        check_latent(z, self.latent_dim)
        return self.magnetization_net(z)[:, 0]

    def forward(self, z: torch.Tensor, conditions: torch.Tensor | None = None) -> torch.Tensor:
        """Potential ``V (n,)`` at ``z (n, latent_dim)`` and ``conditions (n, n_conditions)``."""
        c = self._checked_conditions(z, conditions)
        assert c is not None  # n_conditions ≥ 1
        keep = [i for i in range(self.n_conditions) if i != self.field_index]
        u = self.internal(torch.cat([z, self._scaled(c)[:, keep]], dim=1))[:, 0]
        return u - c[:, self.field_index] * self.magnetization_net(z)[:, 0]
