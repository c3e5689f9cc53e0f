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

Options beyond the paper, all ours (off by default):

* **Defect-residual output** (``output="defect_residual"``). The network does not draw the whole
  field: it predicts a scalar angle correction δ that is added to the analytic defect field
  θ₀ = :func:`~topophys.simulate.xy.defect_field` of the conditioning map (computed once per map
  and cached), and the result is rotated by a uniform random global angle φ taken from the noise
  (the angle of the spatial mean of noise channels 0 and 1, which is uniform because that mean is
  an isotropic 2-D Gaussian). δ passes through :func:`residual_angles`: a bond difference that δ
  would bring closer than 10⁻² to ±π is clipped there by moving its two ends (a local hard wall,
  like the constrained Monte Carlo's rejection), and a last factor t ∈ (0, 1] per field keeps
  every bond difference at least 10⁻³ away from ±π. Since no bond difference can cross ±π, the
  exact plaquette charge map of every output equals the conditioning map (and the winding sector
  is θ₀'s) by construction; every field of that sector whose bond differences stay 10⁻² from ±π
  is reachable. The last decoder block then has one output channel (δ, radians). The wall
  matters at d = 1, where θ₀'s shared bond sits 0.05 from π and thermal fields press against
  it.
* **Spin-wave prior** (``spin_waves=True``, with the two options above and at least three noise
  channels). Before the wall, δ is the network's correction plus the harmonic spin waves of
  temperature T drawn from noise channel 2: the Gaussian field with ⟨|φ̂_q|²⟩ ∝ T/λ_q,
  λ_q = 4 sin²(q_x/2) + 4 sin²(q_y/2), q = 0 dropped (temperatures in units of J), the same law
  as :func:`~topophys.evaluate.xy.spin_wave_baseline`. The untrained generator is then that
  baseline (with the charge map held); the network learns what the harmonic theory misses (the
  waves' interaction with the defects, anharmonic terms).
* **Relaxed base** (``defect_base="relaxed"``, with the residual output). θ₀ is
  :func:`~topophys.simulate.xy.relaxed_defect_field` of the map instead of
  :func:`~topophys.simulate.xy.defect_field`: the harmonic solution quenched in the XY energy.
  Near a pair the two differ by up to 0.8 rad at L = 16, a deterministic deformation that the
  network otherwise has to learn from the data of each map.
* **Temperature-blended base** (``defect_base="blend"``): between the two, a thermal pair's
  mean field moves from the relaxed field (T → 0) back towards the analytic one as T grows
  (bonds pressed against π relax). θ₀ interpolates the two fields' bond differences with a
  weight w(T) calibrated on the training fields (:meth:`set_base_weights`,
  :func:`~topophys.simulate.xy.blend_weight_table`) and integrates them, which keeps the map.
* **Resize-convolution upsampling** (``upsample="nearest"``): nearest-neighbour upsampling,
  which the decoder block's 3×3 circular convolution then follows, instead of the 2×2 stride-2
  transposed convolution and its activation (Odena et al. 2016, the paper's ref. 17). At L = 16
  the bottleneck is one pixel; a transposed convolution turns it into a fixed 2×2 pattern, i.e.
  a wave of period L painted on every field, the same on the defect-free map as on a pair's.
  Resize-convolutions map a uniform input to a uniform output.
* **Renormalized spin waves** (``spin_wave_stiffness="scha"``, with ``spin_waves``): the
  prior's waves have the stiffness of the self-consistent harmonic approximation,
  J_eff = J·exp(−⟨Δθ²⟩/2), instead of J. With the bare coupling the waves are too stiff above
  T ≈ 0.3 J and the long-wave part of G(r) decays too slowly (measured in
  ``docs/xy_pipeline.md``).
* **Calibrated spin waves** (``spin_wave_stiffness="calibrated"``, with ``spin_waves``): the
  waves' stiffness J_eff(T) is fitted per training temperature on the training fields
  (:func:`calibrate_wave_stiffness`, stored by :meth:`~UNetGenerator.set_wave_stiffnesses`),
  so that the mean energy per bond of the non-learned prior (the base field plus the waves,
  through :func:`residual_angles`, on the training maps) equals the fields' own. The SCHA fixes
  J_eff by the same observable, J_eff = J⟨cos Δθ⟩, but of the Gaussian field alone; above
  T_BKT, where the constrained ensemble (no free vortices) is stiffer than that theory, its
  prior runs several per cent too hot (measured in ``docs/xy_pipeline.md``).
* **Noise at the fine scales only** (``noise_injection="fine"``): as "all", but the bottleneck
  and the decoder blocks below L/2 receive zeros. Noise there lets the network add waves of
  wavelength up to L whose amplitude does not scale with T; at T = 0.1, where the thermal long
  waves are weakest, such an excess of the lowest modes' power spoils G(r) of the defect-free
  map (measured in ``docs/xy_pipeline.md``). With "fine", the long waves come from the
  spin-wave prior, whose law is the physics', and the network corrects short scales.
* **Noise at every scale** (``noise_injection="all"``). The noise is a full-resolution map
  (B, noise_channels, L, L); the bottleneck and every decoder block receive it average-pooled to
  their resolution and rescaled to unit variance, concatenated to their input. The paper injects
  noise only at the bottleneck (a few numbers per field at L = 16), which cannot carry the
  independent short-wavelength spin waves of a thermal field.

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
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import _validate
from ..observables.charge import spins_to_angles
from ..observables.spins import scha_stiffness
from ._conditioning import check_conditions, scaled_channels

__all__ = [
    "CALIBRATION_OBSERVABLES",
    "UNetGenerator",
    "calibrate_wave_stiffness",
    "generate",
    "harmonic_spin_waves",
    "load_generator",
    "mean_bond_energy",
    "residual_angles",
    "save_generator",
]

PAPER_ENCODER_CHANNELS = (64, 128, 256, 256)
PAPER_DECODER_CHANNELS = (256, 128, 64, 2)
OUTPUTS = ("spins", "defect_residual")
NOISE_INJECTIONS = ("bottleneck", "all", "fine")
UPSAMPLINGS = ("transposed", "nearest")
DEFECT_BASES = ("analytic", "relaxed", "blend")
STIFFNESSES = ("bare", "scha", "calibrated")
BOND_MARGIN = 1e-3
"""Closest approach (radians) of a defect-residual field's bond differences to ±π."""
BOND_WALL = 1e-2
"""Where (radians from ±π) :func:`residual_angles` first clips bond differences locally."""
_CACHE_LIMIT = 4096  # defect fields kept per generator (one per distinct charge map)


def _conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="circular")


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return torch.remainder(x + math.pi, 2 * math.pi) - math.pi


def _bonds(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Differences along the bonds (i, j)→(i, j+1) and (i, j)→(i+1, j), periodic."""
    return torch.roll(x, -1, dims=-1) - x, torch.roll(x, -1, dims=-2) - x


def residual_angles(
    base: torch.Tensor,
    correction: torch.Tensor,
    margin: float = BOND_MARGIN,
    wall: float = BOND_WALL,
) -> torch.Tensor:
    """Add an angle correction to a field without changing its plaquette charges.

    Two steps. (1) A local hard wall: wherever the correction would bring a wrapped bond
    difference of ``base`` closer than ``wall`` to ±π, the two ends of that bond are moved
    towards each other by half the excess each (as the constrained Monte Carlo rejects such a
    move; the rest of the field is untouched). (2) The guarantee: the corrected field is
    ``base + t·δ`` (δ the correction after step 1) with the largest ``t ∈ (0, 1]`` (one per
    field) that keeps every bond difference at least ``margin`` from ±π, which step 1 leaves
    at 1 unless neighbouring clips add up. No bond difference can cross ±π, so the exact charge
    map and winding sector are those of ``base``.

    Parameters
    ----------
    base : Tensor, shape (B, L, L)
        Angles (radians) whose bond differences all lie within π − ``margin`` of zero after
        wrapping (e.g. :func:`~topophys.simulate.xy.defect_field`, which keeps 0.05).
    correction : Tensor, shape (B, L, L)
        Proposed correction δ (radians); differentiable.
    margin : float, default 1e-3
        Closest approach of any bond difference to ±π (keeps the map exact in float32).
    wall : float, default 1e-2
        Distance from ±π of the local wall of step 1 (≥ ``margin``).

    Returns
    -------
    Tensor, shape (B, L, L)
        The corrected angles (not wrapped).

    Examples
    --------
    >>> base = torch.zeros(1, 4, 4)
    >>> step = torch.zeros(1, 4, 4)
    >>> step[0, :, 2:] = 3.5  # would push two columns of bonds past ±π
    >>> out = residual_angles(base, step)
    >>> [round(float(out[0, 0, j + 1] - out[0, 0, j]), 4) for j in range(3)]  # π − 0.01 at the step
    [0.0, 3.1316, 0.0]
    """
    if base.shape != correction.shape or base.ndim != 3:
        raise ValueError(
            f"base and correction must have the same shape (B, L, L), got {tuple(base.shape)} "
            f"and {tuple(correction.shape)}"
        )
    margin = _validate.in_range("margin", margin, 0.0, 1.0)
    wall = _validate.in_range("wall", wall, margin, 1.0)
    bonds0 = [_wrap(b0) for b0 in _bonds(base)]
    delta = correction
    for b0, e, dim in zip(bonds0, _bonds(correction), (-1, -2), strict=True):
        # Excess of the bond (i → i + 1 along dim) beyond the wall; δ_i gains half of it and
        # δ_{i+1} loses half, which takes it off the bond difference δ_{i+1} − δ_i.
        total = b0 + e
        excess = torch.sign(total) * F.relu(total.abs() - (math.pi - wall))
        delta = delta + 0.5 * excess - 0.5 * torch.roll(excess, 1, dims=dim)
    ratio = []
    for b0, e in zip(bonds0, _bonds(delta), strict=True):
        if bool((b0.abs() >= math.pi - margin).any()):
            raise ValueError(
                f"base has a bond difference within margin={margin} of ±π: no correction can "
                "keep its charge map"
            )
        # Room left to ±π in the direction the correction pushes this bond.
        room = math.pi - margin - torch.sign(e) * b0
        ratio.append((e.abs() / room).flatten(1).amax(dim=1))
    worst = torch.maximum(*ratio)
    t = 1.0 / torch.clamp(worst, min=1.0)
    return base + t[:, None, None] * delta


def harmonic_spin_waves(
    white: torch.Tensor, temperatures: torch.Tensor, stiffness: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Harmonic spin waves at temperature T from white noise (units of J).

    Parameters
    ----------
    white : Tensor, shape (B, L, L)
        Standard normal noise.
    temperatures : Tensor, shape (B,)
        T / J of each field.
    stiffness : Tensor, shape (B,), optional
        J_eff / J of each field (e.g. :func:`~topophys.observables.spins.scha_stiffness`);
        default 1, the bare coupling.

    Returns
    -------
    Tensor, shape (B, L, L)
        φ with :math:`\hat\phi_q = \hat w_q\sqrt{T/(J_\mathrm{eff}\lambda_q)}`,
        :math:`\lambda_q = 4\sin^2(q_x/2) + 4\sin^2(q_y/2)`, the q = 0 mode dropped: the
        Boltzmann law of the quadratic XY Hamiltonian of stiffness J_eff, whose bond
        differences have variance T/(2 J_eff)·(N − 1)/N.

    Examples
    --------
    >>> white = torch.randn(2000, 16, 16, generator=torch.Generator().manual_seed(0))
    >>> phi = harmonic_spin_waves(white, torch.full((2000,), 0.1))
    >>> bond = torch.roll(phi, -1, dims=-1) - phi
    >>> bool(abs(float(bond.var()) - 0.05 * 255 / 256) < 0.002)
    True
    """
    side_y, side_x = white.shape[-2:]
    qy = 2 * math.pi * torch.fft.fftfreq(side_y, device=white.device, dtype=torch.float64)
    qx = 2 * math.pi * torch.fft.fftfreq(side_x, device=white.device, dtype=torch.float64)
    lam = 4 * torch.sin(qy[:, None] / 2) ** 2 + 4 * torch.sin(qx[None, :] / 2) ** 2
    inv = torch.where(lam > 0, 1.0 / lam.clamp(min=1e-12), 0.0).to(white.dtype)
    scale = temperatures if stiffness is None else temperatures / stiffness
    amp = torch.sqrt(scale.to(white.dtype))[:, None, None] * torch.sqrt(inv)
    return torch.fft.ifft2(torch.fft.fft2(white) * amp).real


def _check_options(
    output: str, noise_injection: str, noise_channels: int, spin_waves: bool
) -> tuple[str, str, int, bool]:
    """The generator's output and noise options, checked against each other."""
    output = _validate.choice("output", output, OUTPUTS)
    noise_injection = _validate.choice("noise_injection", noise_injection, NOISE_INJECTIONS)
    noise_channels = _validate.positive_int("noise_channels", noise_channels)
    if output == "defect_residual" and noise_channels < 2:
        raise ValueError(
            "output='defect_residual' draws its global rotation from noise channels 0 and 1, "
            f"so noise_channels must be at least 2, got {noise_channels}"
        )
    if not isinstance(spin_waves, bool):
        raise TypeError(f"spin_waves must be a bool, got {spin_waves!r}")
    if spin_waves and (
        output != "defect_residual" or noise_injection == "bottleneck" or noise_channels < 3
    ):
        raise ValueError(
            "spin_waves=True draws the waves from the full-resolution noise channel 2 and adds "
            "them to the defect residual: it needs output='defect_residual', "
            f"noise_injection 'all' or 'fine' and noise_channels >= 3, got output={output!r}, "
            f"noise_injection={noise_injection!r}, noise_channels={noise_channels}"
        )
    return output, noise_injection, noise_channels, spin_waves


def _kaiming_init(module: nn.Module, negative_slope: float) -> None:
    """Normal weights of variance 2 / ((1 + slope²) · fan-in) and zero biases in every
    (transposed) convolution of ``module``."""
    gain = math.sqrt(2.0 / (1.0 + negative_slope**2))
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            # A stride-2, 2×2 transposed convolution feeds each output pixel from one kernel
            # tap, so its fan-in is the number of input channels.
            fan_in = m.weight.shape[0] if isinstance(m, nn.ConvTranspose2d) else m.weight[0].numel()
            nn.init.normal_(m.weight, 0.0, gain / math.sqrt(fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """Conditional U-Net: (charge map, temperature, bottleneck noise) → unit spin field.

    Parameters
    ----------
    width : float, default 1.0
        Multiplier of every channel count except the two output channels; 1.0 is the paper's
        network, 0.5 a CPU-sized one.
    noise_channels : int, default 32
        Channels of the noise map (not scaled by ``width``).
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
    output : {"spins", "defect_residual"}, default "spins"
        ``"spins"`` (paper): the two output channels normalized to unit vectors.
        ``"defect_residual"`` (ours, module notes): the analytic defect field of the map plus a
        learned correction that cannot change the map, rotated by a random global angle; needs
        ``noise_channels >= 2``.
    noise_injection : {"bottleneck", "all", "fine"}, default "bottleneck"
        ``"bottleneck"`` (paper): noise of shape (B, noise_channels, L/factor, L/factor) enters
        only the bottleneck. ``"all"`` (ours): noise of shape (B, noise_channels, L, L) enters
        the bottleneck and every decoder block, pooled to their resolution. ``"fine"`` (ours):
        the same noise enters only the two finest decoder blocks (L/2 and L; the others get
        zeros), so that the long waves come from the spin-wave prior alone.
    spin_waves : bool, default False
        Add harmonic spin waves of temperature T (from noise channel 2) to the correction
        (ours, module notes); needs ``output="defect_residual"``, ``noise_injection="all"`` and
        ``noise_channels >= 3``.
    upsample : {"transposed", "nearest"}, default "transposed"
        ``"transposed"`` (paper): 2×2 stride-2 transposed convolutions. ``"nearest"`` (ours):
        nearest-neighbour upsampling (the decoder block's convolution follows).
    defect_base : {"analytic", "relaxed", "blend"}, default "analytic"
        The field the defect residual corrects (module notes); "blend" needs
        :meth:`set_base_weights` (``train_cwgan`` calibrates it on the training fields).
    spin_wave_stiffness : {"bare", "scha", "calibrated"}, default "bare"
        Stiffness of the spin-wave prior: the coupling J, the self-consistent harmonic
        stiffness at T (:func:`~topophys.observables.spins.scha_stiffness`), or J_eff(T)
        calibrated on the training fields (:meth:`set_wave_stiffnesses`,
        :func:`calibrate_wave_stiffness`; the SCHA's until calibrated); module notes.
        "calibrated" needs ``spin_waves=True``.

    Attributes
    ----------
    factor : int
        2**depth: the lattice side must be a multiple of it; the bottleneck side is L / factor.
    """

    # Buffers of the blend calibration (registered only for defect_base="blend").
    base_temperatures: torch.Tensor
    base_weights: torch.Tensor
    # Buffers of the wave calibration (registered only for spin_wave_stiffness="calibrated").
    wave_temperatures: torch.Tensor
    wave_stiffnesses: torch.Tensor

    def __init__(
        self,
        width: float = 1.0,
        noise_channels: int = 32,
        encoder_channels: Sequence[int] = PAPER_ENCODER_CHANNELS,
        decoder_channels: Sequence[int] = PAPER_DECODER_CHANNELS,
        negative_slope: float = 0.2,
        init: Literal["pytorch", "kaiming"] = "pytorch",
        output: Literal["spins", "defect_residual"] = "spins",
        noise_injection: Literal["bottleneck", "all", "fine"] = "bottleneck",
        spin_waves: bool = False,
        upsample: Literal["transposed", "nearest"] = "transposed",
        defect_base: Literal["analytic", "relaxed", "blend"] = "analytic",
        spin_wave_stiffness: Literal["bare", "scha", "calibrated"] = "bare",
    ) -> None:
        super().__init__()
        width = _validate.positive("width", width)
        self.upsample = _validate.choice("upsample", upsample, UPSAMPLINGS)
        self.defect_base = _validate.choice("defect_base", defect_base, DEFECT_BASES)
        self.spin_wave_stiffness = _validate.choice(
            "spin_wave_stiffness", spin_wave_stiffness, STIFFNESSES
        )
        _validate.choice("init", init, ("pytorch", "kaiming"))
        self.output, self.noise_injection, self.noise_channels, self.spin_waves = _check_options(
            output, noise_injection, noise_channels, spin_waves
        )
        if self.spin_wave_stiffness == "calibrated" and not self.spin_waves:
            raise ValueError("spin_wave_stiffness='calibrated' needs spin_waves=True")
        negative_slope = _validate.nonnegative("negative_slope", negative_slope)
        enc = scaled_channels("encoder_channels", encoder_channels, width)
        dec = scaled_channels("decoder_channels", decoder_channels, width)
        if len(dec) != len(enc) or int(decoder_channels[-1]) != 2:
            raise ValueError(
                f"decoder_channels must have {len(enc)} entries (one per encoder block) and end "
                f"in 2 (the spin components), got {tuple(decoder_channels)!r}"
            )
        # The residual output is one angle correction per site instead of a two-vector.
        dec = (*dec[:-1], 1 if self.output == "defect_residual" else 2)
        # Kept so that save_generator/load_generator can rebuild the same network.
        self.init_kwargs: dict[str, Any] = {
            "width": width,
            "noise_channels": self.noise_channels,
            "encoder_channels": [int(c) for c in encoder_channels],
            "decoder_channels": [int(c) for c in decoder_channels],
            "negative_slope": negative_slope,
            "init": init,
            "output": self.output,
            "noise_injection": self.noise_injection,
            "spin_waves": self.spin_waves,
            "upsample": self.upsample,
            "defect_base": self.defect_base,
            "spin_wave_stiffness": self.spin_wave_stiffness,
        }
        self._defects: dict[bytes, Any] = {}
        if self.defect_base == "blend":
            # The calibration of the blend (set_base_weights): weights at temperatures.
            self.register_buffer("base_temperatures", torch.zeros(0, dtype=torch.float64))
            self.register_buffer("base_weights", torch.zeros(0, dtype=torch.float64))
        if self.spin_wave_stiffness == "calibrated":
            # The calibration of the waves (set_wave_stiffnesses): J_eff / J at temperatures.
            self.register_buffer("wave_temperatures", torch.zeros(0, dtype=torch.float64))
            self.register_buffer("wave_stiffnesses", torch.zeros(0, dtype=torch.float64))
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
        extra = self.noise_channels if self.noise_injection != "bottleneck" else 0
        for c, skip in zip(dec, skips, strict=True):
            if self.upsample == "transposed":
                self.ups.append(nn.ConvTranspose2d(prev, prev, 2, stride=2))
            else:
                # The decoder's 3×3 convolution follows: upsample + convolution is the
                # resize-convolution, with no extra layer and no activation in between.
                self.ups.append(nn.Upsample(scale_factor=2))
            self.decoders.append(_conv3(prev + skip + extra, c))
            prev = c
        if init == "kaiming":
            _kaiming_init(self, negative_slope)
        if self.output == "defect_residual":
            # Start close to the analytic field: small corrections, so that t = 1 from the start.
            last = self.decoders[-1]
            assert isinstance(last, nn.Conv2d) and last.bias is not None  # built by _conv3
            with torch.no_grad():
                last.weight.mul_(0.1)
                last.bias.zero_()

    def noise_shape(self, batch: int, side: int) -> tuple[int, int, int, int]:
        """Shape of the noise: ``(batch, noise_channels, s, s)`` with s = side/factor for
        ``noise_injection="bottleneck"`` and s = side for ``"all"``."""
        batch = _validate.positive_int("batch", batch)
        side = _validate.positive_int("side", side)
        if side % self.factor:
            raise ValueError(f"side={side} must be a multiple of {self.factor}")
        s = side // self.factor if self.noise_injection == "bottleneck" else side
        return (batch, self.noise_channels, s, s)

    def defect_angles(
        self, charges: torch.Tensor, temperatures: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The base fields θ₀ ``(B, L, L)`` of integer charge maps ``(B, L, L)``.

        ``defect_base`` "analytic": :func:`~topophys.simulate.xy.defect_field`; "relaxed":
        :func:`~topophys.simulate.xy.relaxed_defect_field`; "blend": their bond differences
        interpolated with the weight :meth:`base_weight` of each field's temperature (needs
        ``temperatures (B,)``) and integrated, as
        :func:`~topophys.simulate.xy.blended_defect_field`. Fields and bonds are cached per
        distinct map; float64 on the charges' device.
        """
        from ..simulate.xy import defect_field, integrate_bonds, relaxed_defect_field

        def bonds(field: np.ndarray) -> list[torch.Tensor]:
            return [_wrap(b) for b in _bonds(torch.from_numpy(field))]

        q = charges.detach()
        rounded = torch.round(q)
        if not bool((rounded == q).all()):
            raise ValueError("charges must hold integer topological charges")
        entries = []
        for k in rounded.to(device="cpu", dtype=torch.int8).numpy():
            key = k.tobytes()
            entry = self._defects.get(key)
            if entry is None:
                if len(self._defects) >= _CACHE_LIMIT:
                    self._defects.clear()
                if self.defect_base == "analytic":
                    entry = torch.from_numpy(defect_field(k))
                elif self.defect_base == "relaxed":
                    entry = torch.from_numpy(relaxed_defect_field(k))
                else:  # the four bond fields of the two ends of the blend
                    entry = torch.stack(bonds(defect_field(k)) + bonds(relaxed_defect_field(k)))
                self._defects[key] = entry
            entries.append(entry)
        stacked = torch.stack(entries)
        if self.defect_base != "blend":
            return stacked.to(charges.device)
        if temperatures is None:
            raise ValueError("defect_base='blend' needs the temperatures of the fields")
        w = self.base_weight(temperatures).to(torch.float64).cpu()[:, None, None]
        bx = (1 - w) * stacked[:, 0] + w * stacked[:, 2]
        by = (1 - w) * stacked[:, 1] + w * stacked[:, 3]
        return integrate_bonds(bx, by).to(charges.device)

    def set_base_weights(self, temperatures: Any, weights: Any) -> None:
        """Calibrate the blend (``defect_base="blend"``): ``weights`` in [0, 1] at
        ``temperatures`` (ascending), e.g. :func:`~topophys.simulate.xy.blend_weight_table`
        of the training fields. Stored as buffers, so saved with the weights."""
        if self.defect_base != "blend":
            raise ValueError(
                f"set_base_weights needs defect_base='blend', not {self.defect_base!r}"
            )
        # Empty: an uncalibrated generator's buffers, as saved (load_generator).
        grid, values = _temperature_table(temperatures, weights, "weights", allow_empty=True)
        if bool(((values < 0) | (values > 1)).any()):
            raise ValueError("weights must lie in [0, 1]")
        device = self.base_temperatures.device
        self.base_temperatures = grid.to(device)
        self.base_weights = values.to(device)

    def base_weight(self, temperatures: torch.Tensor) -> torch.Tensor:
        """The blend weight at each temperature ``(B,)``: linear between the calibrated
        temperatures, constant beyond them; 1 (the relaxed field) when not calibrated."""
        t = temperatures.detach().to("cpu", torch.float64).reshape(-1)
        if self.base_temperatures.numel() == 0:
            return torch.ones_like(t)
        return _interpolate(t, self.base_temperatures, self.base_weights)

    def set_wave_stiffnesses(self, temperatures: Any, stiffnesses: Any) -> None:
        """Calibrate the spin waves (``spin_wave_stiffness="calibrated"``).

        Stored as buffers (float64), so saved with the weights (:func:`save_generator`).

        Parameters
        ----------
        temperatures : array-like, shape (m,)
            T / J, finite, > 0 and strictly ascending; m ≥ 1.
        stiffnesses : array-like, shape (m,)
            J_eff / J at each of them, finite and > 0 (e.g. from
            :func:`calibrate_wave_stiffness`).
        """
        if self.spin_wave_stiffness != "calibrated":
            raise ValueError(
                "set_wave_stiffnesses needs spin_wave_stiffness='calibrated', not "
                f"{self.spin_wave_stiffness!r}"
            )
        grid, values = _temperature_table(temperatures, stiffnesses, "stiffnesses")
        if bool((values <= 0).any()):
            raise ValueError("stiffnesses must be finite and > 0")
        device = self.wave_temperatures.device
        self.wave_temperatures = grid.to(device)
        self.wave_stiffnesses = values.to(device)

    def wave_stiffness(
        self, temperatures: torch.Tensor, n_sites: int | None = None
    ) -> torch.Tensor | None:
        """J_eff / J of the spin-wave prior at each temperature.

        Parameters
        ----------
        temperatures : Tensor, shape (B,)
            T / J.
        n_sites : int, optional
            Sites N of the lattice, for the SCHA's finite-size factor (N − 1)/N; None for the
            infinite lattice.

        Returns
        -------
        Tensor of shape (B,) (dtype and device of ``temperatures``), or None
            None for ``"bare"`` (J itself); the SCHA's for ``"scha"``; for ``"calibrated"``
            linear between the calibrated temperatures and constant beyond them (the SCHA's
            before :meth:`set_wave_stiffnesses`).
        """
        if self.spin_wave_stiffness == "bare":
            return None
        t = temperatures.detach()
        if self.spin_wave_stiffness == "scha" or self.wave_temperatures.numel() == 0:
            return scha_stiffness(t.double(), n_sites=n_sites).to(t.dtype)
        values = _interpolate(t, self.wave_temperatures, self.wave_stiffnesses)
        return values.to(device=t.device, dtype=t.dtype)

    def prior_angles(
        self,
        charges: torch.Tensor,
        temperatures: torch.Tensor,
        white: torch.Tensor,
        stiffness: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The non-learned prior: base field plus harmonic waves, through :func:`residual_angles`.

        What :meth:`forward` returns when the network's correction is zero, before the global
        rotation (``output="defect_residual"``).

        Parameters
        ----------
        charges : Tensor, shape (B, L, L)
            Integer charge maps.
        temperatures : Tensor, shape (B,)
            T / J.
        white : Tensor, shape (B, L, L)
            Standard normal noise of the waves.
        stiffness : Tensor, shape (B,), optional
            J_eff / J of the waves; default the generator's own (:meth:`wave_stiffness`; J
            without ``spin_waves``, which then adds no waves at all).

        Returns
        -------
        Tensor, shape (B, L, L)
            Angles (radians, not wrapped) in the dtype of ``white``.
        """
        if self.output != "defect_residual":
            raise ValueError("prior_angles needs output='defect_residual'")
        base = self.defect_angles(charges, temperatures).to(device=white.device, dtype=white.dtype)
        if white.shape != base.shape:
            raise ValueError(
                f"white must have the shape of charges {tuple(base.shape)}, got "
                f"{tuple(white.shape)}"
            )
        t = temperatures.to(device=white.device, dtype=white.dtype)
        if stiffness is None:
            if not self.spin_waves:
                return residual_angles(base, torch.zeros_like(base))
            stiffness = self.wave_stiffness(t, base.shape[-1] * base.shape[-2])
        return residual_angles(base, harmonic_spin_waves(white, t, stiffness))

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
            Topological-charge maps; L a multiple of ``factor`` (16 at the paper's depth).
        temperatures : Tensor of shape (B,) or float
            Temperatures, > 0.
        noise : Tensor, shape :meth:`noise_shape`, optional
            Standard normal noise; drawn from the global torch RNG when omitted.

        Returns
        -------
        Tensor, shape (B, 2, L, L)
            Spin vectors ``(cos θ, sin θ)`` of unit length.
        """
        charges, t = check_conditions(charges, temperatures, multiple=self.factor)
        batch, side = charges.shape[0], charges.shape[1]
        if noise is None:
            noise = self.sample_noise(batch, side, device=charges.device)
        elif tuple(noise.shape) != self.noise_shape(batch, side):
            raise ValueError(
                f"noise must have shape {self.noise_shape(batch, side)}, got {tuple(noise.shape)}"
            )
        noise = noise.to(charges.dtype)
        h = torch.stack([charges, t[:, None, None].expand_as(charges)], dim=1)
        skips = []
        for conv in self.encoders:
            h = self.act(conv(h))
            skips.append(h)
            h = self.pool(h)
        pyramid = self._noise_pyramid(noise)
        h = self.act(self.bottleneck(torch.cat([h, pyramid[-1]], dim=1)))
        for i, (up, conv) in enumerate(zip(self.ups, self.decoders, strict=True)):
            h = self.act(up(h)) if self.upsample == "transposed" else up(h)
            parts = [h, skips[-1 - i]]
            if self.noise_injection != "bottleneck":
                parts.append(pyramid[self.depth - 1 - i])
            h = conv(torch.cat(parts, dim=1))
            if i < self.depth - 1:
                h = self.act(h)
        if self.output == "spins":
            return F.normalize(h, dim=1, eps=1e-12)
        base = self.defect_angles(charges, t).to(h.dtype)
        delta = h[:, 0]
        if self.spin_waves:
            stiffness = self.wave_stiffness(t, side * side)
            delta = delta + harmonic_spin_waves(noise[:, 2], t, stiffness)
        theta = residual_angles(base, delta)
        # A uniform global rotation: the angle of an isotropic 2-D Gaussian.
        mean = noise[:, :2].mean(dim=(-2, -1))
        theta = theta + torch.atan2(mean[:, 1], mean[:, 0])[:, None, None]
        return torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)

    def _noise_pyramid(self, noise: torch.Tensor) -> list[torch.Tensor]:
        """The noise at 1, 1/2, …, 1/``factor`` of the lattice's resolution (entry k at
        1/2^k), each with unit variance; for bottleneck noise only the last entry is used."""
        if self.noise_injection == "bottleneck":
            return [noise]  # already at the bottleneck's resolution
        # 2×2 means of 2×2 means: one pass over the full-resolution noise, not one per level.
        means = [noise]
        for _ in range(self.depth):
            means.append(F.avg_pool2d(means[-1], 2))
        levels = [m * 2**k for k, m in enumerate(means)]
        if self.noise_injection == "fine":
            # Only the two finest levels carry noise: coarser noise lets the network add long
            # waves of a fixed, temperature-independent amplitude (module notes).
            levels = levels[:2] + [torch.zeros_like(m) for m in levels[2:]]
        return levels


def generate(
    generator: UNetGenerator,
    charges: Any,
    temperatures: Any,
    n_per_condition: int,
    seed: int = 0,
    *,
    batch_size: int | None = None,
    device: torch.device | str | None = None,
    channels_last: bool = True,
) -> np.ndarray:
    """Draw spin fields for each condition from a trained generator.

    The noise is drawn on the CPU from a generator seeded with ``seed`` in condition-major order,
    so the result depends on neither ``batch_size`` nor ``device`` (beyond float rounding).
    Runs in ``torch.inference_mode``; measured choices for one CPU thread (``docs/xy_pipeline.md``):
    batches of about 65,536 sites and channels-last activations (10–25 % faster at L ≥ 32).

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
    batch_size : int, optional
        Fields per forward pass; default 65,536 / L² (at least 1).
    device : torch device, optional
        Where to run; default the generator's device.
    channels_last : bool, default True
        Run the convolutions in channels-last memory format (the generator is converted back
        afterwards).

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
    if batch_size is not None:
        batch_size = _validate.positive_int("batch_size", batch_size)
    q = torch.as_tensor(np.asarray(charges), dtype=torch.float32)
    if q.ndim != 3:
        raise ValueError(f"charges must have shape (conditions, L, L), got {tuple(q.shape)}")
    t = torch.as_tensor(np.asarray(temperatures, dtype=np.float64), dtype=torch.float32)
    if t.ndim == 0:
        t = t.expand(q.shape[0])
    q, t = check_conditions(q, t, multiple=generator.factor)
    n_cond, side = q.shape[0], q.shape[1]
    dev = torch.device(device) if device is not None else next(generator.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    noise = torch.randn(generator.noise_shape(n_cond * n, side), generator=rng)
    q_all = q.repeat_interleave(n, dim=0)
    t_all = t.repeat_interleave(n, dim=0)
    if batch_size is None:
        batch_size = max(1, 65536 // (side * side))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    was_training = generator.training
    generator.eval()
    # Module.to takes memory_format (documented); torch's stubs list no overload with it.
    generator.to(memory_format=fmt)  # type: ignore[call-overload]
    try:
        out = []
        with torch.inference_mode():
            for start in range(0, n_cond * n, batch_size):
                sl = slice(start, start + batch_size)
                z = noise[sl].to(dev).contiguous(memory_format=fmt)
                spins = generator(q_all[sl].to(dev), t_all[sl].to(dev), z)
                out.append(spins_to_angles(spins).float().cpu())
    finally:
        generator.train(was_training)
        generator.to(memory_format=torch.contiguous_format)  # type: ignore[call-overload]
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
    state = data["state_dict"]
    if "base_weights" in state:  # sized by the calibration
        generator.set_base_weights(state["base_temperatures"], state["base_weights"])
    if state.get("wave_stiffnesses") is not None and len(state["wave_stiffnesses"]):
        generator.set_wave_stiffnesses(state["wave_temperatures"], state["wave_stiffnesses"])
    generator.load_state_dict(state)
    return generator


def _temperature_table(
    temperatures: Any, values: Any, name: str, allow_empty: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A calibration table checked: temperatures ``(m,)`` finite, > 0 and strictly ascending,
    ``values`` (called ``name``) of the same shape and finite; both float64."""
    grid = torch.as_tensor(np.asarray(temperatures, dtype=np.float64))
    table = torch.as_tensor(np.asarray(values, dtype=np.float64))
    if grid.ndim != 1 or (grid.numel() == 0 and not allow_empty):
        raise ValueError(f"temperatures must be 1-D and non-empty, got {tuple(grid.shape)}")
    if table.shape != grid.shape:
        raise ValueError(
            f"{name} must have the shape of temperatures {tuple(grid.shape)}, "
            f"got {tuple(table.shape)}"
        )
    if not bool(torch.isfinite(grid).all()) or bool((grid <= 0).any()):
        raise ValueError("temperatures must be finite and > 0")
    if bool((grid[1:] <= grid[:-1]).any()):
        raise ValueError("temperatures must ascend strictly")
    if not bool(torch.isfinite(table).all()):
        raise ValueError(f"{name} must be finite")
    return grid, table


def _interpolate(t: torch.Tensor, grid: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``values`` at temperatures ``t`` (flattened, float64 on the CPU): linear between the
    ``grid`` points, constant beyond them."""
    at = t.detach().to("cpu", torch.float64).reshape(-1).numpy()
    return torch.from_numpy(np.interp(at, grid.cpu().numpy(), values.cpu().numpy()))


def mean_bond_energy(theta: torch.Tensor) -> torch.Tensor:
    """Energy per bond −⟨cos Δθ⟩ of each field ``(B, L, L)`` (units of J): ``(B,)``, periodic."""
    bx, by = _bonds(theta)
    return -0.5 * (torch.cos(bx) + torch.cos(by)).mean(dim=(-2, -1))


CALIBRATION_OBSERVABLES = ("energy", "magnetization")
"""What :func:`calibrate_wave_stiffness` matches: the energy per bond or |M| per spin."""


def _calibration_value(theta: torch.Tensor, observable: str) -> float:
    """Mean over fields ``(n, L, L)`` of the hotness of ``observable``: the energy per bond,
    or −|M| per spin (both rise with T)."""
    if observable == "energy":
        return float(mean_bond_energy(theta).mean())
    m = torch.stack([torch.cos(theta).mean(dim=(-2, -1)), torch.sin(theta).mean(dim=(-2, -1))])
    return -float(torch.linalg.vector_norm(m, dim=0).mean())


def _fit_stiffness(
    base: torch.Tensor,
    white: torch.Tensor,
    temps: torch.Tensor,
    target: float,
    observable: str,
    bounds: tuple[float, float],
    tol: float,
    scan: int,
) -> float:
    """The largest J_eff / J in ``bounds`` at which the prior ``residual_angles(base, waves)``
    (``(n, L, L)`` float64 each, waves from ``white`` at ``temps (n,)``) has the mean
    ``target`` of :func:`_calibration_value`; the nearer bound, with a warning, when out of
    reach."""
    n, T = base.shape[0], float(temps[0])

    def excess(log_j: float) -> float:
        """How much hotter than the target the prior is at J_eff = exp(log_j)."""
        stiffness = torch.full((n,), math.exp(log_j), dtype=torch.float64)
        prior = residual_angles(base, harmonic_spin_waves(white, temps, stiffness))
        return _calibration_value(prior, observable) - target

    # From the stiff end down: the first sign change brackets the largest root. Very soft
    # waves are scaled back by residual_angles' guarantee (one factor per field), so the
    # prior cools again towards the base field at small J_eff: a second,
    # unphysical root that plain bisection over the whole range could pick.
    steps = np.linspace(math.log(bounds[1]), math.log(bounds[0]), scan)
    hi = float(steps[0])
    if excess(hi) > 0:
        warnings.warn(
            f"calibrate_wave_stiffness: at T = {T:g} the prior is hotter than the training "
            f"fields ({observable} {abs(target):.4f}) even at J_eff = {bounds[1]:g}; that is used",
            stacklevel=3,
        )
        return bounds[1]
    for lo in steps[1:]:
        if excess(float(lo)) > 0:
            break
        hi = float(lo)
    else:
        warnings.warn(
            f"calibrate_wave_stiffness: at T = {T:g} the prior is colder than the training "
            f"fields ({observable} {abs(target):.4f}) for every J_eff in {tuple(bounds)}; "
            f"J_eff = {bounds[0]:g} used",
            stacklevel=3,
        )
        return bounds[0]
    lo = float(lo)
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if excess(mid) > 0:  # too hot: stiffer waves
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def calibrate_wave_stiffness(
    generator: UNetGenerator,
    angles: Any,
    charges: Any,
    temperatures: Any,
    *,
    max_fields: int = 256,
    seed: int = 0,
    bounds: tuple[float, float] = (0.05, 20.0),
    tol: float = 1e-4,
    scan: int = 32,
    observable: str = "energy",
) -> tuple[np.ndarray, np.ndarray]:
    """J_eff(T) of the spin-wave prior fitted per temperature on training fields.

    At each distinct temperature, bisection (in log J_eff) finds the stiffness at which the mean
    energy per bond, −⟨cos Δθ⟩ (``observable="energy"``; or ⟨|M|⟩, below), of the generator's
    non-learned prior (:meth:`UNetGenerator.prior_angles`: its base field plus harmonic waves,
    through
    :func:`residual_angles`) on the fields' own charge maps equals that of the fields. The
    energy is the observable because it is the one the SCHA itself fixes (J_eff = J⟨cos Δθ⟩ of
    its Gaussian field) and the one the prior misses above T_BKT; it needs no long-distance
    statistics, so a few hundred fields of L = 16 pin it to a few parts in a thousand. The
    waves are drawn once per temperature (common random numbers), so the prior's energy is a
    smooth function of J_eff, decreasing down to soft waves that the charge-keeping
    guarantee of :func:`residual_angles` scales back (below that it falls again): the largest
    root is taken, found by a scan of ``scan`` points from ``bounds[1]`` down, log-spaced,
    then bisection. For ``defect_base="blend"`` set the blend weights
    first (:meth:`UNetGenerator.set_base_weights`): the base field enters the prior.

    Parameters
    ----------
    generator : UNetGenerator
        With ``output="defect_residual"``; its network's weights are not used.
    angles : array-like, shape (n, L, L)
        Training fields (radians).
    charges : array-like, shape (n, L, L)
        Their integer plaquette charge maps.
    temperatures : array-like, shape (n,)
        T / J of each field, > 0.
    max_fields : int, default 256
        Fields used per temperature at most (a seeded random subset of larger groups).
    seed : int, default 0
        Seed of the subsets and of the waves' white noise.
    bounds : (float, float), default (0.05, 20.0)
        Range of J_eff / J searched; a temperature whose target lies outside it gets the nearer
        bound, with a warning.
    tol : float, default 1e-4
        Relative precision of J_eff.
    scan : int, default 32
        Points of the scan that brackets the largest root (≥ 2).
    observable : {"energy", "magnetization"}, default "energy"
        What is matched: the mean energy per bond (above), or the mean magnetization per spin
        ⟨|M|⟩, which at L = 16 the longest waves dominate (⟨φ²⟩ = (T/J_eff N) Σ_q 1/λ_q) and
        which therefore fixes their amplitude, the long-distance part of G(r), instead of the
        bonds'.

    Returns
    -------
    temperatures : ndarray, shape (m,)
        The distinct temperatures, ascending.
    stiffnesses : ndarray, shape (m,)
        J_eff / J at each (input of :meth:`UNetGenerator.set_wave_stiffnesses`).

    Examples
    --------
    >>> g = UNetGenerator(width=0.125, noise_channels=4, output="defect_residual",
    ...                   noise_injection="fine", spin_waves=True, spin_wave_stiffness="calibrated")
    >>> white = torch.randn(200, 16, 16, generator=torch.Generator().manual_seed(1))
    >>> t = torch.full((200,), 0.5)
    >>> fields = harmonic_spin_waves(white.double(), t.double(), torch.full((200,), 0.8).double())
    >>> grid, jeff = calibrate_wave_stiffness(g, fields, torch.zeros(200, 16, 16), t)
    >>> bool(abs(jeff[0] - 0.8) < 0.02)
    True
    """
    if not isinstance(generator, UNetGenerator):
        raise TypeError(f"generator must be a UNetGenerator, got {type(generator).__name__}")
    if generator.output != "defect_residual":
        raise ValueError("calibrate_wave_stiffness needs a generator with output='defect_residual'")
    theta = torch.as_tensor(np.asarray(angles, dtype=np.float64))
    if theta.ndim != 3 or theta.shape[0] == 0 or theta.shape[1] != theta.shape[2]:
        raise ValueError(f"angles must have shape (n, L, L) with n ≥ 1, got {tuple(theta.shape)}")
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("angles contains NaN or infinite values")
    q = torch.as_tensor(np.asarray(charges))
    if tuple(q.shape) != tuple(theta.shape):
        raise ValueError(
            f"charges must have the shape of angles {tuple(theta.shape)}, got {tuple(q.shape)}"
        )
    t = np.asarray(temperatures, dtype=np.float64)
    if t.shape != (theta.shape[0],):
        raise ValueError(f"temperatures must have shape ({theta.shape[0]},), got {t.shape}")
    if not (np.isfinite(t).all() and (t > 0).all()):
        raise ValueError("temperatures must be finite and > 0")
    max_fields = _validate.positive_int("max_fields", max_fields)
    seed = _validate.nonnegative_int("seed", seed)
    if (
        not isinstance(bounds, (tuple, list))
        or len(bounds) != 2
        or not 0 < _validate.real("bounds[0]", bounds[0]) < _validate.real("bounds[1]", bounds[1])
    ):
        raise ValueError(f"bounds must be a pair 0 < low < high, got {bounds!r}")
    tol = _validate.in_range("tol", tol, 1e-12, 1.0)
    scan = _validate.positive_int("scan", scan)
    observable = _validate.choice("observable", observable, CALIBRATION_OBSERVABLES)
    if scan < 2:
        raise ValueError(f"scan must be at least 2, got {scan}")
    grid = np.unique(t)
    out = np.empty_like(grid)
    for i, T in enumerate(grid):
        idx = np.flatnonzero(t == T)
        rng = np.random.default_rng([seed, i])
        if idx.size > max_fields:
            idx = np.sort(rng.choice(idx, max_fields, replace=False))
        n = idx.size
        target = _calibration_value(theta[idx], observable)
        temps = torch.full((n,), float(T), dtype=torch.float64)
        base = generator.defect_angles(q[idx], temps).to(torch.float64)
        white = torch.randn(
            (n, *theta.shape[1:]),
            generator=torch.Generator().manual_seed(int(rng.integers(2**31))),
            dtype=torch.float64,
        )

        out[i] = _fit_stiffness(base, white, temps, target, observable, bounds, tol, scan)
    return grid, out


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
