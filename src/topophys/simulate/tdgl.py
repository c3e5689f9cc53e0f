r"""Time-dependent Ginzburg–Landau (TDGL) magnetic-domain dynamics.

The field :math:`\phi(\mathbf r)` (mean perpendicular magnetization of a grid cell) follows the
gradient flow :math:`\partial_t\phi = -\delta H/\delta\phi` of

.. math::

    H = \int a(\mathbf r)\Big(-\frac{\phi^2}{2} + \frac{\phi^4}{4}\Big)
        + \frac{\beta}{2}\int|\nabla\phi|^2
        + \gamma\iint \frac{\phi(\mathbf r)\phi(\mathbf r')}{|\mathbf r-\mathbf r'|^3}
        - h(t)\int\phi,

with :math:`h(t) = h_\mathrm{init} - v t` for :math:`t < T_0 = h_\mathrm{init}/v` and 0 after,
run to :math:`2T_0` (Kudo et al. 2007; Mototake et al.). The papers fix β = 2, γ = 2/π,
λ ~ N(0, 0.3²), h_init = 1.5, v = 0.01 and α ∈ [1, 4]. Everything else is ours, named in
:class:`TDGLConfig` and documented in ``docs/tdgl.md``:

* **Disorder reading.** The papers write α λ(r) with zero-mean λ, which taken literally makes the
  quartic term change sign and blows up. We use :math:`a(\mathbf r) = \alpha\max(1+\lambda(\mathbf
  r), \text{floor})` with floor 0.1.
* **Dipolar kernel.** ``"continuum"`` (default): the Fourier symbol of the regularized
  :math:`1/r^3` kernel, :math:`-2\pi|k|`, with the divergent constant (the k = 0 term) removed;
  the constant only renormalizes the local anisotropy. ``"lattice"``: the literal periodic lattice
  sum :math:`dx^2\sum_{\mathbf n\neq0} 1/|\mathbf r_\mathbf n|^3`, whose large positive constant
  suppresses domains altogether.
* **Dipolar factor.** The force is ``dipolar_factor``·γ·K φ. The literal functional derivative of
  the double integral counts each pair twice, giving 2 (default); 1 reads the integral as a sum
  over pairs.
* **Grid spacing** dx = 0.25, **Laplacian** five-point, **initial state** the local equilibrium
  under h_init plus small noise.

Integration is first-order IMEX pseudo-spectral on a periodic grid: the linear operator
:math:`L` (exchange and dipolar) and a stabilizing constant S implicit in Fourier space, the local
nonlinearity and the field explicit, one ``rfft2`` + one ``irfft2`` per step:

.. math::

    \hat\phi^{n+1} = \frac{\mathcal F\big[\phi^n(1 + \Delta t\,S + \Delta t\,a)
        - \Delta t\,a\,(\phi^n)^3 + \Delta t\,h(t_n)\big]}{1 + \Delta t\,(S + \hat L(k))}.

The discrete energy is non-increasing at constant h whenever
:math:`1/\Delta t + S \ge (L_F + \max(0, -\min_k \hat L))/2` with :math:`L_F` the largest
curvature of the local term; ``stabilizer=None`` picks S from an estimate of L_F
(:meth:`TDGLModel.minimal_stabilizer`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _validate
from ..config import Config

__all__ = [
    "ALPHA_RANGE",
    "TDGLBlowUpError",
    "TDGLConfig",
    "TDGLModel",
    "TDGLResult",
    "dipolar_symbol",
    "disorder_field",
    "field_at",
    "simulate",
    "snapshot_steps",
    "tdgl_energy",
]

ALPHA_RANGE = (0.05, 20.0)
"""Anisotropies accepted by the simulator; the papers use [1, 4]."""

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class TDGLConfig(Config):
    """Physics, discretization and output schedule of a TDGL run.

    Lengths are in the papers' dimensionless units (grid spacing ``dx``), times likewise.

    Parameters
    ----------
    size
        Grid points per side of the square periodic grid.
    dx
        Grid spacing. Sets the physical box ``size * dx`` and so the number of domains.
    dt
        Time step. 0.02 reproduces T_init within 1% of dt = 0.005; 0.05 keeps the pattern
        statistics and suits quick runs.
    beta, gamma
        Exchange and dipolar constants (papers: 2.0 and 2/π).
    dipolar_kernel
        ``"continuum"`` (−2π|k|, k = 0 term removed) or ``"lattice"`` (literal periodic sum).
    dipolar_factor
        Multiplier of γ in the force: 2 is the literal functional derivative.
    lattice_images
        Periodic images per direction summed by the ``"lattice"`` kernel.
    laplacian
        ``"five-point"`` (nearest-neighbour exchange) or ``"spectral"`` (−k²).
    disorder_std
        Standard deviation of the random anisotropy λ(r) (papers: 0.3).
    disorder_floor
        Lower bound of 1 + λ, so the local anisotropy stays positive.
    h_init
        Initial (saturating) field.
    sweep_rate
        Field decay rate v; 0 holds h = h_init (then ``t_end`` is required).
    t_end
        End time; ``None`` means 2·T0 = 2·h_init/v.
    initial
        ``"saturated"``: the local equilibrium under h_init plus noise; ``"random"``: noise only.
    initial_noise
        Standard deviation of the initial noise.
    stabilizer
        The constant S of the scheme; ``None`` derives it from an amplitude estimate so the
        energy decreases (0 at the default dt = 0.02).
    n_snapshots
        Stored snapshots per run, t = 0 included.
    snapshot_schedule
        ``"geometric"`` (dense early, where the dynamics are fast) or ``"linear"``.
    t_first_snapshot
        Time of the first snapshot after t = 0 in the geometric schedule.
    dtype
        ``"float32"`` or ``"float64"``.
    """

    size: int = 128
    dx: float = 0.25
    dt: float = 0.02
    beta: float = 2.0
    gamma: float = 2.0 / math.pi
    dipolar_kernel: Literal["continuum", "lattice"] = "continuum"
    dipolar_factor: float = 2.0
    lattice_images: int = 2
    laplacian: Literal["five-point", "spectral"] = "five-point"
    disorder_std: float = 0.3
    disorder_floor: float = 0.1
    h_init: float = 1.5
    sweep_rate: float = 0.01
    t_end: float | None = None
    initial: Literal["saturated", "random"] = "saturated"
    initial_noise: float = 0.01
    stabilizer: float | None = None
    n_snapshots: int = 48
    snapshot_schedule: Literal["geometric", "linear"] = "geometric"
    t_first_snapshot: float = 1.0
    dtype: Literal["float32", "float64"] = "float32"

    def __post_init__(self) -> None:
        v = _validate
        v.positive_int("size", self.size)
        if self.size < 4:
            raise ValueError(f"size must be at least 4 grid points, got {self.size}")
        v.positive("dx", self.dx)
        v.positive("dt", self.dt)
        v.nonnegative("beta", self.beta)
        v.nonnegative("gamma", self.gamma)
        v.choice("dipolar_kernel", self.dipolar_kernel, ("continuum", "lattice"))
        v.nonnegative("dipolar_factor", self.dipolar_factor)
        v.nonnegative_int("lattice_images", self.lattice_images)
        v.choice("laplacian", self.laplacian, ("five-point", "spectral"))
        v.nonnegative("disorder_std", self.disorder_std)
        v.in_range("disorder_floor", self.disorder_floor, 1e-6, 1.0)
        v.real("h_init", self.h_init)
        v.nonnegative("sweep_rate", self.sweep_rate)
        if self.t_end is None:
            if self.sweep_rate == 0:
                raise ValueError("t_end must be given when sweep_rate is 0 (T0 is infinite)")
        else:
            v.positive("t_end", self.t_end)
        v.choice("initial", self.initial, ("saturated", "random"))
        v.nonnegative("initial_noise", self.initial_noise)
        if self.stabilizer is not None:
            v.nonnegative("stabilizer", self.stabilizer)
        v.positive_int("n_snapshots", self.n_snapshots)
        v.choice("snapshot_schedule", self.snapshot_schedule, ("geometric", "linear"))
        v.positive("t_first_snapshot", self.t_first_snapshot)
        v.choice("dtype", self.dtype, tuple(_DTYPES))
        steps = self.end_time / self.dt
        if not steps <= 2**53:  # also catches an overflow to inf
            raise ValueError(
                f"t_end / dt = {self.end_time:g} / {self.dt:g} = {steps:g} time steps cannot be "
                "counted in float64 (at most 2**53); raise dt or lower t_end (t_end None: "
                "2·h_init/sweep_rate)"
            )
        if self.n_steps < 1:
            raise ValueError(f"t_end={self.end_time} is shorter than one step dt={self.dt}")
        if self.n_snapshots > self.n_steps + 1:
            raise ValueError(
                f"n_snapshots={self.n_snapshots} exceeds the {self.n_steps + 1} time steps "
                f"of the run (t_end={self.end_time}, dt={self.dt})"
            )

    @property
    def field_off_time(self) -> float:
        """T0 = |h_init| / v, when the external field reaches zero (inf when v = 0)."""
        return math.inf if self.sweep_rate == 0 else abs(self.h_init) / self.sweep_rate

    @property
    def end_time(self) -> float:
        """Last simulated time: ``t_end`` or 2·T0."""
        return self.t_end if self.t_end is not None else 2.0 * self.field_off_time

    @property
    def n_steps(self) -> int:
        """Number of time steps to ``end_time``."""
        return math.ceil(self.end_time / self.dt - 1e-9)

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]


def field_at(config: TDGLConfig, t: np.ndarray | float) -> np.ndarray:
    """External field h(t) = sign(h_init)·max(|h_init| − v t, 0), same shape as ``t``."""
    _validate.instance("config", config, TDGLConfig)
    t = _validate.real_array("t", t)
    magnitude = np.maximum(abs(config.h_init) - config.sweep_rate * t, 0.0)
    return np.copysign(magnitude, config.h_init)


def snapshot_steps(config: TDGLConfig) -> np.ndarray:
    """Step indices of the stored snapshots: ``(n_snapshots,)`` int64, strictly increasing.

    Step 0 (the initial state) and the last step are always included. The geometric schedule
    spaces the others logarithmically from ``t_first_snapshot`` to the end.
    """
    _validate.instance("config", config, TDGLConfig)
    n, last = config.n_snapshots, config.n_steps
    if n == 1:
        return np.array([last], dtype=np.int64)
    if config.snapshot_schedule == "linear":
        target = np.linspace(0.0, last, n)
    else:
        t_first = min(config.t_first_snapshot, config.end_time)
        target = np.concatenate([[0.0], np.geomspace(t_first / config.dt, last, n - 1)])
    steps = np.rint(target).astype(np.int64)
    for i in range(1, n):  # rounding may collide at early times: keep strictly increasing
        steps[i] = max(steps[i], steps[i - 1] + 1)
    # ... without running past the end (n <= last + 1 is validated by the config)
    return np.minimum(steps, last - (n - 1 - np.arange(n)))


def disorder_field(seed: int, size: int, std: float) -> np.ndarray:
    """Random anisotropy λ(r) ~ N(0, std²) of one run: ``(size, size)`` float64.

    Drawn from a CPU ``torch.Generator`` seeded with ``seed`` so that it is the same for every
    device, dtype and batch composition.
    """
    seed, size = _validate.seed("seed", seed), _validate.positive_int("size", size)
    std = _validate.nonnegative("std", std)
    if std > 1e100:
        raise ValueError(f"std must be of order 1 (a relative anisotropy), got {std:g}")
    _validate.fits_in_memory("size", 16.0 * size * size, f"a {size}² field")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return (std * torch.randn((size, size), generator=gen, dtype=torch.float64)).numpy()


def _initial_noise(seed: int, size: int, std: float) -> np.ndarray:
    gen = torch.Generator(device="cpu").manual_seed(int(seed) + 0x9E3779B9)
    return (std * torch.randn((size, size), generator=gen, dtype=torch.float64)).numpy()


def local_equilibrium(a: np.ndarray, h: float) -> np.ndarray:
    """The largest real root of a(φ³ − φ) = h, pointwise (the state saturated along h).

    Newton's method from above converges monotonically because the cubic is convex there.
    """
    c = np.abs(h) / np.asarray(a, dtype=np.float64)
    phi = 1.0 + c
    for _ in range(60):
        phi = phi - (phi**3 - phi - c) / (3 * phi**2 - 1)
    return np.sign(h) * phi if h != 0 else np.ones_like(phi)


def _wavenumbers(size: int, dx: float) -> tuple[np.ndarray, np.ndarray]:
    ky = 2 * np.pi * np.fft.fftfreq(size, d=dx)[:, None]
    kx = 2 * np.pi * np.fft.rfftfreq(size, d=dx)[None, :]
    return ky, kx


def lattice_kernel(size: int, dx: float, images: int) -> np.ndarray:
    """Real-space periodic dipolar kernel of the ``"lattice"`` convention: ``(size, size)``.

    g(n) = dx² Σ_r 1/|dx·r|³ over the displacements r ≡ n (mod size), r ≠ 0, with
    max(|r_x|, |r_y|) ≤ (images + ½)·size, a truncation symmetric under r → −r. Then
    ``(K φ)_j = Σ_n g(n) φ_{j−n}`` approximates ∫ φ(r')/|r − r'|³ dr' on the periodic box.
    """
    reach = (images + 0.5) * size
    m = np.arange(-images - 1, images + 2)
    r = np.arange(size)[:, None] + size * m[None, :]  # (size, K) candidate displacements per axis
    keep = np.abs(r) <= reach
    r2 = (r[:, :, None, None] ** 2 + r[None, None, :, :] ** 2).astype(np.float64)
    mask = keep[:, :, None, None] & keep[None, None, :, :] & (r2 > 0)
    with np.errstate(divide="ignore"):
        terms = np.where(mask, r2**-1.5, 0.0)
    return terms.sum(axis=(1, 3)) / dx


def dipolar_symbol(config: TDGLConfig) -> np.ndarray:
    """Fourier symbol K(k) of the dipolar operator on the rfft2 grid: ``(size, size//2+1)``.

    ``"continuum"``: −2π|k| (k = 0 term 0). ``"lattice"``: the DFT of :func:`lattice_kernel`.
    """
    _validate.instance("config", config, TDGLConfig)
    if config.dipolar_kernel == "continuum":
        ky, kx = _wavenumbers(config.size, config.dx)
        return -2 * np.pi * np.sqrt(ky**2 + kx**2)
    g = lattice_kernel(config.size, config.dx, config.lattice_images)
    return np.fft.rfft2(g).real


def laplacian_symbol(config: TDGLConfig) -> np.ndarray:
    """κ²(k) ≥ 0 such that −∇² ↦ κ², on the rfft2 grid: ``(size, size//2+1)``."""
    ky, kx = _wavenumbers(config.size, config.dx)
    if config.laplacian == "spectral":
        return ky**2 + kx**2
    h = config.dx
    return (4 / h**2) * (np.sin(ky * h / 2) ** 2 + np.sin(kx * h / 2) ** 2)


def linear_symbol(config: TDGLConfig) -> np.ndarray:
    """L̂(k) = β κ²(k) + factor·γ·K(k), the implicit linear part: ``(size, size//2+1)``."""
    return config.beta * laplacian_symbol(config) + (
        config.dipolar_factor * config.gamma * dipolar_symbol(config)
    )


class TDGLBlowUpError(FloatingPointError):
    """The field became non-finite: the time step is too large for these parameters."""


@dataclass
class TDGLResult:
    """Snapshots of a batch of runs.

    Attributes
    ----------
    fields
        ``(runs, time, y, x)`` snapshots of φ in the run's dtype.
    t
        ``(time,)`` snapshot times.
    h
        ``(time,)`` external field at the snapshot times.
    t_init
        ``(runs,)`` first time with min φ < 0 (NaN when φ stayed non-negative).
    alpha, seed
        ``(runs,)`` anisotropy and seed of each run.
    """

    fields: np.ndarray
    t: np.ndarray
    h: np.ndarray
    t_init: np.ndarray
    alpha: np.ndarray
    seed: np.ndarray


class TDGLModel:
    """The discretized TDGL system for a batch of runs, on one device.

    Parameters
    ----------
    config
        Physics and discretization.
    alpha
        ``(runs,)`` anisotropies.
    disorder
        ``(runs, size, size)`` random anisotropy λ(r) (see :func:`disorder_field`).
    device
        torch device of the state.

    Notes
    -----
    The state φ is a ``(runs, size, size)`` tensor in ``config.dtype``. Use :meth:`step` to
    advance it, :meth:`energy` and :meth:`force` to inspect it.
    """

    def __init__(
        self,
        config: TDGLConfig,
        alpha: Sequence[float] | np.ndarray,
        disorder: np.ndarray,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = _validate.instance("config", config, TDGLConfig)
        self.alpha = _validate.vector("alpha", alpha)
        for i, a in enumerate(self.alpha):
            _validate.in_range(f"alpha[{i}]", a, *ALPHA_RANGE)
        _validate.torch_device("device", device)
        disorder = _validate.real_array("disorder", disorder)
        expected = (self.alpha.size, config.size, config.size)
        if disorder.shape != expected:
            raise ValueError(
                f"disorder must have shape {expected} (one field per alpha), got {disorder.shape}"
            )
        if not np.isfinite(disorder).all():
            raise ValueError("disorder contains non-finite values")
        self.device = torch.device(device)
        self.dtype = config.torch_dtype
        self.disorder = disorder
        # a(r) = α max(1 + λ, floor): the local anisotropy (see module notes).
        self.anisotropy = self.alpha[:, None, None] * np.maximum(
            1.0 + disorder, config.disorder_floor
        )
        self.linear = linear_symbol(config)
        # Per run, so a run's trajectory does not depend on the batch it runs in.
        self.stabilizer = (
            np.full(self.alpha.size, config.stabilizer)
            if config.stabilizer is not None
            else self.minimal_stabilizer()
        )
        dt, s = config.dt, self.stabilizer[:, None, None]
        as_t = self._tensor
        self._a = as_t(self.anisotropy)
        self._lin = as_t(self.linear)
        # Factors of the update, precomputed so a step is one fused multiply-add chain + FFTs.
        self._explicit_linear = as_t(1.0 + dt * s + dt * self.anisotropy)
        self._explicit_cubic = as_t(dt * self.anisotropy)
        # One shared factor when the runs agree on S (the usual case) saves memory traffic.
        s_implicit = s[:1] if np.all(self.stabilizer == self.stabilizer[0]) else s
        self._implicit_inverse = as_t(1.0 / (1.0 + dt * (s_implicit + self.linear)))
        n = self.alpha.size
        self._buf = torch.empty((n, config.size, config.size), dtype=self.dtype, device=self.device)
        self._spec = torch.empty(
            (n, config.size, config.size // 2 + 1),
            dtype=torch.complex64 if self.dtype == torch.float32 else torch.complex128,
            device=self.device,
        )
        self._hterm = torch.zeros((), dtype=self.dtype, device=self.device)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=self.dtype, device=self.device)

    def minimal_stabilizer(self) -> np.ndarray:
        """Per-run S ≥ 0 with 1/dt + S ≥ (L_F + max(0, −min L̂))/2: ``(runs,)``.

        That inequality makes the discrete energy non-increasing. L_F, the largest curvature
        a(3φ² − 1) of the local term, needs the largest amplitude the run will reach; we
        estimate it per site as φ² ≤ 1 + (max(−L̂) + |h|)/a (the most unstable linear mode
        saturated by the quartic; never below the saturated state) and add 25% for transients.
        This is an estimate, not a bound: the tests check energy decrease up to dt = 0.25;
        raise ``stabilizer`` if a run oscillates.
        """
        concave = max(0.0, -float(self.linear.min()))
        a = self.anisotropy
        h = abs(self.config.h_init)
        amplitude2 = np.maximum(local_equilibrium(a, h) ** 2, 1.0 + (concave + h) / a)
        curvature = 1.25 * (a * (3 * amplitude2 - 1)).max(axis=(-2, -1))
        return np.maximum(0.0, 0.5 * (curvature + concave) - 1.0 / self.config.dt)

    def initial_state(self, noise: np.ndarray | None = None) -> torch.Tensor:
        """φ at t = 0: ``(runs, size, size)``; ``noise`` is added (same shape) when given."""
        cfg = self.config
        if cfg.initial == "saturated":
            phi = local_equilibrium(self.anisotropy, cfg.h_init)
        else:
            phi = np.zeros_like(self.anisotropy)
        if noise is not None:
            phi = phi + noise
        return self._tensor(phi)

    def apply_linear(self, phi: torch.Tensor) -> torch.Tensor:
        """L φ (exchange + dipolar force), ``(runs, size, size)``."""
        spec = torch.fft.rfft2(phi) * self._lin
        return torch.fft.irfft2(spec, s=phi.shape[-2:])

    def force(self, phi: torch.Tensor, h: float) -> torch.Tensor:
        """δH/δφ = a(φ³ − φ) + Lφ − h: ``(runs, size, size)``."""
        return self._a * (phi**3 - phi) + self.apply_linear(phi) - h

    def energy(self, phi: torch.Tensor, h: float) -> np.ndarray:
        """Discrete H[φ] of each run, ``(runs,)`` float64.

        H = dx² Σ [a(−φ²/2 + φ⁴/4) − hφ + ½ φ·Lφ], the energy whose gradient the scheme follows.
        """
        p = phi.to(torch.float64)
        a = self._a.to(torch.float64)
        spec = torch.fft.rfft2(p) * self._lin.to(torch.float64)
        lin = torch.fft.irfft2(spec, s=p.shape[-2:])
        density = a * (-(p**2) / 2 + p**4 / 4) - h * p + 0.5 * p * lin
        return (density.sum(dim=(-2, -1)) * self.config.dx**2).cpu().numpy()

    def step(self, phi: torch.Tensor, h: float) -> torch.Tensor:
        """Advance φ by one time step in place under field ``h`` and return it."""
        buf, spec = self._buf, self._spec
        torch.mul(phi, phi, out=buf)
        torch.addcmul(self._explicit_linear, self._explicit_cubic, buf, value=-1.0, out=buf)
        self._hterm.fill_(self.config.dt * h)
        torch.addcmul(self._hterm, phi, buf, out=buf)
        torch.fft.rfft2(buf, out=spec)
        spec.mul_(self._implicit_inverse)
        torch.fft.irfft2(spec, s=phi.shape[-2:], out=phi)
        return phi


def simulate(
    config: TDGLConfig,
    alpha: Sequence[float] | np.ndarray,
    seed: Sequence[int] | np.ndarray,
    *,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> TDGLResult:
    """Run a batch of TDGL runs together and return their snapshots.

    Parameters
    ----------
    config
        Physics, discretization and snapshot schedule.
    alpha, seed
        ``(runs,)`` anisotropy and random seed of each run. The seed fixes the disorder λ(r)
        and the initial noise, independently of the batch it runs in.
    device
        torch device; CPU and CUDA follow the same code path.
    progress
        Show a progress bar over time steps (``None``: only on a terminal).

    Returns
    -------
    TDGLResult

    Raises
    ------
    TDGLBlowUpError
        If a run's field becomes non-finite; the message names the run, the time and a dt to try.
    """
    _validate.instance("config", config, TDGLConfig)
    alpha, seeds = _validate.vector("alpha", alpha), _validate.seed_vector("seed", seed)
    _validate.torch_device("device", device)
    _validate.fits_in_memory(
        "alpha",
        alpha.size * config.size**2 * (config.n_snapshots * 8 + 160) + 8.0 * config.n_steps,
        f"{alpha.size} runs on a config.size={config.size}² grid",
    )
    if alpha.size != seeds.size:
        raise ValueError(
            f"alpha and seed must have the same length, got {alpha.size} and {seeds.size}"
        )
    if alpha.size == 0:
        raise ValueError("alpha must name at least one run")
    if not np.issubdtype(seeds.dtype, np.integer):
        raise TypeError(f"seed must be integers, got dtype {seeds.dtype}")
    size = config.size
    disorder = np.stack([disorder_field(int(s), size, config.disorder_std) for s in seeds])
    noise = np.stack([_initial_noise(int(s), size, config.initial_noise) for s in seeds])
    model = TDGLModel(config, alpha, disorder, device=device)
    phi = model.initial_state(noise)

    steps = snapshot_steps(config)
    n_runs, n_steps, dt = alpha.size, config.n_steps, config.dt
    fields = np.empty((n_runs, steps.size, size, size), dtype=np.dtype(config.dtype))
    times = steps * dt
    h_steps = field_at(config, np.arange(n_steps + 1) * dt)

    monitor = _MinimumMonitor(alpha, seeds, dt, model)
    monitor.record(phi)  # the initial state, step 0
    next_snap = 0
    if steps[0] == 0:
        fields[:, 0] = phi.cpu().numpy()
        next_snap = 1
    disable = None if progress is None else not progress
    with tqdm(total=n_steps, desc="TDGL steps", disable=disable, leave=False) as bar:
        for n in range(1, n_steps + 1):
            model.step(phi, float(h_steps[n - 1]))
            monitor.record(phi)
            if next_snap < steps.size and n == steps[next_snap]:
                monitor.flush()
                fields[:, next_snap] = phi.cpu().numpy()
                next_snap += 1
                bar.update(n - bar.n)
        monitor.flush()
        bar.update(n_steps - bar.n)
    return TDGLResult(
        fields=fields,
        t=times.astype(np.float64),
        h=h_steps[steps],
        t_init=monitor.t_init,
        alpha=alpha,
        seed=seeds.astype(np.int64),
    )


class _MinimumMonitor:
    """Per-step spatial minima of φ, kept on the device and read back in chunks.

    One reduction per step finds both T_init (min φ < 0) and blow-ups (non-finite min) without
    a device synchronization every step.
    """

    def __init__(self, alpha: np.ndarray, seeds: np.ndarray, dt: float, model: TDGLModel) -> None:
        self.alpha, self.seeds, self.dt = alpha, seeds, dt
        self.t_init = np.full(alpha.size, np.nan)
        self._minima = torch.empty((256, alpha.size), dtype=model.dtype, device=model.device)
        self._first_step = 0  # step index of row 0 of the buffer
        self._filled = 0

    def record(self, phi: torch.Tensor) -> None:
        if self._filled == self._minima.shape[0]:
            self.flush()
        torch.amin(phi, dim=(-2, -1), out=self._minima[self._filled])
        self._filled += 1

    def flush(self) -> None:
        count, first = self._filled, self._first_step
        self._first_step, self._filled = first + count, 0
        if not count:
            return
        m = self._minima[:count].cpu().numpy().astype(np.float64)
        bad = ~np.isfinite(m)
        if bad.any():
            row, run = np.argwhere(bad)[0]
            step = first + int(row)
            raise TDGLBlowUpError(
                f"run {run} (alpha={self.alpha[run]:g}, seed={int(self.seeds[run])}) became "
                f"non-finite at t={step * self.dt:.4g} (step {step}); try a smaller dt, e.g. "
                f"dt={self.dt / 2:g}, or a larger stabilizer"
            )
        negative = m < 0
        for run in np.flatnonzero(np.isnan(self.t_init) & negative.any(axis=0)):
            self.t_init[run] = (first + int(np.argmax(negative[:, run]))) * self.dt


def tdgl_energy(
    config: TDGLConfig,
    fields: np.ndarray,
    alpha: Sequence[float] | np.ndarray,
    seed: Sequence[int] | np.ndarray,
    h: float | Sequence[float] | np.ndarray,
    *,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The TDGL energy H[φ, h] of stored snapshots, as the simulator defines it.

    ``H = dx² Σ_r [a(r)(−φ²/2 + φ⁴/4) − hφ + ½ φ·(Lφ)]`` with the run's local anisotropy
    a(r) = α·max(1 + λ(r), floor), its disorder λ(r) drawn from ``seed`` exactly as
    :func:`simulate` draws it, and L the exchange and dipolar operator of ``config``: the
    functional whose gradient flow the scheme integrates (see :meth:`TDGLModel.energy`).
    Evaluated in float64.

    Parameters
    ----------
    config
        The configuration that produced the fields.
    fields : ndarray, shape (R, T, S, S) or (R, S, S)
        Snapshots of R runs (S = ``config.size``).
    alpha, seed : array_like, shape (R,)
        Anisotropy and seed of each run.
    h : float or array_like, shape (T,)
        External field at each snapshot (one value for (R, S, S) fields).

    Returns
    -------
    ndarray, shape (R, T) or (R,)
        Energy in the papers' dimensionless units (extensive: it scales with the box area).

    Examples
    --------
    >>> cfg = TDGLConfig(size=16, dt=0.05, n_snapshots=4, t_end=2.0, sweep_rate=0.0)
    >>> res = simulate(cfg, alpha=[2.0], seed=[0])
    >>> e = tdgl_energy(cfg, res.fields, res.alpha, res.seed, res.h)
    >>> e.shape, bool((e[0, 2:] <= e[0, 1:-1]).all())
    ((1, 4), True)
    """
    if not isinstance(config, TDGLConfig):
        raise TypeError(f"config must be a TDGLConfig, got {type(config).__name__}")
    phi = np.asarray(fields)
    if not np.issubdtype(phi.dtype, np.floating):
        raise TypeError(f"fields must be a real float array, got dtype {phi.dtype}")
    single = phi.ndim == 3
    if single:
        phi = phi[:, None]
    side = (config.size, config.size)
    if phi.ndim != 4 or phi.shape[2:] != side:
        raise ValueError(
            f"fields must have shape (runs, times, {config.size}, {config.size}) or "
            f"(runs, {config.size}, {config.size}), got {np.shape(fields)}"
        )
    if not np.isfinite(phi).all():
        raise ValueError("fields contain non-finite values")
    n_runs, n_times = phi.shape[:2]
    alpha = np.asarray(alpha, dtype=np.float64).reshape(-1)
    seeds = np.asarray(seed).reshape(-1)
    if alpha.size != n_runs or seeds.size != n_runs:
        raise ValueError(
            f"alpha and seed must have one value per run ({n_runs}), got {alpha.size} and "
            f"{seeds.size}"
        )
    if not np.issubdtype(seeds.dtype, np.integer):
        raise TypeError(f"seed must be integers, got dtype {seeds.dtype}")
    h_arr = np.asarray(h, dtype=np.float64).reshape(-1)
    if h_arr.size != n_times:
        raise ValueError(f"h must have one value per snapshot ({n_times}), got {h_arr.size}")
    if not np.isfinite(h_arr).all():
        raise ValueError("h contains non-finite values")
    disorder = np.stack([disorder_field(int(s), config.size, config.disorder_std) for s in seeds])
    model = TDGLModel(config.replace(dtype="float64"), alpha, disorder, device=device)
    out = np.empty((n_runs, n_times))
    for i in range(n_times):
        out[:, i] = model.energy(model._tensor(phi[:, i]), float(h_arr[i]))
    return out[:, 0] if single else out
