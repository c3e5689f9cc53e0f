r"""Thermodynamic and correlation observables of the 2-D XY model on periodic ``L×L`` lattices.

The model is :math:`H = -J\sum_{\langle ij\rangle}\cos(\theta_i - \theta_j)` over the 2N nearest-
neighbour bonds of an ``L×L`` torus (N = L² spins), in units with k_B = 1. Fields are angle arrays
``theta (..., L, L)`` (numpy; torch tensors are accepted and converted). Per-sample observables
return one value per field; ensemble observables take a stack ``(n, L, L)`` drawn at one
temperature and return a float; :func:`jackknife` gives them error bars.

Per spin and per sample:

* energy :math:`e = E/N`;
* magnetization :math:`m = |\sum_i S_i| / N`;
* helicity :math:`y = |\mathbf I|/N` with the spin current
  :math:`I_\mu = J\sum_i \sin(\theta_{i+\hat\mu} - \theta_i)`, :math:`\mu = x, y`: the net twist of
  the field. (The paper lists a "helicity" beside the helicity modulus without defining it; this
  reading is ours. It is zero for a uniform field and grows with the twist a vortex pair imposes
  on the torus.)

Ensemble, at temperature T:

* specific heat per spin :math:`C_v = N(\langle e^2\rangle - \langle e\rangle^2)/T^2`;
* susceptibility per spin :math:`\chi = N(\langle m^2\rangle - \langle m\rangle^2)/T`
  (``connected=True``, the usual finite-lattice estimator, since :math:`\langle\mathbf M\rangle=0`
  by symmetry) or :math:`N\langle m^2\rangle/T`;
* helicity modulus, the response of the free energy to a twist, averaged over both directions:
  :math:`\Upsilon = \frac1{2N}\sum_\mu\big[\langle\sum_i J\cos(\theta_{i+\hat\mu}-\theta_i)\rangle
  - \frac1T(\langle I_\mu^2\rangle - \langle I_\mu\rangle^2)\big]`. It is 1 (in units of J) at
  T = 0, ≈ 1 − T/4 − … in the spin-wave regime and jumps to 0 at the BKT transition, where
  Υ = 2T/π in the thermodynamic limit.

Correlation: :math:`G(r) = \langle S_i\cdot S_j\rangle` averaged over all pairs at minimum-image
distance r on the torus (r = 0, 1, √2, 2, √5, …), via FFT.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _validate

__all__ = [
    "bond_sums",
    "correlation",
    "energy",
    "helicity",
    "helicity_modulus",
    "jackknife",
    "magnetization",
    "scha_stiffness",
    "specific_heat",
    "spin_bond_sums",
    "spin_energy",
    "structure_factor_shells",
    "susceptibility",
]


def _angles(theta: Any, *, ensemble: bool = False) -> np.ndarray:
    """``theta`` as a float64 numpy array of square lattices, checked."""
    if hasattr(theta, "detach"):  # torch tensor, without importing torch
        theta = theta.detach().cpu().numpy()
    try:
        arr = np.asarray(theta)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"theta must be an array of angles, got {type(theta)}") from exc
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"theta must hold real angles, got dtype {arr.dtype}")
    if ensemble:
        if arr.ndim != 3:
            raise ValueError(f"theta must be a stack of fields (n, L, L), got shape {arr.shape}")
        if arr.shape[0] < 2:
            raise ValueError(f"theta must hold at least 2 fields (an ensemble), got {arr.shape[0]}")
    elif arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"theta must have shape (..., L, L) with a field, got {arr.shape}")
    if arr.shape[-1] != arr.shape[-2] or arr.shape[-1] < 2:
        raise ValueError(f"theta must be square lattices with L >= 2, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError("theta contains NaN or infinite values")
    return arr


def spin_bond_sums(spins: Any, J: float = 1.0) -> dict[str, Any]:
    r"""Sums over the bonds of unit spin fields along +x (axis -1) and +y (axis -2).

    The XY model's one bond formula, written once for numpy arrays and torch tensors alike
    (differentiable for tensors): with :math:`S_i = (\cos\theta_i, \sin\theta_i)`,
    :math:`S_i\cdot S_j = \cos(\theta_j - \theta_i)` and
    :math:`S_i\times S_j = \sin(\theta_j - \theta_i)`.

    Parameters
    ----------
    spins : numpy.ndarray or torch.Tensor, shape (..., 2, L, L)
        Spin components (x, y) on the periodic lattice.
    J : float, default 1.0
        Coupling.

    Returns
    -------
    dict
        ``cos_x, cos_y``: :math:`J\sum_i S_i\cdot S_{i+\hat\mu}`; ``sin_x, sin_y``: the spin
        currents :math:`J\sum_i S_i\times S_{i+\hat\mu}`; each of shape ``(...)``, the type of
        ``spins``, not divided by N.
    """
    sx, sy = spins[..., 0, :, :], spins[..., 1, :, :]
    out = {}
    for name, axis in (("x", -1), ("y", -2)):
        nx, ny = _shifted(sx, axis), _shifted(sy, axis)
        out[f"cos_{name}"] = J * (sx * nx + sy * ny).sum(axis=(-2, -1))
        out[f"sin_{name}"] = J * (sx * ny - sy * nx).sum(axis=(-2, -1))
    return {k: out[k] for k in ("cos_x", "cos_y", "sin_x", "sin_y")}


def _shifted(a: Any, axis: int) -> Any:
    """The neighbour at +1 along ``axis`` on the torus, for numpy arrays and torch tensors."""
    return np.roll(a, -1, axis=axis) if isinstance(a, np.ndarray) else a.roll(-1, axis)


def spin_energy(spins: Any, J: float = 1.0) -> Any:
    r"""Energy per spin :math:`-J\sum_{\langle ij\rangle} S_i\cdot S_j / N` of unit spin fields.

    Parameters
    ----------
    spins : numpy.ndarray or torch.Tensor, shape (..., 2, L, L)
        Unit spin vectors; a tensor keeps its autograd graph (the cWGAN's energy loss).
    J : float, default 1.0

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape (...)
        Units of J; −2J for a uniform field.

    Examples
    --------
    >>> float(spin_energy(np.stack([np.ones((4, 4)), np.zeros((4, 4))])))
    -2.0
    """
    if spins.ndim < 3 or spins.shape[-3] != 2:
        raise ValueError(f"spins must have shape (..., 2, L, L), got {tuple(spins.shape)}")
    s = spin_bond_sums(spins, J)
    return -(s["cos_x"] + s["cos_y"]) / (spins.shape[-1] * spins.shape[-2])


SHELL_MODES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((0, 0),),
    ((0, 1), (1, 0), (0, -1), (-1, 0)),
    ((1, 1), (1, -1), (-1, 1), (-1, -1)),
)
"""Wave vectors (in units of 2π/L) of the three lowest shells |q|² = 0, 1, 2 (4π²/L²)."""


def structure_factor_shells(spins: Any) -> Any:
    r"""The spin structure factor of each field in its three lowest momentum shells.

    :math:`S(\mathbf q) = |\sum_i \mathbf S_i e^{-i\mathbf q\cdot\mathbf r_i}|^2 / N`, averaged
    over the wave vectors of each shell :data:`SHELL_MODES` (q = 0; the four of |q| = 2π/L; the
    four of |q| = 2π√2/L). Shell 0 is N·m², the others are the power of the longest spin waves:
    G(r) at large r is their Fourier sum (:func:`correlation` is the inverse transform of the
    whole S(q)), so an ensemble with too much power there decorrelates too fast. Written once for
    numpy arrays and torch tensors (differentiable for tensors: the cWGAN's spectrum loss).

    Parameters
    ----------
    spins : numpy.ndarray or torch.Tensor, shape (..., 2, L, L)
        Unit spin components (x, y) on the periodic lattice, L ≥ 2.

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape (..., 3)
        Mean S(q) per shell, dimensionless; shell 0 is N for a uniform field, and the shells
        of every field sum with the others over all q to N.

    Examples
    --------
    >>> uniform = np.stack([np.ones((4, 4)), np.zeros((4, 4))])
    >>> structure_factor_shells(uniform).tolist()
    [16.0, 0.0, 0.0]
    """
    if spins.ndim < 3 or spins.shape[-3] != 2 or spins.shape[-1] != spins.shape[-2]:
        raise ValueError(f"spins must have shape (..., 2, L, L), got {tuple(spins.shape)}")
    if spins.shape[-1] < 2:
        raise ValueError(f"spins must be lattices with L >= 2, got L = {spins.shape[-1]}")
    n_sites = spins.shape[-1] * spins.shape[-2]
    psi = spins[..., 0, :, :] + 1j * spins[..., 1, :, :]
    if isinstance(psi, np.ndarray):
        power = np.abs(np.fft.fft2(psi, axes=(-2, -1))) ** 2 / n_sites
    else:
        import torch

        power = torch.fft.fft2(psi).abs().pow(2) / n_sites
    shells = [
        sum(power[..., qy % spins.shape[-2], qx % spins.shape[-1]] for qy, qx in modes) / len(modes)
        for modes in SHELL_MODES
    ]
    if isinstance(power, np.ndarray):
        return np.stack(shells, -1)
    return torch.stack(shells, -1)


def _spins(theta: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(theta), np.sin(theta)], axis=-3)


def bond_sums(theta: Any, J: float = 1.0) -> dict[str, np.ndarray]:
    """:func:`spin_bond_sums` of angle fields ``theta (..., L, L)``; float64 numpy arrays."""
    theta = _angles(theta)
    return spin_bond_sums(_spins(theta), _coupling(J, theta))


def energy(theta: Any, J: float = 1.0) -> np.ndarray:
    """Energy per spin E/N of each field: ``(..., L, L)`` → ``(...)`` float64, units of J.

    :func:`spin_energy` of the fields' spins.

    Examples
    --------
    >>> import numpy as np
    >>> float(energy(np.zeros((4, 4))))
    -2.0
    """
    return spin_energy(_spins(_angles(theta)), _validate.real("J", J))


def magnetization(theta: Any) -> np.ndarray:
    """Magnetization per spin |Σ S_i| / N of each field: ``(...)`` float64 in [0, 1]."""
    theta = _angles(theta)
    mx = np.cos(theta).mean(axis=(-2, -1))
    my = np.sin(theta).mean(axis=(-2, -1))
    return np.hypot(mx, my)


def helicity(theta: Any, J: float = 1.0) -> np.ndarray:
    """Net spin current per spin |(I_x, I_y)| / N of each field: ``(...)`` float64, units of J.

    See the module notes: our reading of the paper's "helicity". A uniform twist θ = 2πw x/L
    gives J·sin(2πw/L).
    """
    theta = _angles(theta)
    s = bond_sums(theta, J)
    return np.hypot(s["sin_x"], s["sin_y"]) / (theta.shape[-1] * theta.shape[-2])


def _temperature(T: Any) -> np.float64:
    # numpy scalar: T**2 of a huge T is inf (then refused by _finite), not an OverflowError.
    return np.float64(_validate.positive("T", T))


def _coupling(J: Any, theta: np.ndarray) -> float:
    """``J`` checked so that sums of J over the 2N bonds of a field stay finite."""
    J = _validate.real("J", J)
    if abs(J) * 2.0 * theta.shape[-1] * theta.shape[-2] > np.finfo(np.float64).max / 4:
        raise ValueError(f"J={J:g} makes the bond sums overflow float64; expected J of order 1")
    return J


def _finite(value: Any, *names: str) -> float:
    """``value`` as a float if finite, else a ValueError naming the parameters at fault."""
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(
            f"the result is {value} for {', '.join(names)} this extreme; expected values of "
            "order 1 in units of J"
        )
    return value


def specific_heat(theta: Any, T: float, J: float = 1.0) -> float:
    """Specific heat per spin N·Var(e)/T² of an ensemble ``(n, L, L)`` at temperature ``T``.

    The variance is the plain ensemble one (``ddof=0``); the low-temperature spin-wave value is
    1/2.
    """
    theta = _angles(theta, ensemble=True)
    T = _temperature(T)
    e = energy(theta, J)
    return _finite(theta.shape[-1] * theta.shape[-2] * e.var() / T**2, "T", "J")


def susceptibility(theta: Any, T: float, *, connected: bool = True) -> float:
    """Magnetic susceptibility per spin of an ensemble ``(n, L, L)`` at temperature ``T``.

    ``connected=True``: N(⟨m²⟩ − ⟨m⟩²)/T with m = |M|/N; ``False``: N⟨m²⟩/T.
    """
    theta = _angles(theta, ensemble=True)
    T = _temperature(T)
    connected = _validate.boolean("connected", connected)
    m = magnetization(theta)
    second = (m**2).mean()
    value = second - m.mean() ** 2 if connected else second
    return _finite(theta.shape[-1] * theta.shape[-2] * value / T, "T")


def helicity_modulus(theta: Any, T: float, J: float = 1.0) -> float:
    """Helicity modulus Υ of an ensemble ``(n, L, L)`` at ``T``, averaged over x and y.

    Υ = (1/2N) Σ_μ [⟨Σ J cos Δθ_μ⟩ − (⟨I_μ²⟩ − ⟨I_μ⟩²)/T] (module notes); units of J.

    Examples
    --------
    >>> import numpy as np
    >>> round(helicity_modulus(np.zeros((3, 8, 8)), T=0.5), 6)
    1.0
    """
    theta = _angles(theta, ensemble=True)
    T = _temperature(T)
    s = bond_sums(theta, J)
    n_sites = theta.shape[-1] * theta.shape[-2]
    total = 0.0
    for mu in ("x", "y"):
        current = s[f"sin_{mu}"]
        total += s[f"cos_{mu}"].mean() - current.var() / T
    return _finite(total / (2 * n_sites), "T", "J")


def _distance_bins(L: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct minimum-image distances on an L×L torus and the bin of every displacement."""
    d = np.minimum(np.arange(L), L - np.arange(L))
    r2 = d[:, None] ** 2 + d[None, :] ** 2  # exact integers: no rounding to merge bins
    values, inverse = np.unique(r2, return_inverse=True)
    return np.sqrt(values), inverse.reshape(L, L)


def correlation(theta: Any, *, per_sample: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Spin–spin correlation G(r) = ⟨S_i · S_j⟩ against minimum-image distance r.

    Parameters
    ----------
    theta
        ``(..., L, L)`` angles.
    per_sample
        Return G of every field instead of the mean over all leading axes.

    Returns
    -------
    r
        ``(K,)`` distinct distances 0, 1, √2, 2, … up to L/√2, ascending.
    G
        ``(K,)`` (or ``(..., K)`` with ``per_sample``): the mean of S_i·S_j over all ordered
        pairs (i, j) at distance r; ``G[0] = 1``.

    Examples
    --------
    >>> import numpy as np
    >>> r, G = correlation(np.zeros((2, 4, 4)))
    >>> np.round(r ** 2, 6).tolist(), G.tolist()
    ([0.0, 1.0, 2.0, 4.0, 5.0, 8.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    """
    theta = _angles(theta)
    per_sample = _validate.boolean("per_sample", per_sample)
    L = theta.shape[-1]
    spin = np.exp(1j * theta)
    f = np.fft.fft2(spin, axes=(-2, -1))
    # Σ_i S_i·S_{i+Δ} = Re Σ_i conj(s_i) s_{i+Δ}: the circular autocorrelation, by Wiener–Khinchin.
    c = np.fft.ifft2(np.abs(f) ** 2, axes=(-2, -1)).real / (L * L)
    r, bins = _distance_bins(L)
    # Averaging over each distance shell is one matrix product with the shell indicator.
    shells = np.zeros((L * L, r.size))
    shells[np.arange(L * L), bins.ravel()] = 1.0
    shells /= shells.sum(axis=0)
    g = (c.reshape(-1, L * L) @ shells).reshape(*c.shape[:-2], r.size)
    if not per_sample and g.ndim > 1:
        g = g.reshape(-1, r.size).mean(axis=0)
    return r, g


def jackknife(
    estimator: Callable[..., Any], theta: Any, n_blocks: int = 10, **kwargs: Any
) -> tuple[Any, Any]:
    """Delete-one-block jackknife estimate and standard error of an ensemble observable.

    Parameters
    ----------
    estimator
        ``estimator(theta_subset, **kwargs)`` → float or array, e.g. :func:`specific_heat`.
    theta
        ``(n, L, L)`` ensemble; split into ``n_blocks`` contiguous blocks (the remainder
        ``n mod n_blocks`` of the fields is left out of the blocks).
    n_blocks
        Number of blocks, 2 ≤ n_blocks ≤ n.

    Returns
    -------
    value, error
        The bias-corrected jackknife estimate and its standard error (float or array).

    Examples
    --------
    >>> import numpy as np
    >>> theta = np.random.default_rng(0).normal(0, 0.3, (40, 4, 4))
    >>> value, err = jackknife(lambda t: energy(t).mean(), theta, n_blocks=8)
    >>> bool(abs(value - energy(theta).mean()) < 1e-12 and err > 0)
    True
    """
    if not callable(estimator):
        raise TypeError(f"estimator must be a function of theta, got {type(estimator).__name__}")
    theta = _angles(theta, ensemble=True)
    n_blocks = _validate.positive_int("n_blocks", n_blocks)
    n = theta.shape[0]
    if not 2 <= n_blocks <= n:
        raise ValueError(f"n_blocks must lie in [2, {n}] (the number of fields), got {n_blocks}")
    size = n // n_blocks
    used = theta[: size * n_blocks]
    full = np.asarray(estimator(used, **kwargs), dtype=np.float64)
    leave_out = np.stack(
        [
            np.asarray(
                estimator(np.delete(used, np.s_[b * size : (b + 1) * size], axis=0), **kwargs),
                dtype=np.float64,
            )
            for b in range(n_blocks)
        ]
    )
    mean_lo = leave_out.mean(axis=0)
    value = n_blocks * full - (n_blocks - 1) * mean_lo
    error = np.sqrt((n_blocks - 1) / n_blocks * ((leave_out - mean_lo) ** 2).sum(axis=0))
    if value.ndim == 0:
        return float(value), float(error)
    return value, error


def scha_stiffness(T: Any, J: float = 1.0, n_sites: int | None = None) -> Any:
    r"""Spin-wave stiffness of the self-consistent harmonic approximation (SCHA).

    The Gaussian field that best approximates the XY model at temperature T has the stiffness
    :math:`J_\mathrm{eff} = J\exp(-\langle\Delta\theta^2\rangle/2)` with the bond variance
    of that same field, :math:`\langle\Delta\theta^2\rangle = T(N-1)/(2 J_\mathrm{eff} N)` on
    an N-site torus (the q = 0 mode carries no bond). Below the BKT transition its long-wave
    behaviour is the renormalized spin-wave theory's; at T ≳ 1.47 J the equation has no
    solution (the approximation's own spurious transition) and the value where the solution
    disappears, J/e, is returned.

    Parameters
    ----------
    T : float, numpy array or torch tensor
        Temperatures (> 0, units of J/k_B); the result has the same type and shape.
    J : float
        Coupling.
    n_sites : int, optional
        N; None for the infinite lattice.

    Returns
    -------
    J_eff, same type and shape as ``T``.

    Examples
    --------
    >>> round(scha_stiffness(0.9), 3)  # Υ of Monte Carlo at L = 16: 0.64–0.72
    0.737
    """
    J = _validate.positive("J", J)
    factor = 1.0 if n_sites is None else (n_sites - 1) / n_sites
    # x = J_eff / J solves x = exp(−a/x); there is no solution beyond a = 1/e: clamp there.
    if hasattr(T, "detach"):  # a torch tensor, without importing torch here
        a = (T * (factor / (4.0 * J))).clamp(max=math.exp(-1.0))
        x, exp = a * 0 + 1.0, type(a).exp
    else:
        a = np.minimum(np.asarray(T, dtype=np.float64) * factor / (4.0 * J), math.exp(-1.0))
        x, exp = np.ones_like(a), np.exp
    # Newton from x = 1: f(x) = x − exp(−a/x) is convex and increasing right of the largest
    # root (the physical one), so the steps fall onto it from above.
    for _ in range(40):
        e = exp(-a / x)
        slope = 1.0 - a * e / (x * x)
        x = x - (x - e) / (slope + (slope == 0) * 1e-300)
    return J * x if hasattr(T, "detach") or np.ndim(T) else float(J * x)
