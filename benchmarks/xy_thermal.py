"""Spin fields from thermal defect maps across the BKT transition: the cWGAN against Monte Carlo.

`topophys run xy` conditions on prescribed maps that the charge-constrained sampler holds, so
its ensembles keep their vortices bound at every T and have no BKT transition. Here the maps are
thermal: the unconstrained Monte Carlo samples the free XY model at each T, and every field's
own plaquette charge map is its condition (below T_BKT ≈ 0.89 J nearly all maps are empty; above
it they carry free vortices). The demo's generator (``DEMO_CONFIG.gan``: defect residual on
the blended base, SCHA spin-wave prior, noise at the fine scales) is trained on the first fields
of each T and then draws one field for each held-out map. Its ensemble is scored per T
against the held-out Monte Carlo fields of those same maps, beside:

* the non-learned baseline (analytic defect field of each map + harmonic spin waves at T);
* the generated fields after k sweeps (``--sweeps``) of the charge-constrained Monte Carlo, which
  holds each map, and plain Monte Carlo: the same sweeps from the analytic defect field of each
  map (with a random global angle);
* an independent Monte Carlo half (other maps, as many fields): the noise ceiling.

The energy moment term of the demo is left out: it standardizes energies per (T, map), and a
thermal map above T_BKT is seen once.

Scores along T (``evaluate.xy.trend_scores``): R² and χ²/dof of every observable. The helicity
modulus Υ(T) is the BKT test: its drop where it crosses 2T/π comes from unbinding vortices and
from the winding sectors they open.

Usage: ``python benchmarks/xy_thermal.py [--out DIR] [--temperatures 0.5,...] [--samples 256]
[--reference 64] [--epochs 30] [--quick]``; prints one JSON object. The Monte Carlo store and
the GAN checkpoints live in ``--out`` and are reused by a second run with the same settings.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from topophys.data.spins import open_spins
from topophys.evaluate.xy import (
    OBSERVABLES,
    refine_with_mc,
    spin_wave_baseline,
    summarize,
    trend_scores,
)
from topophys.models.unet import generate
from topophys.pipelines.xy import DEMO_CONFIG
from topophys.simulate.xy import XYConfig, defect_field, write_dataset
from topophys.training.wgan import train_cwgan


def _per_temperature(ds, temperatures: list[float]) -> dict[float, dict[str, np.ndarray]]:
    out = {}
    T_all = ds["T"].values
    theta = ds["theta"].values
    charge = ds["charge"].values
    for T in temperatures:
        idx = np.flatnonzero(np.isclose(T_all, T))
        out[T] = {"theta": theta[idx], "charge": charge[idx].astype(np.int64)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/xy_thermal"))
    p.add_argument("--temperatures", default="0.5,0.7,0.9,1.1,1.3")
    p.add_argument("--samples", type=int, default=256, help="Monte Carlo fields per T")
    p.add_argument("--reference", type=int, default=64, help="held-out fields per T")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument(
        "--sweeps", default="2,4,8,16,32", help="constrained sweeps after either start (ascending)"
    )
    p.add_argument("--quick", action="store_true", help="a few seconds: tiny data, 2 epochs")
    args = p.parse_args()
    torch.set_num_threads(1)
    load_start = [round(x, 2) for x in os.getloadavg()]
    temperatures = [float(t) for t in args.temperatures.split(",")]
    sweeps = [int(k) for k in args.sweeps.split(",")]
    samples, reference, epochs = args.samples, args.reference, args.epochs
    if args.quick:
        samples, reference, epochs = 40, 20, 2
    if not 2 <= reference < samples:
        raise ValueError(f"--reference must lie in [2, --samples), got {reference}")
    n_train = samples - reference
    n_blocks = 10 if reference >= 40 else 5
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    sim = XYConfig(
        L=16,
        temperatures=tuple(temperatures),
        distances=(0.0,),
        samples=samples,
        n_replicas=min(64, samples),
        equilibration_sweeps=300,
        decorrelation_sweeps=10,
        constrained=False,
    )
    store = write_dataset(sim, args.out / f"mc_{samples}.zarr", progress=False)
    data = _per_temperature(open_spins(store.path), temperatures)
    timings["simulate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    gan = DEMO_CONFIG.gan.replace(
        energy_moments_weight=0.0, spectrum_moments_weight=0.0, epochs=epochs
    )
    angles = np.concatenate([data[T]["theta"][:n_train] for T in temperatures])
    charges = np.concatenate([data[T]["charge"][:n_train] for T in temperatures])
    temps = np.repeat(temperatures, n_train)
    generator, _ = train_cwgan(
        gan, angles, charges, temps, args.out / f"gan_{samples}_{epochs}", progress=False
    )
    timings["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    names = ["reference", "generated", "baseline", "mc_independent"]
    names += [f"{start} + {k} sweeps" for start in ("generated", "analytic") for k in sweeps]
    ensembles: dict[str, dict[float, np.ndarray]] = {name: {} for name in names}
    seconds = {"generate": 0.0, "analytic": 0.0, "sweep": 0.0}
    targets: dict[str, dict[float, np.ndarray]] = {name: {} for name in ensembles}
    for i, T in enumerate(temperatures):
        maps = data[T]["charge"][n_train:]
        ensembles["reference"][T] = data[T]["theta"][n_train:]
        start = time.perf_counter()
        gen = generate(generator, maps, T, n_per_condition=1, seed=i)[:, 0]
        seconds["generate"] += time.perf_counter() - start
        ensembles["generated"][T] = gen
        start = time.perf_counter()
        rng = np.random.default_rng([i, 7])
        analytic = np.stack([defect_field(q) for q in maps])
        analytic += rng.uniform(-np.pi, np.pi, (len(maps), 1, 1))
        seconds["analytic"] += time.perf_counter() - start
        for name, first in (("generated", gen), ("analytic", analytic)):
            refined = refine_with_mc(first, maps, T, sweeps, seed=i + 100 * (name == "analytic"))
            seconds["sweep"] += refined.seconds_per_sweep
            for k in sweeps:
                ensembles[f"{name} + {k} sweeps"][T] = refined.snapshots[k]
        ensembles["baseline"][T] = np.stack(
            [spin_wave_baseline(q, T, 1, seed=1000 * i + j)[0] for j, q in enumerate(maps)]
        )
        for name in ensembles:
            targets[name][T] = maps
        m = min(reference, n_train)
        ensembles["mc_independent"][T] = data[T]["theta"][:m]
        targets["mc_independent"][T] = data[T]["charge"][:m]
    timings["generate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    summaries = {
        name: [
            summarize(
                ensembles[name][T],
                targets[name][T],
                T,
                0.0,
                n_blocks=n_blocks,
                morphology_samples=None,
            )
            for T in temperatures
        ]
        for name in ensembles
    }
    timings["evaluate"] = time.perf_counter() - t0

    per_T = {
        f"T={T:g}": {
            name: {
                "observables": summaries[name][i].observables,
                "match_rate": summaries[name][i].match_rate,
                "diversity_aligned": summaries[name][i].diversity_aligned,
            }
            for name in ensembles
        }
        for i, T in enumerate(temperatures)
    }
    along_T = {
        name: trend_scores(summaries["reference"], summaries[name])
        for name in ensembles
        if name != "reference"
    }
    report = {
        "benchmark": "xy_thermal",
        "temperatures": temperatures,
        "fields_per_T": {"train": n_train, "reference": reference},
        "epochs": epochs,
        "sweeps": sweeps,
        "vortices_per_field": {
            f"T={T:g}": float(np.abs(data[T]["charge"]).sum(axis=(1, 2)).mean())
            for T in temperatures
        },
        "r2_along_T": {n: s["r2"] for n, s in along_T.items()},
        "chi2_per_dof_along_T": {
            n: {o: None if c is None else c["chi2_per_dof"] for o, c in s["consistency"].items()}
            for n, s in along_T.items()
        },
        "helicity_modulus": {
            name: [
                summaries[name][i].observables["helicity_modulus"] for i in range(len(temperatures))
            ]
            for name in ensembles
        },
        "per_T": per_T,
        "observables": list(OBSERVABLES),
        "ms_per_sample": {
            "generator": 1e3 * seconds["generate"] / (reference * len(temperatures)),
            "analytic_field": 1e3 * seconds["analytic"] / (reference * len(temperatures)),
            # Both starts ran the same sweeps: the mean cost of one sweep of one field.
            "sweep": 1e3 * seconds["sweep"] / (2 * reference * len(temperatures)),
        },
        "timings_s": timings,
        "machine": {"platform": platform.platform(), "torch": torch.__version__},
        "cpus": os.cpu_count(),
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
    }
    print(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
