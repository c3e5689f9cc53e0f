"""Autoencoders that map one snapshot to a low-dimensional latent state ``z``.

Two encoders share one interface (``encode``, ``decode``, ``forward``) so the reduced-potential
training (:mod:`topophys.training.nrp`) can use either:

- :class:`MLPAutoencoder` for vectorized persistence diagrams (Mototake, NeurIPS ML4PS 2025);
- :class:`ConvAutoencoder` for the raw field images (Tsuji et al., NeurIPS ML4PS 2023).

Both use smooth activations (SiLU) so the latent map, and hence the potential's gradient along
latent trajectories, varies smoothly with the input. The convolutions pad circularly because the
TDGL fields live on a torus.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import _validate
from ._layers import check_latent, hidden_sizes, mlp

__all__ = ["ConvAutoencoder", "MLPAutoencoder"]


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder on feature vectors.

    Parameters
    ----------
    n_features : int
        Length F of the input vectors (e.g. a flattened persistence image).
    latent_dim : int, default 2
        Dimension of ``z``.
    hidden : sequence of int, default (256, 64)
        Widths of the encoder's hidden layers; the decoder mirrors them.

    Examples
    --------
    >>> import torch
    >>> ae = MLPAutoencoder(10, latent_dim=2, hidden=(8,))
    >>> x = torch.randn(5, 10)
    >>> ae.encode(x).shape, ae(x).shape
    (torch.Size([5, 2]), torch.Size([5, 10]))
    """

    def __init__(
        self, n_features: int, latent_dim: int = 2, hidden: Sequence[int] = (256, 64)
    ) -> None:
        super().__init__()
        self.n_features = _validate.positive_int("n_features", n_features)
        self.latent_dim = _validate.positive_int("latent_dim", latent_dim)
        sizes = (self.n_features, *hidden_sizes("hidden", hidden), self.latent_dim)
        self.encoder = mlp(sizes)
        self.decoder = mlp(sizes[::-1])
        self.input_shape: tuple[int, ...] = (self.n_features,)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x (n, F)`` → ``z (n, latent_dim)``."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"x must have shape (n, {self.n_features}), got {tuple(x.shape)}")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z (n, latent_dim)`` → ``x̂ (n, F)``."""
        check_latent(z, self.latent_dim)
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``D(E(x))``, same shape as ``x``."""
        return self.decode(self.encode(x))


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder on square single-channel images with periodic boundaries.

    Each encoder stage halves the side with a stride-2 circular convolution; the decoder mirrors
    it with nearest-neighbour upsampling followed by a circular convolution (no checkerboard
    artefacts of transposed convolutions).

    Parameters
    ----------
    size : int
        Image side S in pixels; must be divisible by ``2 ** len(channels)``.
    latent_dim : int, default 2
        Dimension of ``z``.
    channels : sequence of int, default (16, 32, 64, 64)
        Channels after each downsampling stage.
    hidden : int, default 128
        Width of the fully connected layer between the last feature map and ``z``.

    Examples
    --------
    >>> import torch
    >>> ae = ConvAutoencoder(16, latent_dim=2, channels=(4, 8), hidden=16)
    >>> ae(torch.randn(3, 16, 16)).shape
    torch.Size([3, 16, 16])
    """

    def __init__(
        self,
        size: int,
        latent_dim: int = 2,
        channels: Sequence[int] = (16, 32, 64, 64),
        hidden: int = 128,
    ) -> None:
        super().__init__()
        self.size = _validate.positive_int("size", size)
        self.latent_dim = _validate.positive_int("latent_dim", latent_dim)
        chans = hidden_sizes("channels", channels)
        hidden = _validate.positive_int("hidden", hidden)
        factor = 2 ** len(chans)
        if self.size % factor:
            raise ValueError(
                f"size={self.size} must be divisible by 2**len(channels)={factor} "
                f"for {len(chans)} downsampling stages"
            )
        self.input_shape = (self.size, self.size)
        side = self.size // factor
        self._bottom = (chans[-1], side, side)
        down: list[nn.Module] = []
        prev = 1
        for c in chans:
            down += [nn.Conv2d(prev, c, 4, stride=2, padding=1, padding_mode="circular"), nn.SiLU()]
            prev = c
        flat = chans[-1] * side * side
        self.encoder = nn.Sequential(
            *down,
            nn.Flatten(),
            nn.Linear(flat, hidden),
            nn.SiLU(),
            nn.Linear(hidden, self.latent_dim),
        )
        up: list[nn.Module] = []
        rev = (*chans[::-1][1:], chans[0])
        prev = chans[-1]
        for c in rev:
            up += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(prev, c, 3, padding=1, padding_mode="circular"),
                nn.SiLU(),
            ]
            prev = c
        up.append(nn.Conv2d(prev, 1, 3, padding=1, padding_mode="circular"))
        self.decoder_fc = nn.Sequential(
            nn.Linear(self.latent_dim, hidden), nn.SiLU(), nn.Linear(hidden, flat), nn.SiLU()
        )
        self.decoder_conv = nn.Sequential(*up)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x (n, S, S)`` → ``z (n, latent_dim)``."""
        if x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"x must have shape (n, {self.size}, {self.size}), got {tuple(x.shape)}"
            )
        return self.encoder(x[:, None])

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z (n, latent_dim)`` → ``x̂ (n, S, S)``."""
        check_latent(z, self.latent_dim)
        h = self.decoder_fc(z).view(-1, *self._bottom)
        return self.decoder_conv(h)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``D(E(x))``, same shape as ``x``."""
        return self.decode(self.encode(x))
