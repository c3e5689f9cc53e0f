"""The further sections of the ``mlpot`` report (issue 6), each from the pipeline's products.

Each function returns a :class:`~topophys.pipelines.mlpot.section.Section`: numbers computed by
:mod:`topophys.evaluate`, figures drawn by :mod:`topophys.plot`, and the text that puts them
together.

- :func:`maps_section`: t-SNE and PCA maps of the descriptor spaces with their continuity
  (:mod:`topophys.evaluate.embedding`);
- :func:`inverse_section`: the Ridge coefficients' high- and low-energy regions traced back to
  rings of atoms, with their bond lengths and angles (:mod:`topophys.evaluate.inverse`);
- :func:`gradcam_section`: where on the birth–death plane the CNN looks, for the highest- and
  the lowest-energy frame (:mod:`topophys.evaluate.gradcam`);
- :func:`cyclooctane_report`: the letter's cyclo-octane study
  (:mod:`topophys.evaluate.cyclooctane`).

The baselines are :mod:`~topophys.pipelines.mlpot.baselines`, amorphous graphene
:mod:`~topophys.pipelines.mlpot.graphene`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...descriptors.ph import DescriptorConfig
from ...evaluate.cyclooctane import CycloOctaneConfig
from .config import GradCAMConfig, InverseConfig, MapsConfig
from .data import select_run_frames
from .section import Section

__all__ = ["cyclooctane_report", "gradcam_section", "inverse_section", "maps_section"]


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
    from ...evaluate.embedding import descriptor_maps

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
    n = len(next(iter(props.values())))
    methods = list(next(iter(maps.values())))
    figures = [_map_figure(method, maps, scores, props, n) for method in methods]
    rows = [
        {
            "descriptor": name,
            "map": method,
            "property": prop,
            "kNN R²": m["knn_r2"],
            "Spearman": m["spearman"],
        }
        for method in methods
        for name in maps
        for prop, m in scores[name][method].items()
    ]
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


def _map_figure(
    method: str,
    maps: Mapping[str, Any],
    scores: Mapping[str, Any],
    props: Mapping[str, Any],
    n: int,
) -> tuple[str, Any, str]:
    from ...plot.embedding import embedding_grid

    fig = embedding_grid(
        {name: maps[name][method] for name in maps},
        props,
        metrics={name: scores[name][method] for name in maps},
        labels=_PROPERTY_LABELS,
        cmaps={"energy": "magma"},
    )
    what = "PCA" if method == "pca" else f"t-SNE (perplexity {method.split('_p')[1]})"
    return (
        f"maps_{method}",
        fig,
        f"{what} maps of the {', '.join(maps)} descriptors of {n} frames, coloured by "
        f"{' and by '.join(props)} (paper Figs. 4–5). Each panel's title scores how "
        "continuously the property varies over the map: kNN R² (cross-validated, from "
        "the 2-D position) and the Spearman correlation between property differences "
        "and map distances. A continuous sheet scores high on both; islands ordered by "
        "nothing lower the Spearman value.",
    )


# --------------------------------------------------------------------------- inverse analysis


def inverse_section(
    config: InverseConfig,
    frames: Sequence[Any],
    coef: Any,
    descriptor: DescriptorConfig,
    group_key: str | None = "run",
    stage_key: str = "process",
) -> Section:
    """The paper's inverse analysis (Fig. 6) on frames of one run.

    Parameters
    ----------
    config : InverseConfig
    frames : sequence of ase.Atoms
        All training-size frames (before striding);
        :func:`~topophys.pipelines.mlpot.data.select_run_frames` picks the run.
    coef : array_like, shape (bins, bins)
        Ridge coefficients on the descriptor's grid (birth along axis 0).
    descriptor : DescriptorConfig
        Its window and dimension.
    group_key, stage_key
        ``atoms.info`` keys of the run and the stage (see
        :func:`~topophys.pipelines.mlpot.data.select_run_frames`).

    Returns
    -------
    Section
        Metrics of :meth:`~topophys.evaluate.inverse.InverseAnalysis.metrics` (with the
        Kolmogorov–Smirnov distances between the regions' bond lengths and angles), the frames
        analysed and ``max_birth``.
    """
    from ...evaluate.inverse import inverse_analysis, restrict_births

    chosen, what = select_run_frames(frames, config, group_key, stage_key)
    coef = np.asarray(coef, dtype=np.float64)
    try:
        used = restrict_births(coef, descriptor.birth_range, config.max_birth)
    except ValueError as err:
        raise ValueError(f"inverse.{err}") from None
    result = inverse_analysis(
        chosen, used, descriptor.birth_range, descriptor.death_range, high=config.high,
        low=config.low, quantile=config.quantile, dimension=descriptor.dimension,
    )  # fmt: skip
    metrics: dict[str, Any] = {"frames": what, "max_birth_A2": config.max_birth}
    metrics |= result.metrics()
    where = (
        f"{what['frames']} consecutive frames of stage {what['process'] or 'any'} of run "
        f"{what['run']} at {what['density']:g} g/cm³"
    )
    table = {f"{r}.{k}": v for r in ("high", "low") for k, v in metrics[r].items()}
    table |= {k: v for k, v in metrics.items() if k.endswith("ks_distance")}
    return Section(
        "Inverse analysis: energy regions back to rings of atoms (paper, Fig. 6)",
        metrics,
        [_inverse_text(config, metrics, where)],
        [
            (
                table,
                "Rings of the two regions: counts, bond lengths (Å) and angles (°); KS "
                "distance between the regions' distributions (0: identical, 1: disjoint)",
            )
        ],
        _inverse_figures(config, coef, result, descriptor, where),
    )


def _inverse_text(config: InverseConfig, metrics: Mapping[str, Any], where: str) -> str:
    th, h, lo = metrics["thresholds"], metrics["high"], metrics["low"]
    limit = (
        f", counting only bins born below {config.max_birth:g} Å² (rings closed by chemical bonds)"
        if config.max_birth is not None
        else ""
    )
    return (
        f"Bins whose Ridge coefficient exceeds {th['high']:.3g} form the high-energy region "
        f"({h['bins']} bins), those below {th['low']:.3g} the low-energy region ({lo['bins']} "
        f"bins){limit}. In {where}, {h['rings']} rings carry PD points of the high-energy "
        f"region and {lo['rings']} of the low-energy one; each ring is the tightest "
        "representative cycle of its pair on our periodic alpha complex "
        "(topophys.homology.cycles; the paper used HomCloud's stable volumes)."
    )


def _inverse_figures(
    config: InverseConfig, coef: np.ndarray, result: Any, descriptor: DescriptorConfig, where: str
) -> list[tuple[str, Any, str]]:
    import matplotlib.pyplot as plt

    from ...plot.inverse import region_map, ring_geometry_histograms

    fig, ax = plt.subplots(figsize=(5.6, 4.8), constrained_layout=True)
    region_map(
        coef, result.high_mask, result.low_mask, descriptor.birth_range, descriptor.death_range,
        ax, title="Ridge coefficients and energy regions",
    )  # fmt: skip
    limit = ""
    if config.max_birth is not None:
        ax.axvline(config.max_birth, color="0.3", lw=0.8, ls="--")
        limit = f"; only bins born left of the dashed line ({config.max_birth:g} Å²) count"
    return [
        (
            "inverse_regions",
            fig,
            "Ridge coefficients on the birth–death grid (paper Fig. 6a) with the high-energy "
            f"region outlined in red and the low-energy region in blue{limit}.",
        ),
        (
            "inverse_rings",
            ring_geometry_histograms(result.bond_lengths, result.bond_angles),
            f"Bond lengths and angles of the rings of the high-energy (red) and low-energy "
            f"(blue) regions in {where} (paper Fig. 6c–d).",
        ),
    ]


# --------------------------------------------------------------------------- Grad-CAM


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
        Per frame (``high``, ``low``): index, energies and
        :func:`~topophys.evaluate.gradcam.attention_statistics`.
    """
    from ...evaluate.gradcam import attention_statistics, grad_cam

    y = np.asarray(y, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    b_range, d_range = descriptor.birth_range, descriptor.death_range
    picks = {"high": (int(np.argmax(y)), 1), "low": (int(np.argmin(y)), -1)}
    metrics: dict[str, Any] = {"method": config.method, "split": config.split}
    cams = {}
    for name, (i, sign) in picks.items():
        image = np.array(images[i], dtype=np.float32)  # a writable copy of a memory map's row
        cams[name] = grad_cam(model, image, method=config.method, sign=sign)
        stats = attention_statistics(cams[name], np.asarray(probabilities[i]), b_range, d_range)
        metrics[name] = {"frame": i, "energy_eV": float(y[i]), "predicted_eV": float(pred[i])}
        metrics[name] |= stats
    fig = _attention_figure(cams, picks, probabilities, y, descriptor)
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


def _attention_figure(
    cams: Mapping[str, np.ndarray],
    picks: Mapping[str, tuple[int, int]],
    probabilities: Any,
    y: np.ndarray,
    descriptor: DescriptorConfig,
) -> Any:
    import matplotlib.pyplot as plt

    from ...plot.inverse import attention_map

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.3), constrained_layout=True)
    for ax, (name, (i, sign)) in zip(axes, picks.items(), strict=True):
        attention_map(
            np.asarray(probabilities[i]), cams[name], descriptor.birth_range,
            descriptor.death_range, ax,
            title=f"{name}est energy: {y[i]:.3f} eV/atom ({'raises' if sign > 0 else 'lowers'})",
        )  # fmt: skip
    return fig


# --------------------------------------------------------------------------- cyclo-octane


def cyclooctane_report(config: CycloOctaneConfig) -> Section:
    """The letter's cyclo-octane study (:func:`~topophys.evaluate.cyclooctane.cyclooctane_section`)
    as a report section, with a table of each representation's local dimension."""
    from ...evaluate.cyclooctane import cyclooctane_section

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
