"""Figures and ``report.html`` of the NRP pipeline (kept apart from the computation).

Every number shown here is computed in :mod:`topophys.pipelines.nrp` (through
:mod:`topophys.evaluate.nrp`) and also written to ``metrics.json``; this module only draws
and assembles.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..report import Report

__all__ = ["write_report"]

_NAMES = {"pd": "PD model (persistence images → MLP AE)", "image": "image model (conv AE)"}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _rollout_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name in _NAMES:
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


def _monotonicity_rows(metrics: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"quantity": "TDGL energy H: monotone fraction", **summary["energy_monotone_fraction"]}]
    for name in _NAMES:
        m = metrics[name]
        rows += [
            {"quantity": f"{name}: monotone fraction of V (papers)", **m["monotone_fraction"]},
            {
                "quantity": f"{name}: monotone fraction of V(z_t, c_t) − V(z̄, c_t)",
                **m["anchored_monotone_fraction"],
            },
            {
                "quantity": f"{name}: monotone fraction of H(φ_t, h_t) − H(φ̄, h_t)",
                **m["anchored_energy_monotone_fraction"],
            },
            {
                "quantity": f"{name}: rank correlation of V and H (median over runs)",
                **m["energy_rank_correlation"]["raw"],
            },
            {
                "quantity": f"{name}: same, both anchored (gauge-free)",
                **m["energy_rank_correlation"]["anchored"],
            },
            {"quantity": f"{name}: descent fraction (α, h fixed)", "all": m["descent_fraction"]},
        ]
    return rows


def _intro(report: Report, summary: dict[str, Any], config: Any) -> None:
    held = ", ".join(f"{a:g}" for a in summary["heldout_alphas"]) or "none"
    fresh = ", ".join(f"{a:g}" for a in summary["fresh_alphas"]) or "none"
    pd, img = config.pd_model, config.image_model
    report.add_text(
        f"{summary['runs']} runs of {summary['snapshots_per_run']} snapshots on a "
        f"{summary['grid']}² grid: {summary['train_runs']} train, {summary['validation_runs']} "
        f"select the epoch (validation), and the {summary['heldout_runs']} runs at α = {held} "
        f"are never seen (held out). {summary['fresh_runs']} fresh runs at α = {fresh}, with "
        "seeds the sweep never used, are simulated after training and predicted too. The PD "
        f"model encodes persistence images of H0 and H1 ({summary['pd_features']} features); "
        f"the image model encodes the fields averaged to {summary['image_size']}². Both have "
        f"a {pd.latent_dim}-D latent space and V_NN(z, α, h) ({pd.potential_form} form), "
        f"trained with L_AE + λ·L_V (λ = {pd.lambda_v:g} / {img.lambda_v:g}, L_V on the "
        f"{pd.residual} residual). Time is in units of {summary['time_unit']:g}."
    )


def _data_section(report: Report, run_dir: Path, ds: Any) -> None:
    from ..plot.fields import snapshot_grid, t_init_plot

    report.add_heading("Data")
    report.add_figure(
        _save(snapshot_grid(ds), run_dir / "snapshots.png"),
        "TDGL snapshots φ(r, t): rows are anisotropies α, columns times; red φ > 0, blue φ < 0.",
    )
    report.add_figure(
        _save(t_init_plot(ds), run_dir / "t_init.png"),
        "T_init, the first time with a negative φ (the onset of reversed domains), against α; "
        "section 4 evaluates ∂V/∂z there.",
    )


def _potential_section(
    report: Report,
    run_dir: Path,
    runs: Any,
    arrays: dict[str, Any],
    metrics: dict[str, Any],
    summary: dict[str, Any],
    config: Any,
) -> None:
    import matplotlib.pyplot as plt

    from ..plot import nrp as pn

    report.add_heading("1. Does the potential decrease in time? (paper 1, Fig. 3a)")
    t = runs.datasets["pd"].t
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.4), constrained_layout=True)
    for col, name in enumerate(_NAMES):
        pn.potential_curves(t, arrays[name]["v"], runs.alphas, ax=axes[0, col], title=_NAMES[name])
        pn.potential_curves(
            t,
            arrays[name]["v_anchored"],
            runs.alphas,
            ax=axes[1, col],
            title=f"{name}: V(z_t, c_t) − V(z̄, c_t)",
        )
    report.add_figure(
        _save(fig, run_dir / "potential.png"),
        "Top: V_NN(z_t, α, h_t) along every run, coloured by α (log time), as the papers draw "
        "it. Only ∂V/∂z is trained, so V is defined up to any term g(α, h); since h(t) changes "
        "along every run, such a term moves this curve at will. Bottom: V(z_t, c_t) − "
        "V(z̄, c_t), with z̄ a fixed reference state, which cancels it.",
    )
    order = np.argsort(runs.alphas)
    show = [int(order[i]) for i in sorted({0, len(order) // 2, len(order) - 1})]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for ax, name in zip(axes, _NAMES, strict=True):
        a = arrays[name]
        pn.energy_comparison(
            t, a["v_anchored"], a["h_anchored"], runs.alphas, show, ax=ax, title=_NAMES[name]
        )
    report.add_figure(
        _save(fig, run_dir / "energy.png"),
        "The anchored potential (solid) beside the anchored true TDGL energy H(φ_t, h_t) − "
        "H(φ̄, h_t) (dashed; φ̄ the snapshot encoded as z̄), each rescaled to [0, 1], for the "
        "smallest, middle and largest α.",
    )
    report.add_table(
        _monotonicity_rows(metrics, summary),
        caption=f"Monotone fractions (tolerance {config.monotone_tol:g} of each run's range) "
        "per split, rank correlations with the true energy, and the share of steps along "
        "which V falls at fixed α and h",
    )


def _prediction_section(
    report: Report,
    run_dir: Path,
    runs: Any,
    models: dict[str, Any],
    arrays: dict[str, Any],
    metrics: dict[str, Any],
    splits: dict[str, np.ndarray],
    config: Any,
) -> None:
    import matplotlib.pyplot as plt

    from ..evaluate.nrp import one_step_predictions
    from ..plot import nrp as pn

    report.add_heading("2. Reconstruction and prediction (paper 1, Fig. 3b; paper 2, Fig. 2A–B)")
    held_idx = np.flatnonzero(splits["heldout"])
    run = int(held_idx[len(held_idx) // 2]) if held_idx.size else 0
    alpha = runs.alphas[run]
    where = "held out" if splits["heldout"][run] else "training"
    n_t = runs.datasets["pd"].n_times
    show = sorted({max(1, n_t // 4), n_t // 2, (3 * n_t) // 4, n_t - 1})
    pd_shape = (len(config.features.dims), config.features.resolution, config.features.resolution)
    fig_err, ax_err = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    for name, shape in (("pd", pd_shape), ("image", None)):
        data = runs.datasets[name]
        pred = one_step_predictions(models[name], data, run)
        fig = pn.prediction_panel(
            pred, show, data.t[run], image_shape=shape, title=f"{_NAMES[name]}, α = {alpha:g}"
        )
        what = "persistence images of H0 | H1" if name == "pd" else "fields (block-averaged)"
        report.add_figure(
            _save(fig, run_dir / f"prediction_{name}.png"),
            f"{_NAMES[name]}: truth, reconstruction D(E(x_t)) and one-step prediction "
            f"D(z_(t−1) − Δt ∂V/∂z) of {what} for the {where} run at α = {alpha:g}.",
        )
        scale = np.sqrt((pred["truth"] ** 2).mean(axis=tuple(range(1, pred["truth"].ndim))))
        t_run = data.t[run][1:]
        ax_err.plot(t_run, pred["rmse"][1:] / scale[1:], label=f"{name}: prediction")
        ax_err.plot(t_run, pred["baseline_rmse"][1:] / scale[1:], "--", label=f"{name}: no change")
    ax_err.set(xscale="log", yscale="log", xlabel="t", ylabel="relative RMSE")
    ax_err.legend(fontsize=8)
    report.add_figure(
        _save(fig_err, run_dir / "prediction_error.png"),
        f"Relative RMSE of the one-step prediction against time for the run at α = {alpha:g} "
        "(paper 2, Fig. 2A, dotted there), beside the no-change baseline x_(t−1) (dashed).",
    )
    report.add_table(
        _rollout_rows(metrics),
        caption="k-step prediction errors on the training runs, the held-out anisotropies and "
        "the fresh runs; ratios below 1 beat the no-change baseline",
    )
    by_start = {n: arrays[n]["errors_by_start"] for n in _NAMES if arrays[n]["errors_by_start"]}
    if by_start:
        k = max(k for k in config.rollout_steps if k < runs.datasets["pd"].n_times)
        fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
        pn.errors_by_start(by_start, k, ax=ax, title="held-out anisotropies")
        report.add_figure(
            _save(fig, run_dir / "errors_by_start.png"),
            f"Where the {k}-step errors on the held-out anisotropies come from: error over "
            "no change, summed over runs, against the time the prediction starts (latent "
            "solid, decoded dashed). Predictions that start before nucleation (T_init) cross "
            "the fastest change of the whole run.",
        )


def _latent_section(
    report: Report, run_dir: Path, runs: Any, arrays: dict[str, Any], metrics: dict[str, Any]
) -> None:
    import matplotlib.pyplot as plt

    from ..plot import nrp as pn

    uniform = 1 / max(len(np.unique(runs.alphas)) - 1, 1)
    report.add_heading("3. Latent trajectories (paper 1, Fig. 3c)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, name in zip(axes, _NAMES, strict=True):
        pn.latent_trajectories(arrays[name]["z"], runs.alphas, ax=ax, title=_NAMES[name])
    report.add_figure(
        _save(fig, run_dir / "latent.png"),
        "Latent trajectories z(t) of every run coloured by α (dots mark the first snapshot "
        "used). Smooth in α means neighbouring anisotropies follow neighbouring paths.",
    )
    report.add_table(
        [{"model": n, **metrics[n]["latent"]} for n in _NAMES],
        caption="Latent smoothness in α at fixed t (1 smooth, 0 zigzag) and the largest "
        f"jump's share of the path (≈ {uniform:.3f} if uniform)",
    )
    report.add_heading("4. ∂V/∂z at T_init against α (paper 2, Fig. 2C)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    for ax, name in zip(axes, _NAMES, strict=True):
        pn.gradient_vs_alpha(runs.alphas, arrays[name]["grad"], ax=ax, title=_NAMES[name])
    report.add_figure(
        _save(fig, run_dir / "grad_t_init.png"),
        "Gradient of V_NN at T_init (first negative value of φ), z and h interpolated to it, "
        "against α: runs as dots, mean over seeds as lines.",
    )
    report.add_table(
        [{"model": n, **metrics[n].get("grad_at_t_init", {})} for n in _NAMES],
        caption="Continuity: largest jump between neighbouring α over the largest distance "
        f"between any two α (≈ {uniform:.3f} if uniform, 1 for a single jump)",
    )


def _training_section(
    report: Report,
    run_dir: Path,
    histories: dict[str, dict[str, list[float]]],
    metrics: dict[str, Any],
) -> None:
    import matplotlib.pyplot as plt

    from ..plot import nrp as pn

    report.add_heading("5. Training")
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    pn.training_curves(histories, ax=ax)
    report.add_figure(
        _save(fig, run_dir / "training.png"),
        "L_AE and L_V per epoch, training runs (solid) and validation runs (dashed).",
    )
    report.add_table(
        [{"model": n, **metrics[n]["fit"], **metrics[n]["final_losses"]} for n in _NAMES],
        caption="Epochs run, the epoch whose weights were kept, and the last epoch's losses",
    )


def write_report(
    run_dir: Path,
    *,
    ds: Any,
    runs: Any,
    models: dict[str, Any],
    arrays: dict[str, dict[str, Any]],
    histories: dict[str, dict[str, list[float]]],
    metrics: dict[str, Any],
    summary: dict[str, Any],
    splits: dict[str, np.ndarray],
    config: Any,
) -> Path:
    """Draw every figure to PNG in ``run_dir`` and write ``report.html`` embedding them."""
    report = Report("Neural Reduced Potential of TDGL magnetic domains: PDs versus images")
    _intro(report, summary, config)
    _data_section(report, run_dir, ds)
    _potential_section(report, run_dir, runs, arrays, metrics, summary, config)
    _prediction_section(report, run_dir, runs, models, arrays, metrics, splits, config)
    _latent_section(report, run_dir, runs, arrays, metrics)
    _training_section(report, run_dir, histories, metrics)
    return report.write(run_dir / "report.html")
