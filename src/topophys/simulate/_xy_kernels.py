"""Compiled single-thread sweeps of the XY sampler on the CPU (internal to :mod:`.xy`).

Plain Python here, compiled by numba on first use (:func:`sweep_kernel`), so that importing
topophys compiles nothing. With ``NUMBA_DISABLE_JIT`` set they run as Python: same results,
much slower.

One call advances every replica by ``n`` sweeps; a sweep is one Metropolis pass over the lattice
in row-major order followed by ``overrelaxation`` reflection passes. Sequential single-site
updates each satisfy detailed balance, so any fixed visiting order leaves the Boltzmann law
invariant, like the torch sampler's checkerboard. A replica's lattice (three float32 arrays of
L² entries) stays in the L1/L2 cache for all its sweeps, which is where the speed comes from.

Arithmetic is float32 throughout, with the same operations as the torch sampler and
:func:`~topophys.observables.charge.plaquette_charge` (``x − 2π·rint(x·(1/2π))``, ties to
even), so the charges read from a stored float32 field are exactly the ones the constraint held.

The constraint: writing the wrapped difference of bond ``s → n`` as ``(θ_n − θ_s) − 2π w_n``,
the four plaquettes around ``s`` keep their charges iff the move shifts the four integers
``w_n`` by the same amount. Only the four bonds of the moving site enter, so the check costs
eight roundings of differences already at hand, not four plaquette sums.

Over-relaxation reflects the spin about its local field h algebraically,
S' = 2(S·h)h/|h|² − S (renormalized), and takes θ' = atan2(S') from a polynomial; the
stored cosine and sine are S' itself, within 3e-7 of cos θ', sin θ' (float32 rounding). A site
with h = 0 is left as it is (every move conserves its energy).

Random numbers: one SplitMix64 stream per replica (Steele, Lea & Flood 2014; passes BigCrush),
its state kept by the caller, so a chain is reproducible from its seed whatever else runs.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

__all__ = ["energy_kernel", "seed_streams", "sweep_kernel"]

_TWO_PI = np.float32(2.0 * math.pi)
_INV_TWO_PI = np.float32(1.0 / (2.0 * math.pi))
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(40)
_INV_2_24 = np.float32(1.0 / (1 << 24))
# atan2 by Cephes' atanf polynomial (Moshier) after the reductions |y| ≤ |x| and |t| ≤ tan(π/8):
# within 3e-7 rad of libm's, branch-light, about 2× faster than the libm call here.
_TAN_PI_8 = np.float32(0.41421356237309503)
_PI_4 = np.float32(math.pi / 4)
_PI_2 = np.float32(math.pi / 2)
_PI = np.float32(math.pi)
_A1, _A2 = np.float32(8.05374449538e-2), np.float32(-1.38776856032e-1)
_A3, _A4 = np.float32(1.99777106478e-1), np.float32(-3.33329491539e-1)


def seed_streams(seed: int, n: int) -> np.ndarray:
    """``n`` independent SplitMix64 states ``(n,)`` uint64 derived from ``seed``."""
    return np.random.SeedSequence([int(seed), 7]).generate_state(n, dtype=np.uint64)


def _sweeps_py(
    theta: np.ndarray,
    c: np.ndarray,
    s: np.ndarray,
    beta: np.ndarray,
    step: np.ndarray,
    J: np.float32,
    constrained: bool,
    n: int,
    metropolis: bool,
    overrelaxation: int,
    state: np.ndarray,
    accepted: np.ndarray,
) -> None:
    """Advance replicas ``(R, L, L)`` in place by ``n`` sweeps (module notes): each is one
    Metropolis pass when ``metropolis`` is true, then ``overrelaxation`` reflection passes.
    ``theta``, ``c``, ``s`` hold the angles and their cosines and sines; ``beta`` and ``step``
    are 1/T and δ per replica; ``state`` the random streams, ``accepted`` the count of
    accepted Metropolis moves per replica (both updated).

    Kept as one function: the lattice, its neighbours and the random state then stay in
    registers and cache across the inner loops (numba does not inline helper calls reliably
    enough for this).
    """
    R, L = theta.shape[0], theta.shape[1]
    for r in range(R):
        x = state[r]
        b = beta[r]
        d = step[r]
        acc = 0
        th, cr, sr = theta[r], c[r], s[r]
        for _ in range(n):
            for i in range(L if metropolis else 0):
                ip = i + 1 if i + 1 < L else 0
                im = i - 1 if i > 0 else L - 1
                for j in range(L):
                    jp = j + 1 if j + 1 < L else 0
                    jm = j - 1 if j > 0 else L - 1
                    hx = cr[ip, j] + cr[im, j] + cr[i, jp] + cr[i, jm]
                    hy = sr[ip, j] + sr[im, j] + sr[i, jp] + sr[i, jm]
                    # SplitMix64, top 24 bits as a float32 uniform in [0, 1).
                    x = x + _GOLDEN
                    z = (x ^ (x >> _S30)) * _MIX1
                    z = (z ^ (z >> _S27)) * _MIX2
                    z = z ^ (z >> _S31)
                    u = np.float32(np.int64(z >> _S40)) * _INV_2_24
                    old = th[i, j]
                    new = old + d * (_TWO * u - _ONE)
                    new = new - _TWO_PI * np.rint(new * _INV_TWO_PI)
                    cn = math.cos(new)
                    sn = math.sin(new)
                    de = -J * (hx * (cn - cr[i, j]) + hy * (sn - sr[i, j]))
                    if de > _ZERO:
                        x = x + _GOLDEN
                        z = (x ^ (x >> _S30)) * _MIX1
                        z = (z ^ (z >> _S27)) * _MIX2
                        z = z ^ (z >> _S31)
                        u = np.float32(np.int64(z >> _S40)) * _INV_2_24
                        if u >= math.exp(-de * b):
                            continue
                    if constrained:
                        t0 = th[ip, j]
                        w = np.rint((t0 - new) * _INV_TWO_PI) - np.rint((t0 - old) * _INV_TWO_PI)
                        t1 = th[im, j]
                        w1 = np.rint((t1 - new) * _INV_TWO_PI) - np.rint((t1 - old) * _INV_TWO_PI)
                        t2 = th[i, jp]
                        w2 = np.rint((t2 - new) * _INV_TWO_PI) - np.rint((t2 - old) * _INV_TWO_PI)
                        t3 = th[i, jm]
                        w3 = np.rint((t3 - new) * _INV_TWO_PI) - np.rint((t3 - old) * _INV_TWO_PI)
                        if w1 != w or w2 != w or w3 != w:
                            continue
                    th[i, j] = new
                    cr[i, j] = cn
                    sr[i, j] = sn
                    acc += 1
            for _ in range(overrelaxation):
                for i in range(L):
                    ip = i + 1 if i + 1 < L else 0
                    im = i - 1 if i > 0 else L - 1
                    for j in range(L):
                        jp = j + 1 if j + 1 < L else 0
                        jm = j - 1 if j > 0 else L - 1
                        hx = cr[ip, j] + cr[im, j] + cr[i, jp] + cr[i, jm]
                        hy = sr[ip, j] + sr[im, j] + sr[i, jp] + sr[i, jm]
                        h2 = hx * hx + hy * hy
                        if h2 == _ZERO:
                            continue
                        old = th[i, j]
                        # Reflect S about the local field: S' = 2(S·h)h/|h|² − S, renormalized.
                        k = _TWO * (cr[i, j] * hx + sr[i, j] * hy) / h2
                        cn = k * hx - cr[i, j]
                        sn = k * hy - sr[i, j]
                        norm = _ONE / math.sqrt(cn * cn + sn * sn)
                        cn *= norm
                        sn *= norm
                        # atan2(sn, cn), Cephes atanf on |tan| ≤ tan(π/8) after two reductions
                        ax = abs(cn)
                        ay = abs(sn)
                        swap = ay > ax
                        a = (ax / ay) if swap else (ay / ax)
                        mid = a > _TAN_PI_8
                        z = ((a - _ONE) / (a + _ONE)) if mid else a
                        z2 = z * z
                        ang = (((_A1 * z2 + _A2) * z2 + _A3) * z2 + _A4) * z2 * z + z
                        ang = ang + (_PI_4 if mid else _ZERO)
                        ang = (_PI_2 - ang) if swap else ang
                        ang = (_PI - ang) if cn < _ZERO else ang
                        new = -ang if sn < _ZERO else ang
                        if constrained:
                            t0 = th[ip, j]
                            w = np.rint((t0 - new) * _INV_TWO_PI) - np.rint(
                                (t0 - old) * _INV_TWO_PI
                            )
                            t1 = th[im, j]
                            w1 = np.rint((t1 - new) * _INV_TWO_PI) - np.rint(
                                (t1 - old) * _INV_TWO_PI
                            )
                            t2 = th[i, jp]
                            w2 = np.rint((t2 - new) * _INV_TWO_PI) - np.rint(
                                (t2 - old) * _INV_TWO_PI
                            )
                            t3 = th[i, jm]
                            w3 = np.rint((t3 - new) * _INV_TWO_PI) - np.rint(
                                (t3 - old) * _INV_TWO_PI
                            )
                            if w1 != w or w2 != w or w3 != w:
                                continue
                        th[i, j] = new
                        cr[i, j] = cn
                        sr[i, j] = sn
        state[r] = x
        accepted[r] += acc


def _energy_py(c: np.ndarray, s: np.ndarray, J: float, out: np.ndarray) -> None:
    """Energy per spin of each replica ``(R,)`` float64 from its spin components ``(R, L, L)``."""
    R, L = c.shape[0], c.shape[1]
    for r in range(R):
        total = 0.0
        for i in range(L):
            ip = i + 1 if i + 1 < L else 0
            for j in range(L):
                jp = j + 1 if j + 1 < L else 0
                ci = np.float64(c[r, i, j])
                si = np.float64(s[r, i, j])
                total += ci * (np.float64(c[r, i, jp]) + np.float64(c[r, ip, j]))
                total += si * (np.float64(s[r, i, jp]) + np.float64(s[r, ip, j]))
        out[r] = -J * total / (L * L)


@functools.cache
def sweep_kernel() -> Any:
    """The compiled :func:`_sweeps_py`."""
    return _jit(_sweeps_py)


@functools.cache
def energy_kernel() -> Any:
    """The compiled :func:`_energy_py`."""
    return _jit(_energy_py)


def _jit(py_func: Any) -> Any:
    """``py_func`` compiled by numba, its machine code cached on disk where a cache directory
    is writable (numba refuses ``cache=True`` with a ``RuntimeError`` where none is)."""
    import numba

    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(py_func)
    except RuntimeError:
        return numba.njit(cache=False, nogil=True, error_model="numpy")(py_func)
