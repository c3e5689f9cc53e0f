"""Amorphous graphene in the ``mlpot`` report (the letter): generate, describe, fit, transfer.

The letter's second system: 680-atom amorphous graphene from planar melt-quench MD
(:mod:`topophys.simulate.graphene`), its H1 alpha diagrams in the plane binned on
``[0, 4]²`` Å² and min–max standardized (:data:`~topophys.pipelines.mlpot.GRAPHENE_DESCRIPTOR`),
Ridge and the CNN on a random 80/20 split, and size transfer to 2,720-atom cells made the same
way. :func:`graphene_section` does it all into ``run_dir/graphene/``, resuming what a previous
call finished: one extxyz per quench (:func:`generate_graphene`), the diagram stores by chunk,
the CNN from its checkpoint.

The letter reports, for its CNN on its LAMMPS data (1,830 frames): RMSE 7.9 (train) and 8.3
(test) meV/atom, and 3.1 meV/atom on 2,720 atoms.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..simulate.graphene import GrapheneConfig
from .mlpot import GrapheneSectionConfig
from .mlpot_sections import Section

__all__ = ["LETTER_RMSE_MEV", "generate_graphene", "graphene_section", "threefold_share"]

LETTER_RMSE_MEV = {"cnn_train": 7.9, "cnn_test": 8.3, "cnn_transfer_2720": 3.1}
"""The letter's amorphous-graphene CNN errors (meV/atom) on its data."""

_BOND_CUTOFF = 1.85
"""Å: carbon neighbours for coordination (between the first and second shells of graphene)."""


def generate_graphene(
    config: GrapheneConfig,
    out_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> list[Path]:
    """Run every quench of ``config`` not yet on disk; one extended XYZ file per run.

    Files are ``out_dir/run<k>_rate<r>.xyz`` (k the index into ``config.cooling_rates``, r the
    rate in K/ps), each written atomically as its run finishes, so a killed call loses only the
    runs in flight and calling again skips the files that exist.

    Returns
    -------
    list of Path
        The files of all runs, in run order.

    Raises
    ------
    ValueError
        If ``out_dir`` holds runs of another protocol (``out_dir/config.yaml`` differs).
    ImportError
        Without LAMMPS.
    """
    from ..data.structures import write_structures
    from ..parallel import as_completed
    from ..simulate.graphene import graphene_melt_quench

    if not isinstance(config, GrapheneConfig):
        raise TypeError(f"config must be a GrapheneConfig, got {type(config).__name__}")
    out_dir = Path(out_dir)
    stored = out_dir / "config.yaml"
    if stored.exists() and GrapheneConfig.from_yaml(stored) != config:
        raise ValueError(
            f"{out_dir} holds graphene runs of another protocol (see {stored}); use another "
            "directory or delete it to start over"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    config.to_yaml(stored)
    paths = [
        out_dir / f"run{k:03d}_rate{rate:g}.xyz" for k, rate in enumerate(config.cooling_rates)
    ]
    todo = [k for k, path in enumerate(paths) if not path.exists()]
    work = functools.partial(graphene_melt_quench, config)
    for i, frames in as_completed(
        work, todo, workers=workers, scheduler=scheduler, chunksize=1,
        desc=f"graphene quenches ({config.n_atoms} atoms)", progress=progress,
    ):  # fmt: skip
        write_structures(frames, paths[todo[i]])
    return paths


def threefold_share(atoms: Any, cutoff: float = _BOND_CUTOFF) -> float:
    """Share of atoms with exactly three neighbours closer than ``cutoff`` (Å), periodic where
    ``atoms.pbc`` is: 1 for crystalline graphene.

    Examples
    --------
    >>> from ase.build import graphene
    >>> threefold_share(graphene(size=(3, 3, 1), vacuum=5.0))
    1.0
    """
    from ase.neighborlist import neighbor_list

    i = neighbor_list("i", atoms, cutoff)
    return float((np.bincount(i, minlength=len(atoms)) == 3).mean())


def _read_runs(paths: Sequence[Path]) -> list[Any]:
    from ..data.structures import read_structures

    return [a for p in paths for a in read_structures(p, "energy")]


def _sheet_plot(atoms: Any, ax: Any, title: str) -> Any:
    """Atoms of a planar frame coloured by coordination, bonds shorter than the cutoff drawn."""
    from ase.neighborlist import neighbor_list
    from matplotlib.collections import LineCollection

    i, j, shift = neighbor_list("ijS", atoms, _BOND_CUTOFF)
    xy = atoms.positions[:, :2]
    inside = (shift == 0).all(axis=1) & (i < j)  # bonds across the cell edge left out
    segments = np.stack([xy[i[inside]], xy[j[inside]]], axis=1)
    ax.add_collection(LineCollection(segments, colors="0.55", linewidths=0.6))
    coordination = np.bincount(i, minlength=len(atoms))
    colors = {2: "tab:blue", 3: "0.15", 4: "tab:red"}
    for c in sorted(set(coordination.tolist())):
        sel = coordination == c
        ax.scatter(*xy[sel].T, s=5, color=colors.get(c, "tab:orange"), label=f"{c}-fold",
                   zorder=3)  # fmt: skip
    ax.set_aspect("equal")
    ax.set_xlabel("x (Å)")
    ax.set_ylabel("y (Å)")
    ax.legend(fontsize=7, loc="upper right", framealpha=0.9)
    ax.set_title(title, fontsize=9)
    return ax


def graphene_section(
    config: GrapheneSectionConfig,
    run_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> Section:
    """Generate amorphous graphene, fit Ridge and the CNN, test size transfer; one report section.

    Parameters
    ----------
    config : GrapheneSectionConfig
    run_dir : path
        Receives ``graphene/`` (``data/<N>/run*.xyz``, ``diagrams_*.zarr``, ``cnn/``).
    workers, scheduler, progress
        Parallel quenches and diagrams (:mod:`topophys.parallel`), progress bars.

    Returns
    -------
    Section
        Metrics: ``data`` (frames, runs, atoms, energy range, share of threefold atoms in the
        final states, H1 points per frame), ``ridge`` and ``cnn`` (``train``, ``test``,
        ``transfer``: RMSE/MAE meV/atom), ``mean_baseline``, ``letter_rmse_meV``,
        ``timings_s``; figures of a structure, its descriptor and the parity plots.
    """
    import matplotlib.pyplot as plt
    import torch

    from ..data.diagram_store import compute_atoms_diagrams
    from ..data.structures import energies_per_atom
    from ..plot import mlpot as pm
    from ..training.regression import (
        fit_cnn,
        fit_ridge,
        predict_cnn,
        random_split,
        regression_metrics,
    )

    if not isinstance(config, GrapheneSectionConfig):
        raise TypeError(f"config must be a GrapheneSectionConfig, got {type(config).__name__}")
    folder = Path(run_dir) / "graphene"
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    g, t = config.generate, config.transfer
    kw = {"workers": workers, "scheduler": scheduler, "progress": progress}
    frames = _read_runs(generate_graphene(g, folder / "data" / f"{g.n_atoms}atom", **kw))
    t_frames = []
    if t is not None:
        t_frames = _read_runs(generate_graphene(t, folder / "data" / f"{t.n_atoms}atom", **kw))
    lap("generate")

    n = len(frames)
    if n < 5:
        raise ValueError(
            f"graphene: {n} frames are too few to split and fit (need ≥ 5: more runs or snapshots)"
        )
    persistence = config.descriptor.persistence()
    diagrams = compute_atoms_diagrams(
        frames, folder / "diagrams_train.zarr", persistence, chunk_size=config.chunk_size, **kw
    )
    t_diagrams = None
    if t_frames:
        t_diagrams = compute_atoms_diagrams(
            t_frames, folder / "diagrams_transfer.zarr", persistence,
            chunk_size=config.chunk_size, **kw,
        )  # fmt: skip
    lap("diagrams")

    y = energies_per_atom(frames)
    y_t = energies_per_atom(t_frames) if t_frames else None
    test = random_split(n, config.test_fraction, config.split_seed)
    d = config.descriptor
    bins = d.bins
    hist = d.histogram().fit(diagrams[~test])
    X = hist.transform(diagrams).reshape(n, bins, bins).astype(np.float32)
    X_t = None
    if t_diagrams is not None:
        X_t = hist.transform(t_diagrams).reshape(len(t_frames), bins, bins).astype(np.float32)
    raw = d.histogram().set_params(standardize="none").fit(diagrams[:1])
    probabilities = raw.transform(diagrams).reshape(n, bins, bins)
    lap("descriptors")

    def errors(pred: np.ndarray, pred_t: np.ndarray | None) -> dict[str, Any]:
        out = {
            "train": regression_metrics(y[~test], pred[~test]),
            "test": regression_metrics(y[test], pred[test]),
        }
        if pred_t is not None and y_t is not None:
            out["transfer"] = regression_metrics(y_t, pred_t)
        return out

    Xf = X.reshape(n, -1)
    ridge = fit_ridge(Xf[~test], y[~test], alpha=config.ridge_alpha)
    pred_ridge = ridge.predict(Xf).astype(np.float64)
    pred_ridge_t = None if X_t is None else ridge.predict(X_t.reshape(len(X_t), -1))
    lap("ridge")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible, one core, as the pipeline's CNNs
    try:
        model, history = fit_cnn(
            X[~test], y[~test], config.cnn, folder / "cnn", X_val=X[test], y_val=y[test],
            progress=progress,
        )  # fmt: skip
        pred_cnn = predict_cnn(model, X)
        pred_cnn_t = None if X_t is None else predict_cnn(model, X_t)
    finally:
        torch.set_num_threads(threads)
    lap("cnn")

    mean = float(y[~test].mean())
    h1 = diagrams.select(d.homology_dim).finite()
    runs = sorted({int(a.info["run"]) for a in frames})
    finals = [
        a for k, a in enumerate(frames)
        if k + 1 == n or frames[k + 1].info.get("run") != a.info.get("run")
    ]  # fmt: skip
    data = {
        "train_atoms": g.n_atoms,
        "frames": n,
        "runs": len(runs),
        "cooling_rates_K_per_ps": sorted({float(r) for r in g.cooling_rates}),
        "test_frames": int(test.sum()),
        "energy_range_eV": [float(y.min()), float(y.max())],
        "final_states_threefold_share": float(np.mean([threefold_share(a) for a in finals])),
        "h1_points_per_frame": float(h1.sizes().mean()) if len(h1) else 0.0,
    }
    if t is not None:
        data["transfer_atoms"] = t.n_atoms
        data["transfer_frames"] = len(t_frames)
        data["transfer_runs"] = len(t.cooling_rates)
    metrics = {
        "data": data,
        "ridge": errors(pred_ridge, pred_ridge_t),
        "cnn": {**errors(pred_cnn, pred_cnn_t), "epochs": len(history["epoch"])},
        "mean_baseline": errors(np.full(n, mean), None if y_t is None else np.full(len(y_t), mean)),
        "letter_rmse_meV": dict(LETTER_RMSE_MEV),
        "timings_s": timings,
    }

    # Figures: a structure and its descriptor (letter Fig. 3a, c), parity (Fig. 4a, e).
    slowest = min(
        range(len(finals)), key=lambda k: float(finals[k].info.get("cooling_rate", np.inf))
    )
    sheet = finals[slowest]
    k_sheet = next(k for k, a in enumerate(frames) if a is sheet)
    fig1, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    _sheet_plot(
        sheet, axes[0],
        f"final state, {sheet.info.get('cooling_rate', 0):g} K/ps: {y[k_sheet]:.3f} eV/atom",
    )  # fmt: skip
    b_range, d_range = tuple(d.birth_range), tuple(d.death_range)
    pm.descriptor_image(
        probabilities[k_sheet], b_range, d_range, axes[1], log=True, label="probability",
        title="its H1 probability histogram",
    )  # fmt: skip
    pm.descriptor_image(
        X[k_sheet], b_range, d_range, axes[2], cmap="magma", label=f"{d.standardize} value",
        title=f"its {d.standardize} descriptor",
    )  # fmt: skip
    fig2, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    for ax, (name, pred, pred_t) in zip(
        axes[:2], (("Ridge", pred_ridge, pred_ridge_t), ("CNN", pred_cnn, pred_cnn_t)),
        strict=True,
    ):  # fmt: skip
        sets = {"train": (y[~test], pred[~test]), "test": (y[test], pred[test])}
        if pred_t is not None and y_t is not None:
            sets[f"{t.n_atoms} atoms"] = (y_t, np.asarray(pred_t, dtype=np.float64))
        pm.parity_plot(sets, ax, title=f"{name}, {g.n_atoms}-atom training")
    pm.learning_curves({"graphene CNN": history}, axes[2])

    r, c = metrics["ridge"], metrics["cnn"]
    transfer_text = ""
    if "transfer" in c:
        transfer_text = (
            f"; on {t.n_atoms} atoms Ridge {r['transfer']['rmse_meV']:.1f} and the CNN "
            f"{c['transfer']['rmse_meV']:.1f} meV/atom"
        )
    rates = ", ".join(f"{v:g}" for v in data["cooling_rates_K_per_ps"])
    text = [
        f"{n} frames of {g.n_atoms} atoms from {len(runs)} planar melt-quench runs (Tersoff, "
        f"melt {g.melt_ps:g} ps at {g.melt_temperature:g} K, quenched to "
        f"{g.final_temperature:g} K at {rates} K/ps; {g.snapshots[0]} melt and "
        f"{g.snapshots[1]} quench snapshots per run)"
        + (f", and {len(t_frames)} frames of {t.n_atoms} atoms made the same way" if t else "")
        + f". In the final states {data['final_states_threefold_share']:.0%} of the atoms are "
        "threefold coordinated. Descriptor: planar periodic H1 alpha diagrams on "
        f"[{b_range[0]:g}, {b_range[1]:g}]² Å², {bins}×{bins} bins, probability, "
        f"{d.standardize}-standardized on the training frames of a random "
        f"{1 - config.test_fraction:.0%}/{config.test_fraction:.0%} split. Test RMSE: Ridge "
        f"{r['test']['rmse_meV']:.1f}, CNN {c['test']['rmse_meV']:.1f} meV/atom (training "
        f"mean {metrics['mean_baseline']['test']['rmse_meV']:.1f})"
        + transfer_text
        + ". The letter's CNN on its data (1,830 frames): 7.9 train, 8.3 test, 3.1 meV/atom "
        "on 2,720 atoms; the labels here are Tersoff energies of our own protocol.",
    ]
    rows = []
    for model, m in (("Ridge", r), ("CNN", c), ("training mean", metrics["mean_baseline"])):
        row: dict[str, Any] = {"model": model}
        for part in ("train", "test", "transfer"):
            if part in m:
                row[f"{part} RMSE"] = m[part]["rmse_meV"]
                row[f"{part} MAE"] = m[part]["mae_meV"]
        rows.append(row)
    rows.append(
        {
            "model": "letter's CNN (its data)",
            "train RMSE": LETTER_RMSE_MEV["cnn_train"],
            "test RMSE": LETTER_RMSE_MEV["cnn_test"],
            "transfer RMSE": LETTER_RMSE_MEV["cnn_transfer_2720"],
        }
    )
    return Section(
        "Amorphous graphene (letter, Figs. 3a, 3c, 4a, 4e)",
        metrics,
        text,
        [
            (
                rows,
                f"Amorphous graphene: RMSE and MAE (meV/atom) on the training and test frames "
                f"({g.n_atoms} atoms) and on the {t.n_atoms if t else '—'}-atom transfer set",
            )
        ],
        [
            (
                "graphene_structure",
                fig1,
                "The final state of the slowest quench (atoms coloured by coordination, bonds "
                f"< {_BOND_CUTOFF} Å; bonds across the cell edge not drawn), its H1 probability "
                "histogram (log colour) and its min–max descriptor (letter Fig. 3a, c).",
            ),
            (
                "graphene_parity",
                fig2,
                f"Ridge and CNN on amorphous graphene: training and test frames of {g.n_atoms} "
                f"atoms"
                + (f" and the {t.n_atoms}-atom frames they never saw" if t else "")
                + " (letter Fig. 4a, e); right: the CNN's RMSE per epoch.",
            ),
        ],
    )
