"""The SOAP + NN model of the amorphous-carbon paper: a small fully connected regressor.

Minamitani et al. (Sec. 2.7) feed the atom-averaged SOAP vector (360 numbers) to a network with
two hidden layers of 40 units, trained with Adam on the mean squared error of the energy per
atom. The paper does not name the activation: ours is the ReLU. The model standardizes its
inputs with a per-feature mean and scale and returns targets in their own units
(``target_mean``/``target_scale``), all buffers set from the training set by :meth:`MLP.fit_scaling`
and saved with the weights, so the network itself works on numbers of order one.

Examples
--------
>>> import torch
>>> model = MLP(360)
>>> model(torch.zeros(4, 360)).shape
torch.Size([4])
>>> [m.out_features for m in model.net if isinstance(m, torch.nn.Linear)]
[40, 40, 1]
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .. import _validate

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected regressor of one scalar per input row.

    Parameters
    ----------
    n_inputs : int
        Features per row (360 for the paper's SOAP).
    hidden : sequence of int, default (40, 40)
        Widths of the hidden layers (the paper's two of 40), each followed by a ReLU.

    Attributes
    ----------
    input_mean, input_scale : torch.Tensor, shape (n_inputs,)
        Buffers: the network sees ``(x − input_mean) / input_scale``.
    target_mean, target_scale : torch.Tensor, shape ()
        Buffers: output = network output · ``target_scale`` + ``target_mean``.
    """

    # buffers (registered in __init__), declared so the type checker sees tensors, not Modules
    input_mean: torch.Tensor  # (n_inputs,)
    input_scale: torch.Tensor  # (n_inputs,)
    target_mean: torch.Tensor  # ()
    target_scale: torch.Tensor  # ()

    def __init__(self, n_inputs: int, hidden: Sequence[int] = (40, 40)) -> None:
        super().__init__()
        self.n_inputs = _validate.positive_int("n_inputs", n_inputs)
        if isinstance(hidden, (str, bytes)):
            raise TypeError(f"hidden must be a sequence of ints, got {hidden!r}")
        self.hidden = tuple(_validate.positive_int(f"hidden[{k}]", h) for k, h in enumerate(hidden))
        layers: list[nn.Module] = []
        width = self.n_inputs
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(self.n_inputs))
        self.register_buffer("input_scale", torch.ones(self.n_inputs))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_scale", torch.ones(()))

    @torch.no_grad()
    def fit_scaling(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """Set the input and target buffers from training rows ``X (n, n_inputs)``, ``y (n,)``.

        Constant features and a constant target get scale 1 (never a division by zero).
        """
        X = torch.as_tensor(X, dtype=self.input_mean.dtype)
        y = torch.as_tensor(y, dtype=self.target_mean.dtype).reshape(-1)
        if X.ndim != 2 or X.shape[1] != self.n_inputs or X.shape[0] != y.shape[0] or not len(y):
            raise ValueError(
                f"X must have shape (n ≥ 1, {self.n_inputs}) and y (n,), got "
                f"{tuple(X.shape)} and {tuple(y.shape)}"
            )
        if not (torch.isfinite(X).all() and torch.isfinite(y).all()):
            raise ValueError("X and y must be finite (NaN or inf found)")
        std = X.std(0, unbiased=False)
        self.input_mean.copy_(X.mean(0))
        self.input_scale.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        t_std = float(y.std(unbiased=False))
        self.target_mean.fill_(float(y.mean()))
        self.target_scale.fill_(t_std if t_std > 0 else 1.0)

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """The network's raw output ``(B,)``: the target in units of ``target_scale``."""
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"x must have shape (B, {self.n_inputs}), got {tuple(x.shape)}")
        return self.net((x - self.input_mean) / self.input_scale).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted targets ``(B,)`` of rows ``x (B, n_inputs)``."""
        return self.standardized(x) * self.target_scale + self.target_mean
