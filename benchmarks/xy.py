"""XY Monte Carlo throughput, and (``--validate``) the unconstrained sampler against known values.

Speed (default): spin updates per second of a Metropolis sweep, an over-relaxation sweep and both
under the charge constraint, for L = 16 and a few replica counts, each beside a floor measured in
the same run on the same array size: one ``torch.rand`` + one ``torch.cos`` over all spins, the
least any sweep must do. Reference (issue 7, a throwaway prototype on this machine class, one
thread): Metropolis ~8 M/s, over-relaxation ~16 M/s, constrained Metropolis ~2.5 M/s.

Validation (``--validate``): energy per spin, specific heat and helicity modulus of the
unconstrained sampler across T at L = 16, with jackknife errors and τ_int, beside the low-T series
e = −2 + (T/2)(N−1)/N + T²/16 and the universal line 2T/π (Nelson–Kosterlitz jump; T_BKT = 0.8929,
Hasenbusch 2005). Υ − 2T/π changes sign between T_BKT and the specific-heat peak on this size.

Usage: ``python benchmarks/xy.py [--replicas 256,1024] [--repeats 5] [--device cpu]``
       ``python benchmarks/xy.py --validate [--temperatures 0.2,0.5,...]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from topophys.observables.spins import energy, helicity_modulus, jackknife, specific_heat
from topophys.simulate.xy import (
    XYSampler,
    defect_field,
    integrated_autocorrelation_time,
    pair_charge_map,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(fn, device: torch.device, repeats: int, calls: int) -> float:
    """Median seconds per call over ``repeats`` blocks of ``calls`` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        samples.append((time.perf_counter() - t0) / calls)
    return float(np.median(samples))


def bench(replicas: int, device: torch.device, repeats: int, L: int = 16) -> dict:
    theta0 = np.broadcast_to(defect_field(pair_charge_map(L, 2)), (replicas, L, L))
    spins = replicas * L * L
    calls = max(3, int(2e6 // spins))
    out: dict = {"device": device.type, "L": L, "replicas": replicas}
    x = torch.zeros((replicas, L, L), device=device)

    def floor() -> None:
        torch.cos(torch.rand(x.shape, device=device, out=x), out=x)

    floor_s = _seconds(floor, device, repeats, calls)
    out["floor_updates_per_s"] = float(f"{spins / floor_s:.4g}")
    for constrained in (False, True):
        tag = "constrained_" if constrained else ""
        s = XYSampler(theta0, 0.1, constrained=constrained, seed=0, device=device)
        for name, fn in (("metropolis", s.metropolis_sweep), ("overrelax", s.overrelaxation_sweep)):
            sec = _seconds(fn, device, repeats, calls)
            out[f"{tag}{name}_updates_per_s"] = float(f"{spins / sec:.4g}")
            out[f"{tag}{name}_over_floor"] = round(sec / floor_s, 2)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", default="256,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--temperatures", default="0.1,0.3,0.5,0.7,0.8,0.9,1.0,1.1,1.3,1.5")
    parser.add_argument("--L", type=int, default=16)
    parser.add_argument("--chains", type=int, default=128)
    parser.add_argument("--sweeps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    meta = {
        "torch": torch.__version__,
        "threads": args.threads,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    if args.validate:
        temps = [float(t) for t in args.temperatures.split(",")]
        result = {**meta, "L": args.L, "chains": args.chains, "sweeps": args.sweeps,
                  "T_BKT_Hasenbusch2005": 0.89294,
                  "validation": validate(temps, args.L, args.chains, args.sweeps)}  # fmt: skip
    else:
        device = torch.device(args.device)
        cases = [bench(int(r), device, args.repeats) for r in args.replicas.split(",")]
        reference = {"metropolis": 8e6, "overrelax": 16e6, "constrained_metropolis": 2.5e6}
        result = {**meta, "issue_prototype_updates_per_s": reference, "cases": cases}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
