r"""Conditional WGAN-GP training of the U-Net spin-field generator (Klos et al. 2024).

The critic :math:`D` and the generator :math:`G` play the Wasserstein game with a gradient penalty
(Gulrajani et al. 2017):

.. math::

    \mathcal L_D = \langle D(G(z, c), c)\rangle - \langle D(x, c)\rangle
        + \lambda_{GP}\,\langle(\lVert\nabla_{\hat x} D(\hat x, c)\rVert_2 - 1)^2\rangle,
    \qquad
    \mathcal L_G = -\langle D(G(z, c), c)\rangle + w\,\tilde{\mathcal L}_G,

with :math:`\hat x = \epsilon x + (1-\epsilon) G(z, c)`, one :math:`\epsilon \sim U(0, 1)` per
sample, the condition :math:`c` = (charge map, T), and the physics loss of the paper's eq. (1),

.. math::

    \tilde{\mathcal L}_G = \sum_r \alpha_r\,(k_r - k_r^{\mathrm{target}})^2,
    \qquad \alpha_r = N \text{ where the conditioning charge is non-zero, else } 1,

summed over the N = L² plaquettes and averaged over the batch. The critic takes ``n_critic``
steps per generator step, each on a fresh batch.

Choices the paper leaves open, ours (all in :class:`CWGANConfig`):

* **Adam betas** (0.5, 0.9): the paper names only Adam and the learning rate 1e-4; WGAN-GP's
  authors used (0, 0.9); (0.5, 0.9) is the common compromise.
* **Physics phase.** From epoch ``physics_start_epoch`` (paper: 40) the physics loss joins the
  generator loss and both learning rates become ``physics_lr`` (paper: 1e-5; we read its "learning
  rate of 1e-5" as applying to both networks from then on). Its weight ``physics_weight`` against
  the Wasserstein term is not stated; default 1.
* **Charge and target.** ``physics_charge="soft"`` is the paper's eq. (3),
  :math:`\frac14\sum S_a\times S_b`. On equilibrated T = 0.1 fields it reads only about 0.65 on a
  defect, so the paper's integer target (``physics_target="integer"``) pulls generated fields away
  from real ones. Two remedies are offered: ``"calibrated"`` scales the integer map by κ, the mean
  soft charge (times the sign) of the training data's defect plaquettes; ``"paired"`` uses the
  soft-charge map of the real field of the same batch entry. ``physics_charge="straight_through"``
  instead evaluates the exact integer charge in the forward pass and eq. (3)'s gradient in the
  backward pass, so a field whose charge map is already right feels no physics force at all
  (only with the integer target).
* **Initialization** ``generator_init``: PyTorch's default (the paper's) leaves the untrained
  generator nearly deaf to its noise and conditions (two noise draws differ by ~1e-9 in 1 − S·S');
  ``"kaiming"`` keeps the activations' scale, so the first generated fields vary with the noise.
  Which trains better at the paper's scale is not settled here.
* **Beyond the paper** (ours, off by default; :class:`~topophys.models.unet.UNetGenerator`):
  ``generator_output="defect_residual"`` makes the generator add a learned correction to the
  analytic defect field of the map, constructed so that it cannot change the exact charge map
  (the physics loss is then redundant); ``noise_injection="all"`` feeds full-resolution noise to
  every decoder block instead of the bottleneck alone; ``spin_waves`` adds harmonic spin waves
  at T to the correction; ``defect_base="relaxed"`` corrects the quenched defect field and
  ``upsample="nearest"`` replaces the transposed convolutions by resize-convolutions (module
  notes of :mod:`topophys.models.unet`). ``critic_lr`` gives the critic its own learning rate
  (two time-scale rule, Heusel et al. 2017): on the CPU demo a critic 5× faster than the
  generator kept the game from running away. ``ema_decay`` keeps an exponential moving average
  of the generator's weights (Yazıcı et al. 2019), updated after every generator step with the
  decay min(``ema_decay``, (1 + s)/(10 + s)) at step s; the averaged generator is the one
  monitored, saved and returned. ``energy_moments_weight`` adds :func:`energy_moments_loss` to
  the generator loss: the generated energies per spin, standardized by the mean and standard
  deviation of the training fields of the same condition (T, charge map), should have mean 0 and
  second moment 1. It targets ⟨E⟩ and C_v (which is N·Var(E/N)/T²) directly, the two observables
  the adversarial game learns last (a moment-matching term in the spirit of Salimans et al.
  2016's feature matching). ``current_moments_weight`` does the same for the spin current
  (:func:`current_moments_loss`) and ``spectrum_moments_weight`` for the power of the longest
  spin waves (:func:`spectrum_moments_loss`), which sets G(r) at large r.
* **Epochs** count passes over the data by the critic; a generator step follows every
  ``n_critic``-th critic step (counted across epochs).
* **Monitoring** (paper Fig. 3): after every epoch the generator draws one field for each of
  ``monitor_samples`` fixed training conditions with fixed noise; the mean vorticity Σ|k|,
  magnetization |M|/N and energy per spin of those fields, the share whose exact charge map equals
  the condition (charge fidelity), and the noise sensitivity (mean of (1 − S·S')/2 between two
  noise draws per condition; 0 means the generator ignores its noise) are logged beside the same
  observables of the real fields.

Randomness comes from generators seeded by (``seed``, step) and the data order from (``seed``,
epoch), so a run is reproducible and a resumed run continues exactly as an uninterrupted one.

Outputs in ``run_dir``: ``config.yaml``, ``history.csv`` (one row per epoch),
``checkpoints/last.ckpt`` (Lightning checkpoint, written atomically every ``checkpoint_every``
epochs) and ``generator.pt`` (:func:`~topophys.models.unet.load_generator`).
"""

from __future__ import annotations

import copy
import csv
import io
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch.utils.data import DataLoader, TensorDataset

from .. import _validate
from ..config import Config, atomic_write_text
from ..models.critic import Critic
from ..models.unet import (
    DEFECT_BASES,
    NOISE_INJECTIONS,
    OUTPUTS,
    PAPER_ENCODER_CHANNELS,
    STIFFNESSES,
    UPSAMPLINGS,
    UNetGenerator,
    calibrate_wave_stiffness,
    generate,
    save_generator,
)
from ..observables.charge import angles_to_spins, plaquette_charge, soft_charge, spins_to_angles
from ..observables.spins import (
    bond_sums,
    energy,
    magnetization,
    spin_bond_sums,
    spin_energy,
    structure_factor_shells,
)
from ._lightning import quiet_lightning, want_progress
from ._loop import EpochBatchSampler, LastCheckpoint

__all__ = [
    "CWGANConfig",
    "CWGANModule",
    "current_moments_loss",
    "energy_moments_loss",
    "generate",
    "gradient_penalty",
    "moments_penalty",
    "physics_loss",
    "spectrum_moments_loss",
    "train_cwgan",
]

_PHYSICS_CHARGES = ("soft", "straight_through")
_PHYSICS_TARGETS = ("integer", "calibrated", "paired")
# Fields that may change when a run is resumed: they do not change what was already trained.
_RESUMABLE_CHANGES = frozenset({"epochs", "checkpoint_every"})


@dataclass(frozen=True)
class CWGANConfig(Config):
    """Hyperparameters of the conditional WGAN-GP. Defaults are the paper's scale.

    For a CPU run use e.g. ``CWGANConfig(width=0.5, critic_width=0.5, epochs=...)``.

    Parameters
    ----------
    width, critic_width
        Channel multipliers of the U-Net generator and of the critic (1.0 = paper).
    noise_channels
        Channels of the bottleneck noise.
    generator_init
        ``"pytorch"`` (paper) or ``"kaiming"``; see :class:`~topophys.models.unet.UNetGenerator`.
    generator_output
        ``"spins"`` (paper) or ``"defect_residual"`` (ours: analytic defect field plus a
        charge-preserving learned correction; needs ``noise_channels >= 2``).
    noise_injection
        ``"bottleneck"`` (paper), ``"all"`` (ours: full-resolution noise into every decoder
        block) or ``"fine"`` (ours: into the two finest decoder blocks only).
    spin_waves
        Add harmonic spin waves at T to the defect residual (ours); needs
        ``generator_output="defect_residual"``, ``noise_injection`` "all" or "fine" and
        ``noise_channels >= 3``.
    upsample
        ``"transposed"`` (paper: 2×2 stride-2 transposed convolutions) or ``"nearest"`` (ours:
        nearest-neighbour upsampling, which the decoder's 3×3 circular convolution follows: the
        resize-convolution of Odena et al. 2016).
    defect_base
        The field the defect residual corrects: ``"analytic"``
        (:func:`~topophys.simulate.xy.defect_field`, the harmonic solution), ``"relaxed"``
        (:func:`~topophys.simulate.xy.relaxed_defect_field`, its quench in the XY energy; ours)
        or ``"blend"`` (between the two with a weight per temperature calibrated on the
        training fields, :func:`~topophys.simulate.xy.blend_weight_table`; ours).
    spin_wave_stiffness
        ``"bare"`` (J), ``"scha"`` (the self-consistent harmonic stiffness at T; ours) or
        ``"calibrated"`` (J_eff(T) fitted per training temperature so that the prior's mean
        energy per bond equals the training fields',
        :func:`~topophys.models.unet.calibrate_wave_stiffness`; ours) for the waves of
        ``spin_waves``; "calibrated" needs ``spin_waves=True``.
    ema_decay
        Decay of the moving average of the generator's weights (ours); ``None`` (paper) uses
        the trained weights themselves.
    energy_moments_weight
        Weight of :func:`energy_moments_loss` in the generator loss (ours); 0 (paper) leaves it
        out. Every condition (T, charge map) needs at least two training fields.
    current_moments_weight
        Weight of :func:`current_moments_loss` (ours); 0 leaves it out.
    spectrum_moments_weight
        Weight of :func:`spectrum_moments_loss` (ours); 0 leaves it out.
    moments_groups
        Where the moment penalties are pooled (ours): ``"batch"`` (the whole batch) or
        ``"temperature"`` (per temperature, then averaged; the same with one temperature).
    critic_instance_norm
        InstanceNorm after the critic's strided convolutions.
    negative_slope
        LeakyReLU slope of both networks.
    epochs
        Passes of the critic over the training data (paper: 120).
    batch_size
        Samples per step (paper: 64).
    lr
        Adam learning rate of both networks before the physics phase (paper: 1e-4).
    critic_lr
        The critic's learning rate before the physics phase if it should differ from ``lr``
        (ours: a faster critic, as in the two time-scale rule of Heusel et al. 2017); ``None``
        uses ``lr``.
    betas
        Adam betas of both networks.
    n_critic
        Critic steps per generator step (paper: 4).
    gp_weight
        λ_GP of the gradient penalty (10).
    physics_start_epoch
        First epoch (0-based) with the physics loss (paper: 40); ``None`` never switches it on.
    physics_lr
        Learning rate of both networks in the physics phase (paper: 1e-5); ``None`` keeps ``lr``.
    physics_weight
        Factor w of the physics loss in the generator loss.
    physics_charge
        ``"soft"`` (eq. 3) or ``"straight_through"`` (exact value, eq.-3 gradient).
    physics_target
        ``"integer"`` (the conditioning map), ``"calibrated"`` (κ × map) or ``"paired"`` (soft
        charge of the real field).
    defect_weight
        α_r at non-zero charges; ``None`` means N = L² (paper).
    monitor_samples
        Conditions drawn from the training data for the per-epoch observables.
    checkpoint_every
        Epochs between checkpoints (the last epoch is always saved).
    seed
        Seed of weights, noise, penalty interpolation and data order.
    accelerator
        ``"auto"`` (a GPU when present), ``"cpu"`` or ``"gpu"``.
    """

    width: float = 1.0
    critic_width: float = 1.0
    noise_channels: int = 32
    generator_init: Literal["pytorch", "kaiming"] = "pytorch"
    generator_output: Literal["spins", "defect_residual"] = "spins"
    noise_injection: Literal["bottleneck", "all", "fine"] = "bottleneck"
    spin_waves: bool = False
    upsample: Literal["transposed", "nearest"] = "transposed"
    defect_base: Literal["analytic", "relaxed", "blend"] = "analytic"
    spin_wave_stiffness: Literal["bare", "scha", "calibrated"] = "bare"
    ema_decay: float | None = None
    energy_moments_weight: float = 0.0
    current_moments_weight: float = 0.0
    spectrum_moments_weight: float = 0.0
    moments_groups: Literal["batch", "temperature"] = "batch"
    critic_instance_norm: bool = False
    negative_slope: float = 0.2
    epochs: int = 120
    batch_size: int = 64
    lr: float = 1e-4
    critic_lr: float | None = None
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 4
    gp_weight: float = 10.0
    physics_start_epoch: int | None = 40
    physics_lr: float | None = 1e-5
    physics_weight: float = 1.0
    physics_charge: Literal["soft", "straight_through"] = "soft"
    physics_target: Literal["integer", "calibrated", "paired"] = "integer"
    defect_weight: float | None = None
    monitor_samples: int = 256
    checkpoint_every: int = 1
    seed: int = 0
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"

    def __post_init__(self) -> None:
        v = _validate
        v.positive("width", self.width)
        v.positive("critic_width", self.critic_width)
        v.positive_int("noise_channels", self.noise_channels)
        v.choice("generator_init", self.generator_init, ("pytorch", "kaiming"))
        v.choice("generator_output", self.generator_output, OUTPUTS)
        v.choice("noise_injection", self.noise_injection, NOISE_INJECTIONS)
        v.choice("upsample", self.upsample, UPSAMPLINGS)
        v.choice("defect_base", self.defect_base, DEFECT_BASES)
        v.choice("spin_wave_stiffness", self.spin_wave_stiffness, STIFFNESSES)
        if not isinstance(self.spin_waves, bool):
            raise TypeError(f"spin_waves must be a bool, got {self.spin_waves!r}")
        if self.spin_waves and (
            self.generator_output != "defect_residual"
            or self.noise_injection == "bottleneck"
            or self.noise_channels < 3
        ):
            raise ValueError(
                "spin_waves=True needs generator_output='defect_residual', noise_injection 'all' "
                "or 'fine' and noise_channels >= 3"
            )
        if self.spin_wave_stiffness == "calibrated" and not self.spin_waves:
            raise ValueError("spin_wave_stiffness='calibrated' needs spin_waves=True")
        if self.ema_decay is not None and not 0.0 < v.real("ema_decay", self.ema_decay) < 1.0:
            raise ValueError(f"ema_decay must lie in (0, 1) or be None, got {self.ema_decay}")
        v.nonnegative("energy_moments_weight", self.energy_moments_weight)
        v.nonnegative("current_moments_weight", self.current_moments_weight)
        v.nonnegative("spectrum_moments_weight", self.spectrum_moments_weight)
        v.choice("moments_groups", self.moments_groups, ("batch", "temperature"))
        if self.generator_output == "defect_residual" and self.noise_channels < 2:
            raise ValueError(
                "generator_output='defect_residual' draws its global rotation from two noise "
                f"channels, so noise_channels must be at least 2, got {self.noise_channels}"
            )
        if not isinstance(self.critic_instance_norm, bool):
            raise TypeError(
                f"critic_instance_norm must be a bool, got {self.critic_instance_norm!r}"
            )
        v.nonnegative("negative_slope", self.negative_slope)
        v.positive_int("epochs", self.epochs)
        v.positive_int("batch_size", self.batch_size)
        v.positive("lr", self.lr)
        if self.critic_lr is not None:
            v.positive("critic_lr", self.critic_lr)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {self.betas!r}")
        for i, b in enumerate(self.betas):
            if not 0.0 <= v.real(f"betas[{i}]", b) < 1.0:
                raise ValueError(f"betas[{i}] must lie in [0, 1), got {b}")
        v.positive_int("n_critic", self.n_critic)
        v.nonnegative("gp_weight", self.gp_weight)
        if self.physics_start_epoch is not None:
            v.nonnegative_int("physics_start_epoch", self.physics_start_epoch)
        if self.physics_lr is not None:
            v.positive("physics_lr", self.physics_lr)
        v.nonnegative("physics_weight", self.physics_weight)
        v.choice("physics_charge", self.physics_charge, _PHYSICS_CHARGES)
        v.choice("physics_target", self.physics_target, _PHYSICS_TARGETS)
        if self.physics_charge == "straight_through" and self.physics_target != "integer":
            raise ValueError(
                "physics_charge='straight_through' evaluates exact integer charges and needs "
                f"physics_target='integer', got physics_target={self.physics_target!r}"
            )
        if self.defect_weight is not None:
            v.positive("defect_weight", self.defect_weight)
        v.positive_int("monitor_samples", self.monitor_samples)
        v.positive_int("checkpoint_every", self.checkpoint_every)
        v.nonnegative_int("seed", self.seed)
        v.choice("accelerator", self.accelerator, ("auto", "cpu", "gpu"))

    @property
    def uses_moments(self) -> bool:
        """Whether any moment-matching loss is on (training batches then carry the targets)."""
        return (
            max(
                self.energy_moments_weight,
                self.current_moments_weight,
                self.spectrum_moments_weight,
            )
            > 0
        )


def gradient_penalty(
    critic: Any,
    real: torch.Tensor,
    fake: torch.Tensor,
    charges: torch.Tensor,
    temperatures: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""WGAN-GP penalty :math:`\langle(\lVert\nabla_{\hat x}D(\hat x, c)\rVert_2 - 1)^2\rangle`.

    The gradient norm is taken per sample over all spin components and sites, at
    :math:`\hat x = \epsilon x + (1 - \epsilon)\tilde x` with one :math:`\epsilon\sim U(0,1)` per
    sample. The result is differentiable with respect to the critic's parameters. Per-sample
    gradients come from the gradient of the summed scores, which is exact only for a critic
    that treats samples independently (no BatchNorm).

    Parameters
    ----------
    critic : callable
        ``critic(spins (B, 2, L, L), charges (B, L, L), temperatures (B,)) -> (B,)``.
    real, fake : Tensor, shape (B, 2, L, L)
        Real and generated spin fields (``fake`` is detached here).
    charges : Tensor, shape (B, L, L)
    temperatures : Tensor, shape (B,)
    generator : torch.Generator, optional
        Source of ε (on the device of ``real``).

    Returns
    -------
    Tensor, scalar
        The batch mean of the penalty (not multiplied by λ_GP).
    """
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape, got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}"
        )
    eps = torch.rand(
        (real.shape[0],) + (1,) * (real.ndim - 1),
        generator=generator,
        device=real.device,
        dtype=real.dtype,
    )
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat, charges, temperatures)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    # The tiny constant keeps the norm differentiable where the gradient vanishes.
    norm = torch.sqrt(grad.flatten(1).pow(2).sum(dim=1) + 1e-12)
    return (norm - 1.0).pow(2).mean()


def physics_loss(
    spins: torch.Tensor,
    charges: torch.Tensor,
    target: torch.Tensor | None = None,
    *,
    charge: Literal["soft", "straight_through"] = "soft",
    defect_weight: float | None = None,
) -> torch.Tensor:
    r"""The paper's physics loss :math:`\sum_r \alpha_r (k_r - k_r^{\mathrm{target}})^2`.

    Parameters
    ----------
    spins : Tensor, shape (B, 2, L, L)
        Generated spin fields (differentiable).
    charges : Tensor, shape (B, L, L)
        Conditioning charge maps: they set α_r (``defect_weight`` where non-zero, 1 elsewhere)
        and, when ``target`` is omitted, the target.
    target : Tensor, shape (B, L, L), optional
        Target charges (e.g. calibrated or paired soft charges); default ``charges``.
    charge : {"soft", "straight_through"}
        ``"soft"``: the paper's eq. (3). ``"straight_through"``: the exact integer charge in the
        forward pass with the gradient of eq. (3).
    defect_weight : float, optional
        α_r at non-zero charges; default N = L².

    Returns
    -------
    Tensor, scalar
        Sum over plaquettes, mean over the batch.

    Examples
    --------
    >>> from topophys.observables.charge import angles_to_spins
    >>> spins = angles_to_spins(torch.zeros(2, 4, 4))
    >>> float(physics_loss(spins, torch.zeros(2, 4, 4)))
    0.0
    """
    _validate.choice("charge", charge, _PHYSICS_CHARGES)
    if spins.ndim != 4 or spins.shape[1] != 2:
        raise ValueError(f"spins must have shape (batch, 2, L, L), got {tuple(spins.shape)}")
    if charges.shape != spins.shape[:1] + spins.shape[2:]:
        raise ValueError(
            f"charges must have shape {(spins.shape[0], *spins.shape[2:])} to match spins, "
            f"got {tuple(charges.shape)}"
        )
    if target is None:
        target = charges
    elif target.shape != charges.shape:
        raise ValueError(
            f"target must have the shape of charges {tuple(charges.shape)}, got "
            f"{tuple(target.shape)}"
        )
    n_sites = spins.shape[-1] * spins.shape[-2]
    weight = (
        float(n_sites)
        if defect_weight is None
        else _validate.positive("defect_weight", defect_weight)
    )
    k = soft_charge(spins)
    if charge == "straight_through":
        exact = plaquette_charge(spins_to_angles(spins.detach())).to(k.dtype)
        k = k + (exact - k).detach()
    alpha = torch.where(charges != 0, weight, 1.0).to(k.dtype)
    return (alpha * (k - target.to(k.dtype)).pow(2)).sum(dim=(-2, -1)).mean()


def moments_penalty(z: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
    r"""Unbiased batch estimate of :math:`\langle z\rangle^2 + (\langle z^2\rangle - 1)^2`.

    Squares of batch means are biased upwards by their variance (by about (1 + Var z²)/B, which
    as a loss would shrink the variance it is meant to match). The batch is split into halves
    a and b instead and the estimate is :math:`\bar z_a \bar z_b + (\overline{z^2}_a - 1)
    (\overline{z^2}_b - 1)`: for independent samples its expectation and that of its gradient
    are exactly those of the penalty of the law of z, which is 0 only at mean 0 and second
    moment 1. One batch's value can be negative.

    With ``groups`` the estimate is taken within each group (e.g. each temperature) and the
    groups' values are averaged: pooled over the whole batch, a group whose values run high
    can hide behind one that runs low (the pooled second moment is then still 1), and with
    several temperatures the coldest, whose statistics the critic resolves least, paid for it.

    Parameters
    ----------
    z : Tensor, shape (B,)
        Standardized values, B ≥ 2 (an odd last sample is left out).
    groups : Tensor, shape (B,), optional
        A label per sample; groups with fewer than two samples in the batch are left out.

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> float(moments_penalty(torch.tensor([1.0, 1.0, 1.0, 1.0])))
    1.0
    >>> z = torch.tensor([1.0, -1.0, 1.0, -1.0, 2.0, 2.0, 2.0, 2.0])
    >>> float(moments_penalty(z)), float(moments_penalty(z, torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])))
    (0.0, 6.5)
    """
    if z.ndim != 1 or z.shape[0] < 2:
        raise ValueError(f"z must have shape (B,) with B >= 2, got {tuple(z.shape)}")
    if groups is not None:
        if groups.shape != z.shape:
            raise ValueError(
                f"groups must have the shape of z {tuple(z.shape)}, got {tuple(groups.shape)}"
            )
        labels, counts = torch.unique(groups, return_counts=True)
        terms = [moments_penalty(z[groups == g]) for g in labels[counts >= 2]]
        if not terms:
            raise ValueError("groups must give at least one group two samples of the batch")
        return torch.stack(terms).mean()
    half = z.shape[0] // 2
    a, b = z[:half], z[half : 2 * half]
    return a.mean() * b.mean() + (a.pow(2).mean() - 1.0) * (b.pow(2).mean() - 1.0)


def _check_moment_targets(
    spins: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, tail: tuple[int, ...]
) -> None:
    """The moment losses' input checks: spins ``(B, 2, L, L)``, mean and std ``(B, *tail)``,
    std > 0."""
    if spins.ndim != 4 or spins.shape[1] != 2:
        raise ValueError(f"spins must have shape (batch, 2, L, L), got {tuple(spins.shape)}")
    expected = (spins.shape[0], *tail)
    for name, value in (("mean", mean), ("std", std)):
        if tuple(value.shape) != expected:
            raise ValueError(
                f"{name} must have shape {expected} to match spins, got {tuple(value.shape)}"
            )
    if not bool((std > 0).all()):
        raise ValueError("std must be > 0 for every sample")


def energy_moments_loss(
    spins: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Energy moment matching: :func:`moments_penalty` of the standardized energies.

    :math:`z = (E/N - \mu_c)/\sigma_c` with :math:`\mu_c, \sigma_c` the mean and standard
    deviation of E/N over the real fields of each sample's condition c. The penalty is taken
    over the whole batch, so it pulls the pooled standardized moments to (0, 1): it pulls ⟨E⟩
    and C_v of every condition towards the data, but an offset of one condition that another
    cancels is not penalized (the adversarial term sees each condition).

    Parameters
    ----------
    spins : Tensor, shape (B, 2, L, L)
        Generated spin fields (differentiable), B ≥ 2.
    mean, std : Tensor, shape (B,)
        μ_c and σ_c (> 0) of each sample's condition, in units of J per spin.
    groups : Tensor, shape (B,), optional
        Take the penalty per group (e.g. per temperature): :func:`moments_penalty`.

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> from topophys.observables.charge import angles_to_spins
    >>> spins = angles_to_spins(torch.zeros(2, 4, 4))
    >>> float(energy_moments_loss(spins, torch.tensor([-2.0, -2.0]), torch.tensor([1.0, 1.0])))
    1.0
    """
    _check_moment_targets(spins, mean, std, ())
    z = (spin_energy(spins) - mean.to(spins.dtype)) / std.to(spins.dtype)
    return moments_penalty(z, groups)


def current_moments_loss(
    spins: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Current moment matching: :func:`moments_penalty` of each standardized spin-current
    component, summed.

    :math:`z_\mu = (I_\mu/N - m_{c,\mu})/s_{c,\mu}` with :math:`I_\mu = J\sum_i
    \sin(\theta_{i+\hat\mu} - \theta_i)` and m, s the mean and standard deviation over the real
    fields of each sample's condition. The helicity modulus is
    :math:`\Upsilon = \frac1{2N}\sum_\mu[\langle\sum J\cos\rangle - \mathrm{Var}(I_\mu)/T]`:
    the variance of the current is the part of Υ that the energy terms do not fix.

    Parameters
    ----------
    spins : Tensor, shape (B, 2, L, L)
        Generated spin fields (differentiable), B ≥ 2.
    mean, std : Tensor, shape (B, 2)
        Per-condition mean and standard deviation (> 0) of (I_x, I_y)/N.
    groups : Tensor, shape (B,), optional
        Take the penalty per group (e.g. per temperature): :func:`moments_penalty`.

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> from topophys.observables.charge import angles_to_spins
    >>> spins = angles_to_spins(torch.zeros(4, 4, 4))
    >>> float(current_moments_loss(spins, torch.zeros(4, 2), torch.ones(4, 2)))
    2.0
    """
    _check_moment_targets(spins, mean, std, (2,))
    sums = spin_bond_sums(spins)
    current = torch.stack([sums["sin_x"], sums["sin_y"]], dim=1) / (spins.shape[-1] ** 2)
    z = (current - mean.to(spins.dtype)) / std.to(spins.dtype)
    return moments_penalty(z[:, 0], groups) + moments_penalty(z[:, 1], groups)


def spectrum_moments_loss(
    spins: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    groups: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Long-wave moment matching: :func:`moments_penalty` of the standardized structure factor
    in each of its three lowest shells, summed.

    :math:`z_k = (S_k - m_{c,k})/s_{c,k}` with :math:`S_k` the mean of
    :math:`S(\mathbf q) = |\sum_i \mathbf S_i e^{-i\mathbf q\cdot\mathbf r_i}|^2/N` over shell k
    (:func:`~topophys.observables.spins.structure_factor_shells`: q = 0, |q| = 2π/L,
    |q| = 2π√2/L) and m, s its mean and standard deviation over the real fields of each
    sample's condition. G(r) at large r is set by these shells; the adversarial game matches
    their power least well where the thermal long waves are weakest (T = 0.1, where the
    generated defect-free fields carried twice Monte Carlo's, ``docs/xy_pipeline.md``).

    Parameters
    ----------
    spins : Tensor, shape (B, 2, L, L)
        Generated spin fields (differentiable), B ≥ 2.
    mean, std : Tensor, shape (B, 3)
        Per-condition mean and standard deviation (> 0) of the three shells.
    groups : Tensor, shape (B,), optional
        Take the penalty per group (e.g. per temperature): :func:`moments_penalty`.

    Returns
    -------
    Tensor, scalar

    Examples
    --------
    >>> from topophys.observables.charge import angles_to_spins
    >>> spins = angles_to_spins(torch.zeros(4, 4, 4))
    >>> mean = torch.tensor([16.0, 0.0, 0.0]).expand(4, 3)
    >>> float(spectrum_moments_loss(spins, mean, torch.ones(4, 3)))  # right means, no spread
    3.0
    """
    _check_moment_targets(spins, mean, std, (3,))
    z = (structure_factor_shells(spins) - mean.to(spins.dtype)) / std.to(spins.dtype)
    return sum((moments_penalty(z[:, k], groups) for k in range(3)), torch.zeros((), dtype=z.dtype))


_MOMENT_LOSSES = {
    "energy_moments_loss": energy_moments_loss,
    "current_moments_loss": current_moments_loss,
    "spectrum_moments_loss": spectrum_moments_loss,
}
"""The moment-matching losses, in the order of their targets in a training batch (after the
angles, charges and temperatures: the mean, then the std of each); each is weighted by the
config field of its name with ``_loss`` replaced by ``_weight``."""


@dataclass
class _Monitor:
    """Fixed conditions and the real fields' observables, for the per-epoch curves."""

    charges: torch.Tensor  # (M, L, L) float
    temperatures: torch.Tensor  # (M,)
    real: dict[str, float]


def _seeded(seed: int, *key: int, device: torch.device) -> torch.Generator:
    state = np.random.SeedSequence([seed, *key]).generate_state(1, np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state))


class CWGANModule(L.LightningModule):
    """Lightning module of the conditional WGAN-GP (manual optimization).

    Parameters
    ----------
    config : CWGANConfig
    charge_scale : float, default 1.0
        κ of the ``"calibrated"`` physics target.
    monitor : _Monitor, optional
        Conditions and real observables for the per-epoch curves; none are computed without.
    history_path : Path, optional
        Where to (re)write the per-epoch history CSV.

    Attributes
    ----------
    generator : UNetGenerator
        The trained generator.
    generator_ema : UNetGenerator or None
        The moving average of its weights (``config.ema_decay``), or None.
    critic : Critic
    history : list of dict
        One record per finished epoch.
    """

    def __init__(
        self,
        config: CWGANConfig,
        charge_scale: float = 1.0,
        monitor: _Monitor | None = None,
        history_path: Path | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, CWGANConfig):
            raise TypeError(f"config must be a CWGANConfig, got {type(config).__name__}")
        self.config = config
        self.charge_scale = _validate.real("charge_scale", charge_scale)
        self.monitor = monitor
        self.history_path = history_path
        self.automatic_optimization = False
        self.generator = UNetGenerator(
            width=config.width,
            noise_channels=config.noise_channels,
            negative_slope=config.negative_slope,
            init=config.generator_init,
            output=config.generator_output,
            noise_injection=config.noise_injection,
            spin_waves=config.spin_waves,
            upsample=config.upsample,
            defect_base=config.defect_base,
            spin_wave_stiffness=config.spin_wave_stiffness,
        )
        self.generator_ema: UNetGenerator | None = None
        if config.ema_decay is not None:
            self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.critic = Critic(
            width=config.critic_width,
            instance_norm=config.critic_instance_norm,
            negative_slope=config.negative_slope,
        )
        self.history: list[dict[str, Any]] = []
        self.critic_steps = 0
        self.generator_steps = 0
        self._sums: dict[str, list[Any]] = {}
        self._epoch_start = 0.0

    # -- optimization -----------------------------------------------------------------------
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        cfg = self.config
        betas = (float(cfg.betas[0]), float(cfg.betas[1]))
        return [
            torch.optim.Adam(self.generator.parameters(), lr=cfg.lr, betas=betas),
            torch.optim.Adam(self.critic.parameters(), lr=self._critic_lr(), betas=betas),
        ]

    def _critic_lr(self) -> float:
        return self.config.lr if self.config.critic_lr is None else self.config.critic_lr

    @property
    def physics_on(self) -> bool:
        """Whether the current epoch is in the physics phase."""
        start = self.config.physics_start_epoch
        return start is not None and self.current_epoch >= start

    def _optimizers(self) -> tuple[LightningOptimizer, LightningOptimizer]:
        """The generator's and the critic's (Lightning-wrapped) optimizers, in that order."""
        opts = self.optimizers()
        if not isinstance(opts, list) or len(opts) != 2:
            raise RuntimeError("configure_optimizers must return the generator's and critic's")
        return opts[0], opts[1]

    def on_train_epoch_start(self) -> None:
        cfg = self.config
        physics = self.physics_on and cfg.physics_lr is not None
        opt_g, opt_c = self._optimizers()
        for opt, lr in ((opt_g, cfg.lr), (opt_c, self._critic_lr())):
            for group in opt.param_groups:
                group["lr"] = cfg.physics_lr if physics else lr
        self._sums = {}
        self._epoch_start = time.perf_counter()

    def _accumulate(self, **values: torch.Tensor) -> None:
        for name, value in values.items():
            entry = self._sums.setdefault(name, [0.0, 0])
            entry[0] = entry[0] + value.detach()
            entry[1] += 1

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        cfg = self.config
        theta, charges, temperatures = batch[:3]
        charges = charges.to(theta.dtype)
        real = angles_to_spins(theta)
        n, side = charges.shape[0], charges.shape[-1]
        opt_g, opt_c = self._optimizers()

        rng = _seeded(cfg.seed, self.critic_steps, 0, device=self.device)
        with torch.no_grad():
            noise = self.generator.sample_noise(n, side, generator=rng)
            fake = self.generator(charges, temperatures, noise)
        # One pass over real and generated fields: the critic treats samples independently.
        scores = self.critic(
            torch.cat([real, fake]), torch.cat([charges, charges]), temperatures.repeat(2)
        )
        wasserstein = scores[:n].mean() - scores[n:].mean()
        gp = gradient_penalty(self.critic, real, fake, charges, temperatures, generator=rng)
        loss_c = -wasserstein + cfg.gp_weight * gp
        opt_c.zero_grad(set_to_none=True)
        self.manual_backward(loss_c)
        opt_c.step()
        self.critic_steps += 1
        self._accumulate(critic_loss=loss_c, wasserstein=wasserstein, gradient_penalty=gp)

        if self.critic_steps % cfg.n_critic:
            return
        rng = _seeded(cfg.seed, self.critic_steps, 1, device=self.device)
        self.toggle_optimizer(opt_g)  # freezes the critic's parameters
        try:
            noise = self.generator.sample_noise(n, side, generator=rng)
            fake = self.generator(charges, temperatures, noise)
            loss_g = -self.critic(fake, charges, temperatures).mean()
            if self.physics_on:
                if cfg.physics_target == "integer":
                    target = charges
                elif cfg.physics_target == "calibrated":
                    target = self.charge_scale * charges
                else:
                    target = soft_charge(real)
                phys = physics_loss(
                    fake,
                    charges,
                    target,
                    charge=cfg.physics_charge,
                    defect_weight=cfg.defect_weight,
                )
                self._accumulate(physics_loss=phys)
                loss_g = loss_g + cfg.physics_weight * phys
            if cfg.uses_moments and len(batch) < 3 + 2 * len(_MOMENT_LOSSES):
                raise ValueError(
                    "energy_moments_weight, current_moments_weight or spectrum_moments_weight "
                    "> 0 needs batches (angles, charges, temperatures, then the mean and std of "
                    "the energy, the current and the spectrum shells of each sample's "
                    "condition); train with train_cwgan, which adds them"
                )
            groups = temperatures if cfg.moments_groups == "temperature" else None
            for k, (name, loss_fn) in enumerate(_MOMENT_LOSSES.items()):
                weight = getattr(cfg, name.replace("_loss", "_weight"))
                if weight > 0:
                    moments = loss_fn(fake, batch[3 + 2 * k], batch[4 + 2 * k], groups)
                    self._accumulate(**{name: moments})
                    loss_g = loss_g + weight * moments
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
        finally:
            self.untoggle_optimizer(opt_g)
        if self.generator_ema is not None and cfg.ema_decay is not None:  # both or neither
            s = self.generator_steps
            decay = min(float(cfg.ema_decay), (1.0 + s) / (10.0 + s))
            with torch.no_grad():
                for avg, p in zip(
                    self.generator_ema.parameters(), self.generator.parameters(), strict=True
                ):
                    avg.lerp_(p, 1.0 - decay)
        self.generator_steps += 1
        self._accumulate(generator_loss=loss_g)

    @property
    def final_generator(self) -> UNetGenerator:
        """The generator to use: the weight average when ``ema_decay`` is set."""
        return self.generator if self.generator_ema is None else self.generator_ema

    # -- monitoring -------------------------------------------------------------------------
    @torch.no_grad()
    def monitor_observables(self) -> dict[str, float]:
        """Observables of generated fields on the monitor conditions (fixed noise)."""
        if self.monitor is None:
            return {}
        generator = self.final_generator
        q = self.monitor.charges.to(self.device)
        t = self.monitor.temperatures.to(self.device)
        side = q.shape[-1]
        rng = torch.Generator().manual_seed(self.config.seed)
        noise = [
            generator.sample_noise(q.shape[0], side, generator=rng, device="cpu") for _ in range(2)
        ]
        was_training = generator.training
        generator.eval()
        try:
            spins = [generator(q, t, z.to(self.device)) for z in noise]
        finally:
            generator.train(was_training)
        theta = spins_to_angles(spins[0])
        k = plaquette_charge(theta)
        theta_np = theta.double().cpu().numpy()
        return {
            "gen_vorticity": float(k.abs().sum(dim=(-2, -1)).double().mean()),
            "gen_magnetization": float(magnetization(theta_np).mean()),
            "gen_energy": float(energy(theta_np).mean()),
            "charge_fidelity": float(
                (k == q.round().long()).all(dim=-1).all(dim=-1).double().mean()
            ),
            "gen_noise_sensitivity": float(
                (0.5 * (1.0 - (spins[0] * spins[1]).sum(dim=1))).double().mean()
            ),
        }

    def on_train_epoch_end(self) -> None:
        record: dict[str, Any] = {
            "epoch": self.current_epoch,
            "critic_steps": self.critic_steps,
            "generator_steps": self.generator_steps,
            "physics_on": int(self.physics_on),
            "lr": self._optimizers()[0].param_groups[0]["lr"],
        }
        for name in ("critic_loss", "wasserstein", "gradient_penalty", "generator_loss"):
            total, count = self._sums.get(name, (0.0, 0))
            # An epoch shorter than n_critic steps has no generator step: an empty cell.
            record[name] = float(total) / count if count else None
        for name in ("physics_loss", *_MOMENT_LOSSES):
            total, count = self._sums.get(name, (0.0, 0))
            record[name] = float(total) / count if count else None
        record.update(self.monitor_observables())
        if self.monitor is not None:
            record.update({f"real_{k}": v for k, v in self.monitor.real.items()})
        record["seconds"] = time.perf_counter() - self._epoch_start
        for name, value in record.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise FloatingPointError(
                    f"training diverged: {name} = {value} at epoch {self.current_epoch}"
                )
        self.history.append(record)
        if self.history_path is not None:
            _write_history(self.history_path, self.history)

    # -- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["cwgan"] = {
            "config": self.config.to_dict(),
            "charge_scale": self.charge_scale,
            "critic_steps": self.critic_steps,
            "generator_steps": self.generator_steps,
            "history": self.history,
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["cwgan"]
        self.charge_scale = float(state["charge_scale"])
        self.critic_steps = int(state["critic_steps"])
        self.generator_steps = int(state["generator_steps"])
        self.history = list(state["history"])


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for record in history:
        columns += [c for c in record if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    atomic_write_text(path, buffer.getvalue())


def _training_arrays(
    angles: Any, charges: Any, temperatures: Any, factor: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    theta = np.asarray(angles, dtype=np.float32)
    if theta.ndim != 3 or theta.shape[1] != theta.shape[2]:
        raise ValueError(f"angles must have shape (n, L, L), got {theta.shape}")
    n, side = theta.shape[0], theta.shape[1]
    if n == 0:
        raise ValueError("angles must hold at least one field, got n = 0")
    if side == 0 or side % factor:
        raise ValueError(
            f"the lattice side L={side} must be a positive multiple of {factor} "
            f"(the U-Net halves it {int(math.log2(factor))} times)"
        )
    if not np.isfinite(theta).all():
        raise ValueError("angles contains NaN or infinite values")
    q = np.asarray(charges)
    if q.shape != theta.shape:
        raise ValueError(f"charges must have the shape of angles {theta.shape}, got {q.shape}")
    if not np.issubdtype(q.dtype, np.number) or np.any(q != np.round(q)):
        raise ValueError("charges must hold integer topological charges")
    if np.abs(q).max(initial=0) > 2:
        raise ValueError(f"charges must lie in [-2, 2], got max |k| = {np.abs(q).max()}")
    t = np.asarray(temperatures, dtype=np.float64)
    if t.ndim == 0:
        t = np.full(n, float(t))
    if t.shape != (n,):
        raise ValueError(f"temperatures must be a scalar or have shape ({n},), got {t.shape}")
    if not (np.isfinite(t).all() and (t > 0).all()):
        raise ValueError(f"temperatures must be finite and > 0, got min {t.min()}")
    theta_t = torch.from_numpy(theta)
    q_t = torch.from_numpy(q.astype(np.int8))
    # The conditions must be the fields' own charge maps (checked in chunks to bound memory).
    for start in range(0, n, 4096):
        bad = plaquette_charge(theta_t[start : start + 4096]) != q_t[start : start + 4096].long()
        if bool(bad.any()):
            i = start + int(bad.flatten(1).any(dim=1).nonzero()[0, 0])
            raise ValueError(
                f"charges[{i}] is not the plaquette charge map of angles[{i}] "
                "(see topophys.observables.charge.plaquette_charge)"
            )
    return theta_t, q_t, torch.from_numpy(t.astype(np.float32))


def _condition_groups(charges: torch.Tensor, temperatures: torch.Tensor) -> np.ndarray:
    """Index of each field's condition (T, charge map), ``(n,)``; every condition needs two."""
    keys: dict[tuple[float, bytes], int] = {}
    group = np.empty(charges.shape[0], dtype=np.int64)
    for i in range(charges.shape[0]):
        key = (float(temperatures[i]), charges[i].numpy().tobytes())
        group[i] = keys.setdefault(key, len(keys))
    counts = np.bincount(group)
    if counts.min() < 2:
        i = int(np.flatnonzero(counts[group] < 2)[0])
        raise ValueError(
            "a moments weight > 0 needs at least two training "
            f"fields per condition (T, charge map); the condition of field {i} "
            f"(T = {float(temperatures[i]):g}) has one"
        )
    return group


def _group_moments(values: np.ndarray, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample mean and standard deviation of ``values (n,)`` over its group."""
    counts = np.bincount(group)
    mean = np.bincount(group, weights=values) / counts
    var = np.bincount(group, weights=(values - mean[group]) ** 2) / (counts - 1)
    return mean[group], np.sqrt(var)[group]


def _condition_moments(
    theta: torch.Tensor, charges: torch.Tensor, temperatures: torch.Tensor
) -> list[torch.Tensor]:
    """Per-sample mean and standard deviation over the fields of its condition (T, map), in the
    order of :data:`_MOMENT_LOSSES`: of E/N (``(n,)`` each), of the spin current per spin
    (I_x, I_y)/N (``(n, 2)`` each) and of the three lowest structure-factor shells
    (``(n, 3)`` each)."""
    group = _condition_groups(charges, temperatures)
    # In chunks: a float64 copy of a paper-scale dataset would take half a gigabyte.
    chunks = [theta[i : i + 4096].double().numpy() for i in range(0, len(group), 4096)]
    bonds = [bond_sums(c) for c in chunks]
    n_sites = theta.shape[-1] * theta.shape[-2]
    sums = {k: np.concatenate([b[k] for b in bonds]) / n_sites for k in bonds[0]}
    mean, std = _group_moments(-(sums["cos_x"] + sums["cos_y"]), group)
    if (std <= 0).any():
        i = int(np.flatnonzero(std <= 0)[0])
        raise ValueError(
            f"the training fields of the condition of field {i} all have the same energy: "
            "the moment losses need a spread"
        )
    out = [mean, std]
    pairs = [_group_moments(sums[k], group) for k in ("sin_x", "sin_y")]
    out.append(np.stack([m for m, _ in pairs], axis=1))
    # A current that never fluctuates (a symmetric map) is standardized by a floor.
    out.append(np.maximum(np.stack([s for _, s in pairs], axis=1), 1e-6))
    shells = np.concatenate(
        [structure_factor_shells(np.stack([np.cos(c), np.sin(c)], axis=1)) for c in chunks]
    )
    pairs = [_group_moments(shells[:, k], group) for k in range(3)]
    out.append(np.stack([m for m, _ in pairs], axis=1))
    out.append(np.maximum(np.stack([s for _, s in pairs], axis=1), 1e-6))
    return [torch.from_numpy(a.astype(np.float32)) for a in out]


def _calibrate(theta: torch.Tensor, charges: torch.Tensor, limit: int = 4096) -> float:
    """κ: mean of sign(k)·soft charge over the defect plaquettes of (up to ``limit``) fields."""
    k = charges[:limit].to(torch.float32)
    soft = soft_charge(angles_to_spins(theta[:limit]))
    mask = k != 0
    if not bool(mask.any()):
        return 1.0
    return float((soft * torch.sign(k))[mask].mean())


def _make_monitor(
    theta: torch.Tensor, charges: torch.Tensor, temperatures: torch.Tensor, size: int, seed: int
) -> _Monitor:
    idx = np.sort(np.random.default_rng([seed, 1]).permutation(theta.shape[0])[:size])
    th = theta[idx]
    q = charges[idx].to(torch.float32)
    th_np = th.double().numpy()
    real = {
        "vorticity": float(q.abs().sum(dim=(-2, -1)).double().mean()),
        "magnetization": float(magnetization(th_np).mean()),
        "energy": float(energy(th_np).mean()),
    }
    return _Monitor(charges=q, temperatures=temperatures[idx], real=real)


def train_cwgan(
    config: CWGANConfig,
    angles: Any,
    charges: Any,
    temperatures: Any,
    run_dir: str | Path,
    *,
    resume: bool = True,
    progress: bool | None = None,
) -> tuple[UNetGenerator, list[dict[str, Any]]]:
    """Train the conditional WGAN-GP on simulated fields.

    Parameters
    ----------
    config : CWGANConfig
    angles : array-like, shape (n, L, L)
        Spin angles (radians); L a multiple of 16.
    charges : array-like, shape (n, L, L)
        The fields' plaquette charge maps (:func:`~topophys.observables.charge.plaquette_charge`).
    temperatures : array-like of shape (n,), or float
        Temperature of each field, > 0.
    run_dir : path
        Output directory (config, history, checkpoints, generator).
    resume : bool, default True
        Continue from ``run_dir/checkpoints/last.ckpt`` when present. The saved config must
        equal ``config`` up to ``epochs`` and ``checkpoint_every``; a larger ``epochs`` extends the
        run. ``False`` starts afresh and overwrites.
    progress : bool, optional
        Lightning's progress bar; ``None`` shows it only on a terminal.

    Returns
    -------
    generator : UNetGenerator
        The trained generator (the weight average when ``ema_decay`` is set), on the CPU, in
        eval mode.
    history : list of dict
        One record per epoch (also ``run_dir/history.csv``); see the module notes.
    """
    if not isinstance(config, CWGANConfig):
        raise TypeError(f"config must be a CWGANConfig, got {type(config).__name__}")
    run_dir = Path(run_dir)
    factor = 2 ** len(PAPER_ENCODER_CHANNELS)
    theta, q, t = _training_arrays(angles, charges, temperatures, factor)
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    config_path = run_dir / "config.yaml"
    resuming = resume and ckpt.exists()
    if resuming and config_path.exists():
        saved = CWGANConfig.from_yaml(config_path).to_dict()
        current = config.to_dict()
        changed = sorted(k for k in current if current[k] != saved.get(k))
        if set(changed) - _RESUMABLE_CHANGES:
            raise ValueError(
                f"cannot resume {run_dir}: its config differs in {', '.join(changed)}; "
                "use another run_dir or resume=False"
            )
    elif not resuming:
        ckpt.unlink(missing_ok=True)
        (run_dir / "history.csv").unlink(missing_ok=True)
    config.to_yaml(config_path)

    torch.manual_seed(config.seed)
    module = CWGANModule(
        config,
        charge_scale=_calibrate(theta, q) if config.physics_target == "calibrated" else 1.0,
        monitor=_make_monitor(theta, q, t, config.monitor_samples, config.seed),
        history_path=run_dir / "history.csv",
    )
    if config.defect_base == "blend":
        from ..simulate.xy import blend_weight_table

        table = blend_weight_table(theta.numpy(), q.numpy(), t.numpy())
        for generator in (module.generator, module.generator_ema):
            if generator is not None:
                generator.set_base_weights(*table)
    if config.spin_wave_stiffness == "calibrated":
        # After the blend: the prior whose energy is matched includes the base field.
        stiffnesses = calibrate_wave_stiffness(
            module.generator, theta.numpy(), q.numpy(), t.numpy(), seed=config.seed
        )
        for generator in (module.generator, module.generator_ema):
            if generator is not None:
                generator.set_wave_stiffnesses(*stiffnesses)
    sampler = EpochBatchSampler(theta.shape[0], config.batch_size, config.seed, drop_last=True)
    tensors = [theta, q, t]
    if config.uses_moments:
        tensors.extend(_condition_moments(theta, q, t))
    loader = DataLoader(TensorDataset(*tensors), batch_size=None, sampler=sampler)
    show_progress = want_progress(progress)
    with warnings.catch_warnings(), quiet_lightning(not show_progress):
        # Data live in memory as tensors: loader workers would only add process overhead.
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer = L.Trainer(
            max_epochs=config.epochs,
            accelerator=config.accelerator,
            devices=1,
            logger=False,
            callbacks=[LastCheckpoint(ckpt, config.checkpoint_every)],
            default_root_dir=run_dir,
            enable_progress_bar=show_progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        trainer.fit(module, loader, ckpt_path=ckpt if resuming else None, weights_only=True)
    generator = module.final_generator.cpu().eval()
    save_generator(generator, run_dir / "generator.pt")
    return generator, list(module.history)
