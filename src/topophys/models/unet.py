r"""U-Net generator of XY spin fields from a topological-charge map and a temperature.

The generator of Klos et al. (NeurIPS ML4PS 2024, ``xy-defects-cwgan``): a U-Net whose four
encoder blocks have [64, 128, 256, 256] output channels and whose four decoder blocks have
[256, 128, 64, 2], with skip connections at every depth, LeakyReLU activations, transposed
convolutions for upsampling and noise injected only at the bottleneck. The two output channels
are normalized to unit spin vectors :math:`\mathbf S = (\cos\vartheta, \sin\vartheta)`.

Choices the paper leaves open, ours:

* **Conditioning.** The charge map and the temperature enter at the input as two channels,
  the charge map (one channel, values in {-1, 0, 1}) and a constant channel equal to T, as in the
  paper's Fig. 2 ("added from the start"). The charge of plaquette ``[i, j]`` sits at pixel
  ``[i, j]``, whatever corner convention the charge routine uses; the network learns the offset.
* **Blocks.** Encoder block: 3×3 convolution, LeakyReLU, 2×2 average pooling; the activation
  before pooling is the skip. A bottleneck 3×3 convolution mixes the noise into the features.
  Decoder block: 2×2 stride-2 transposed convolution (channels kept), LeakyReLU, concatenation
  with the skip of that resolution, 3×3 convolution to the block's output channels, LeakyReLU
  (except the last block, whose output is the raw two-vector before normalization).
* **Periodicity.** Every 3×3 convolution pads circularly (the lattice is a torus). Pooling and
  transposed convolutions have stride 2, so the network commutes with lattice translations by
  multiples of 2⁴ = 16 sites (with the noise translated by one bottleneck pixel per 16 sites),
  not with every translation.
* **Size.** The network is fully convolutional: any side L divisible by 2⁴ = 16 works, and
  a generator trained at L = 16 runs at L = 32 or 64 (the noise map then has (L/16)² pixels).

The paper's generator at ``width=1.0`` has about 4.1 M parameters with the default 32 noise
channels; ``width=0.5`` (about 1 M) is the CPU setting.

Examples
--------
>>> import torch
>>> g = UNetGenerator(width=0.125, noise_channels=4)
>>> charges = torch.zeros(3, 16, 16)
>>> spins = g(charges, torch.full((3,), 0.1))
>>> spins.shape
torch.Size([3, 2, 16, 16])
>>> bool(torch.allclose(spins.norm(dim=1), torch.ones(3, 16, 16)))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import _validate
from ..observables.charge import spins_to_angles

__all__ = ["UNetGenerator", "generate", "load_generator", "save_generator"]

PAPER_ENCODER_CHANNELS = (64, 128, 256, 256)
PAPER_DECODER_CHANNELS = (256, 128, 64, 2)


def _scaled(name: str, channels: Sequence[int], width: float) -> tuple[int, ...]:
    try:
        base = tuple(int(c) for c in channels)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {channels!r}") from None
    if not base or any(c < 1 for c in base):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {channels!r}")
    return tuple(max(1, round(c * width)) for c in base)


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="circular")


def _check_conditions(
    charges: torch.Tensor, temperatures: torch.Tensor | float, *, multiple: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a batch of conditions and return them as float tensors on the charges' device.

    Parameters
    ----------
    charges : Tensor, shape (B, L, L)
        Topological-charge maps.
    temperatures : Tensor of shape (B,) or float
        Temperatures (units of J/k_B), each > 0; a float is broadcast over the batch.
    multiple : int
        L must be a positive multiple of this.

    Returns
    -------
    charges : Tensor, shape (B, L, L), float
    temperatures : Tensor, shape (B,), float
    """
    if not isinstance(charges, torch.Tensor):
        raise TypeError(f"charges must be a torch.Tensor, got {type(charges).__name__}")
    if charges.ndim != 3 or charges.shape[1] != charges.shape[2]:
        raise ValueError(f"charges must have shape (batch, L, L), got {tuple(charges.shape)}")
    side = charges.shape[1]
    if side == 0 or side % multiple:
        raise ValueError(
            f"the lattice side L={side} of charges must be a positive multiple of {multiple}"
        )
    dtype = charges.dtype if charges.is_floating_point() else torch.get_default_dtype()
    charges = charges.to(dtype)
    if isinstance(temperatures, torch.Tensor):
        t = temperatures.to(device=charges.device, dtype=dtype)
        if t.ndim == 0:
            t = t.expand(charges.shape[0])
    else:
        t = torch.full((charges.shape[0],), _validate.real("temperatures", temperatures))
        t = t.to(device=charges.device, dtype=dtype)
    if t.shape != (charges.shape[0],):
        raise ValueError(
            f"temperatures must have shape ({charges.shape[0]},) to match charges, "
            f"got {tuple(t.shape)}"
        )
    if not bool(torch.isfinite(t).all() & (t > 0).all()):
        raise ValueError(f"temperatures must be finite and > 0, got min {float(t.min())}")
    return charges, t


class UNetGenerator(nn.Module):
    """Conditional U-Net: (charge map, temperature, bottleneck noise) → unit spin field.

    Parameters
    ----------
    width : float, default 1.0
        Multiplier of every channel count except the two output channels; 1.0 is the paper's
        network, 0.5 a CPU-sized one.
    noise_channels : int, default 32
        Channels of the noise map concatenated at the bottleneck (not scaled by ``width``).
    encoder_channels : sequence of int, default (64, 128, 256, 256)
        Output channels of the encoder blocks (before ``width``); their number is the depth.
    decoder_channels : sequence of int, default (256, 128, 64, 2)
        Output channels of the decoder blocks; as long as ``encoder_channels`` and ending in 2.
    negative_slope : float, default 0.2
        Slope of LeakyReLU for negative inputs.
    init : {"pytorch", "kaiming"}, default "pytorch"
        Weight initialization. ``"pytorch"`` keeps PyTorch's defaults, as the paper does; the
        signal then shrinks by a constant factor per layer, so the untrained network's output
        hardly depends on its inputs and noise. ``"kaiming"`` draws the weights of every
        convolution from a normal distribution of variance 2 / ((1 + slope²) · fan-in) and zeroes
        the biases, which keeps the activations' scale through the depth.

    Attributes
    ----------
    factor : int
        2**depth: the lattice side must be a multiple of it; the bottleneck side is L / factor.
    """

    def __init__(
        self,
        width: float = 1.0,
        noise_channels: int = 32,
        encoder_channels: Sequence[int] = PAPER_ENCODER_CHANNELS,
        decoder_channels: Sequence[int] = PAPER_DECODER_CHANNELS,
        negative_slope: float = 0.2,
        init: Literal["pytorch", "kaiming"] = "pytorch",
    ) -> None:
        super().__init__()
        width = _validate.positive("width", width)
        _validate.choice("init", init, ("pytorch", "kaiming"))
        self.noise_channels = _validate.positive_int("noise_channels", noise_channels)
        negative_slope = _validate.nonnegative("negative_slope", negative_slope)
        enc = _scaled("encoder_channels", encoder_channels, width)
        dec = _scaled("decoder_channels", decoder_channels, width)
        if len(dec) != len(enc) or int(decoder_channels[-1]) != 2:
            raise ValueError(
                f"decoder_channels must have {len(enc)} entries (one per encoder block) and end "
                f"in 2 (the spin components), got {tuple(decoder_channels)!r}"
            )
        dec = (*dec[:-1], 2)
        # Kept so that save_generator/load_generator can rebuild the same network.
        self.init_kwargs: dict[str, Any] = {
            "width": width,
            "noise_channels": self.noise_channels,
            "encoder_channels": [int(c) for c in encoder_channels],
            "decoder_channels": [int(c) for c in decoder_channels],
            "negative_slope": negative_slope,
            "init": init,
        }
        self.depth = len(enc)
        self.factor = 2**self.depth
        self.act = nn.LeakyReLU(negative_slope)
        self.pool = nn.AvgPool2d(2)

        self.encoders = nn.ModuleList()
        prev = 2  # charge map + temperature channel
        for c in enc:
            self.encoders.append(_conv3(prev, c))
            prev = c
        self.bottleneck = _conv3(prev + self.noise_channels, prev)

        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        skips = enc[::-1]
        for c, skip in zip(dec, skips, strict=True):
            self.ups.append(nn.ConvTranspose2d(prev, prev, 2, stride=2))
            self.decoders.append(_conv3(prev + skip, c))
            prev = c
        if init == "kaiming":
            gain = math.sqrt(2.0 / (1.0 + negative_slope**2))
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    # A stride-2, 2×2 transposed convolution feeds each output pixel from one
                    # kernel tap, so its fan-in is the number of input channels.
                    fan_in = (
                        m.weight.shape[0]
                        if isinstance(m, nn.ConvTranspose2d)
                        else (m.weight[0].numel())
                    )
                    nn.init.normal_(m.weight, 0.0, gain / math.sqrt(fan_in))
                    nn.init.zeros_(m.bias)

    def noise_shape(self, batch: int, side: int) -> tuple[int, int, int, int]:
        """Shape ``(batch, noise_channels, side/factor, side/factor)`` of the bottleneck noise."""
        batch = _validate.positive_int("batch", batch)
        side = _validate.positive_int("side", side)
        if side % self.factor:
            raise ValueError(f"side={side} must be a multiple of {self.factor}")
        s = side // self.factor
        return (batch, self.noise_channels, s, s)

    def sample_noise(
        self,
        batch: int,
        side: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Standard normal bottleneck noise for ``batch`` fields of side ``side``."""
        if device is None:
            device = next(self.parameters()).device
        return torch.randn(
            self.noise_shape(batch, side),
            generator=generator,
            device=device,
            dtype=next(self.parameters()).dtype,
        )

    def forward(
        self,
        charges: torch.Tensor,
        temperatures: torch.Tensor | float,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Generate unit spin fields.

        Parameters
        ----------
        charges : Tensor, shape (B, L, L)
            Topological-charge maps; L a multiple of :attr:`factor` (16 at the paper's depth).
        temperatures : Tensor of shape (B,) or float
            Temperatures, > 0.
        noise : Tensor, shape (B, noise_channels, L/factor, L/factor), optional
            Bottleneck noise; drawn from the global torch RNG when omitted.

        Returns
        -------
        Tensor, shape (B, 2, L, L)
            Spin vectors ``(cos θ, sin θ)`` of unit length.
        """
        charges, t = _check_conditions(charges, temperatures, multiple=self.factor)
        batch, side = charges.shape[0], charges.shape[1]
        if noise is None:
            noise = self.sample_noise(batch, side, device=charges.device)
        elif tuple(noise.shape) != self.noise_shape(batch, side):
            raise ValueError(
                f"noise must have shape {self.noise_shape(batch, side)}, got {tuple(noise.shape)}"
            )
        h = torch.stack([charges, t[:, None, None].expand_as(charges)], dim=1)
        skips = []
        for conv in self.encoders:
            h = self.act(conv(h))
            skips.append(h)
            h = self.pool(h)
        h = self.act(self.bottleneck(torch.cat([h, noise.to(h.dtype)], dim=1)))
        for i, (up, conv) in enumerate(zip(self.ups, self.decoders, strict=True)):
            h = self.act(up(h))
            h = conv(torch.cat([h, skips[-1 - i]], dim=1))
            if i < self.depth - 1:
                h = self.act(h)
        return F.normalize(h, dim=1, eps=1e-12)


@torch.no_grad()
def generate(
    generator: UNetGenerator,
    charges: Any,
    temperatures: Any,
    n_per_condition: int,
    seed: int = 0,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Draw spin fields for each condition from a trained generator.

    The noise is drawn on the CPU from a generator seeded with ``seed`` in condition-major order,
    so the result depends on neither ``batch_size`` nor ``device`` (beyond float rounding).

    Parameters
    ----------
    generator : UNetGenerator
    charges : array-like, shape (C, L, L)
        Charge maps to condition on (integers; L a multiple of ``generator.factor``).
    temperatures : array-like of shape (C,), or float
        Temperature of each condition, > 0.
    n_per_condition : int
        Fields drawn per condition.
    seed : int, default 0
    batch_size : int, default 256
        Fields per forward pass.
    device : torch device, optional
        Where to run; default the generator's device.

    Returns
    -------
    ndarray, shape (C, n_per_condition, L, L), float32
        Angles in (−π, π].

    Examples
    --------
    >>> g = UNetGenerator(width=0.125, noise_channels=2)
    >>> generate(g, np.zeros((2, 16, 16)), 0.1, n_per_condition=3, seed=1).shape
    (2, 3, 16, 16)
    """
    if not isinstance(generator, UNetGenerator):
        raise TypeError(f"generator must be a UNetGenerator, got {type(generator).__name__}")
    n = _validate.positive_int("n_per_condition", n_per_condition)
    seed = _validate.nonnegative_int("seed", seed)
    batch_size = _validate.positive_int("batch_size", batch_size)
    q = torch.as_tensor(np.asarray(charges), dtype=torch.float32)
    if q.ndim != 3:
        raise ValueError(f"charges must have shape (conditions, L, L), got {tuple(q.shape)}")
    t = torch.as_tensor(np.asarray(temperatures, dtype=np.float64), dtype=torch.float32)
    if t.ndim == 0:
        t = t.expand(q.shape[0])
    q, t = _check_conditions(q, t, multiple=generator.factor)
    n_cond, side = q.shape[0], q.shape[1]
    dev = torch.device(device) if device is not None else next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    noise = torch.randn(generator.noise_shape(n_cond * n, side), generator=rng)
    q_all = q.repeat_interleave(n, dim=0)
    t_all = t.repeat_interleave(n, dim=0)
    was_training = generator.training
    generator.eval()
    try:
        out = []
        for start in range(0, n_cond * n, batch_size):
            sl = slice(start, start + batch_size)
            spins = generator(q_all[sl].to(dev), t_all[sl].to(dev), noise[sl].to(dev))
            out.append(spins_to_angles(spins).float().cpu())
    finally:
        generator.train(was_training)
    return torch.cat(out).reshape(n_cond, n, side, side).numpy()


def save_generator(generator: UNetGenerator, path: Any) -> None:
    """Write the generator's constructor arguments and weights to ``path`` (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state = {k: v.detach().cpu() for k, v in generator.state_dict().items()}
    torch.save({"init_kwargs": generator.init_kwargs, "state_dict": state}, tmp)
    tmp.replace(path)


def load_generator(path: Any, map_location: str | torch.device = "cpu") -> UNetGenerator:
    """Rebuild a generator written by :func:`save_generator`."""
    data = torch.load(path, map_location=map_location, weights_only=True)
    generator = UNetGenerator(**data["init_kwargs"])
    generator.load_state_dict(data["state_dict"])
    return generator


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
