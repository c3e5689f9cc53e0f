"""Figures and ``report.html`` of the PH-descriptor energy pipeline (kept apart from the work)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..report import Report

__all__ = ["write_report"]

_MODELS = {"ridge": "Ridge", "cnn": "CNN"}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _protocol_text(config: Any, summary: dict[str, Any]) -> str:
    from .mlpot import PAPER_CONFIG

    if config.data is not None:
        source = f"read from {config.data}"
    else:
        g = config.generate
        source = (
            f"generated here with the papers' melt-quench protocol ({g.frames_per_run} frames "
            f"per run, potential {g.label_potential or g.potential}, engine {g.engine}): "
            f"{len(g.densities)} densities × {g.runs} runs of {g.n_atoms} atoms"
        )
        if config.transfer is not None:
            t = config.transfer
            source += f", and {len(t.densities)} × {t.runs} runs of {t.n_atoms} atoms"
    text = (
        f"Structures {source}. Every {config.frame_stride}th frame of each run is kept: "
        f"{summary['frames']} frames from {summary['runs']} runs for training and testing"
    )
    if "transfer_frames" in summary:
        sizes = "/".join(str(n) for n in summary["transfer_atoms"])
        text += f", {summary['transfer_frames']} frames of {sizes} atoms for size transfer"
    text += (
        ". Labels are the potential's energies, not the papers' DFT (LDA) energies, so the "
        "numbers below measure how well the descriptor predicts this potential's energy."
    )
    paper = PAPER_CONFIG
    reduced = []
    if config.data is None and (
        config.generate != paper.generate or config.transfer != paper.transfer
    ):
        reduced.append(
            f"{summary['runs']} runs instead of 66 (densities "
            f"{', '.join(f'{d:g}' for d in summary['densities'])} g/cm³)"
        )
    if config.frame_stride != 1:
        reduced.append(f"every {config.frame_stride}th frame instead of all 255 of a run")
    cnn, ref = config.cnn, paper.cnn
    if cnn != ref:
        reduced.append(
            f"the CNN has {', '.join(map(str, cnn.channels))} channels and a hidden width of "
            f"{cnn.hidden} (paper: {', '.join(map(str, ref.channels))}), trained {cnn.epochs} "
            f"epochs at lr {cnn.lr:g} halved at {', '.join(map(str, cnn.milestones)) or 'no epoch'}"
            f" (paper: {ref.epochs} epochs at {ref.lr:g}, halved at "
            f"{', '.join(map(str, ref.milestones))})"
        )
    if reduced:
        text += (
            " This is a reduced run, not the papers' protocol: "
            + "; ".join(reduced)
            + ". `topophys run mlpot --scale paper` runs the full protocol."
        )
    return text


def write_report(
    run_dir: Path,
    *,
    config: Any,
    summary: dict[str, Any],
    metrics: dict[str, Any],
    headline: dict[str, dict[str, float]],
    table: dict[str, np.ndarray],
    t_table: dict[str, np.ndarray] | None,
    splits: dict[str, np.ndarray],
    predictions: dict[str, np.ndarray],
    probabilities: np.ndarray,
    features: np.ndarray,
    ridge_coef: dict[str, np.ndarray],
    histories: dict[str, dict[str, list[float]]],
    timings: dict[str, float],
    sections: Mapping[str, Any] | None = None,
) -> Path:
    """Draw every figure to PNG in ``run_dir`` and write ``report.html`` embedding them.

    ``sections``: further :class:`~topophys.pipelines.mlpot_sections.Section` s by key, drawn
    after the core figures in order (their figures already saved as PNGs).
    """
    import matplotlib.pyplot as plt

    from ..plot import mlpot as pm

    d = config.descriptor
    b_range, d_range = tuple(d.birth_range), tuple(d.death_range)
    y = table["energy"]
    report = Report("Persistent-homology descriptors for the energy of amorphous carbon")
    report.add_text(
        f"Mean energy per atom regressed on the {d.bins}×{d.bins} histogram of each structure's "
        f"periodic H{d.homology_dim} alpha persistence diagram (squared radii, window "
        f"[{b_range[0]:g}, {b_range[1]:g}] × [{d_range[0]:g}, {d_range[1]:g}] Å²), normalized to "
        f"a probability and {d.standardize}-standardized with statistics of the training frames "
        f"only, by Ridge (α = {config.ridge_alpha:g}, intercept) and by the papers' CNN."
    )
    report.add_text(_protocol_text(config, summary))
    rows = [{"model": _MODELS.get(k, "training mean"), **v} for k, v in headline.items()]
    report.add_table(
        rows,
        caption="RMSE and MAE (meV/atom): train/test of the random 80/20 split, test of the "
        "split by run (grouped), and the larger-size transfer set (model of the random split)",
    )
    sections = dict(sections or {})
    if sections:
        report.add_text("Further sections: " + "; ".join(s.title for s in sections.values()) + ".")

    report.add_heading("Data")
    fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
    color = table["density"] if np.isfinite(table["density"]).all() else table["group"]
    pm.energy_trajectories(y, table["group"], color, ax=ax, title="training-size runs")
    report.add_figure(
        _save(fig, run_dir / "energies.png"),
        "Energy per atom of the kept frames along each melt-quench run, coloured by density: "
        "hot liquid (melt, cool, anneal) on the left, the quench to 300 K on the right.",
    )
    report.add_table(
        {k: v for k, v in summary.items() if not isinstance(v, list) or len(v) <= 12},
        caption="Data",
    )

    report.add_heading("Descriptor images (letter, Fig. 3c–d)")
    hi, lo = int(np.argmax(y)), int(np.argmin(y))
    fig, axes = plt.subplots(2, 2, figsize=(10, 8), constrained_layout=True)
    for row, (i, what) in enumerate(((hi, "highest energy"), (lo, "lowest energy"))):
        tag = f"{what}: {y[i]:.3f} eV/atom, {table['process'][i] or '?'}"
        pm.descriptor_image(
            probabilities[i], b_range, d_range, ax=axes[row, 0], log=True,
            title=f"probability ({tag})", label="probability",
        )  # fmt: skip
        pm.descriptor_image(
            features[i], b_range, d_range, ax=axes[row, 1], cmap="magma",
            title=f"{d.standardize} descriptor ({tag})", label=f"{d.standardize} value",
        )  # fmt: skip
    report.add_figure(
        _save(fig, run_dir / "descriptors.png"),
        f"H{d.homology_dim} histograms of the highest- and lowest-energy frames: the probability "
        "(log colour; blank bins are empty) and the standardized descriptor the models see "
        "(its statistics from the training frames of the random split). Points far from the "
        "diagonal are rings that persist long; the two frames differ in where their mass lies.",
    )

    report.add_heading("Parity plots (paper, Fig. 2)")
    test = splits["random"]
    fig, axes = plt.subplots(2, 2, figsize=(10, 10), constrained_layout=True)
    for col, model in enumerate(("ridge", "cnn")):
        pred = predictions[f"{model}_random"]
        pm.parity_plot(
            {"train": (y[~test], pred[~test]), "test": (y[test], pred[test])},
            ax=axes[0, col], title=f"({'ab'[col]}) {_MODELS[model]}, random split",
        )  # fmt: skip
        key = f"{model}_random_transfer"
        if t_table is not None and key in predictions:
            n_t = summary.get("transfer_atoms", ["?"])
            pm.parity_plot(
                {f"{n_t[0]} atoms": (t_table["energy"], predictions[key])},
                ax=axes[1, col], title=f"({'cd'[col]}) {_MODELS[model]}, size transfer",
            )  # fmt: skip
        else:
            axes[1, col].set_axis_off()
    report.add_figure(
        _save(fig, run_dir / "parity.png"),
        "Predicted against reference energy per atom: (a) Ridge and (b) CNN on the random split "
        "(training frames blue, test frames red); (c, d) the same models on the larger "
        "structures, which they never saw.",
    )
    grouped = splits["grouped"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5), constrained_layout=True)
    for col, model in enumerate(("ridge", "cnn")):
        pred = predictions[f"{model}_grouped"]
        pm.parity_plot(
            {"train": (y[~grouped], pred[~grouped]), "test": (y[grouped], pred[grouped])},
            ax=axes[col], title=f"{_MODELS[model]}, split by run",
        )  # fmt: skip
    dens = ", ".join(f"{v:g}" for v in summary["grouped_test_densities"]) or "?"
    report.add_figure(
        _save(fig, run_dir / "parity_grouped.png"),
        f"The same models trained with whole runs held out ({summary['grouped_test_runs']} test "
        f"runs, densities {dens} g/cm³): neighbouring frames of a trajectory no longer sit on "
        "both sides of the split, so this is the honest generalization error.",
    )

    report.add_heading("Ridge coefficients on the birth–death grid (paper, Fig. 6a)")
    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    pm.coefficient_map(
        ridge_coef["random"], b_range, d_range, ax=ax, title="Ridge, random split",
        label=f"coefficient (eV/atom per {d.standardize} unit)",
    )  # fmt: skip
    report.add_figure(
        _save(fig, run_dir / "ridge_coefficients.png"),
        "Ridge coefficients of each histogram bin: birth–death pairs in red bins raise the "
        "predicted energy, those in blue bins lower it.",
    )

    report.add_heading("CNN training")
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    pm.learning_curves({f"{k} split": v for k, v in histories.items()}, ax=ax)
    report.add_figure(
        _save(fig, run_dir / "cnn_training.png"),
        "RMSE per epoch of the CNN on its training frames (solid, running mean during the "
        "epoch) and on its test frames (dashed), for both splits.",
    )

    for section in sections.values():
        report.add_heading(section.title)
        for paragraph in section.text:
            report.add_text(paragraph)
        for rows, caption in section.tables:
            if rows:
                report.add_table(rows, caption=caption)
        for _, path, caption in section.figures:
            report.add_figure(path, caption)
    detail = []
    for model in ("ridge", "cnn", "mean_baseline"):
        for split, parts in metrics[model].items():
            for part, m in parts.items():
                if isinstance(m, dict):
                    detail.append({"model": model, "split": split, "set": part, **m})
    report.add_table(detail, caption="All errors (meV/atom)")
    report.add_table(timings, caption="Wall time per stage (s)")
    return report.write(run_dir / "report.html")
