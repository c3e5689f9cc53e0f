"""The further sections of the ``mlpot`` report (issue 6), each from the pipeline's products.

Every section is a function returning a :class:`Section`: its numbers (for ``metrics.json``),
paragraphs, tables and captioned figures. :func:`cached_section` saves a finished section
(``run_dir/sections/<key>.json`` and its PNGs) so that a resumed run skips it.

- :func:`baselines_section`: SOAP + NN, SchNet and PH + SOAP
  (:mod:`topophys.training.baselines`) on the pipeline's random and grouped splits, beside Ridge
  and the CNN scored on the same frames, with the papers' figures and a size-transfer table;
- :func:`maps_section`: t-SNE and PCA maps of the descriptor spaces with their continuity
  (:mod:`topophys.evaluate.embedding`);
- :func:`inverse_section`: the Ridge coefficients' high- and low-energy regions traced back to
  rings of atoms, with their bond lengths and angles (:mod:`topophys.evaluate.inverse`);
- :func:`gradcam_section`: where on the birth–death plane the CNN looks, for the highest- and
  the lowest-energy frame (:mod:`topophys.evaluate.gradcam`);
- :func:`cyclooctane_report`: the letter's cyclo-octane study
  (:mod:`topophys.evaluate.cyclooctane`).

The amorphous-graphene section is :func:`topophys.pipelines.mlpot_graphene.graphene_section`.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import atomic_write_text
from ._run_dir import jsonable as _jsonable

if TYPE_CHECKING:
    from ..evaluate.cyclooctane import CycloOctaneConfig
    from .mlpot import (
        BaselinesSectionConfig,
        DescriptorConfig,
        GradCAMConfig,
        InverseConfig,
        MapsConfig,
    )

__all__ = [
    "Section",
    "attention_statistics",
    "baselines_section",
    "cached_section",
    "cyclooctane_report",
    "gradcam_section",
    "inverse_section",
    "maps_section",
    "select_run_frames",
    "size_transfer_table",
]

_SPLIT_NAMES = {"random": "random 80/20 split", "grouped": "split by run"}
_LABELS = {
    "ridge": "PH + Ridge",
    "cnn": "PH + CNN",
    "soap_nn": "SOAP + NN",
    "schnet": "SchNet",
    "ph_soap": "PH + SOAP (NN)",
    "mean_baseline": "training mean",
}


@dataclass
class Section:
    """One section of the report.

    Attributes
    ----------
    title : str
        Its heading.
    metrics : dict
        Its numbers, stored under the section's key in ``metrics.json``.
    text : list of str
        Paragraphs, in order, before the tables.
    tables : list of (rows, caption)
        ``rows`` a list of row mappings or one mapping (name → value).
    figures : list of (name, figure, caption)
        ``figure`` a matplotlib Figure, or the path of its saved PNG; ``name`` the PNG's stem.
    """

    title: str
    metrics: dict[str, Any]
    text: list[str] = field(default_factory=list)
    tables: list[tuple[Any, str]] = field(default_factory=list)
    figures: list[tuple[str, Any, str]] = field(default_factory=list)

    def save(self, run_dir: str | Path, key: str, seconds: float | None = None) -> Section:
        """Write the figures to ``run_dir/<name>.png`` and the rest to
        ``run_dir/sections/<key>.json``; returns the section with figure paths."""
        import matplotlib.pyplot as plt

        run_dir = Path(run_dir)
        figures = []
        for name, fig, caption in self.figures:
            path = run_dir / f"{name}.png"
            if not isinstance(fig, (str, Path)):
                tmp = path.with_name(path.stem + ".tmp.png")
                fig.savefig(tmp, dpi=110, bbox_inches="tight")
                plt.close(fig)
                tmp.replace(path)
            figures.append((name, path, caption))
        saved = Section(self.title, self.metrics, list(self.text), list(self.tables), figures)
        record = {
            "title": saved.title,
            "metrics": saved.metrics,
            "text": saved.text,
            "tables": [[rows, caption] for rows, caption in saved.tables],
            "figures": [[name, path.name, caption] for name, path, caption in figures],
            "seconds": seconds,
        }
        atomic_write_text(
            run_dir / "sections" / f"{key}.json", json.dumps(_jsonable(record), indent=1) + "\n"
        )
        return saved

    @classmethod
    def load(cls, run_dir: str | Path, key: str) -> Section | None:
        """The section saved under ``key``, or None when it is missing or incomplete."""
        run_dir = Path(run_dir)
        path = run_dir / "sections" / f"{key}.json"
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        figures = [(name, run_dir / file, caption) for name, file, caption in record["figures"]]
        if not all(p.exists() for _, p, _ in figures):
            return None
        tables = [(rows, caption) for rows, caption in record["tables"]]
        return cls(record["title"], record["metrics"], record["text"], tables, figures)


def cached_section(
    run_dir: str | Path, key: str, compute: Callable[[], Section]
) -> tuple[Section, float]:
    """The section saved under ``key`` in ``run_dir``, else ``compute()`` saved there.

    Returns the section (figures as PNG paths) and the seconds spent computing it (0 when it
    was loaded). The run directory serves one configuration (see
    :func:`~topophys.pipelines.mlpot.run`), so a saved section is that configuration's.
    """
    found = Section.load(run_dir, key)
    if found is not None:
        return found, 0.0
    t0 = time.perf_counter()
    section = compute()
    seconds = time.perf_counter() - t0
    section.metrics["compute_s"] = round(seconds, 3)  # kept when a resumed run loads it
    return section.save(run_dir, key, round(seconds, 3)), seconds


def _rmse(metrics: Mapping[str, Any], split: str, part: str) -> float | None:
    v = metrics.get(split, {}).get(part, {}).get("rmse_meV")
    return None if v is None else float(v)


def size_transfer_table(
    metrics: Mapping[str, Any], sizes: tuple[Sequence[int], Sequence[int]]
) -> list[dict[str, Any]]:
    """Rows (model, split): test RMSE at the training size, RMSE and MAE at the larger size,
    and their ratio, from ``{model: {split: {"test"|"transfer": {rmse_meV, mae_meV}}}}``."""
    small = "/".join(map(str, sizes[0]))
    large = "/".join(map(str, sizes[1]))
    rows = []
    for model in ("ridge", "cnn", "soap_nn", "schnet", "ph_soap", "mean_baseline"):
        for split in ("random", "grouped"):
            m = metrics.get(model, {})
            test, transfer = _rmse(m, split, "test"), _rmse(m, split, "transfer")
            if test is None or transfer is None:
                continue
            rows.append(
                {
                    "model": _LABELS.get(model, model),
                    "split": split,
                    f"test RMSE, {small} atoms": test,
                    f"RMSE, {large} atoms": transfer,
                    f"MAE, {large} atoms": m[split]["transfer"].get("mae_meV"),
                    "ratio": transfer / test if test else None,
                }
            )
    return rows


def _neighbor_graphs(frames: Sequence[Any], cutoff: float, workers: int) -> list[Any]:
    from ..models.schnet import neighbor_graph
    from ..parallel import pmap

    if not frames:
        return []
    work = functools.partial(neighbor_graph, cutoff=cutoff)
    if workers < 2:
        return [work(a) for a in frames]
    return pmap(work, frames, workers=workers, desc="neighbour lists", progress=False)


def baselines_section(
    config: BaselinesSectionConfig,
    frames: Sequence[Any],
    y: Any,
    splits: Mapping[str, np.ndarray],
    predictions: Mapping[str, np.ndarray],
    *,
    cnn_models: Mapping[str, Any] | None = None,
    images: Mapping[str, Any] | None = None,
    transfer_frames: Sequence[Any] = (),
    y_transfer: Any = None,
    images_transfer: Mapping[str, Any] | None = None,
    folder: str | Path | None = None,
    workers: int = 1,
) -> tuple[Section, dict[str, Any]]:
    """SOAP + NN, SchNet and PH + SOAP beside Ridge and the CNN on the same frames.

    Parameters
    ----------
    config : BaselinesSectionConfig
    frames : sequence of ase.Atoms, length n
        The training-size frames of the pipeline (after striding).
    y : array_like, shape (n,)
        Energy per atom (eV).
    splits : mapping of str to bool (n,)
        The pipeline's test masks (``random``, ``grouped``).
    predictions : mapping of str to array
        The pipeline's Ridge and CNN predictions: ``{model}_{split}`` ``(n,)`` and
        ``{model}_{split}_transfer`` ``(n_transfer,)`` for model ``ridge``, ``cnn``.
    cnn_models, images, images_transfer : mappings keyed like ``splits``, optional
        Each split's trained CNN and its input images ``(n, nb, nd)`` (and of the transfer
        frames): PH + SOAP needs them.
    transfer_frames, y_transfer
        The larger-size frames and their energies per atom.
    folder : path, optional
        Caches the SOAP vectors.
    workers : int
        Processes for SchNet's neighbour lists.

    Returns
    -------
    section : Section
        Metrics: ``frames``, ``transfer_frames``, ``models`` (every model's errors on the
        baselines' frames, meV/atom), ``comparison_meV`` (one row per model beside the papers'
        figures), ``size_transfer_meV``, ``timings_s``.
    extra : dict
        ``frames`` (indices of the baselines' frames into ``frames``) and ``descriptors``:
        ``{"SOAP": (m, 360), "SchNet": (m, D)}`` on those frames, for the maps.
    """
    from ..plot.mlpot import learning_curves, parity_plot
    from ..training.baselines import (
        PAPER_RMSE_MEV,
        _cached_soap,
        baseline_table,
        fit_schnet,
        predict_schnet,
        run_baselines,
        schnet_descriptor,
        subsample,
    )
    from ..training.regression import regression_metrics

    y = np.asarray(y, dtype=np.float64)
    n = len(frames)
    sub = subsample(n, config.max_frames, config.seed)
    masks = {name: np.asarray(test, dtype=bool)[sub] for name, test in splits.items()}
    for name, test in masks.items():
        if test.all() or not test.any():
            raise ValueError(
                f"baselines.max_frames={config.max_frames} leaves the {name} split without "
                "training or test frames; use more frames (or 0 for all)"
            )
    f_sub, y_sub = [frames[i] for i in sub], y[sub]
    transfer_frames = list(transfer_frames)
    tsub = np.arange(0)
    t_sub: list[Any] = []
    y_t = None
    if transfer_frames:
        tsub = subsample(len(transfer_frames), config.max_transfer_frames, config.seed)
        t_sub = [transfer_frames[i] for i in tsub]
        y_t = np.asarray(y_transfer, dtype=np.float64)[tsub]
    want_ph = config.models.ph_soap and cnn_models is not None and images is not None
    folder = Path(folder) if folder is not None else None
    # SchNet is fitted below, not by run_baselines, to keep its model for the descriptor maps.
    metrics, figures = run_baselines(
        config.models.replace(schnet=None, ph_soap=bool(want_ph)),
        f_sub,
        y_sub,
        masks,
        folder,
        transfer_frames=t_sub,
        y_transfer=y_t,
        cnn_models=cnn_models if want_ph else None,
        ph_images={s: np.asarray(v)[sub] for s, v in images.items()} if want_ph else None,
        ph_images_transfer=(
            {s: np.asarray(v)[tsub] for s, v in images_transfer.items()}
            if want_ph and images_transfer and len(tsub)
            else None
        ),
    )
    timings = dict(metrics.pop("timings_s"))
    soap_path = folder / "soap_train.npz" if folder is not None else None
    descriptors: dict[str, np.ndarray] = {
        "SOAP": np.asarray(_cached_soap(f_sub, config.models.soap, soap_path))
    }

    sc = config.models.schnet
    schnet_fig = None
    if sc is not None:
        t_schnet = time.perf_counter()
        graphs = _neighbor_graphs(f_sub, sc.cutoff, workers)
        graphs_t = _neighbor_graphs(t_sub, sc.cutoff, workers)
        timings["schnet_neighbour_lists"] = round(time.perf_counter() - t_schnet, 3)
        metrics["schnet"] = {}
        parity: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        histories = {}
        for split, test in masks.items():
            t1 = time.perf_counter()
            train_idx = np.flatnonzero(~test)
            train_idx = train_idx[subsample(len(train_idx), sc.max_train_frames, sc.seed)]
            net, history = fit_schnet(
                [], y_sub[train_idx], sc, graphs=[graphs[i] for i in train_idx]
            )
            seconds = time.perf_counter() - t1
            pred = predict_schnet(net, graphs=graphs)
            entry = {
                "train": regression_metrics(y_sub[train_idx], pred[train_idx]),
                "test": regression_metrics(y_sub[test], pred[test]),
            }
            if graphs_t:
                entry["transfer"] = regression_metrics(y_t, predict_schnet(net, graphs=graphs_t))
            metrics["schnet"][split] = {
                **entry,
                "fit_s": round(seconds, 3),
                "train_frames": len(train_idx),
                "epochs": len(history["epoch"]),
            }
            parity[split] = {
                "train": (y_sub[train_idx], pred[train_idx]),
                "test": (y_sub[test], pred[test]),
            }
            histories[f"{split} split"] = history
            if split == "random" or "SchNet" not in descriptors:
                descriptors["SchNet"] = schnet_descriptor(net, graphs=graphs)
        timings["schnet"] = round(time.perf_counter() - t_schnet, 3)
        import matplotlib.pyplot as plt

        schnet_fig, axes = plt.subplots(
            1, len(parity) + 1, figsize=(4.4 * (len(parity) + 1), 4.0), constrained_layout=True
        )
        for ax, (split, sets) in zip(axes, parity.items(), strict=False):
            parity_plot(sets, ax, title=f"SchNet, {_SPLIT_NAMES.get(split, split)}")
        learning_curves(histories, axes[-1], title="SchNet training")

    # Ridge and the CNN scored again on exactly the baselines' frames.
    for model in ("ridge", "cnn"):
        metrics[model] = {}
        for split, test in masks.items():
            key = f"{model}_{split}"
            if key not in predictions:
                continue
            pred = np.asarray(predictions[key])[sub]
            entry = {
                "train": regression_metrics(y_sub[~test], pred[~test]),
                "test": regression_metrics(y_sub[test], pred[test]),
            }
            if f"{key}_transfer" in predictions and y_t is not None:
                pred_t = np.asarray(predictions[f"{key}_transfer"])[tsub]
                entry["transfer"] = regression_metrics(y_t, pred_t)
            metrics[model][split] = entry
    mean = {}
    for split, test in masks.items():
        m = float(y_sub[~test].mean())
        mean[split] = {"test": regression_metrics(y_sub[test], np.full(int(test.sum()), m))}
        if y_t is not None:
            mean[split]["transfer"] = regression_metrics(y_t, np.full(len(y_t), m))
    metrics["mean_baseline"] = mean

    comparison = baseline_table(metrics)
    sizes = (sorted({len(a) for a in f_sub}), sorted({len(a) for a in t_sub}))
    transfer_rows = size_transfer_table(metrics, sizes) if t_sub else []
    n_test = {s: int(t.sum()) for s, t in masks.items()}
    whole = len(sub) == n and len(tsub) == len(transfer_frames)
    scope = (
        "every frame"
        if whole
        else f"a seeded subsample of {len(sub)} of the {n} training-size frames"
        + (f" and {len(tsub)} of the {len(transfer_frames)} larger ones" if t_sub else "")
    )
    text = [
        "SOAP + NN (averaged SOAP, r_cut 4.1 Å, n_max 8, l_max 9, σ 0.16 Å: 360 numbers, into "
        f"an MLP with hidden layers {'×'.join(map(str, config.models.mlp.hidden))}, Adam, "
        f"{config.models.mlp.epochs} epochs), SchNet (our implementation of SchNetPack's "
        "architecture; see docs/baselines.md) and PH + SOAP (the CNN's last convolution, "
        "global-average-pooled, concatenated with averaged SOAP, into the same MLP; the "
        "letter's proposed next step) were fitted on " + scope + ", each frame on the same side "
        f"of each split as for Ridge and the CNN ({n_test.get('random', 0)} random-split and "
        f"{n_test.get('grouped', 0)} grouped-split test frames). Ridge and the CNN, trained "
        "on all training frames, are scored again on exactly these test frames.",
    ]
    if sc is not None:
        text.append(
            f"SchNet here: {sc.n_features} features, {sc.n_interactions} interaction blocks, "
            f"{sc.n_gaussians} Gaussians (γ = {sc.gamma:g} Å⁻²) on 0–{sc.cutoff:g} Å, trained on "
            f"{'every' if sc.max_train_frames == 0 else sc.max_train_frames} training frames "
            f"for {sc.epochs} epochs (CPU-sized; far from converged unless this is the paper "
            "configuration), so its error is an upper bound on what SchNet can do."
        )
    tables: list[tuple[Any, str]] = [
        (
            [{k: v for k, v in row.items() if k != "model"} for row in comparison],
            "Test RMSE (meV/atom) of every model on the same frames: random split, split by "
            "run (grouped), and the larger-size set (models of the random and of the grouped "
            "split). Beside them, the papers' test RMSEs on their DFT data (Ridge "
            f"{PAPER_RMSE_MEV['ridge']}, CNN {PAPER_RMSE_MEV['cnn']} / letter "
            f"{PAPER_RMSE_MEV['cnn_letter']}, SOAP + NN {PAPER_RMSE_MEV['soap_nn']}, SchNet "
            f"{PAPER_RMSE_MEV['schnet']}): their data differ (DFT labels, 13 464 training "
            "frames), so compare orderings, not values.",
        )
    ]
    if transfer_rows:
        tables.append(
            (
                transfer_rows,
                f"Size transfer of every model: trained on {'/'.join(map(str, sizes[0]))}-atom "
                f"frames, tested on {'/'.join(map(str, sizes[1]))}-atom frames made the same "
                "way (RMSE and MAE in meV/atom; ratio = larger-size RMSE over the test RMSE at "
                "the training size; the letter's CNN: 33.6 at 512 atoms against 33.3).",
            )
        )
    figs: list[tuple[str, Any, str]] = [
        (
            "baselines_parity",
            figures["baselines_parity"],
            "Predicted against reference energy per atom of SOAP + NN and PH + SOAP on both "
            "splits (training frames and test frames).",
        )
    ]
    if schnet_fig is not None:
        figs.append(
            (
                "baselines_schnet",
                schnet_fig,
                "SchNet: predicted against reference energy per atom on both splits (its "
                "training subsample and the test frames), and its training RMSE per epoch.",
            )
        )
    section = Section(
        "Baselines on the same splits: SOAP + NN, SchNet, PH + SOAP (paper, Fig. 3)",
        {
            "frames": len(sub),
            "transfer_frames": len(tsub),
            "test_frames": n_test,
            "models": metrics,
            "comparison_meV": comparison,
            "size_transfer_meV": transfer_rows,
            "timings_s": timings,
        },
        text,
        tables,
        figs,
    )
    return section, {"frames": sub, "descriptors": descriptors}


# --------------------------------------------------------------------------- maps

_PROPERTY_LABELS = {"density": "density (g/cm³)", "energy": "energy (eV/atom)"}


def maps_section(
    config: MapsConfig, descriptors: Mapping[str, Any], properties: Mapping[str, Any]
) -> Section:
    """t-SNE and PCA maps of descriptor spaces coloured by each property, with continuity.

    Parameters
    ----------
    config : MapsConfig
    descriptors : mapping of str to array_like (n, F)
        E.g. ``{"PH": histograms, "SOAP": ..., "SchNet": ...}`` on the same n frames.
    properties : mapping of str to array_like (n,)
        ``density`` (g/cm³) and ``energy`` (eV/atom); non-finite or constant ones are left out.

    Returns
    -------
    Section
        Metrics ``{descriptor: {method: {property: {knn_r2, spearman, n}}}}``, ``skipped``
        (t-SNE perplexities too large for n, properties left out) and ``frames``; one figure
        per method.
    """
    from ..evaluate.embedding import descriptor_maps
    from ..plot.embedding import embedding_grid

    props = {}
    left_out = []
    for name, v in properties.items():
        v = np.asarray(v, dtype=np.float64)
        if np.isfinite(v).all() and np.ptp(v) > 0:
            props[name] = v
        else:
            left_out.append(name)
    if not props:
        raise ValueError(
            f"maps need a property that varies and is finite; {', '.join(left_out)} are not"
        )
    flat = {k: np.asarray(v).reshape(len(np.asarray(v)), -1) for k, v in descriptors.items()}
    maps, scores = descriptor_maps(
        flat, props, perplexities=config.perplexities, pca=config.pca, seed=config.seed,
        k=config.k,
    )  # fmt: skip
    skipped = scores.pop("skipped")
    methods = list(next(iter(maps.values())))
    n = len(next(iter(props.values())))
    figures = []
    rows = []
    for method in methods:
        fig = embedding_grid(
            {name: maps[name][method] for name in maps},
            props,
            metrics={name: scores[name][method] for name in maps},
            labels=_PROPERTY_LABELS,
            cmaps={"energy": "magma"},
        )
        what = "PCA" if method == "pca" else f"t-SNE (perplexity {method.split('_p')[1]})"
        figures.append(
            (
                f"maps_{method}",
                fig,
                f"{what} maps of the {', '.join(maps)} descriptors of {n} frames, coloured by "
                f"{' and by '.join(props)} (paper Figs. 4–5). Each panel's title scores how "
                "continuously the property varies over the map: kNN R² (cross-validated, from "
                "the 2-D position) and the Spearman correlation between property differences "
                "and map distances. A continuous sheet scores high on both; islands ordered by "
                "nothing lower the Spearman value.",
            )
        )
        for name in maps:
            for prop, m in scores[name][method].items():
                rows.append(
                    {
                        "descriptor": name,
                        "map": method,
                        "property": prop,
                        "kNN R²": m["knn_r2"],
                        "Spearman": m["spearman"],
                    }
                )
    text = [
        "Each descriptor is centred and scaled to unit total variance; t-SNE starts from the "
        "PCA map and runs on the first 50 principal components (see "
        "topophys.evaluate.embedding)."
    ]
    if skipped:
        text.append(f"Left out (perplexity not below the {n} frames): {', '.join(skipped)}.")
    return Section(
        "Descriptor spaces: t-SNE and PCA maps (paper, Figs. 4–5)",
        {**scores, "skipped": skipped, "properties_left_out": left_out, "frames": n},
        text,
        [(rows, "Continuity of each map (kNN R² and Spearman; 1 is perfectly continuous)")],
        figures,
    )


# --------------------------------------------------------------------------- inverse analysis


def select_run_frames(
    frames: Sequence[Any], config: InverseConfig
) -> tuple[list[Any], dict[str, Any]]:
    """The frames :func:`inverse_section` analyses: the last ``config.frames`` frames of stage
    ``config.process`` of run ``config.run`` at the density nearest ``config.density``.

    Returns the frames and a description (``density``, ``run``, ``process``, ``frames``).
    """
    from .mlpot import run_groups

    if not frames:
        raise ValueError("frames must hold at least one structure")
    groups = run_groups(frames)
    density = np.array([float(a.info.get("density", np.nan)) for a in frames])
    runs = list(dict.fromkeys(groups.tolist()))
    run_density = np.array([density[groups == g][0] for g in runs])
    if np.isfinite(run_density).all():
        target = float(np.median(run_density)) if config.density is None else config.density
        nearest = run_density[np.argmin(np.abs(run_density - target))]
        candidates = [g for g, d in zip(runs, run_density, strict=True) if d == nearest]
    else:
        nearest, candidates = float("nan"), runs
    if config.run >= len(candidates):
        raise ValueError(
            f"inverse.run={config.run} but there are {len(candidates)} runs at density "
            f"{nearest:g} g/cm³"
        )
    where = np.flatnonzero(groups == candidates[config.run])
    if config.process is not None:
        where = np.array([i for i in where if frames[i].info.get("process") == config.process])
        if not len(where):
            raise ValueError(
                f"the chosen run (density {nearest:g} g/cm³) has no frame of stage "
                f"inverse.process={config.process!r}; set process to null for any stage"
            )
    where = where[-config.frames :]
    chosen = [frames[i] for i in where]
    return chosen, {
        "density": float(nearest),
        "run": int(config.run),
        "process": config.process,
        "frames": len(chosen),
        "source": str(chosen[0].info.get("source", "")),
    }


def _restrict_births(coef: np.ndarray, birth_range: Sequence[float], max_birth: float | None):
    if max_birth is None:
        return coef
    edges = np.linspace(float(birth_range[0]), float(birth_range[1]), coef.shape[0] + 1)
    out = coef.copy()
    out[edges[1:] > max_birth + 1e-12] = 0.0  # zero coefficients are in neither region
    if not out.any():
        raise ValueError(f"inverse.max_birth={max_birth} Å² leaves no bin with a coefficient")
    return out


def inverse_section(
    config: InverseConfig, frames: Sequence[Any], coef: Any, descriptor: DescriptorConfig
) -> Section:
    """The paper's inverse analysis (Fig. 6) on frames of one run.

    Parameters
    ----------
    config : InverseConfig
    frames : sequence of ase.Atoms
        All training-size frames (before striding); :func:`select_run_frames` picks the run.
    coef : array_like, shape (bins, bins)
        Ridge coefficients on the descriptor's grid (birth along axis 0).
    descriptor : DescriptorConfig
        Its window and dimension.

    Returns
    -------
    Section
        Metrics of :meth:`~topophys.evaluate.inverse.InverseAnalysis.metrics`, the frames
        analysed, ``max_birth`` and the two-sample Kolmogorov–Smirnov distances between the
        high- and low-energy rings' bond lengths and angles.
    """
    from scipy.stats import ks_2samp

    from ..evaluate.inverse import inverse_analysis
    from ..plot.inverse import region_map, ring_geometry_histograms

    chosen, what = select_run_frames(frames, config)
    coef = np.asarray(coef, dtype=np.float64)
    used = _restrict_births(coef, descriptor.birth_range, config.max_birth)
    result = inverse_analysis(
        chosen, used, descriptor.birth_range, descriptor.death_range, high=config.high,
        low=config.low, quantile=config.quantile, dimension=descriptor.dimension,
    )  # fmt: skip
    metrics: dict[str, Any] = {
        "frames": what,
        "max_birth_A2": config.max_birth,
        **result.metrics(),
    }
    for region in ("high", "low"):
        if result.bond_lengths[region].size:
            metrics[region]["bond_length_max_A"] = float(result.bond_lengths[region].max())
    for name, data in (("bond_length", result.bond_lengths), ("bond_angle", result.bond_angles)):
        if data["high"].size and data["low"].size:
            metrics[f"{name}_ks_distance"] = float(ks_2samp(data["high"], data["low"]).statistic)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.8), constrained_layout=True)
    region_map(
        coef, result.high_mask, result.low_mask, descriptor.birth_range, descriptor.death_range,
        ax, title="Ridge coefficients and energy regions",
    )  # fmt: skip
    if config.max_birth is not None:
        ax.axvline(config.max_birth, color="0.3", lw=0.8, ls="--")
    hist = ring_geometry_histograms(result.bond_lengths, result.bond_angles)
    where = (
        f"{what['frames']} consecutive frames of stage {what['process'] or 'any'} of run "
        f"{what['run']} at {what['density']:g} g/cm³"
    )
    th = result.thresholds
    h, lo = metrics["high"], metrics["low"]
    text = [
        f"Bins whose Ridge coefficient exceeds {th['high']:.3g} form the high-energy region "
        f"({h['bins']} bins), those below {th['low']:.3g} the low-energy region ({lo['bins']} "
        f"bins)"
        + (
            f", counting only bins born below {config.max_birth:g} Å² (rings closed by "
            "chemical bonds)"
            if config.max_birth is not None
            else ""
        )
        + f". In {where}, {h['rings']} rings carry PD points of the high-energy region and "
        f"{lo['rings']} of the low-energy one; each ring is the tightest representative cycle "
        "of its pair on our periodic alpha complex (topophys.homology.cycles; the paper used "
        "HomCloud's stable volumes)."
    ]
    return Section(
        "Inverse analysis: energy regions back to rings of atoms (paper, Fig. 6)",
        metrics,
        text,
        [
            (
                {
                    f"{region}.{k}": v
                    for region in ("high", "low")
                    for k, v in metrics[region].items()
                }
                | {k: v for k, v in metrics.items() if k.endswith("ks_distance")},
                "Rings of the two regions: counts, bond lengths (Å) and angles (°); KS "
                "distance between the regions' distributions (0: identical, 1: disjoint)",
            )
        ],
        [
            (
                "inverse_regions",
                fig,
                "Ridge coefficients on the birth–death grid (paper Fig. 6a) with the high-energy "
                "region outlined in red and the low-energy region in blue"
                + (
                    f"; only bins born left of the dashed line ({config.max_birth:g} Å²) count"
                    if config.max_birth is not None
                    else ""
                )
                + ".",
            ),
            (
                "inverse_rings",
                hist,
                f"Bond lengths and angles of the rings of the high-energy (red) and low-energy "
                f"(blue) regions in {where} (paper Fig. 6c–d).",
            ),
        ],
    )


# --------------------------------------------------------------------------- Grad-CAM


def attention_statistics(
    cam: Any, weights: Any, birth_range: Sequence[float], death_range: Sequence[float]
) -> dict[str, float | None]:
    """Mean birth and persistence (death − birth, Å²) of a frame's PD points, weighted by the
    attention they get and, for comparison, by their own share.

    ``cam`` and ``weights`` are ``(nb, nd)`` non-negative maps (birth along axis 0): the
    attention of :func:`~topophys.evaluate.gradcam.grad_cam` and the frame's probability
    histogram. The attention counts on occupied bins only (a CAM is upsampled and spreads over
    empty bins and below the diagonal, where no point can be); ``None`` where no occupied bin
    gets attention.

    Examples
    --------
    >>> w = np.zeros((4, 4)); w[0, 3] = 1.0  # one bin: birth 0.5, death 3.5
    >>> s = attention_statistics(w, w, (0, 4), (0, 4))
    >>> s["attention_mean_birth_A2"], s["attention_mean_persistence_A2"]
    (0.5, 3.0)
    """
    cam = np.asarray(cam, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    nb, nd = cam.shape
    b_edges = np.linspace(float(birth_range[0]), float(birth_range[1]), nb + 1)
    d_edges = np.linspace(float(death_range[0]), float(death_range[1]), nd + 1)
    b = 0.5 * (b_edges[1:] + b_edges[:-1])
    d = 0.5 * (d_edges[1:] + d_edges[:-1])
    persistence = d[None, :] - b[:, None]
    births = np.broadcast_to(b[:, None], cam.shape)
    out: dict[str, float | None] = {}
    for name, w in (("attention", cam * (weights > 0)), ("points", weights)):
        total = w.sum()
        out[f"{name}_mean_birth_A2"] = float((w * births).sum() / total) if total else None
        out[f"{name}_mean_persistence_A2"] = (
            float((w * persistence).sum() / total) if total else None
        )
    return out


def _num(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def gradcam_section(
    config: GradCAMConfig,
    model: Any,
    images: Any,
    probabilities: Any,
    y: Any,
    pred: Any,
    descriptor: DescriptorConfig,
) -> Section:
    """Grad-CAM of the CNN for the highest-energy (what raises the prediction) and the
    lowest-energy frame (what lowers it), as in the letter's Fig. 4e–f.

    Parameters
    ----------
    config : GradCAMConfig
    model : PDCNN
        The trained CNN.
    images : array_like, shape (n, nb, nd)
        Its input images (standardized histograms).
    probabilities : array_like, shape (n, nb, nd)
        The frames' probability histograms (drawn as the occupied bins, and the reference of
        the statistics).
    y, pred : array_like, shape (n,)
        Reference and predicted energies per atom (eV).
    descriptor : DescriptorConfig
        Its window.

    Returns
    -------
    Section
        Per frame (``high``, ``low``): index, energies and :func:`attention_statistics`.
    """
    from ..evaluate.gradcam import grad_cam
    from ..plot.inverse import attention_map

    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    b_range, d_range = descriptor.birth_range, descriptor.death_range
    picks = {"high": (int(np.argmax(y)), 1), "low": (int(np.argmin(y)), -1)}
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), constrained_layout=True)
    metrics: dict[str, Any] = {"method": config.method, "split": config.split}
    for ax, (name, (i, sign)) in zip(axes, picks.items(), strict=True):
        image = np.array(images[i], dtype=np.float32)  # a writable copy of a memory map's row
        cam = grad_cam(model, image, method=config.method, sign=sign)
        stats = attention_statistics(cam, np.asarray(probabilities[i]), b_range, d_range)
        metrics[name] = {
            "frame": i,
            "energy_eV": float(y[i]),
            "predicted_eV": float(pred[i]),
            **stats,
        }
        attention_map(
            np.asarray(probabilities[i]), cam, b_range, d_range, ax,
            title=f"{name}est energy: {y[i]:.3f} eV/atom ({'raises' if sign > 0 else 'lowers'})",
        )  # fmt: skip
    hi, lo = metrics["high"], metrics["low"]
    att = (_num(hi["attention_mean_persistence_A2"]), _num(lo["attention_mean_persistence_A2"]))
    pts = (_num(hi["points_mean_persistence_A2"]), _num(lo["points_mean_persistence_A2"]))
    text = [
        f"{'Grad-CAM' if config.method == 'gradcam' else 'HiResCAM'} of the CNN's last "
        f"convolution ({config.split} split's model): for the highest-energy frame, what "
        "raises its prediction; for the lowest-energy frame, what lowers it. The PD points' "
        f"mean persistence (death − birth), weighted by their attention, is {att[0]} Å² for "
        f"the high-energy frame and {att[1]} Å² for the low-energy one (unweighted: {pts[0]} "
        f"and {pts[1]} Å²; 'none': no point gets attention). The letter finds attention near "
        "the diagonal for liquid-like frames and away from it for amorphous ones."
    ]
    return Section(
        "Grad-CAM of the CNN (letter, Fig. 4e–f)",
        metrics,
        text,
        [],
        [
            (
                "gradcam",
                fig,
                "Grad-CAM attention (colour) over the birth–death plane for the highest-energy "
                "frame (left, what raises the predicted energy) and the lowest-energy frame "
                "(right, what lowers it); grey contours outline the bins holding PD points, the "
                "white line is the diagonal.",
            )
        ],
    )


# --------------------------------------------------------------------------- cyclo-octane


def cyclooctane_report(config: CycloOctaneConfig) -> Section:
    """The letter's cyclo-octane study (:func:`~topophys.evaluate.cyclooctane.cyclooctane_section`)
    as a report section, with a table of each representation's local dimension."""
    from ..evaluate.cyclooctane import cyclooctane_section

    metrics, figures = cyclooctane_section(config)
    rows = [
        {
            "representation": name,
            "features": m["features"],
            "local dim. (3-D PCA, MLE)": m["local_dimension_3d"],
            "local dim. (3-D PCA, local PCA)": m["local_dimension_3d_pca"],
            "local dim. (full, MLE)": m["local_dimension_full"],
            "explained variance (3 PCs)": float(np.sum(m["explained_variance"])),
            "highlight spread": m["highlight_spread"],
        }
        for name, m in metrics["representations"].items()
    ]
    text = [
        f"{metrics['n_conformers']} cyclo-octane conformers (C–C 1.52 Å, C–C–C 115°; "
        f"generator converged on {metrics['convergence_rate']:.0%} of its tries, largest "
        f"constraint residual {metrics['max_residual_A']:.1e} Å) in each representation, "
        "projected by PCA to three dimensions (letter Fig. 2). The conformation space is a "
        "2-dimensional variety: a local dimension near 2 reads as a surface, near 1 as a "
        "curve (the letter's persistence-image embedding)."
    ]
    if metrics.get("skipped"):
        text.append(
            "Skipped: " + "; ".join(f"{k} ({v})" for k, v in metrics["skipped"].items()) + "."
        )
    names = ["cyclooctane_diagrams", "cyclooctane_embeddings"]
    names += [f"cyclooctane_{i}" for i in range(len(names), len(figures))]
    return Section(
        "Cyclo-octane conformers in four representations (letter, Fig. 2)",
        metrics,
        text,
        [(rows, "Local dimension of each embedding (the conformation space is 2-D)")],
        [(name, fig, cap) for name, (fig, cap) in zip(names, figures, strict=False)],
    )
