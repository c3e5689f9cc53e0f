"""The XY generator's non-learned prior against Monte Carlo, per condition: no training.

Reads the ``mc.zarr`` of a finished ``topophys run xy`` directory, splits it as the pipeline
does (the first ``train_samples`` fields of each condition train, the last
``reference_samples`` are the reference), calibrates the blend weights and the spin-wave
stiffness J_eff(T) on the training fields (:func:`~topophys.models.unet.calibrate_wave_stiffness`,
on the energy per bond and, for comparison, on ⟨|M|⟩) and prints JSON: per temperature the
SCHA's and the calibrated J_eff, and per condition (T, d) the mean energy per spin and |M| of
the reference, the relative errors ((x − x_MC)/|x_MC|, as in the pipeline's metrics: > 0 is
too hot for the energy) of the base field alone and of the prior (base + waves, through
``residual_angles``, on the condition's map) with each stiffness, and R² of the prior's G(r)
against the reference's. It answers whether the prior itself, before any learning, matches
the constrained ensemble.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/xy_wave_stiffness.py runs/xy_T --scale temperatures \\
        --out docs/data/xy_wave_stiffness_T.json
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from _output import finish


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished `topophys run xy` directory")
    parser.add_argument("--scale", default="temperatures", choices=("demo", "temperatures"))
    parser.add_argument("--samples", type=int, default=256, help="prior fields per condition")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import torch

    from topophys.evaluate.xy import r2_score
    from topophys.models.unet import UNetGenerator, calibrate_wave_stiffness
    from topophys.observables.spins import correlation, energy, magnetization, scha_stiffness
    from topophys.pipelines.xy import DEMO_CONFIG, TEMPERATURES_CONFIG, _load_store, _train_count
    from topophys.simulate.xy import blend_weight_table

    torch.set_num_threads(1)
    config = DEMO_CONFIG if args.scale == "demo" else TEMPERATURES_CONFIG
    gan = config.gan
    data = _load_store(args.run / "mc.zarr")
    n_train, side = _train_count(config, data), data.L
    train = [
        data.theta[:, :n_train].reshape(-1, side, side),
        data.charge[:, :n_train].reshape(-1, side, side),
        np.repeat(data.T, n_train),
    ]
    generator = UNetGenerator(
        width=gan.width,
        noise_channels=gan.noise_channels,
        output="defect_residual",
        noise_injection=gan.noise_injection,
        spin_waves=True,
        defect_base=gan.defect_base,
        spin_wave_stiffness="calibrated",
    )
    if gan.defect_base == "blend":
        generator.set_base_weights(*blend_weight_table(*train))
    grid, jeff = calibrate_wave_stiffness(generator, *train, seed=gan.seed)
    _, jeff_m = calibrate_wave_stiffness(
        generator, *train, seed=gan.seed, observable="magnetization"
    )
    generator.set_wave_stiffnesses(grid, jeff)
    n_sites = side * side
    result: dict[str, Any] = {
        "command": f"python benchmarks/xy_wave_stiffness.py {args.run} --scale {args.scale}",
        "store": str(args.run / "mc.zarr"),
        "train_per_condition": n_train,
        "cpus": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
        "stiffness": [
            {
                "T": float(T),
                "scha": float(scha_stiffness(T, n_sites=n_sites)),
                "calibrated": float(j),
                "calibrated_magnetization": float(jm),
            }
            for T, j, jm in zip(grid, jeff, jeff_m, strict=True)
        ],
        "conditions": [],
    }
    rng = torch.Generator().manual_seed(12345)
    for c in range(data.theta.shape[0]):
        T, n = float(data.T[c]), args.samples
        ref = data.theta[c, -config.reference_samples :].astype(np.float64)
        e_ref, m_ref = float(energy(ref).mean()), float(magnetization(ref).mean())
        g_ref = correlation(ref)[1]
        q = torch.from_numpy(data.target[c].astype(np.int64))[None].expand(n, -1, -1)
        temps = torch.full((n,), T, dtype=torch.float64)
        white = torch.randn((n, side, side), generator=rng, dtype=torch.float64)
        row: dict[str, Any] = {
            "T": T,
            "d": float(data.d[c]),
            "energy": e_ref,
            "magnetization": m_ref,
        }
        base = generator.defect_angles(q[:1], temps[:1]).numpy()
        row["base_energy_rel_error"] = (float(energy(base).mean()) - e_ref) / abs(e_ref)
        for name, stiffness in (
            ("scha", scha_stiffness(temps, n_sites=n_sites)),
            ("calibrated", generator.wave_stiffness(temps)),
            ("calibrated_magnetization", torch.from_numpy(np.interp(temps.numpy(), grid, jeff_m))),
        ):
            prior = generator.prior_angles(q, temps, white, stiffness).numpy()
            row[f"{name}_energy_rel_error"] = (float(energy(prior).mean()) - e_ref) / abs(e_ref)
            row[f"{name}_magnetization_rel_error"] = float(magnetization(prior).mean()) / m_ref - 1
            row[f"{name}_G_r2"] = r2_score(g_ref, correlation(prior)[1])
        result["conditions"].append(row)
    finish(result, args.out)


if __name__ == "__main__":
    main()
