"""Figures and ``report.html`` of the NRP pipeline (kept apart from the computation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..report import Report

__all__ = ["write_report"]

_NAMES = {"pd": "PD model (persistence images → MLP AE)", "image": "image model (conv AE)"}


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _rollout_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in ("pd", "image"):
        for split, by_k in metrics[name].get("rollout", {}).items():
            for k, m in by_k.items():
                rows.append(
                    {
                        "model": name,
                        "split": split,
                        "k": k[1:],
                        "relative error": m["error"],
                        "no-change error": m["baseline_error"],
                        "ratio (data)": m["ratio"],
                        "ratio vs D(z_{t-k})": m["decoded_baseline_ratio"],
                        "ratio (latent)": m["latent_ratio"],
                    }
                )
    return rows


def write_report(
    run_dir: Path,
    *,
    ds: Any,
    datasets: dict[str, Any],
    models: dict[str, Any],
    arrays: dict[str, dict[str, Any]],
    histories: dict[str, dict[str, list[float]]],
    metrics: dict[str, Any],
    summary: dict[str, Any],
    alphas: np.ndarray,
    train_runs: np.ndarray,
    config: Any,
) -> Path:
    """Draw every figure to PNG in ``run_dir`` and write ``report.html`` embedding them."""
    import matplotlib.pyplot as plt

    from ..evaluate.nrp import one_step_predictions
    from ..plot import nrp as pn
    from ..plot.fields import snapshot_grid, t_init_plot

    report = Report("Neural Reduced Potential of TDGL magnetic domains: PDs versus images")
    report.add_text(
        f"{summary['runs']} runs ({summary['train_runs']} for training; α = "
        f"{', '.join(f'{a:g}' for a in summary['heldout_alphas']) or 'none'} held out: "
        f"{summary['heldout_runs']} runs), {summary['snapshots_per_run']} snapshots each on a "
        f"{summary['grid']}² grid. The PD model encodes persistence images of H0 and H1 "
        f"({summary['pd_features']} features); the image model encodes the fields averaged to "
        f"{summary['image_size']}². Both have a {config.pd_model.latent_dim}-D latent space and "
        f"V_NN(z, α, h), trained with L_AE + λ·L_V (λ = {config.pd_model.lambda_v:g} / "
        f"{config.image_model.lambda_v:g}). Time is in units of {summary['time_unit']:g}."
    )

    fig = snapshot_grid(ds)
    _save(fig, run_dir / "snapshots.png")
    report.add_heading("Data")
    report.add_figure(
        run_dir / "snapshots.png",
        "TDGL snapshots φ(r, t): rows are anisotropies α, columns times; red φ > 0, blue φ < 0.",
    )
    fig = t_init_plot(ds)
    _save(fig, run_dir / "t_init.png")
    report.add_figure(
        run_dir / "t_init.png",
        "T_init, the first time with a negative φ (the onset of reversed domains), against α; "
        "section 4 evaluates ∂V/∂z there.",
    )

    report.add_heading("1. The potential decreases in time (paper 1, Fig. 3a)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for ax, name in zip(axes, ("pd", "image"), strict=True):
        data = datasets[name]
        pn.potential_curves(data.t, arrays[name]["v"], alphas, ax=ax, title=_NAMES[name])
    _save(fig, run_dir / "potential.png")
    mono = {
        f"{n}.{k}": v for n in ("pd", "image") for k, v in metrics[n]["monotone_fraction"].items()
    }
    mono.update({f"{n}.descent_fraction": metrics[n]["descent_fraction"] for n in ("pd", "image")})
    report.add_figure(
        run_dir / "potential.png",
        "V_NN(z_t, α, h_t) along every run, coloured by α (log time). A gradient system's "
        "potential never rises; monotone_fraction is the share of runs whose V never rises by "
        f"more than {config.monotone_tol:g} of that run's range. V also moves with h(t), so "
        "descent_fraction holds α and h fixed: the share of steps with V(z_(t+1), c_t) ≤ "
        "V(z_t, c_t).",
    )
    report.add_table(mono, caption="monotone_fraction")

    report.add_heading("2. Reconstruction and prediction (paper 1, Fig. 3b; paper 2, Fig. 2A–B)")
    held_idx = np.flatnonzero(~train_runs)
    run = int(held_idx[len(held_idx) // 2]) if held_idx.size else 0
    n_t = datasets["pd"].n_times
    show = sorted({max(1, n_t // 4), n_t // 2, (3 * n_t) // 4, n_t - 1})
    fig_err, ax_err = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for name, shape in (
        ("pd", (len(config.features.dims), config.features.resolution, config.features.resolution)),
        ("image", None),
    ):
        pred = one_step_predictions(models[name], datasets[name], run)
        fig = pn.prediction_panel(
            pred,
            show,
            datasets[name].t[run],
            image_shape=shape,
            title=f"{_NAMES[name]}, α = {alphas[run]:g} "
            f"({'held out' if not train_runs[run] else 'training'})",
        )
        _save(fig, run_dir / f"prediction_{name}.png")
        t_run = datasets[name].t[run]
        scale = np.sqrt((pred["truth"] ** 2).mean(axis=tuple(range(1, pred["truth"].ndim))))
        ax_err.plot(t_run[1:], pred["rmse"][1:] / scale[1:], label=f"{name}: prediction")
        ax_err.plot(
            t_run[1:], pred["baseline_rmse"][1:] / scale[1:], "--", label=f"{name}: no change"
        )
        what = (
            "persistence images of H0 | H1 (birth → right, persistence ↑)"
            if name == "pd"
            else "fields (block-averaged)"
        )
        report.add_figure(
            run_dir / f"prediction_{name}.png",
            f"{_NAMES[name]}: truth, reconstruction D(E(x_t)) and one-step prediction "
            f"D(z_(t−1) − Δt ∂V/∂z) of {what} for one run at α = {alphas[run]:g}.",
        )
    ax_err.set_xscale("log")
    ax_err.set_yscale("log")
    ax_err.set_xlabel("t")
    ax_err.set_ylabel("relative RMSE")
    ax_err.legend(fontsize=8)
    _save(fig_err, run_dir / "prediction_error.png")
    report.add_figure(
        run_dir / "prediction_error.png",
        f"Relative RMSE of the one-step prediction against time for the run at α = "
        f"{alphas[run]:g} (paper 2, Fig. 2A, dotted there), beside the no-change baseline "
        "x_(t−1) (dashed).",
    )
    report.add_table(
        _rollout_rows(metrics),
        caption="k-step prediction errors (ratios below 1 beat the baseline)",
    )

    report.add_heading("3. Latent trajectories (paper 1, Fig. 3c)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, name in zip(axes, ("pd", "image"), strict=True):
        pn.latent_trajectories(arrays[name]["z"], alphas, ax=ax, title=_NAMES[name])
    _save(fig, run_dir / "latent.png")
    report.add_figure(
        run_dir / "latent.png",
        "Latent trajectories z(t) of every run coloured by α (dots mark the first snapshot "
        "used). Smooth in α means neighbouring anisotropies follow neighbouring paths.",
    )
    report.add_table(
        [{"model": n, **metrics[n]["latent"]} for n in ("pd", "image")],
        caption="Latent smoothness in α at fixed t (1 smooth, 0 zigzag) and the largest "
        f"jump's share of the path (≈ {1 / max(len(np.unique(alphas)) - 1, 1):.3f} if uniform)",
    )

    report.add_heading("4. ∂V/∂z at T_init against α (paper 2, Fig. 2C)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for ax, name in zip(axes, ("pd", "image"), strict=True):
        pn.gradient_vs_alpha(alphas, arrays[name]["grad"], ax=ax, title=_NAMES[name])
    _save(fig, run_dir / "grad_t_init.png")
    report.add_figure(
        run_dir / "grad_t_init.png",
        "Gradient of V_NN at T_init (first negative value of φ), z and h interpolated to it, "
        "against α: runs as dots, mean over seeds as lines.",
    )
    report.add_table(
        [{"model": n, **metrics[n].get("grad_at_t_init", {})} for n in ("pd", "image")],
        caption="Continuity: largest jump between neighbouring α over the largest distance "
        f"between any two α (≈ {1 / max(len(np.unique(alphas)) - 1, 1):.3f} if uniform, 1 for a "
        "single jump)",
    )

    report.add_heading("5. Training")
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    pn.training_curves(histories, ax=ax)
    _save(fig, run_dir / "training.png")
    report.add_figure(
        run_dir / "training.png",
        "L_AE and L_V per epoch, training runs (solid) and held-out anisotropies (dashed).",
    )
    report.add_table(
        [{"model": n, **metrics[n]["final_losses"]} for n in ("pd", "image")],
        caption="Final epoch losses",
    )
    return report.write(run_dir / "report.html")
