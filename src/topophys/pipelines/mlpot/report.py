"""Figures and ``report.html`` of the PH-descriptor energy pipeline (kept apart from the work).

:func:`write_report` assembles the page: the numbers come from the pipeline's
:class:`~topophys.pipelines.mlpot.core.Core` and the sections, the figures from
:mod:`topophys.plot.mlpot`; each block of the page is one function here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...report import Report
from .config import FULL_PROTOCOL_CONFIG, MLPotConfig
from .core import Core

__all__ = ["headline", "write_report"]

_MODELS = {"ridge": "Ridge", "cnn": "CNN"}


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def headline(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """RMSE and MAE (meV/atom) per model on train, test, grouped test and the transfer set.

    ``metrics`` is ``{model: {split: {set: errors}}}`` for ``ridge``, ``cnn`` and
    ``mean_baseline``; the result's keys are ``train_rmse``, ``test_mae``, ... per model.
    """
    out: dict[str, dict[str, float]] = {}
    for model in ("ridge", "cnn", "mean_baseline"):
        m = metrics[model]
        row: dict[str, float] = {}
        for label, (split, part) in {
            "train": ("random", "train"),
            "test": ("random", "test"),
            "grouped_test": ("grouped", "test"),
            "transfer": ("random", "transfer"),
        }.items():
            if part in m[split]:
                row[f"{label}_rmse"] = m[split][part]["rmse_meV"]
                row[f"{label}_mae"] = m[split][part]["mae_meV"]
        out[model] = row
    return out


def _protocol_text(config: MLPotConfig, summary: dict[str, Any]) -> str:
    """Where the structures come from and how this run differs from the papers' protocol."""
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
    if config.relabel is not None:
        text += (
            f". Every kept frame is relabelled with the {config.relabel} potential "
            "(LAMMPS; 'snap' is the DFT-trained carbon SNAP C_SNAP_2021.10.15), so the models "
            f"learn {config.relabel} energies on these structures"
        )
    text += (
        ". Labels are a potential's energies, not the papers' DFT (LDA) energies, so the "
        "numbers below measure how well the descriptor predicts that potential's energy."
    )
    paper = FULL_PROTOCOL_CONFIG
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
            + ". `FULL_PROTOCOL_CONFIG` (topophys.pipelines.mlpot) is the papers' full protocol."
        )
    return text


def write_report(
    run_dir: Path,
    *,
    config: MLPotConfig,
    core: Core,
    summary: dict[str, Any],
    timings: Mapping[str, float],
    sections: Mapping[str, Any] | None = None,
) -> Path:
    """Draw every figure to PNG in ``run_dir`` and write ``report.html`` embedding them.

    ``sections``: further :class:`~topophys.pipelines.mlpot.section.Section` s by key, drawn
    after the core figures in order (their figures already saved as PNGs).
    """
    d = config.descriptor
    report = Report("Persistent-homology descriptors for the energy of amorphous carbon")
    report.add_text(
        f"Mean energy per atom regressed on the {d.bins}×{d.bins} histogram of each structure's "
        f"periodic H{d.homology_dim} alpha persistence diagram (squared radii, window "
        f"[{d.birth_range[0]:g}, {d.birth_range[1]:g}] × [{d.death_range[0]:g}, "
        f"{d.death_range[1]:g}] Å²), normalized to a probability and {d.standardize}-"
        "standardized with statistics of the training frames only, by Ridge "
        f"(α = {config.ridge_alpha:g}, intercept) and by the papers' CNN."
    )
    report.add_text(_protocol_text(config, summary))
    rows = [
        {"model": _MODELS.get(k, "training mean"), **v} for k, v in headline(core.metrics).items()
    ]
    report.add_table(
        rows,
        caption="RMSE and MAE (meV/atom): train/test of the random 80/20 split, test of the "
        "split by run (grouped), and the larger-size transfer set (model of the random split)",
    )
    sections = dict(sections or {})
    if sections:
        report.add_text("Further sections: " + "; ".join(s.title for s in sections.values()) + ".")
    _data_block(report, run_dir, core, summary)
    _descriptor_block(report, run_dir, config, core)
    _parity_block(report, run_dir, core, summary)
    _coefficient_block(report, run_dir, config, core)
    for section in sections.values():
        _section_block(report, section)
    detail = [
        {"model": model, "split": split, "set": part, **m}
        for model in ("ridge", "cnn", "mean_baseline")
        for split, parts in core.metrics[model].items()
        for part, m in parts.items()
        if isinstance(m, dict)
    ]
    report.add_table(detail, caption="All errors (meV/atom)")
    report.add_table(dict(timings), caption="Wall time per stage (s)")
    return report.write(run_dir / "report.html")


def _data_block(report: Report, run_dir: Path, core: Core, summary: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    from ...plot import mlpot as pm

    table = core.frames.table
    report.add_heading("Data")
    fig, ax = plt.subplots(figsize=(6.5, 3.8), constrained_layout=True)
    color = table["density"] if np.isfinite(table["density"]).all() else table["group"]
    pm.energy_trajectories(core.y, table["group"], color, ax=ax, title="training-size runs")
    report.add_figure(
        _save(fig, run_dir / "energies.png"),
        "Energy per atom of the kept frames along each melt-quench run, coloured by density: "
        "hot liquid (melt, cool, anneal) on the left, the quench to 300 K on the right.",
    )
    report.add_table(
        {k: v for k, v in summary.items() if not isinstance(v, list) or len(v) <= 12},
        caption="Data",
    )


def _descriptor_block(report: Report, run_dir: Path, config: MLPotConfig, core: Core) -> None:
    import matplotlib.pyplot as plt

    from ...plot import mlpot as pm

    d = config.descriptor
    b_range, d_range = tuple(d.birth_range), tuple(d.death_range)
    y, process, features = core.y, core.frames.table["process"], core.images("random")
    report.add_heading("Descriptor images (letter, Fig. 3c–d)")
    fig, axes = plt.subplots(2, 2, figsize=(10, 8), constrained_layout=True)
    for row, (i, what) in enumerate(
        ((int(np.argmax(y)), "highest energy"), (int(np.argmin(y)), "lowest energy"))
    ):
        tag = f"{what}: {y[i]:.3f} eV/atom, {process[i] or '?'}"
        pm.descriptor_image(
            core.probabilities[i], b_range, d_range, ax=axes[row, 0], log=True,
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


def _parity_block(report: Report, run_dir: Path, core: Core, summary: dict[str, Any]) -> None:
    import matplotlib.pyplot as plt

    from ...plot import mlpot as pm

    y, predictions, t_table = core.y, core.predictions, core.frames.t_table
    report.add_heading("Parity plots (paper, Fig. 2)")
    test = core.splits["random"]
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
    grouped = core.splits["grouped"]
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


def _coefficient_block(report: Report, run_dir: Path, config: MLPotConfig, core: Core) -> None:
    import matplotlib.pyplot as plt

    from ...plot import mlpot as pm

    d = config.descriptor
    report.add_heading("Ridge coefficients on the birth–death grid (paper, Fig. 6a)")
    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    pm.coefficient_map(
        core.ridge_coef["random"], tuple(d.birth_range), tuple(d.death_range), ax=ax,
        title="Ridge, random split", label=f"coefficient (eV/atom per {d.standardize} unit)",
    )  # fmt: skip
    report.add_figure(
        _save(fig, run_dir / "ridge_coefficients.png"),
        "Ridge coefficients of each histogram bin: birth–death pairs in red bins raise the "
        "predicted energy, those in blue bins lower it.",
    )
    report.add_heading("CNN training")
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    pm.learning_curves({f"{k} split": v for k, v in core.histories.items()}, ax=ax)
    report.add_figure(
        _save(fig, run_dir / "cnn_training.png"),
        "RMSE per epoch of the CNN on its training frames (solid, running mean during the "
        "epoch) and on its test frames (dashed), for both splits.",
    )


def _section_block(report: Report, section: Any) -> None:
    report.add_heading(section.title)
    for paragraph in section.text:
        report.add_text(paragraph)
    for rows, caption in section.tables:
        if rows:
            report.add_table(rows, caption=caption)
    for _, path, caption in section.figures:
        report.add_figure(path, caption)
