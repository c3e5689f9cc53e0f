"""Amorphous graphene in the ``mlpot`` report (the letter): generate, describe, fit, transfer.

The letter's second system: 680-atom amorphous graphene from planar melt-quench MD
(:mod:`topophys.simulate.graphene`), its H1 alpha diagrams in the plane binned on
``[0, 4]²`` Å² and min–max standardized (:data:`~topophys.descriptors.ph.GRAPHENE_DESCRIPTOR`),
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...evaluate.regression import split_errors
from ...simulate.graphene import BOND_CUTOFF, GrapheneConfig, threefold_share
from .config import GrapheneSectionConfig
from .section import Section

__all__ = ["LETTER_RMSE_MEV", "generate_graphene", "graphene_section"]

LETTER_RMSE_MEV = {"cnn_train": 7.9, "cnn_test": 8.3, "cnn_transfer_2720": 3.1}
"""The letter's amorphous-graphene CNN errors (meV/atom) on its data."""


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
    from ...data.structures import write_structures
    from ...parallel import as_completed
    from ...simulate.graphene import graphene_melt_quench

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


def _read_runs(paths: Sequence[Path]) -> list[Any]:
    from ...data.structures import read_structures

    return [a for p in paths for a in read_structures(p, "energy")]


@dataclass
class _Graphene:
    """The section's data and fits: frames, descriptors, predictions (None without transfer)."""

    frames: list[Any]
    t_frames: list[Any]
    y: np.ndarray
    y_t: np.ndarray | None
    test: np.ndarray
    diagrams: Any
    X: np.ndarray
    X_t: np.ndarray | None
    probabilities: np.ndarray
    pred: dict[str, np.ndarray]
    pred_t: dict[str, np.ndarray | None]
    history: dict[str, list[float]]


def _describe(
    config: GrapheneSectionConfig, folder: Path, frames: list[Any], t_frames: list[Any], kw: Any
) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Split, diagrams (resumable stores) and descriptors of the graphene frames."""
    from ...data.diagram_store import compute_atoms_diagrams
    from ...training.regression import random_split

    n, d = len(frames), config.descriptor
    persistence = d.persistence()

    def store(structures: list[Any], out: Path) -> Any:
        return compute_atoms_diagrams(
            structures, out, persistence, chunk_size=config.chunk_size, **kw
        )

    diagrams = store(frames, folder / "diagrams_train.zarr")
    t_diagrams = store(t_frames, folder / "diagrams_transfer.zarr") if t_frames else None
    test = random_split(n, config.test_fraction, config.split_seed)
    hist = d.histogram().fit(diagrams[~test])
    X = hist.transform(diagrams).reshape(n, d.bins, d.bins).astype(np.float32)
    X_t = None
    if t_diagrams is not None:
        X_t = hist.transform(t_diagrams).reshape(len(t_frames), d.bins, d.bins).astype(np.float32)
    raw = d.histogram().set_params(standardize="none").fit(diagrams[:1])
    return diagrams, test, X, X_t, raw.transform(diagrams).reshape(n, d.bins, d.bins)


def _fit(config: GrapheneSectionConfig, folder: Path, g: _Graphene, progress: bool | None) -> None:
    """Ridge and the CNN (one thread, reproducible, as the pipeline's CNNs); fills ``g``."""
    import torch

    from ...training.regression import fit_cnn, fit_ridge, predict_cnn

    n, test = len(g.y), g.test
    Xf = g.X.reshape(n, -1)
    ridge = fit_ridge(Xf[~test], g.y[~test], alpha=config.ridge_alpha)
    g.pred["ridge"] = ridge.predict(Xf).astype(np.float64)
    g.pred_t["ridge"] = None if g.X_t is None else ridge.predict(g.X_t.reshape(len(g.X_t), -1))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, g.history = fit_cnn(
            g.X[~test], g.y[~test], config.cnn, folder / "cnn", X_val=g.X[test],
            y_val=g.y[test], progress=progress,
        )  # fmt: skip
        g.pred["cnn"] = predict_cnn(model, g.X)
        g.pred_t["cnn"] = None if g.X_t is None else predict_cnn(model, g.X_t)
    finally:
        torch.set_num_threads(threads)


def _final_states(frames: Sequence[Any]) -> list[Any]:
    """The last frame of each run (frames ordered by run)."""
    return [
        a for k, a in enumerate(frames)
        if k + 1 == len(frames) or frames[k + 1].info.get("run") != a.info.get("run")
    ]  # fmt: skip


def _metrics(config: GrapheneSectionConfig, g: _Graphene, timings: Any) -> dict[str, Any]:
    gen, t = config.generate, config.transfer
    n = len(g.y)
    h1 = g.diagrams.select(config.descriptor.homology_dim).finite()
    data = {
        "train_atoms": gen.n_atoms,
        "frames": n,
        "runs": len({int(a.info["run"]) for a in g.frames}),
        "cooling_rates_K_per_ps": sorted({float(r) for r in gen.cooling_rates}),
        "test_frames": int(g.test.sum()),
        "energy_range_eV": [float(g.y.min()), float(g.y.max())],
        "final_states_threefold_share": float(
            np.mean([threefold_share(a) for a in _final_states(g.frames)])
        ),
        "h1_points_per_frame": float(h1.sizes().mean()) if len(h1) else 0.0,
    }
    if t is not None:
        data["transfer_atoms"] = t.n_atoms
        data["transfer_frames"] = len(g.t_frames)
        data["transfer_runs"] = len(t.cooling_rates)
    mean = float(g.y[~g.test].mean())
    mean_t = None if g.y_t is None else np.full(len(g.y_t), mean)
    return {
        "data": data,
        "ridge": split_errors(g.y, g.pred["ridge"], g.test, g.y_t, g.pred_t["ridge"]),
        "cnn": {
            **split_errors(g.y, g.pred["cnn"], g.test, g.y_t, g.pred_t["cnn"]),
            "epochs": len(g.history["epoch"]),
        },
        "mean_baseline": split_errors(g.y, np.full(n, mean), g.test, g.y_t, mean_t),
        "letter_rmse_meV": dict(LETTER_RMSE_MEV),
        "timings_s": timings,
    }


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
    from ...data.structures import energies_per_atom

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

    gen, t = config.generate, config.transfer
    kw = {"workers": workers, "scheduler": scheduler, "progress": progress}
    frames = _read_runs(generate_graphene(gen, folder / "data" / f"{gen.n_atoms}atom", **kw))
    t_frames = []
    if t is not None:
        t_frames = _read_runs(generate_graphene(t, folder / "data" / f"{t.n_atoms}atom", **kw))
    lap("generate")
    if len(frames) < 5:
        raise ValueError(
            f"graphene: {len(frames)} frames are too few to split and fit (need ≥ 5: more runs "
            "or snapshots)"
        )
    diagrams, test, X, X_t, probabilities = _describe(config, folder, frames, t_frames, kw)
    lap("descriptors")
    g = _Graphene(
        frames, t_frames, energies_per_atom(frames),
        energies_per_atom(t_frames) if t_frames else None, test, diagrams, X, X_t,
        probabilities, {}, {}, {},
    )  # fmt: skip
    _fit(config, folder, g, progress)
    lap("fit")
    metrics = _metrics(config, g, timings)
    return Section(
        "Amorphous graphene (letter, Figs. 3a, 3c, 4a, 4e)",
        metrics,
        [_text(config, g, metrics)],
        [(_table(metrics), _table_caption(config))],
        _figures(config, g),
    )


def _text(config: GrapheneSectionConfig, g: _Graphene, metrics: dict[str, Any]) -> str:
    gen, t, d = config.generate, config.transfer, config.descriptor
    data, r, c = metrics["data"], metrics["ridge"], metrics["cnn"]
    transfer = ""
    if "transfer" in c and t is not None:
        transfer = (
            f"; on {t.n_atoms} atoms Ridge {r['transfer']['rmse_meV']:.1f} and the CNN "
            f"{c['transfer']['rmse_meV']:.1f} meV/atom"
        )
    rates = ", ".join(f"{v:g}" for v in data["cooling_rates_K_per_ps"])
    made = f", and {len(g.t_frames)} frames of {t.n_atoms} atoms made the same way" if t else ""
    return (
        f"{len(g.y)} frames of {gen.n_atoms} atoms from {data['runs']} planar melt-quench runs "
        f"(Tersoff, melt {gen.melt_ps:g} ps at {gen.melt_temperature:g} K, quenched to "
        f"{gen.final_temperature:g} K at {rates} K/ps; {gen.snapshots[0]} melt and "
        f"{gen.snapshots[1]} quench snapshots per run){made}. In the final states "
        f"{data['final_states_threefold_share']:.0%} of the atoms are threefold coordinated. "
        "Descriptor: planar periodic H1 alpha diagrams on "
        f"[{d.birth_range[0]:g}, {d.birth_range[1]:g}]² Å², {d.bins}×{d.bins} bins, "
        f"probability, {d.standardize}-standardized on the training frames of a random "
        f"{1 - config.test_fraction:.0%}/{config.test_fraction:.0%} split. Test RMSE: Ridge "
        f"{r['test']['rmse_meV']:.1f}, CNN {c['test']['rmse_meV']:.1f} meV/atom (training "
        f"mean {metrics['mean_baseline']['test']['rmse_meV']:.1f}){transfer}. The letter's CNN "
        "on its data (1,830 frames): 7.9 train, 8.3 test, 3.1 meV/atom on 2,720 atoms; the "
        "labels here are Tersoff energies of our own protocol."
    )


def _table(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for model, key in (("Ridge", "ridge"), ("CNN", "cnn"), ("training mean", "mean_baseline")):
        row: dict[str, Any] = {"model": model}
        for part in ("train", "test", "transfer"):
            if part in metrics[key]:
                row[f"{part} RMSE"] = metrics[key][part]["rmse_meV"]
                row[f"{part} MAE"] = metrics[key][part]["mae_meV"]
        rows.append(row)
    rows.append(
        {
            "model": "letter's CNN (its data)",
            "train RMSE": LETTER_RMSE_MEV["cnn_train"],
            "test RMSE": LETTER_RMSE_MEV["cnn_test"],
            "transfer RMSE": LETTER_RMSE_MEV["cnn_transfer_2720"],
        }
    )
    return rows


def _table_caption(config: GrapheneSectionConfig) -> str:
    t = config.transfer
    return (
        f"Amorphous graphene: RMSE and MAE (meV/atom) on the training and test frames "
        f"({config.generate.n_atoms} atoms) and on the {t.n_atoms if t else '—'}-atom transfer set"
    )


def _figures(config: GrapheneSectionConfig, g: _Graphene) -> list[tuple[str, Any, str]]:
    """A structure and its descriptor (letter Fig. 3a, c); parity (Fig. 4a, e)."""
    import matplotlib.pyplot as plt

    from ...plot import mlpot as pm

    gen, t, d = config.generate, config.transfer, config.descriptor
    finals = _final_states(g.frames)
    sheet = min(finals, key=lambda a: float(a.info.get("cooling_rate", np.inf)))
    k = next(i for i, a in enumerate(g.frames) if a is sheet)
    b_range, d_range = tuple(d.birth_range), tuple(d.death_range)
    fig1, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    rate = sheet.info.get("cooling_rate", 0)
    pm.sheet_plot(sheet, axes[0], title=f"final state, {rate:g} K/ps: {g.y[k]:.3f} eV/atom")
    pm.descriptor_image(
        g.probabilities[k], b_range, d_range, axes[1], log=True, label="probability",
        title="its H1 probability histogram",
    )  # fmt: skip
    pm.descriptor_image(
        g.X[k], b_range, d_range, axes[2], cmap="magma", label=f"{d.standardize} value",
        title=f"its {d.standardize} descriptor",
    )  # fmt: skip
    fig2, axes = plt.subplots(1, 3, figsize=(15, 4.6), constrained_layout=True)
    for ax, (name, key) in zip(axes[:2], (("Ridge", "ridge"), ("CNN", "cnn")), strict=True):
        pred, pred_t = g.pred[key], g.pred_t[key]
        sets = {"train": (g.y[~g.test], pred[~g.test]), "test": (g.y[g.test], pred[g.test])}
        if pred_t is not None and g.y_t is not None and t is not None:
            sets[f"{t.n_atoms} atoms"] = (g.y_t, np.asarray(pred_t, dtype=np.float64))
        pm.parity_plot(sets, ax, title=f"{name}, {gen.n_atoms}-atom training")
    pm.learning_curves({"graphene CNN": g.history}, axes[2])
    unseen = f" and the {t.n_atoms}-atom frames they never saw" if t else ""
    return [
        (
            "graphene_structure",
            fig1,
            "The final state of the slowest quench (atoms coloured by coordination, bonds "
            f"< {BOND_CUTOFF} Å; bonds across the cell edge not drawn), its H1 probability "
            "histogram (log colour) and its min–max descriptor (letter Fig. 3a, c).",
        ),
        (
            "graphene_parity",
            fig2,
            f"Ridge and CNN on amorphous graphene: training and test frames of {gen.n_atoms} "
            f"atoms{unseen} (letter Fig. 4a, e); right: the CNN's RMSE per epoch.",
        ),
    ]
