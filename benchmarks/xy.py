"""XY Monte Carlo throughput against numpy, and (``--validate``) the sampler against known values.

Speed (default): spin updates per second, one thread, for every ``--L`` with about 65,536 spins
per call (replicas = 65,536 / L²):

* references, measured in the same run: the issue's "25-line numpy checkerboard"
  (:func:`numpy_checkerboard`: masks over the whole lattice) and a faster numpy version on the
  four checkerboard sublattices (:func:`numpy_sublattices`, float32, the layout of the torch
  sampler); neither holds charges;
* ``XYSampler`` with ``backend="torch"`` (vectorized checkerboard) and ``backend="numba"``
  (the compiled kernel), Metropolis and over-relaxation, plain and charge-constrained.

Each figure is the median of ``--repeats`` blocks, as wall time and as CPU time of this
process (``process_time``; other load on the machine shows as wall > CPU). The JSON also gives
the load average at the start and the end, the numba Metropolis rate over the fastest numpy
reference (goal ≥ 3) and constrained over plain Metropolis (goal ≥ 0.8), both on CPU time.

Validation (``--validate``): energy per spin, specific heat and helicity modulus of the
unconstrained sampler across T at L = 16, with jackknife errors and τ_int, beside the low-T series
e = −2 + (T/2)(N−1)/N + T²/16 and the universal line 2T/π (Nelson–Kosterlitz jump; T_BKT = 0.8929,
Hasenbusch 2005). Υ − 2T/π changes sign between T_BKT and the specific-heat peak on this size.

Usage: ``python benchmarks/xy.py [--L 16,32,64] [--repeats 5] [--out FILE]``
       ``python benchmarks/xy.py --validate [--temperatures 0.2,0.5,...]``
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from _output import finish
from topophys.observables.spins import energy, helicity_modulus, jackknife, specific_heat
from topophys.simulate.xy import (
    XYSampler,
    defect_field,
    integrated_autocorrelation_time,
    pair_charge_map,
)


def numpy_checkerboard(theta, T, step, sweeps, rng, J=1.0):
    """The issue's reference: plain numpy checkerboard Metropolis on (R, L, L), in place."""
    L = theta.shape[-1]
    ii, jj = np.indices((L, L))
    masks = [(ii + jj) % 2 == c for c in (0, 1)]
    accepted = 0
    for _ in range(sweeps):
        for mask in masks:
            c, s = np.cos(theta), np.sin(theta)
            hx = np.roll(c, 1, -1) + np.roll(c, -1, -1) + np.roll(c, 1, -2) + np.roll(c, -1, -2)
            hy = np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2)
            new = theta + step * rng.uniform(-1.0, 1.0, theta.shape)
            de = -J * (hx * (np.cos(new) - c) + hy * (np.sin(new) - s))
            ok = mask & (rng.random(theta.shape) < np.exp(-de / T))
            theta[ok] = new[ok]
            accepted += int(ok.sum())
    return accepted / (sweeps * theta.size)


def numpy_sublattices(sub, T, step, sweeps, rng, J=1.0):
    """Faster numpy: sub = [S00, S11, S01, S10] float32 (R, L/2, L/2) sublattices, in place."""
    r = np.roll
    cos = [np.cos(x) for x in sub]
    sin = [np.sin(x) for x in sub]

    def nbr(x, k):  # the four neighbours of sublattice k, from the arrays x of all four
        a, b, c, d = x
        return [
            (c, r(c, 1, -1), d, r(d, 1, -2)),
            (d, r(d, -1, -1), c, r(c, -1, -2)),
            (a, r(a, -1, -1), b, r(b, 1, -2)),
            (b, r(b, 1, -1), a, r(a, -1, -2)),
        ][k]

    accepted = 0
    for _ in range(sweeps):
        for color in ((0, 1), (2, 3)):
            for k in color:
                hx, hy = sum(nbr(cos, k)), sum(nbr(sin, k))
                new = sub[k] + np.float32(step) * rng.uniform(-1, 1, sub[k].shape).astype(
                    np.float32
                )
                cn, sn = np.cos(new), np.sin(new)
                de = -J * (hx * (cn - cos[k]) + hy * (sn - sin[k]))
                ok = rng.random(new.shape, dtype=np.float32) < np.exp(-de / np.float32(T))
                sub[k][ok], cos[k][ok], sin[k][ok] = new[ok], cn[ok], sn[ok]
                accepted += int(ok.sum())
    return accepted / (sweeps * sum(x.size for x in sub))


def _timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds per call over ``repeats`` calls (after one warm-up)."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def bench(L: int, repeats: int, spins: int = 65536, T: float = 0.1) -> dict:
    """Spin updates per second (wall and CPU) of every path at side ``L``."""
    replicas = max(1, spins // (L * L))
    n = replicas * L * L
    sweeps = 4
    theta0 = np.broadcast_to(defect_field(pair_charge_map(L, 2)), (replicas, L, L))
    rng = np.random.default_rng(0)
    out: dict = {"L": L, "replicas": replicas, "sweeps_per_call": sweeps, "updates_per_s": {}}
    rates = out["updates_per_s"]

    def record(name: str, fn: Callable[[], object], updates: int) -> None:
        wall, cpu = _timed(fn, repeats)
        rates[name] = {"wall": float(f"{updates / wall:.4g}"), "cpu": float(f"{updates / cpu:.4g}")}

    mask_theta = theta0.astype(np.float64).copy()
    record("numpy_checkerboard", lambda: numpy_checkerboard(mask_theta, T, 0.6, sweeps, rng),
           sweeps * n)  # fmt: skip
    t32 = torch.as_tensor(theta0, dtype=torch.float32)
    sub = [t32[:, p::2, q::2].numpy().copy() for p, q in ((0, 0), (1, 1), (0, 1), (1, 0))]
    record("numpy_sublattices", lambda: numpy_sublattices(sub, T, 0.6, sweeps, rng), sweeps * n)
    for backend in ("torch", "numba"):
        for constrained in (False, True):
            s = XYSampler(theta0, T, constrained=constrained, seed=0, backend=backend)
            tag = f"{backend}{'_constrained' if constrained else ''}"
            record(f"{tag}_metropolis", lambda s=s: s.sweep(sweeps), sweeps * n)
            record(f"{tag}_overrelaxation", lambda s=s: s.overrelaxation_sweep(sweeps), sweeps * n)
    fastest = max(rates["numpy_checkerboard"]["cpu"], rates["numpy_sublattices"]["cpu"])
    numba = rates["numba_metropolis"]["cpu"]
    out["numba_metropolis_over_fastest_numpy_cpu"] = round(numba / fastest, 2)
    out["numba_metropolis_over_numpy_checkerboard_cpu"] = round(
        numba / rates["numpy_checkerboard"]["cpu"], 2
    )
    out["numba_metropolis_over_torch_cpu"] = round(numba / rates["torch_metropolis"]["cpu"], 2)
    out["numba_constrained_over_plain_metropolis_cpu"] = round(
        rates["numba_constrained_metropolis"]["cpu"] / numba, 2
    )
    out["torch_constrained_over_plain_metropolis_cpu"] = round(
        rates["torch_constrained_metropolis"]["cpu"] / rates["torch_metropolis"]["cpu"], 2
    )
    return out


def validate(temperatures: list[float], L: int, chains: int, sweeps: int) -> list[dict]:
    rows = []
    n = L * L
    for T in temperatures:
        s = XYSampler(np.zeros((chains, L, L)), T, seed=1)
        for i in range(sweeps // 2):
            s.sweep(1, overrelaxation=2)
            if i < sweeps // 4 and (i + 1) % 10 == 0:
                s.tune_step_size()
        s.reset_acceptance()
        fields, series = [], []
        for i in range(sweeps):
            s.sweep(1, overrelaxation=2)
            series.append(s.energy().numpy())
            if (i + 1) % 10 == 0:
                fields.append(s.theta.double().numpy())
        tau = integrated_autocorrelation_time(np.array(series))
        theta = np.concatenate(fields)  # chains interleaved in time: blocks mix chains evenly
        e, e_err = jackknife(lambda t: energy(t).mean(), theta, n_blocks=20)
        c, c_err = jackknife(specific_heat, theta, n_blocks=20, T=T)
        y, y_err = jackknife(helicity_modulus, theta, n_blocks=20, T=T)
        row = {
            "T": T,
            "energy": round(e, 5),
            "energy_err": float(f"{e_err:.2g}"),
            "specific_heat": round(c, 4),
            "specific_heat_err": float(f"{c_err:.2g}"),
            "helicity_modulus": round(y, 4),
            "helicity_modulus_err": float(f"{y_err:.2g}"),
            "universal_line_2T_over_pi": round(2 * T / math.pi, 4),
            "tau_int_energy_sweeps": round(tau, 2),
            "acceptance": round(float(s.acceptance.mean()), 3),
        }
        if T <= 0.5:
            row["low_T_series"] = round(-2 + T / 2 * (n - 1) / n + T**2 / 16, 5)
        rows.append(row)
    return rows


def ensembles(distances: list[float], T: float, samples: int) -> list[dict]:
    """The constrained ensembles of ``simulate_condition`` with the default schedule (250
    chains, 1000 + 20 sweeps, one over-relaxation sweep) at T, L = 16, per pair distance."""
    from topophys.observables.charge import angles_to_spins, soft_charge
    from topophys.observables.spins import helicity, magnetization
    from topophys.simulate.xy import XYConfig, simulate_condition

    config = XYConfig(temperatures=(T,), distances=tuple(distances), samples=samples)
    rows = []
    for d in distances:
        r = simulate_condition(config, T, d, progress=False)
        theta = r.theta.astype(np.float64)
        soft = soft_charge(angles_to_spins(theta))
        on = r.target != 0
        rows.append({
            "d": round(r.d, 4),
            "energy": float(r.energy.mean()),
            "magnetization": float(magnetization(theta).mean()),
            "specific_heat": float(specific_heat(theta, T)),
            "helicity": float(helicity(theta).mean()),
            "tau_int": r.tau_int,
            "held": r.held,
            "soft_charge_on_defects": float((soft[:, on] * r.target[on]).mean()) if on.any()
            else None,
            "largest_soft_charge_off_defects": float(np.abs(soft[:, ~on]).max(axis=1).mean()),
            "seconds": r.seconds,
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--L", default="16,32,64", help="lattice sides (speed) or one (validate)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--ensembles", action="store_true", help="constrained ensembles at T=0.1")
    parser.add_argument("--samples", type=int, default=500, help="fields per d (--ensembles)")
    parser.add_argument("--temperatures", default="0.1,0.3,0.5,0.7,0.8,0.9,1.0,1.1,1.3,1.5")
    parser.add_argument("--chains", type=int, default=128)
    parser.add_argument("--sweeps", type=int, default=1000)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes = [int(x) for x in args.L.split(",")]
    result = {
        "command": "python benchmarks/xy.py " + ("--validate " if args.validate else "")
        + f"--L {args.L}",
        "torch": torch.__version__,
        "threads": 1,
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
    }  # fmt: skip
    if args.ensembles:
        distances = [0, 1, 1.41, 2, 2.24, 2.83, 3, 3.16, 3.61, 4, 4.12, 4.47, 5]
        result["command"] = f"python benchmarks/xy.py --ensembles --samples {args.samples}"
        result["ensembles"] = ensembles(distances, 0.1, args.samples)
    elif args.validate:
        temps = [float(t) for t in args.temperatures.split(",")]
        result |= {"L": sizes[0], "chains": args.chains, "sweeps": args.sweeps,
                   "T_BKT_Hasenbusch2005": 0.89294,
                   "validation": validate(temps, sizes[0], args.chains, args.sweeps)}  # fmt: skip
    else:
        result["cases"] = [bench(L, args.repeats) for L in sizes]
    finish(result, args.out, indent=2)


if __name__ == "__main__":
    main()
