"""Controlled variants of the XY generator on one Monte Carlo store: one change at a time.

Reads the ``mc.zarr`` of a finished ``topophys run xy`` directory, trains each variant of the
demo's cWGAN (``DEMO_CONFIG.gan`` with a few fields changed) with one or more seeds, scores it
exactly as the pipeline does (held-out maps, both non-learned baselines, the independent Monte
Carlo half) and prints JSON: per variant and seed the R² of every observable against d, the R²
of G(r) at the Fig. 4 distances and over all of them, the match rate, the aligned diversity,
the per-epoch training curves (paper Fig. 3: vorticity, magnetization, energy, charge
fidelity, generated against real) and the CPU and wall seconds of the run.

The variants (``VARIANTS``) answer issue 19's questions: why the previous demo failed G(r) at
d = 0 (its transposed upsampling and its harmonic base, each switched on its own), and how the
paper's own generator (spins out, noise at the bottleneck only, physics loss from a third of
the epochs on, PyTorch initialization, equal learning rates) does on the same data and budget
(width, epochs, batch).

Runs are kept in ``OUT_DIR/NAME-sSEED`` and reused by a rerun (the pipeline resumes), so an
interrupted study continues. ``python docs/regenerate.py xy-variants FILE`` writes the tables
of ``docs/xy_pipeline.md`` from the JSON.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/xy_variants.py runs/xy --main-seeds 0,1 --seeds 0 \\
        --work /tmp/xy_variants --out docs/data/xy_variants.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from _output import finish

PAPER = {
    "generator_output": "spins",
    "noise_injection": "bottleneck",
    "spin_waves": False,
    "upsample": "transposed",
    "defect_base": "analytic",
    "spin_wave_stiffness": "bare",
    "generator_init": "pytorch",
    "noise_channels": 32,
    "lr": 1e-4,
    "critic_lr": None,
    "energy_moments_weight": 0.0,
    "spectrum_moments_weight": 0.0,
    "physics_start_epoch": 10,
    "physics_lr": 1e-5,
}
"""The paper's generator and schedule at the demo's width, epochs and batch: the physics loss
(eq. 1, integer target) from epoch 10 of 30, as the paper's 40 of 120."""

VARIANTS: dict[str, dict[str, Any]] = {
    "demo": {},
    "no spectrum moments": {"spectrum_moments_weight": 0.0},
    "previous demo (analytic base, transposed, bare waves, noise at all scales)": {
        "defect_base": "analytic",
        "upsample": "transposed",
        "spin_wave_stiffness": "bare",
        "noise_injection": "all",
    },
    "analytic base": {"defect_base": "analytic"},
    "relaxed base": {"defect_base": "relaxed"},
    "transposed upsampling": {"upsample": "transposed"},
    "bare spin-wave stiffness": {"spin_wave_stiffness": "bare"},
    "noise at all scales": {"noise_injection": "all"},
    "width 0.125": {"width": 0.125},
    "current moments 0.3": {"current_moments_weight": 0.3},
    "spectrum moments 0.3": {"spectrum_moments_weight": 0.3},
    "moments pooled over the batch": {"moments_groups": "batch"},
    "energy moments 1": {"energy_moments_weight": 1.0},
    "calibrated spin-wave stiffness": {"spin_wave_stiffness": "calibrated"},
    "SCHA spin-wave stiffness": {"spin_wave_stiffness": "scha"},
    "paper's generator": PAPER,
}

MAIN = (
    "demo",
    "no spectrum moments",
    "previous demo (analytic base, transposed, bare waves, noise at all scales)",
    "paper's generator",
)
"""The variants the docs compare most: run with ``--main-seeds``."""

_HISTORY = (
    "epoch",
    "gen_vorticity",
    "real_vorticity",
    "gen_magnetization",
    "real_magnetization",
    "gen_energy",
    "real_energy",
    "charge_fidelity",
    "physics_on",
)


def _history(path: Path) -> dict[str, list[float | None]]:
    with path.open() as f:
        rows = list(csv.DictReader(f))

    def cell(row: dict[str, str], key: str) -> float | None:
        return float(row[key]) if row.get(key) not in (None, "") else None

    return {k: [cell(r, k) for r in rows] for k in _HISTORY}


def _scores(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for T, by_ensemble in metrics["scores"].items():
        out[T] = {
            name: {
                "r2": s["r2"],
                # Per distance [value, error] of (generated − MC) / |MC|.
                "relative_error": {k: s["relative_error"][k] for k in ("energy", "magnetization")},
                "correlation_r2": s["correlation_r2"],
                "correlation_r2_shown_min": s["correlation_r2_shown_min"],
                "correlation_r2_all_mean": s["correlation_r2_all_mean"],
                "correlation_r2_all_min": s["correlation_r2_all_min"],
                "consistency": {k: v and v["chi2_per_dof"] for k, v in s["consistency"].items()},
                "match_rate": s["match_rate"]["mean"],
                "diversity_aligned_ratio": s["diversity"]["aligned_ratio"],
                "topological_accuracy_mean": s["topological_accuracy_mean"],
                "topological_accuracy_by_tol": s["topological_accuracy_by_tol"],
            }
            for name, s in by_ensemble.items()
        }
    return out


def _aligned(theta: np.ndarray, base: np.ndarray) -> np.ndarray:
    """θ − base − (each field's circular mean of it), wrapped: ``(n, L, L)``."""
    diff = np.exp(1j * (theta.astype(np.float64) - base))
    phase = np.angle(diff.mean(axis=(-2, -1)))
    return np.angle(diff * np.exp(-1j * phase)[:, None, None])


def lowest_modes(theta: np.ndarray) -> dict[str, float]:
    """Defect-free fields ``(n, L, L)``: mean power ⟨|φ̂_q|²⟩ (φ̂ = FFT/L) of the two lowest
    Fourier modes of the angle fluctuation, and the share of it in their mean over the fields
    (≈ 0 when every field is drawn independently; a fixed pattern painted on every field
    raises it towards 1)."""
    phi = _aligned(theta, 0.0)
    side = phi.shape[-1]
    f = np.fft.fft2(phi) / side
    modes = [f[:, 1, 0], f[:, 0, 1]]
    power = float(np.mean([np.mean(np.abs(m) ** 2) for m in modes]))
    mean_part = float(np.mean([np.abs(m.mean()) ** 2 for m in modes]))
    return {"power": power, "deterministic_share": mean_part / power}


def defect_fields(store: Path) -> list[dict[str, float]]:
    """Per condition of the store: the largest |mean deviation| of the Monte Carlo fields from
    the analytic and from the relaxed defect field, and the energies of the three."""
    from topophys.data.spins import open_spins
    from topophys.observables.spins import energy
    from topophys.simulate.xy import defect_field, relaxed_defect_field

    ds = open_spins(store)
    n_cond = int(ds.sizes["condition"])
    theta = np.asarray(ds["theta"].values).reshape(n_cond, -1, *ds["theta"].shape[1:])
    out = []
    for c in range(n_cond):
        k = ds["target"].values[c]
        analytic, relaxed = defect_field(k), relaxed_defect_field(k)
        out.append({
            "T": float(ds["cond_T"].values[c]),
            "d": float(ds["cond_d"].values[c]),
            "max_mean_deviation_from_analytic": float(
                np.abs(_aligned(theta[c], analytic).mean(0)).max()),
            "max_mean_deviation_from_relaxed": float(
                np.abs(_aligned(theta[c], relaxed).mean(0)).max()),
            "energy_analytic": float(energy(analytic)),
            "energy_relaxed": float(energy(relaxed)),
            "energy_mc": float(energy(theta[c].astype(np.float64)).mean()),
        })  # fmt: skip
    return out


def run_variant(store: Path, work: Path, name: str, seed: int, base: Any) -> dict[str, Any]:
    from topophys.pipelines.xy import run

    changes = VARIANTS[name]
    config = base.replace(
        data=str(store),
        gan=base.gan.replace(**changes, seed=seed),
        seed=seed,
        refine_sweeps=(),
        transfer_sizes=(),
    )
    run_dir = work / f"{''.join(c if c.isalnum() else '_' for c in name)}-s{seed}"
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    run(config, run_dir, progress=False)
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    generated = np.load(run_dir / "generated.npz")["theta"]
    return {
        "variant": name,
        "seed": seed,
        "changes": changes,
        "scores": _scores(metrics),
        "history": _history(run_dir / "gan" / "history.csv"),
        # Condition 0 of the demo's store is the defect-free map at its first temperature.
        "lowest_modes_d0": lowest_modes(generated[0]),
        "train_seconds": metrics["timings_s"]["train"],
        "wall_seconds_this_call": round(time.perf_counter() - t0, 1),
        "cpu_seconds_this_call": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished `topophys run xy` directory")
    parser.add_argument("--seeds", default="0", help="seeds of every variant")
    parser.add_argument(
        "--main-seeds",
        help=f"seeds of the main variants ({', '.join(MAIN)}) when they need more than --seeds",
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names")
    parser.add_argument("--scale", default="demo", choices=("demo", "temperatures"))
    parser.add_argument("--work", type=Path, default=Path("xy_variants"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import torch

    from topophys.pipelines.xy import DEMO_CONFIG, TEMPERATURES_CONFIG

    torch.set_num_threads(1)
    base = DEMO_CONFIG if args.scale == "demo" else TEMPERATURES_CONFIG
    store = args.run / "mc.zarr"
    result: dict[str, Any] = {
        "command": f"python benchmarks/xy_variants.py {args.run} --seeds {args.seeds} "
        + (f"--main-seeds {args.main_seeds} " if args.main_seeds else "")
        + f"--scale {args.scale}",
        "store": str(store),
        "cpus": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
        "torch": torch.__version__,
        "results": [],
        "defect_fields": defect_fields(store),
    }
    from topophys.data.spins import open_spins

    ds = open_spins(store)
    reference = np.asarray(ds["theta"].values)[: ds["theta"].shape[0] // int(ds.sizes["condition"])]
    result["lowest_modes_d0_reference"] = lowest_modes(reference[-base.reference_samples :])
    for name in args.variants.split(","):
        seeds = args.main_seeds if name in MAIN and args.main_seeds else args.seeds
        for seed in (int(s) for s in seeds.split(",")):
            result["results"].append(run_variant(store, args.work, name, seed, base))
    finish(result, args.out)


if __name__ == "__main__":
    main()
