r"""Monte Carlo of the 2-D XY model, optionally with every plaquette charge held fixed.

The model is :math:`H = -J\sum_{\langle ij\rangle}\cos(\theta_i-\theta_j)` on a periodic ``L×L``
lattice (k_B = 1). :class:`XYSampler` advances many independent replicas at once with
checkerboard sweeps in torch (the same code on CPU and CUDA):

* **Metropolis**: θ' = θ + δ·U(−1, 1), accepted with probability min(1, e^{−ΔE/T}). δ is per
  replica, tuned towards 50 % acceptance during equilibration and then frozen, so the chain that
  produces samples satisfies detailed balance.
* **Over-relaxation** (optional): the microcanonical reflection θ' = 2φ − θ about the local field
  direction φ; it keeps the energy and decorrelates spin waves cheaply.
* **Constraint** (the paper's, ``constrained=True``): a move is also rejected when it would change
  the charge of any of the four plaquettes around the spin (:mod:`topophys.observables.charge`
  convention), so a prescribed defect map is held exactly at any temperature. Writing the wrapped
  difference of bond ``s → n`` as ``(n − s) − 2π w_n``, the four plaquettes keep their charges iff
  the move changes the wrap counts ``w_n`` of the four neighbours by the same integer; that is the
  test, done in the sampler's dtype with the same arithmetic as
  :func:`~topophys.observables.charge.plaquette_charge`. The two checkerboard colours never share
  a bond, and the two same-colour corners of a plaquette touch disjoint bond pairs, so updating a
  whole colour at once keeps every charge. The constraint also fixes the winding of every row and
  column of the torus (the twist sector); the initial states below start in the sector of least
  spin-wave energy.

Initial states carrying prescribed charges (:func:`defect_field`): the lattice solution with the
given plaquette circulations 2πk and no divergence (a lattice Poisson problem, solved by FFT), plus
the uniform twist of least energy that makes every winding an integer; a bond whose difference
lands within 0.05 of ±π (two adjacent opposite charges share a bond at exactly π) is pulled back
by rotating its two ends, so that the wrapped differences reproduce the map. The sampler then
relaxes it at the target temperature.

Datasets (:func:`simulate_condition`, :func:`write_dataset`): for every temperature T and pair
distance d of an :class:`XYConfig`, ``samples`` fields from ``n_replicas`` chains, each chain
equilibrated for ``equilibration_sweeps`` and sampled every ``decorrelation_sweeps``; one sweep is
one Metropolis sweep followed by ``overrelaxation`` over-relaxation sweeps. The integrated
autocorrelation time of the energy (in sweeps) is measured on every condition.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _validate
from ..config import Config
from ..observables.charge import plaquette_charge
from ..observables.spins import energy, spin_energy

__all__ = [
    "XYConfig",
    "XYSampler",
    "XYSamples",
    "defect_field",
    "integrated_autocorrelation_time",
    "lattice_distance_key",
    "pair_charge_map",
    "pair_displacement",
    "simulate_condition",
    "write_dataset",
]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI  # same constant and operation as observables.charge
_PULLBACK_PASSES = 50
_TIE_MARGIN = 0.05  # how far initial bond differences are kept from ±π


# Longest pair distance searched for (the search takes time proportional to d).
_MAX_DISTANCE = 1e5


def pair_displacement(d: float, *, tol: float = 0.01) -> tuple[int, int]:
    """Lattice displacement ``(dy, dx)`` of a defect pair at distance ``d``.

    ``d`` must be √(dx² + dy²) for integers ``dx ≥ dy ≥ 0`` within ``tol`` (so the paper's rounded
    values 1.41, 2.24, 4.12, … are accepted); among several such vectors (d = 5: (0, 5) and
    (3, 4)) the one with the smallest ``dy`` is returned.

    Examples
    --------
    >>> pair_displacement(0), pair_displacement(1.41), pair_displacement(4.12), pair_displacement(5)
    ((0, 0), (1, 1), (1, 4), (0, 5))
    """
    d = _validate.nonnegative("d", d)
    tol = _validate.nonnegative("tol", tol)
    if d > _MAX_DISTANCE:
        raise ValueError(f"d={d:g} is longer than any lattice here (at most {_MAX_DISTANCE:g})")
    n = round(d * d)
    for dy in range(math.isqrt(n // 2) + 1):
        dx = math.isqrt(n - dy * dy)
        if dx * dx + dy * dy == n and dx >= dy:
            if abs(math.sqrt(n) - d) > tol:
                break
            return dy, dx
    raise ValueError(
        f"d={d} is not a lattice distance √(dx² + dy²) with integers dx, dy (within tol={tol}); "
        "valid: 0, 1, √2 ≈ 1.41, 2, √5 ≈ 2.24, √8 ≈ 2.83, 3, √10 ≈ 3.16, …"
    )


def lattice_distance_key(d: float) -> int:
    """d² as an integer, the exact identity of a lattice distance (1.41 and √2 agree).

    Examples
    --------
    >>> lattice_distance_key(1.41) == lattice_distance_key(2**0.5) == 2
    True
    """
    dy, dx = pair_displacement(d)
    return dx * dx + dy * dy


def _check_even_l(L: Any) -> int:
    L = _validate.positive_int("L", L)
    if L % 2 or L < 4:
        raise ValueError(
            f"L must be even and at least 4 for the two-colour checkerboard, got L={L}"
        )
    return L


def pair_charge_map(L: int, d: float) -> np.ndarray:
    """Charge map ``(L, L)`` int8 of one vortex (+1) and one antivortex (−1) at distance ``d``.

    The vortex sits at plaquette ``((L − 1 − dy)//2, (L − 1 − dx)//2)`` and the antivortex at
    ``+(dy, dx)`` from it (:func:`pair_displacement`), so the pair is centred; ``d = 0`` gives the
    defect-free map. Requires ``dx, dy ≤ L/2`` so that ``d`` is also the minimum-image distance.

    Examples
    --------
    >>> k = pair_charge_map(8, 2.24)
    >>> [((int(i), int(j)), int(k[i, j])) for i, j in np.argwhere(k)]
    [((3, 2), 1), ((4, 4), -1)]
    """
    L = _validate.positive_int("L", L)
    _validate.fits_in_memory("L", float(L) * L, f"an {L} × {L} charge map")
    if _validate.nonnegative("d", d) > L:
        raise ValueError(f"d={d:g} is longer than the lattice side L={L}")
    dy, dx = pair_displacement(d)
    k = np.zeros((L, L), dtype=np.int8)
    if dx == 0:
        return k
    if dx > L // 2:
        raise ValueError(
            f"d={d} needs a displacement of {dx} plaquettes, more than L/2={L // 2}: on the torus "
            "the pair would be closer through the boundary"
        )
    i0, j0 = (L - 1 - dy) // 2, (L - 1 - dx) // 2
    k[i0, j0] = 1
    k[i0 + dy, j0 + dx] = -1
    return k


def _charge_map(charges: Any) -> np.ndarray:
    try:
        arr = np.asarray(charges)
    except (TypeError, ValueError):
        raise TypeError(f"charges must be an integer (L, L) map, got {charges!r:.60}") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
        raise ValueError(f"charges must be a square (L, L) map with L >= 2, got shape {arr.shape}")
    integral = (arr.dtype != bool and np.issubdtype(arr.dtype, np.integer)) or (
        np.issubdtype(arr.dtype, np.floating)
        and bool(np.all(np.abs(arr) < 2**31))
        and bool(np.all(arr == np.round(arr)))
    )
    if not integral:
        raise TypeError(f"charges must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    total = int(arr.sum())
    if total != 0:
        raise ValueError(
            f"charges sum to {total}, but the total charge on a torus is always zero; "
            "add compensating (anti)vortices"
        )
    return arr


def defect_field(charges: Any, angle: float = 0.0) -> np.ndarray:
    """Angles ``(L, L)`` float64 whose plaquette charges are exactly ``charges``.

    Parameters
    ----------
    charges
        ``(L, L)`` integer map (plaquette convention of :mod:`topophys.observables.charge`),
        summing to zero.
    angle
        Angle of site ``(0, 0)`` (a global rotation).

    Notes
    -----
    The bond differences v solve curl v = 2πk and div v = 0 on the torus (v = the lattice curl of
    ψ with Δψ = 2πk), plus the uniform twist of least energy for which every row and column
    winding is an integer; θ integrates v from site (0, 0). Bonds within 0.05 of ±π are pulled
    back by rotating their two ends, repeatedly while that pushes another bond out (dense maps).

    Raises
    ------
    ValueError
        If the map is not square, does not sum to zero, or is too dense to realize with every
        bond difference inside (−π, π) (thermal maps up to T = 2 J are realized; a map of whole
        rows of equal charges is not).
    TypeError
        If it is not integer-valued.
    """
    k = _charge_map(charges)
    # Any real angle is a global rotation; wrapped first so huge values stay exact enough.
    angle = math.remainder(_validate.real("angle", angle), 2 * math.pi)
    L = k.shape[0]
    freq = 2 * np.pi * np.fft.fftfreq(L)
    lam = -(4 * np.sin(freq[:, None] / 2) ** 2 + 4 * np.sin(freq[None, :] / 2) ** 2)
    lam[0, 0] = 1.0  # the mean of ψ is free; the k = 0 source is zero for a neutral map
    k_hat = np.fft.fft2(_TWO_PI * k)
    k_hat[0, 0] = 0.0
    psi = np.fft.ifft2(k_hat / lam).real
    # vx[i, j] on bond (i,j)→(i,j+1) (below plaquette (i,j)), vy[i, j] on (i,j)→(i+1,j) (left of
    # it); then the counter-clockwise circulation of plaquette (i, j) is the Laplacian of ψ.
    vx = np.roll(psi, 1, axis=0) - psi
    vy = psi - np.roll(psi, 1, axis=1)
    for v, axis in ((vx, 1), (vy, 0)):
        windings = v.sum(axis=axis)  # circulations of rows (vx) or columns (vy)
        w = np.round((windings[0] - windings.mean()) / _TWO_PI)
        v += (_TWO_PI * w - windings[0]) / L
    theta = np.empty((L, L))
    theta[0] = angle + np.concatenate([[0.0], np.cumsum(vx[0, :-1])])
    theta[1:] = theta[0] + np.cumsum(vy[:-1], axis=0)

    def shift_site(i: int, j: int, s: float) -> None:
        # A gauge move: the site's four bonds change, no circulation does.
        theta[i, j] += s
        vx[i, j] -= s
        vx[i, (j - 1) % L] += s
        vy[i, j] -= s
        vy[(i - 1) % L, j] += s

    # The charges read from θ equal k iff every bond difference stays inside (−π, π). Pulling a
    # long bond back moves the other bonds of its two sites, which in a dense map (thermal
    # vortices above T_BKT) can push one of those out: repeat until the map is right.
    for _ in range(_PULLBACK_PASSES):
        for v, axis in ((vx, 1), (vy, 0)):
            excess = np.abs(v) - (np.pi - _TIE_MARGIN)
            for i, j in np.argwhere(excess > 0):
                shift = 0.5 * (excess[i, j] + 1e-3) * np.sign(v[i, j])
                ni, nj = (i, (j + 1) % L) if axis == 1 else ((i + 1) % L, j)
                shift_site(i, j, shift)
                shift_site(ni, nj, -shift)
        if np.array_equal(plaquette_charge(theta), k):
            return theta
    raise ValueError(
        f"defect_field could not realize the charges: after {_PULLBACK_PASSES} passes some bond "
        "difference still reaches ±π. Maps this dense may have no such field (e.g. whole rows "
        "of equal charges need bonds of exactly ±π)"
    )


@dataclass(frozen=True)
class XYConfig(Config):
    """Physics, sampling schedule and dataset of XY Monte Carlo runs.

    Parameters
    ----------
    L
        Sites per side of the periodic lattice; even (checkerboard), at least 4.
    J
        Ferromagnetic coupling (> 0); energies are in units of J.
    temperatures
        Temperatures T > 0 (units of J/k_B); one dataset condition per (T, d).
    distances
        Vortex–antivortex distances d of the prescribed charge maps (0 = no defects); each must
        be a lattice distance √(dx² + dy²) with dx, dy ≤ L/2 (:func:`pair_displacement`).
    samples
        Fields stored per condition.
    n_replicas
        Independent chains run together per condition (at most ``samples`` are used); each
        gives ⌈samples / chains⌉ fields.
    equilibration_sweeps
        Sweeps before the first sample (the step size is tuned during the first half).
    decorrelation_sweeps
        Sweeps between two samples of a chain.
    overrelaxation
        Over-relaxation sweeps after each Metropolis sweep (0: none).
    constrained
        Hold every plaquette charge fixed (the paper's constraint).
    step_size
        Metropolis proposal half-width δ in radians; ``None`` tunes it per chain.
    dtype
        ``"float32"`` or ``"float64"`` for the sampler (fields are stored as float32).
    seed
        Base seed; each condition's stream derives from (seed, T, d) alone.
    """

    L: int = 16
    J: float = 1.0
    temperatures: tuple[float, ...] = (0.1,)
    distances: tuple[float, ...] = (0.0,)
    samples: int = 1000
    n_replicas: int = 250
    equilibration_sweeps: int = 1000
    decorrelation_sweeps: int = 20
    overrelaxation: int = 1
    constrained: bool = True
    step_size: float | None = None
    dtype: Literal["float32", "float64"] = "float32"
    seed: int = 0

    def __post_init__(self) -> None:
        v = _validate
        # Lists from YAML or ints from Python become tuples of floats, so equal configs dump equal.
        for name in ("temperatures", "distances"):
            values = getattr(self, name)
            if not isinstance(values, (list, tuple)):
                raise TypeError(f"{name} must be a list of numbers, got {values!r}")
            for i, x in enumerate(values):
                v.real(f"{name}[{i}]", x)
            object.__setattr__(self, name, tuple(float(x) for x in values))
        _check_even_l(self.L)
        v.positive("J", self.J)
        if not self.temperatures:
            raise ValueError("temperatures must name at least one temperature")
        for i, t in enumerate(self.temperatures):
            _check_temperature(f"temperatures[{i}]", t)
        if not self.distances:
            raise ValueError("distances must name at least one distance (0: no defects)")
        for i, d in enumerate(self.distances):
            try:
                pair_charge_map(self.L, d)  # raises on a non-lattice or too-long distance
            except ValueError as err:
                raise ValueError(f"distances[{i}]: {err}") from None
        v.positive_int("samples", self.samples)
        v.positive_int("n_replicas", self.n_replicas)
        v.nonnegative_int("equilibration_sweeps", self.equilibration_sweeps)
        v.positive_int("decorrelation_sweeps", self.decorrelation_sweeps)
        v.nonnegative_int("overrelaxation", self.overrelaxation)
        if not isinstance(self.constrained, bool):
            raise TypeError(f"constrained must be true or false, got {self.constrained!r}")
        if self.step_size is not None:
            v.in_range("step_size", self.step_size, 1e-6, math.pi)
        v.choice("dtype", self.dtype, tuple(_DTYPES))
        v.seed("seed", self.seed)
        # Memory of one condition's samples, checked here rather than after the first sweeps.
        v.fits_in_memory("samples", 12.0 * self.samples * self.L**2, f"{self.samples} fields")

    @property
    def conditions(self) -> list[tuple[float, float]]:
        """All (T, d) pairs, temperature-major; d as the exact lattice distance."""
        exact = [math.hypot(*pair_displacement(d)) for d in self.distances]
        return [(float(t), d) for t in self.temperatures for d in exact]


def _sublattices(theta: torch.Tensor) -> torch.Tensor:
    """(R, L, L) → (4, R, L/2, L/2): sublattices (even, even), (odd, odd), (even, odd), (odd, even).

    The first two form checkerboard colour 0, the last two colour 1.
    """
    r, L, _ = theta.shape
    h = L // 2
    x = theta.reshape(r, h, 2, h, 2)
    return torch.stack([x[:, :, 0, :, 0], x[:, :, 1, :, 1], x[:, :, 0, :, 1], x[:, :, 1, :, 0]])


def _assemble(sub: torch.Tensor) -> torch.Tensor:
    _, r, h, _ = sub.shape
    x = sub.new_empty((r, h, 2, h, 2))
    x[:, :, 0, :, 0], x[:, :, 1, :, 1], x[:, :, 0, :, 1], x[:, :, 1, :, 0] = sub
    return x.reshape(r, 2 * h, 2 * h)


def _neighbours(sub: torch.Tensor, color: int) -> tuple[torch.Tensor, ...]:
    """(right, left, down, up) neighbours of the two sublattices of ``color``: each (2, R, h, h).

    "right" is +x (column + 1), "down" is +y (row + 1). Derived from the block layout
    ``theta[2a + p, 2b + q] = S_pq[a, b]``.
    """
    a, b, c, d = sub[0], sub[1], sub[2], sub[3]  # S00, S11, S01, S10
    roll = torch.roll
    if color == 0:  # targets S00, S11; neighbours on S01 (c), S10 (d)
        return (
            torch.stack([c, roll(d, -1, -1)]),
            torch.stack([roll(c, 1, -1), d]),
            torch.stack([d, roll(c, -1, -2)]),
            torch.stack([roll(d, 1, -2), c]),
        )
    # targets S01, S10; neighbours on S00 (a), S11 (b)
    return (
        torch.stack([roll(a, -1, -1), b]),
        torch.stack([a, roll(b, 1, -1)]),
        torch.stack([b, roll(a, -1, -2)]),
        torch.stack([roll(b, 1, -2), a]),
    )


def _field(sub: torch.Tensor, color: int) -> torch.Tensor:
    """Sum of the four neighbours of the two sublattices of ``color``: (2, R, h, h)."""
    a, b, c, d = sub[0], sub[1], sub[2], sub[3]
    roll = torch.roll
    if color == 0:
        first = c + roll(c, 1, -1) + d + roll(d, 1, -2)
        second = d + roll(d, -1, -1) + c + roll(c, -1, -2)
    else:
        first = a + roll(a, -1, -1) + b + roll(b, 1, -2)
        second = b + roll(b, 1, -1) + a + roll(a, -1, -2)
    return torch.stack([first, second])


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return x - _TWO_PI * torch.round(x * _INV_TWO_PI)


class XYSampler:
    """Many XY replicas on one device, advanced by checkerboard sweeps.

    Parameters
    ----------
    theta
        ``(R, L, L)`` initial angles (numpy or torch); L even, at least 4.
    temperature
        One temperature or ``(R,)`` per replica, each > 0.
    J
        Coupling (> 0).
    constrained
        Reject every move that would change a plaquette charge (module notes).
    step_size
        Initial Metropolis half-width δ (one value or ``(R,)``); ``None``: min(π, 2√T).
    seed
        Seed of the sampler's torch generator (on ``device``).
    device, dtype
        Where and in which precision the replicas live.

    Examples
    --------
    >>> import numpy as np
    >>> s = XYSampler(np.zeros((4, 8, 8)), temperature=0.5, seed=1)
    >>> s.sweep(20)
    >>> s.theta.shape, bool((s.energy() > -2).all())
    (torch.Size([4, 8, 8]), True)
    """

    def __init__(
        self,
        theta: Any,
        temperature: float | Sequence[float] | np.ndarray,
        *,
        J: float = 1.0,
        constrained: bool = False,
        step_size: float | Sequence[float] | np.ndarray | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        dtype: str = "float32",
    ) -> None:
        _validate.choice("dtype", dtype, tuple(_DTYPES))
        self.device = torch.device(_validate.torch_device("device", device))
        self.dtype = _DTYPES[dtype]
        if isinstance(theta, torch.Tensor):
            theta = theta.detach().to(device=self.device, dtype=self.dtype)
        else:
            theta = torch.tensor(
                _validate.real_array("theta", theta, finite=False),
                dtype=self.dtype,
                device=self.device,
            )
        if theta.ndim != 3 or theta.shape[1] != theta.shape[2]:
            raise ValueError(f"theta must have shape (R, L, L), got {tuple(theta.shape)}")
        self.L = _check_even_l(int(theta.shape[-1]))
        if not bool(torch.isfinite(theta).all()):
            raise ValueError("theta contains NaN or infinite values")
        self.n_replicas = int(theta.shape[0])
        self.J = _validate.positive("J", J)
        self.constrained = _validate.boolean("constrained", constrained)
        if np.ndim(temperature) == 0:
            _validate.positive("temperature", temperature)
        temps = self._per_replica("temperature", temperature)
        for i, t in enumerate(temps):
            _validate.positive(f"temperature[{i}]", t)
        if step_size is None:
            steps = np.minimum(math.pi, 2.0 * np.sqrt(temps))
        else:
            steps = self._per_replica("step_size", step_size)
            for s in steps:
                _validate.in_range("step_size", s, 1e-6, math.pi)
        shape = (1, self.n_replicas, 1, 1)
        self._temperature = torch.as_tensor(temps, dtype=self.dtype, device=self.device).view(shape)
        self._step = torch.as_tensor(steps, dtype=self.dtype, device=self.device).view(shape)
        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(_validate.seed("seed", seed))
        self._th = _sublattices(_wrap(theta)).contiguous()
        self._c = torch.cos(self._th)
        self._s = torch.sin(self._th)
        self._accepted = torch.zeros(self.n_replicas, dtype=torch.float64, device=self.device)
        self._proposed = 0

    def _per_replica(self, name: str, value: Any) -> np.ndarray:
        arr = _validate.vector(name, value)
        if arr.size == 1:
            arr = np.full(self.n_replicas, arr[0])
        if arr.size != self.n_replicas:
            raise ValueError(
                f"{name} must be one value or one per replica ({self.n_replicas}), got {arr.size}"
            )
        return arr

    # -- state -------------------------------------------------------------------------------

    @property
    def theta(self) -> torch.Tensor:
        """Current angles ``(R, L, L)`` in [−π, π], a copy on the sampler's device."""
        return _assemble(self._th)

    @property
    def temperature(self) -> torch.Tensor:
        return self._temperature.view(-1).clone()

    @property
    def step_size(self) -> torch.Tensor:
        """Metropolis half-widths δ, ``(R,)``."""
        return self._step.view(-1).clone()

    @property
    def acceptance(self) -> torch.Tensor:
        """Metropolis acceptance of each replica since the last
        :meth:`XYSampler.reset_acceptance`."""
        return self._accepted / max(self._proposed, 1)

    def reset_acceptance(self) -> None:
        self._accepted.zero_()
        self._proposed = 0

    def energy(self) -> torch.Tensor:
        """Energy per spin of each replica, ``(R,)`` float64, units of J
        (:func:`~topophys.observables.spins.spin_energy` of the current spins)."""
        spins = torch.stack([_assemble(self._c), _assemble(self._s)], dim=1)
        return spin_energy(spins.to(torch.float64), self.J)

    # -- moves ------------------------------------------------------------------------------

    def _keeps_charges(self, color: int, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        nb = torch.stack(_neighbours(self._th, color))  # (4, 2, R, h, h)
        shift = torch.round((nb - new) * _INV_TWO_PI) - torch.round((nb - old) * _INV_TWO_PI)
        return (shift[1:] == shift[0]).all(dim=0)

    def _commit(
        self, sl: slice, accept: torch.Tensor, new: torch.Tensor, cn: torch.Tensor, sn: torch.Tensor
    ) -> None:
        self._th[sl] = torch.where(accept, new, self._th[sl])
        self._c[sl] = torch.where(accept, cn, self._c[sl])
        self._s[sl] = torch.where(accept, sn, self._s[sl])

    def _metropolis_half(self, color: int) -> None:
        sl = slice(0, 2) if color == 0 else slice(2, 4)
        old = self._th[sl]
        hx, hy = _field(self._c, color), _field(self._s, color)
        u = torch.rand(old.shape, generator=self._gen, device=self.device, dtype=self.dtype)
        new = _wrap(old + self._step * (2.0 * u - 1.0))
        cn, sn = torch.cos(new), torch.sin(new)
        delta_e = -self.J * (hx * (cn - self._c[sl]) + hy * (sn - self._s[sl]))
        u = torch.rand(old.shape, generator=self._gen, device=self.device, dtype=self.dtype)
        accept = u < torch.exp(-delta_e / self._temperature)
        if self.constrained:
            accept &= self._keeps_charges(color, old, new)
        self._accepted += accept.sum(dim=(0, 2, 3)).to(torch.float64)
        self._commit(sl, accept, new, cn, sn)

    def _overrelax_half(self, color: int) -> None:
        sl = slice(0, 2) if color == 0 else slice(2, 4)
        old = self._th[sl]
        hx, hy = _field(self._c, color), _field(self._s, color)
        new = _wrap(2.0 * torch.atan2(hy, hx) - old)
        cn, sn = torch.cos(new), torch.sin(new)
        if self.constrained:
            self._commit(sl, self._keeps_charges(color, old, new), new, cn, sn)
        else:
            self._th[sl], self._c[sl], self._s[sl] = new, cn, sn

    def metropolis_sweep(self) -> None:
        """One Metropolis sweep: colour 0, then colour 1."""
        self._metropolis_half(0)
        self._metropolis_half(1)
        self._proposed += self.L**2  # one proposal per spin and replica

    def overrelaxation_sweep(self) -> None:
        """One over-relaxation sweep (energy-conserving reflections), colour 0 then colour 1."""
        self._overrelax_half(0)
        self._overrelax_half(1)

    def sweep(self, n: int = 1, overrelaxation: int = 0) -> None:
        """``n`` sweeps, each one Metropolis sweep and then ``overrelaxation`` reflection sweeps."""
        n = _validate.nonnegative_int("n", n)
        overrelaxation = _validate.nonnegative_int("overrelaxation", overrelaxation)
        for _ in range(n):
            self.metropolis_sweep()
            for _ in range(overrelaxation):
                self.overrelaxation_sweep()

    def tune_step_size(self, target: float = 0.5) -> None:
        """Scale each replica's δ towards ``target`` acceptance (measured since the last reset).

        Use only during equilibration: a chain whose δ keeps changing is not a Markov chain with
        the Boltzmann distribution as its stationary law.
        """
        target = _validate.in_range("target", target, 0.05, 0.95)
        if self._proposed == 0:
            return
        factor = torch.exp(2.0 * (self.acceptance - target)).to(self.dtype).view_as(self._step)
        self._step = torch.clamp(self._step * factor, 1e-3, math.pi)
        self.reset_acceptance()


def integrated_autocorrelation_time(series: Any, c: float = 5.0) -> float:
    """Integrated autocorrelation time of a time series (or of several chains), in steps.

    τ = ½ + Σ_{t=1}^{W} ρ(t) with ρ the autocorrelation averaged over chains and W the first
    window with W ≥ c·τ(W) (Sokal's automatic window). τ = ½ means uncorrelated steps.

    Parameters
    ----------
    series
        ``(n_steps,)`` or ``(n_steps, n_chains)``.
    c
        Window factor (5 is customary).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.zeros((20000, 4)); e = rng.normal(size=x.shape)
    >>> for t in range(1, len(x)): x[t] = 0.9 * x[t - 1] + e[t]
    >>> tau = integrated_autocorrelation_time(x)  # AR(1): (1 + 0.9) / (2 (1 − 0.9)) = 9.5
    >>> bool(8.5 < tau < 10.5)
    True
    """
    x = _validate.real_array("series", series, finite=False)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 4 or x.shape[1] < 1:
        raise ValueError(
            f"series must be (n_steps >= 4,) or (n_steps, n_chains >= 1), got {x.shape}"
        )
    if not np.isfinite(x).all():
        raise ValueError("series contains NaN or infinite values")
    c = _validate.positive("c", c)
    n = x.shape[0]
    # τ does not depend on the scale of the series: rescale so no square can overflow.
    scale = float(np.abs(x).max())
    x = x / scale if scale > 0 else x
    x = x - x.mean(axis=0)
    f = np.fft.rfft(x, n=2 * n, axis=0)
    acov = np.fft.irfft(np.abs(f) ** 2, axis=0)[:n].mean(axis=1)
    if acov[0] <= 0:
        return 0.5  # a constant series: no correlation to speak of
    rho = acov / acov[0]
    tau = 0.5 + np.cumsum(rho[1:])
    window = np.arange(1, n)
    ok = window >= c * tau
    return float(tau[np.argmax(ok)] if ok.any() else tau[-1])


@dataclass
class XYSamples:
    """Fields of one (T, d) condition.

    Attributes
    ----------
    theta
        ``(n, L, L)`` float32 angles in [−π, π].
    charge
        ``(n, L, L)`` int8 plaquette charges measured on the stored float32 fields.
    energy
        ``(n,)`` energy per spin.
    target
        ``(L, L)`` int8 prescribed charge map.
    T, d
        Temperature and (exact) pair distance.
    tau_int
        Integrated autocorrelation time of the energy, in sweeps (chain average).
    acceptance
        Mean Metropolis acceptance during sampling.
    held
        Share of samples whose charge map equals ``target`` (1 when constrained).
    seconds
        Wall-clock time of the condition.
    """

    theta: np.ndarray
    charge: np.ndarray
    energy: np.ndarray
    target: np.ndarray
    T: float
    d: float
    tau_int: float
    acceptance: float
    held: float
    seconds: float


# Highest temperature accepted (units of J): far above the BKT transition (T ≈ 0.89), where
# the fields are noise; beyond it the condition's seed (T in micro-units) would overflow.
_MAX_TEMPERATURE = 1e6


def _check_temperature(name: str, value: Any) -> float:
    value = _validate.positive(name, value)
    if value > _MAX_TEMPERATURE:
        raise ValueError(f"{name} must be at most {_MAX_TEMPERATURE:g} (units of J), got {value:g}")
    return value


def _condition_seed(seed: int, T: float, d: float) -> int:
    """A seed for one condition that depends on (seed, T, d) only, not on the list order."""
    key = [int(seed), round(T * 1e6), round(d * d)]
    return int(np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)[0] >> 1)


def simulate_condition(
    config: XYConfig,
    T: float,
    d: float,
    *,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> XYSamples:
    """Sample ``config.samples`` fields at temperature ``T`` with a pair at distance ``d``.

    Chains start from :func:`defect_field` of :func:`pair_charge_map` rotated by a random global
    angle each, equilibrate (tuning δ during the first half when ``config.step_size`` is None),
    then store a field every ``decorrelation_sweeps``. τ_int is measured on the per-sweep energy
    of the second half of equilibration and the whole sampling phase.
    """
    _validate.instance("config", config, XYConfig)
    _validate.torch_device("device", device)
    T = _check_temperature("T", T)
    target = pair_charge_map(config.L, d)
    d = math.hypot(*pair_displacement(d))
    start = time.perf_counter()
    seed = _condition_seed(config.seed, T, d)
    chains = min(config.n_replicas, config.samples)
    per_chain = -(-config.samples // chains)
    rng = np.random.default_rng(seed)
    base = defect_field(target)
    theta0 = base[None] + rng.uniform(-math.pi, math.pi, (chains, 1, 1))
    sampler = XYSampler(
        theta0,
        T,
        J=config.J,
        constrained=config.constrained,
        step_size=config.step_size,
        seed=seed,
        device=device,
        dtype=config.dtype,
    )
    n_eq = config.equilibration_sweeps
    tune_until = n_eq // 2 if config.step_size is None else 0
    total = n_eq + per_chain * config.decorrelation_sweeps
    energies: list[torch.Tensor] = []
    fields: list[torch.Tensor] = []
    disable = None if progress is None else not progress
    with tqdm(total=total, desc=f"XY T={T:g} d={d:.3g}", disable=disable, leave=False) as bar:
        for s in range(total):
            sampler.sweep(1, config.overrelaxation)
            if s < tune_until and (s + 1) % 10 == 0:
                sampler.tune_step_size()
            if s + 1 == tune_until:  # report the acceptance of the frozen δ only
                sampler.reset_acceptance()
            if s >= n_eq // 2:
                energies.append(sampler.energy())
            if s >= n_eq and (s - n_eq + 1) % config.decorrelation_sweeps == 0:
                fields.append(sampler.theta.to(torch.float32).cpu())
            bar.update(1)
    theta = torch.stack(fields, dim=1).reshape(-1, config.L, config.L)[: config.samples].numpy()
    charge = plaquette_charge(theta).astype(np.int8)
    series = torch.stack(energies).cpu().numpy()
    held = float(np.mean(np.all(charge == target, axis=(1, 2))))
    return XYSamples(
        theta=theta,
        charge=charge,
        energy=energy(theta, config.J),
        target=target,
        T=T,
        d=d,
        tau_int=integrated_autocorrelation_time(series),
        acceptance=float(sampler.acceptance.mean()),
        held=held,
        seconds=time.perf_counter() - start,
    )


def write_dataset(
    config: XYConfig,
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
) -> Any:
    """Simulate every (T, d) condition of ``config`` into a :class:`~topophys.data.spins.SpinStore`.

    Resumable: an existing store made with the same configuration is opened and only the
    conditions not yet ``done`` are run; a condition is written whole (fields, then its
    statistics, then its ``done`` flag), so an interrupted run loses at most the condition in
    progress. Finished conditions are verified first and damaged ones run again. Returns the
    store (its ``units_written`` says how many conditions this call wrote).

    Raises
    ------
    ValueError
        If ``path`` holds a store made with a different configuration.
    """
    from ..data.spins import SpinStore

    _validate.instance("config", config, XYConfig)
    path = _validate.path("path", path)
    _validate.torch_device("device", device)  # before the store is created
    if path.exists():
        store = SpinStore.open(path, mode="r+")
        if store.config_yaml != config.to_yaml():
            raise ValueError(
                f"{path} was made with a different configuration; use another path or the "
                "configuration stored in it (SpinStore.open(path).config_yaml)"
            )
    else:
        store = SpinStore.create(
            path,
            L=config.L,
            conditions=config.conditions,
            samples=config.samples,
            config_yaml=config.to_yaml(),
        )
    # Finished and intact: damaged conditions are reset and run again.
    todo = [i for i, done in enumerate(store.verified_done()) if not done]
    disable = None if progress is None else not progress
    for i in tqdm(todo, desc="XY conditions", disable=disable):
        T, d = config.conditions[i]
        store.write_condition(i, simulate_condition(config, T, d, device=device, progress=progress))
    return store
