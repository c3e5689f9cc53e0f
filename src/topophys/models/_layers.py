"""Building blocks shared by the NRP models: validated layer widths and plain MLPs."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["check_latent", "hidden_sizes", "mlp"]


def hidden_sizes(name: str, value: Sequence[int]) -> tuple[int, ...]:
    """``value`` as a non-empty tuple of positive ints; errors name ``name``."""
    try:
        sizes = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {value!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {value!r}")
    return sizes


def mlp(
    sizes: Sequence[int],
    activation: Callable[[], nn.Module] = nn.SiLU,
    *,
    last_bias: bool = True,
) -> nn.Sequential:
    """Linear layers of widths ``sizes`` with ``activation`` between them (none after the last).

    ``last_bias=False`` drops the output layer's bias: a potential's constant offset, which no
    loss of its gradient can train (and which DDP would then report as an unused parameter).
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=last_bias or not last))
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


def check_latent(z: torch.Tensor, latent_dim: int) -> None:
    """Raise unless ``z`` has shape ``(n, latent_dim)``."""
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"z must have shape (n, {latent_dim}), got {tuple(z.shape)}")
