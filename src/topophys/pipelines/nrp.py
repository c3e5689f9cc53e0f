"""The flagship pipeline: TDGL fields → persistence diagrams → Neural Reduced Potentials → report.

``run(config, run_dir)`` does, resuming whatever a previous call on the same directory finished:

1. simulate the TDGL sweep (or reuse a field store named in the config): ``fields.zarr``;
2. cubical persistence (periodic, sublevel, H0 and H1) of every snapshot: ``diagrams.zarr``;
3. vectorize each diagram as persistence images of H0 and H1, concatenated (the PD model's
   input), and block-average the fields to ``image_size`` (the image model's input);
4. train the PD model (MLP autoencoder, Mototake 2025) and the image model (convolutional
   autoencoder, Tsuji et al. 2023) on the same training runs, with some anisotropies held out
   entirely; the two trainings run in parallel when ``workers >= 2``;
5. evaluate both (see :mod:`topophys.evaluate.nrp`) and write ``metrics.json``, the figures as
   PNG and a self-contained ``report.html``.

The potential sees z, α and h(t); time is the simulation's (``time_unit`` rescales it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import _validate
from ..config import Config
from ..simulate.sweep import TDGLSweepConfig
from ..simulate.tdgl import TDGLConfig
from ..training.nrp import NRPConfig, Trajectories
from ._run_dir import StageTimer, open_run_dir, write_metrics

__all__ = ["DEMO_CONFIG", "LARGE_CONFIG", "NRPPipelineConfig", "PDFeatures", "run"]


@dataclass(frozen=True)
class PDFeatures(Config):
    """How snapshots become persistence diagrams and then vectors (the PD model's input).

    Parameters
    ----------
    construction, filtration
        Cubical complex of the field (see :class:`~topophys.homology.CubicalPersistence`);
        the field is periodic, as simulated.
    dims
        Homology dimensions; one persistence image each, concatenated.
    resolution
        Pixels per side of each persistence image.
    birth_range, persistence_range
        Window of the images in field units; ``None`` (default) fits it to the finite points
        of the training runs' diagrams (their birth span, and persistence from 0 to the
        largest), padded by one pixel. The fitted window is recorded in ``metrics.json``.
    bandwidth
        Gaussian σ of the images (field units); ``None`` means one pixel's width along birth.
    weight
        ``"linear"`` (weight = persistence) or ``"constant"``.
    """

    construction: Literal["top", "vertex"] = "top"
    filtration: Literal["sublevel", "superlevel"] = "sublevel"
    dims: tuple[int, ...] = (0, 1)
    resolution: int = 20
    birth_range: tuple[float, ...] | None = None
    persistence_range: tuple[float, ...] | None = None
    bandwidth: float | None = None
    weight: Literal["linear", "constant"] = "linear"

    def __post_init__(self) -> None:
        if not self.dims or any(d not in (0, 1) for d in self.dims):
            raise ValueError(f"dims must be a non-empty subset of (0, 1), got {self.dims}")
        _validate.positive_int("resolution", self.resolution)
        if self.bandwidth is not None:
            _validate.positive("bandwidth", self.bandwidth)
        for name in ("birth_range", "persistence_range"):
            lo_hi = getattr(self, name)
            if lo_hi is not None and (len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]):
                raise ValueError(f"{name} must be (low, high) with low < high, got {lo_hi}")


@dataclass(frozen=True)
class NRPPipelineConfig(Config):
    """Everything ``topophys run nrp`` does, as one YAML-round-trippable value.

    Parameters
    ----------
    simulation
        The TDGL sweep (ignored when ``fields`` names an existing store).
    fields
        Path of an existing field store to reuse instead of simulating.
    holdout_alphas
        Anisotropies whose runs are held out of training entirely (they must exist in the
        sweep); generalization to unseen α is measured on them.
    features
        Diagrams and their vectorization.
    first_snapshot
        Index of the first snapshot used. The default 1 drops t = 0, the imposed saturated
        state plus white noise: its diagram counts thousands of noise features, not domains,
        and no dynamics produced it.
    image_size
        Side of the images given to the image model (fields are block-averaged to it).
    time_unit
        Unit of time for dz/dt (default 1: the simulation's own time). Rescaling time rescales
        dz/dt and so the weight of L_V against L_AE: in units of T0 = 150 the early,
        closely spaced snapshots gave dz/dt so large that the encoders collapsed z to a
        constant (measured on the demo).
    pd_model, image_model
        Architecture and training of the two models.
    rollout_steps
        k of the k-step prediction errors.
    monotone_tol
        Tolerance of ``monotone_fraction`` (share of each run's V range).
    """

    simulation: TDGLSweepConfig = field(default_factory=TDGLSweepConfig)
    fields: str | None = None
    holdout_alphas: tuple[float, ...] = ()
    features: PDFeatures = field(default_factory=PDFeatures)
    first_snapshot: int = 1
    image_size: int = 64
    time_unit: float = 1.0
    pd_model: NRPConfig = field(default_factory=NRPConfig)
    image_model: NRPConfig = field(default_factory=NRPConfig)
    rollout_steps: tuple[int, ...] = (1, 5, 20)
    monotone_tol: float = 0.01

    def __post_init__(self) -> None:
        _validate.positive_int("image_size", self.image_size)
        _validate.nonnegative_int("first_snapshot", self.first_snapshot)
        _validate.positive("time_unit", self.time_unit)
        for i, k in enumerate(self.rollout_steps):
            _validate.positive_int(f"rollout_steps[{i}]", k)
        _validate.nonnegative("monotone_tol", self.monotone_tol)
        if self.pd_model.latent_dim != self.image_model.latent_dim:
            raise ValueError(
                f"pd_model.latent_dim={self.pd_model.latent_dim} and image_model.latent_dim="
                f"{self.image_model.latent_dim} must agree (the papers compare equal dimensions)"
            )
        stages = 2 ** len(self.image_model.conv_channels)
        if self.image_size % stages:
            raise ValueError(
                f"image_size={self.image_size} must be divisible by 2**len(image_model."
                f"conv_channels)={stages}"
            )
        for i, m in enumerate((self.pd_model, self.image_model)):
            if m.devices > 1:
                name = ("pd_model", "image_model")[i]
                raise ValueError(
                    f"{name}.devices={m.devices}: the pipeline trains each model on one device "
                    "(multi-device DDP relaunches the whole command per rank); call "
                    "topophys.training.nrp.fit_nrp from a script for DDP"
                )
        if self.fields is None:
            size = self.simulation.tdgl.size
            if size % self.image_size:
                raise ValueError(
                    f"image_size={self.image_size} must divide the simulated grid size={size}"
                )
            missing = [
                a for a in self.holdout_alphas if not np.isclose(a, self.simulation.alphas).any()
            ]
            if missing:
                raise ValueError(
                    f"holdout_alphas {missing} are not among the sweep's alphas "
                    f"{list(self.simulation.alphas)}"
                )


_DEMO_ALPHAS = tuple(float(a) for a in np.round(np.linspace(1.0, 4.0, 13), 4))

DEMO_CONFIG = NRPPipelineConfig(
    # The first snapshot after t = 0 at 0.25 (not 1) so T_init, as early as 0.56 at α = 1,
    # falls inside every run's snapshot range.
    simulation=TDGLSweepConfig(
        tdgl=TDGLConfig(t_first_snapshot=0.25), alphas=_DEMO_ALPHAS, seeds=(0, 1), batch_size=4
    ),
    holdout_alphas=(1.75, 2.5, 3.25),
    pd_model=NRPConfig(epochs=400, batch_size=128, lr=3e-3, hidden=(256, 64)),
    image_size=32,
    image_model=NRPConfig(
        epochs=80, batch_size=32, lr=1e-3, conv_channels=(8, 16, 16), conv_hidden=64
    ),
)
"""What ``make demo`` runs: 13 α × 2 seeds on 128², 3 α held out; minutes on 2 CPU cores.

The image model sees the fields block-averaged to 32² (a CPU budget); ``LARGE_CONFIG`` uses 128².
"""

LARGE_CONFIG = NRPPipelineConfig(
    simulation=TDGLSweepConfig(
        tdgl=TDGLConfig(size=256, n_snapshots=96, t_first_snapshot=0.25),
        alphas=tuple(float(a) for a in np.round(np.linspace(1.0, 4.0, 31), 4)),
        seeds=(0, 1, 2, 3),
        batch_size=16,
    ),
    holdout_alphas=(1.5, 2.5, 3.5),
    image_size=128,
    pd_model=NRPConfig(epochs=2000, batch_size=256, lr=1e-3, accelerator="auto"),
    image_model=NRPConfig(
        epochs=500, batch_size=64, lr=5e-4, conv_channels=(32, 64, 128, 128), accelerator="auto"
    ),
)
"""A GPU-sized setting (``--scale large``): 31 α × 4 seeds on 256², 96 snapshots per run."""


# --------------------------------------------------------------------------- data preparation


def _fields(
    config: NRPPipelineConfig,
    run_dir: Path,
    workers: int,
    scheduler: Any,
    device: str,
    progress: bool | None,
) -> Any:
    from ..data.fields import open_fields
    from ..simulate.sweep import run_tdgl_sweep

    if config.fields is not None:
        ds = open_fields(config.fields)
        missing = [a for a in config.holdout_alphas if not np.isclose(a, ds["alpha"].values).any()]
        if missing:
            raise ValueError(f"holdout_alphas {missing} are not among the store's alphas")
        return ds
    store = run_tdgl_sweep(
        config.simulation,
        run_dir / "fields.zarr",
        workers=workers,
        scheduler=scheduler,
        device=device,
        progress=progress,
    )
    return store.dataset()


def _diagrams(
    fields: Any, config: PDFeatures, path: Path, workers: int, scheduler: Any, progress: bool | None
) -> Any:
    from ..data.diagram_store import compute_field_diagrams
    from ..homology import CubicalPersistence

    transformer = CubicalPersistence(
        construction=config.construction,
        filtration=config.filtration,
        periodic=True,
        homology_dimensions=config.dims,
    )
    return compute_field_diagrams(
        fields, path, transformer, workers=workers, scheduler=scheduler, progress=progress
    )


def image_window(diagrams: Any, config: PDFeatures) -> dict[str, Any]:
    """The persistence-image window: the config's, or fitted to ``diagrams`` (finite points)."""
    data = np.asarray(diagrams.data)
    keep = np.isin(data[:, 0], config.dims) & np.isfinite(data[:, 2])
    births, pers = data[keep, 1], data[keep, 2] - data[keep, 1]
    if config.birth_range is not None:
        birth = tuple(float(v) for v in config.birth_range)
    elif births.size:
        lo, hi = float(births.min()), float(births.max())
        pad = (hi - lo) / max(config.resolution - 2, 1) or 1.0
        birth = (lo - pad, hi + pad)
    else:
        raise ValueError("no finite diagram points to fit birth_range to; set it explicitly")
    if config.persistence_range is not None:
        persistence = tuple(float(v) for v in config.persistence_range)
    else:
        top = float(pers.max()) if pers.size else 1.0
        persistence = (0.0, top * config.resolution / max(config.resolution - 1, 1))
    bandwidth = config.bandwidth or (birth[1] - birth[0]) / config.resolution
    return {"birth_range": birth, "persistence_range": persistence, "bandwidth": bandwidth}


def _vectorize(diagrams: Any, config: PDFeatures, window: dict[str, Any]) -> np.ndarray:
    from ..vectorize import PersistenceImage

    parts = [
        PersistenceImage(
            resolution=config.resolution, weight=config.weight, dim=d, **window
        ).fit_transform(diagrams)
        for d in config.dims
    ]
    return np.concatenate(parts, axis=1)


def block_average(fields: np.ndarray, size: int) -> np.ndarray:
    """Average ``(..., S, S)`` fields over blocks down to ``(..., size, size)``; S % size == 0."""
    s = fields.shape[-1]
    if fields.shape[-2] != s or s % size:
        raise ValueError(
            f"image_size={size} must divide the square field side, got fields of shape "
            f"{fields.shape[-2:]}"
        )
    f = s // size
    return fields.reshape(*fields.shape[:-2], size, f, size, f).mean(axis=(-3, -1))


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class _TrainJob:
    kind: str
    config: NRPConfig
    train: Trajectories
    val: Trajectories | None
    run_dir: Path
    progress: bool | None

    def __call__(self) -> dict[str, list[float]]:
        from ..training.nrp import build_model, fit_nrp

        model = build_model(
            self.kind, self.train.shape, self.config, self.train.conditions.shape[2]
        )
        return fit_nrp(
            model, self.train, self.config, self.run_dir, val=self.val, progress=self.progress
        )


def _call(job: _TrainJob) -> dict[str, list[float]]:
    return job()


# --------------------------------------------------------------------------- evaluation


def _evaluate(
    model: Any,
    data: Trajectories,
    train_runs: np.ndarray,
    alphas: np.ndarray,
    t_init: np.ndarray,
    config: NRPPipelineConfig,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from ..evaluate import nrp as ev

    z = ev.encode_trajectories(model, data)
    v = ev.potential_values(model, z, data.conditions)
    held = ~train_runs
    metrics: dict[str, Any] = {
        "descent_fraction": ev.descent_fraction(model, z, data.conditions),
        "monotone_fraction": {
            "all": ev.monotone_fraction(v, config.monotone_tol),
            "train": ev.monotone_fraction(v[train_runs], config.monotone_tol),
        },
    }
    if held.any():
        metrics["monotone_fraction"]["heldout"] = ev.monotone_fraction(v[held], config.monotone_tol)
    rollout: dict[str, Any] = {}
    for split, mask in (("train", train_runs), ("heldout", held)):
        if not mask.any():
            continue
        sub = data.subset(mask)
        rollout[split] = {
            f"k{k}": ev.rollout_errors(model, sub, k, z=z[mask])
            for k in config.rollout_steps
            if k < data.n_times
        }
    metrics["rollout"] = rollout
    skipped = [k for k in config.rollout_steps if k >= data.n_times]
    if skipped:
        metrics["rollout_skipped"] = {"k": skipped, "reason": f"runs have {data.n_times} snapshots"}
    metrics["latent"] = ev.latent_smoothness(z, alphas)
    grad = ev.gradient_at_times(model, z, data, t_init)
    ok = np.isfinite(grad).all(axis=1)
    if len(np.unique(alphas[ok])) >= 2:
        metrics["grad_at_t_init"] = {
            "continuity": ev.continuity_score(alphas, grad),
            "runs_with_t_init": int(ok.sum()),
        }
    arrays = {"z": z, "v": v, "grad": grad}
    return metrics, arrays


# --------------------------------------------------------------------------- the pipeline


def run(
    config: NRPPipelineConfig,
    run_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    device: str = "cpu",
    progress: bool | None = None,
) -> Path:
    """Run (or resume) the whole NRP pipeline into ``run_dir``; returns ``run_dir``.

    Parameters
    ----------
    workers, scheduler
        Parallelism of the simulation and the diagrams (:mod:`topophys.parallel`); with
        ``workers >= 2`` the two models also train in parallel processes.
    device
        torch device of the simulation (training uses each model's ``accelerator``).
    """
    import matplotlib

    matplotlib.use("Agg")
    run_dir = open_run_dir(run_dir, config, identity=_without_hardware)
    timer = StageTimer()
    lap = timer.lap

    ds = _fields(config, run_dir, workers, scheduler, device, progress)
    first = config.first_snapshot
    phi_all = np.asarray(ds["phi"].values, dtype=np.float32)  # (R, T, S, S)
    if phi_all.shape[1] - first < 3:
        raise ValueError(
            f"first_snapshot={first} leaves {phi_all.shape[1] - first} snapshots per run; "
            "at least 3 are needed"
        )
    alphas = ds["alpha"].values.astype(np.float64)
    t_phys = ds["t"].values.astype(np.float64)[first:]
    h = ds["h"].values.astype(np.float64)[first:]
    t_init_phys = ds["T_init"].values.astype(np.float64)
    lap("simulate")

    diagrams_all = _diagrams(
        config.fields or run_dir / "fields.zarr",
        config.features,
        run_dir / "diagrams.zarr",
        workers,
        scheduler,
        progress,
    )
    lap("diagrams")

    phi = phi_all[:, first:]
    n_runs, n_times = phi.shape[:2]
    index = np.arange(phi_all.shape[0] * phi_all.shape[1]).reshape(phi_all.shape[:2])
    diagrams = diagrams_all[index[:, first:].ravel()]
    unit = config.time_unit
    t = np.tile(t_phys / unit, (n_runs, 1))
    conditions = np.stack(
        [np.repeat(alphas[:, None], n_times, axis=1), np.tile(h, (n_runs, 1))], axis=2
    )
    held_alpha = np.asarray(config.holdout_alphas, dtype=np.float64)
    train_runs = ~np.isclose(alphas[:, None], held_alpha[None, :]).any(axis=1)
    if not train_runs.any():
        raise ValueError("holdout_alphas hold out every run; nothing is left to train on")
    window = image_window(diagrams_all[index[train_runs][:, first:].ravel()], config.features)
    pd_x = _vectorize(diagrams, config.features, window).reshape(n_runs, n_times, -1)
    pd_scale = float(pd_x[train_runs].std()) or 1.0
    image_x = block_average(phi, config.image_size)
    datasets = {
        "pd": Trajectories(pd_x / pd_scale, t, conditions, ("alpha", "h")),
        "image": Trajectories(image_x, t, conditions, ("alpha", "h")),
    }
    lap("vectorize")

    kinds = {"pd": "mlp", "image": "conv"}
    model_configs = {"pd": config.pd_model, "image": config.image_model}
    held = ~train_runs
    jobs = [
        _TrainJob(
            kinds[name],
            model_configs[name],
            data.subset(train_runs),
            data.subset(held) if held.any() else None,
            run_dir / f"{name}_model",
            progress if workers < 2 else False,
        )
        for name, data in datasets.items()
    ]
    if workers >= 2 and scheduler is None:
        from ..parallel import pmap

        histories_list = pmap(_call, jobs, workers=2, desc="training", progress=progress)
    else:
        histories_list = [job() for job in jobs]
    histories = dict(zip(datasets, histories_list, strict=True))
    lap("train")

    import torch

    from ..training.nrp import load_model

    threads = torch.get_num_threads()
    # Training is over: this process is alone, so evaluation may use every worker's core.
    torch.set_num_threads(max(threads, workers))
    metrics: dict[str, Any] = {}
    arrays: dict[str, dict[str, Any]] = {}
    models = {}
    for name, data in datasets.items():
        model = load_model(
            kinds[name],
            data.shape,
            model_configs[name],
            data.conditions.shape[2],
            run_dir / f"{name}_model" / "model.pt",
        )
        model.eval()
        models[name] = model
        metrics[name], arrays[name] = _evaluate(
            model, data, train_runs, alphas, t_init_phys / unit, config
        )
        hist = histories[name]
        metrics[name]["final_losses"] = {k: v[-1] for k, v in hist.items() if k != "epoch" and v}
    lap("evaluate")
    torch.set_num_threads(threads)

    from .nrp_report import write_report

    summary = {
        "runs": int(n_runs),
        "train_runs": int(train_runs.sum()),
        "heldout_runs": int(held.sum()),
        "heldout_alphas": list(config.holdout_alphas),
        "snapshots_per_run": int(n_times),
        "grid": int(phi.shape[-1]),
        "image_size": config.image_size,
        "pd_features": int(pd_x.shape[-1]),
        "pd_window": window,
        "pd_scale": pd_scale,
        "first_snapshot": first,
        "time_unit": unit,
    }
    write_report(
        run_dir,
        ds=ds,
        datasets=datasets,
        models=models,
        arrays=arrays,
        histories=histories,
        metrics=metrics,
        summary=summary,
        alphas=alphas,
        train_runs=train_runs,
        config=config,
    )
    lap("report")
    out = {"data": summary, **metrics, "timings_s": timer.timings_s}
    write_metrics(run_dir, out)
    return run_dir


def _without_hardware(config: NRPPipelineConfig) -> NRPPipelineConfig:
    """The config with the training hardware reset: a run resumes on another accelerator."""
    reset = {"accelerator": "cpu", "devices": 1, "strategy": "auto"}
    return config.replace(
        pd_model={**config.pd_model.to_dict(), **reset},
        image_model={**config.image_model.to_dict(), **reset},
    )
