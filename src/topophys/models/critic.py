"""Wasserstein critic of spin fields conditioned on the charge map and the temperature.

The paper (Klos et al. 2024) builds the critic from convolutions, LeakyReLU and optional
InstanceNorm and feeds it the temperature; the layout is ours. The input stacks four channels:
the two spin components, the charge map and a constant temperature channel. A stride-1 3×3
convolution is followed by stride-2 3×3 convolutions (one per further entry of ``channels``), all
with circular padding; the feature map is averaged over the lattice and a linear layer gives one
score per sample. Global averaging makes the critic accept any lattice side, and the critic has
no BatchNorm, so the gradient penalty can be computed per sample.

Examples
--------
>>> import torch
>>> critic = Critic(width=0.125)
>>> spins = torch.nn.functional.normalize(torch.randn(3, 2, 16, 16), dim=1)
>>> critic(spins, torch.zeros(3, 16, 16), torch.full((3,), 0.1)).shape
torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import _validate
from ._conditioning import check_conditions, scaled_channels

__all__ = ["Critic"]


class Critic(nn.Module):
    """Conditional convolutional critic D(spins, charges, T) → score.

    Parameters
    ----------
    width : float, default 1.0
        Multiplier of every channel count.
    channels : sequence of int, default (64, 128, 256, 256)
        Output channels of the convolutions (before ``width``); all but the first halve the side.
    instance_norm : bool, default False
        Put an affine InstanceNorm after each strided convolution (the paper's option).
    negative_slope : float, default 0.2
        Slope of LeakyReLU for negative inputs.
    """

    def __init__(
        self,
        width: float = 1.0,
        channels: Sequence[int] = (64, 128, 256, 256),
        instance_norm: bool = False,
        negative_slope: float = 0.2,
    ) -> None:
        super().__init__()
        width = _validate.positive("width", width)
        chans = scaled_channels("channels", channels, width)
        if not isinstance(instance_norm, bool):
            raise TypeError(f"instance_norm must be a bool, got {instance_norm!r}")
        negative_slope = _validate.nonnegative("negative_slope", negative_slope)
        layers: list[nn.Module] = []
        prev = 4  # two spin components, charge map, temperature
        for i, c in enumerate(chans):
            layers.append(
                nn.Conv2d(prev, c, 3, stride=1 if i == 0 else 2, padding=1, padding_mode="circular")
            )
            if instance_norm and i > 0:
                layers.append(nn.InstanceNorm2d(c, affine=True))
            layers.append(nn.LeakyReLU(negative_slope))
            prev = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(prev, 1)

    def forward(
        self, spins: torch.Tensor, charges: torch.Tensor, temperatures: torch.Tensor | float
    ) -> torch.Tensor:
        """Score a batch of fields.

        Parameters
        ----------
        spins : Tensor, shape (B, 2, L, L)
            Spin vectors (need not be unit vectors: the gradient penalty evaluates the critic
            between real and generated fields).
        charges : Tensor, shape (B, L, L)
            The conditioning charge maps.
        temperatures : Tensor of shape (B,) or float
            Temperatures, > 0.

        Returns
        -------
        Tensor, shape (B,)
            Critic scores (higher means "more real").
        """
        charges, t = check_conditions(charges, temperatures)
        if spins.ndim != 4 or spins.shape[1] != 2 or spins.shape[2:] != charges.shape[1:]:
            raise ValueError(
                f"spins must have shape (batch, 2, L, L) matching charges {tuple(charges.shape)}, "
                f"got {tuple(spins.shape)}"
            )
        if spins.shape[0] != charges.shape[0]:
            raise ValueError(
                f"spins and charges must have the same batch size, got {spins.shape[0]} and "
                f"{charges.shape[0]}"
            )
        cond = torch.stack([charges, t[:, None, None].expand_as(charges)], dim=1)
        h = self.features(torch.cat([spins, cond.to(spins.dtype)], dim=1))
        return self.head(h.mean(dim=(2, 3)))[:, 0]
