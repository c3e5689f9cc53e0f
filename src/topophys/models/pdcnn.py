"""The PH-descriptor papers' CNN: a persistence-diagram histogram in, the energy per atom out.

Minamitani et al. read the 128 × 128 birth–death histogram of a structure's H1 diagram as a
grey-scale image and regress the mean energy per atom on it with a small convolutional network
(letter, Fig. 3e; amorphous-carbon paper, Sec. 2.6): three 3 × 3 convolutions with 64, 64 and 32
channels, each followed by a ReLU and a 2 × 2 max-pooling, then two fully connected layers with a
ReLU between them. For a 128 × 128 input the first fully connected layer sees
``(128 / 8) · (128 / 8) · 32 = 8192`` features.

Choices the papers leave open, ours and configurable: the convolutions are padded ("same") so
that only the pooling halves the image, and the hidden width of the fully connected part is 128.
The model returns energies in the units of its targets: ``target_mean`` and ``target_scale``
(buffers saved with the weights, set by :meth:`PDCNN.set_target_scaling`) map the network's
standardized output back, so the network itself works on numbers of order one.

Examples
--------
>>> import torch
>>> model = PDCNN((32, 32), channels=(4, 4, 2), hidden=8)
>>> model(torch.zeros(5, 32, 32)).shape
torch.Size([5])
>>> model.n_flat
32
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import _validate

__all__ = ["PDCNN"]


class PDCNN(nn.Module):
    """Convolutional regressor of one scalar (energy per atom) from a 2-D descriptor image.

    Parameters
    ----------
    image_shape : (int, int), default (128, 128)
        ``(nb, nd)`` bins of the histogram along birth and death; each must be divisible by
        ``2 ** len(channels)`` so that every pooling halves it exactly.
    channels : sequence of int, default (64, 64, 32)
        Output channels of the convolutions (the papers': 64, 64, 32).
    hidden : int, default 128
        Width of the hidden fully connected layer.
    kernel_size : int, default 3
        Odd side of the square convolution kernels (the papers': 3).

    Attributes
    ----------
    n_flat : int
        Inputs of the first fully connected layer, ``channels[-1] · (nb / 2^k) · (nd / 2^k)``.
    target_mean, target_scale : torch.Tensor, shape ()
        Buffers: output = network output · ``target_scale`` + ``target_mean``.
    """

    # buffers (registered in __init__), declared so the type checker sees tensors, not Modules
    target_mean: torch.Tensor  # ()
    target_scale: torch.Tensor  # ()

    def __init__(
        self,
        image_shape: Sequence[int] = (128, 128),
        channels: Sequence[int] = (64, 64, 32),
        hidden: int = 128,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if isinstance(image_shape, (str, bytes)) or len(image_shape) != 2:
            raise ValueError(f"image_shape must be a pair (nb, nd), got {image_shape!r}")
        shape = tuple(
            _validate.positive_int(f"image_shape[{i}]", s) for i, s in enumerate(image_shape)
        )
        if isinstance(channels, (str, bytes)) or len(channels) == 0:
            raise ValueError(f"channels must be a non-empty sequence of ints, got {channels!r}")
        chans = tuple(_validate.positive_int(f"channels[{i}]", c) for i, c in enumerate(channels))
        factor = 2 ** len(chans)
        if shape[0] % factor or shape[1] % factor:
            raise ValueError(
                f"image_shape {shape} must be divisible by 2**len(channels) = {factor} "
                "(each convolution is followed by a 2 × 2 max-pooling)"
            )
        hidden = _validate.positive_int("hidden", hidden)
        k = _validate.positive_int("kernel_size", kernel_size)
        if k % 2 == 0:
            raise ValueError(f"kernel_size must be odd (for 'same' padding), got {k}")
        self.image_shape = shape
        self.channels = chans
        self.hidden = hidden
        self.kernel_size = k
        layers: list[nn.Module] = []
        c_in = 1
        for c_out in chans:
            layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.n_flat = chans[-1] * (shape[0] // factor) * (shape[1] // factor)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(self.n_flat, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_scale", torch.ones(()))

    def set_target_scaling(self, y: torch.Tensor | Sequence[float]) -> None:
        """Set ``target_mean``/``target_scale`` to the mean and standard deviation of ``y (n,)``.

        A constant target gets scale 1 (never a division by zero).
        """
        t = torch.as_tensor(y, dtype=self.target_mean.dtype).reshape(-1)
        if t.numel() == 0 or not torch.isfinite(t).all():
            raise ValueError("y must hold at least one finite target value")
        std = float(t.std(unbiased=False))
        self.target_mean.fill_(float(t.mean()))
        self.target_scale.fill_(std if std > 0 else 1.0)

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """The network's raw output ``(B,)``: the target in units of ``target_scale``."""
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != self.image_shape:
            raise ValueError(
                f"x must have shape (B, {self.image_shape[0]}, {self.image_shape[1]}) or "
                f"(B, 1, {self.image_shape[0]}, {self.image_shape[1]}), got {tuple(x.shape)}"
            )
        return self.head(self.features(x)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted targets ``(B,)`` (e.g. eV/atom) of descriptor images ``(B, nb, nd)``."""
        return self.standardized(x) * self.target_scale + self.target_mean
