"""The flagship pipeline: TDGL fields → persistence diagrams → Neural Reduced Potentials → report.

``run(config, run_dir)`` does, resuming whatever a previous call on the same directory finished:

1. simulate the TDGL sweep (or reuse a field store named in the config): ``fields.zarr``;
2. cubical persistence (periodic, sublevel, H0 and H1) of every snapshot: ``diagrams.zarr``;
3. vectorize each diagram as persistence images of H0 and H1, concatenated (the PD model's
   input), and block-average the fields to ``image_size`` (the image model's input);
4. train the PD model (MLP autoencoder, Mototake 2025) and the image model (convolutional
   autoencoder, Tsuji et al. 2023) on the same training runs. Runs are split three ways: the
   anisotropies in ``holdout_alphas`` are never seen (test), runs of the other anisotropies
   with a seed in ``validation_seeds`` select the epoch (early stopping), the rest train;
5. simulate a few *fresh* runs at anisotropies and seeds the sweep never used
   (``fresh_fields.zarr``) and predict them too;
6. evaluate both models (see :mod:`topophys.evaluate.nrp`): k-step predictions, the
   potential's monotonicity (the papers' reading and the gauge-free ones), its rank
   correlation with the true TDGL energy, latent smoothness in α, ∂V/∂z at T_init; write
   ``metrics.json``, the figures as PNG and a self-contained ``report.html``.

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
from ..simulate.tdgl import ALPHA_RANGE, TDGLConfig
from ..training.nrp import NRPConfig, Trajectories
from ._run_dir import StageTimer, machine_info, open_run_dir, write_metrics

__all__ = [
    "DEMO_CONFIG",
    "LARGE_CONFIG",
    "FreshRuns",
    "NRPInputs",
    "NRPPipelineConfig",
    "PDFeatures",
    "RunData",
    "block_average",
    "evaluate_model",
    "image_window",
    "prepare_inputs",
    "run",
]

_MODELS: dict[str, Literal["mlp", "conv"]] = {"pd": "mlp", "image": "conv"}
"""The two models of the pipeline and the autoencoder kind of each."""


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
class FreshRuns(Config):
    """Runs simulated after training, at anisotropies and seeds the sweep never used.

    They test the models on data that played no part in any choice: not in training, not in
    the epoch selection, not in the fitted persistence-image window or feature scale.

    Parameters
    ----------
    alphas
        Their anisotropies (empty: no fresh runs).
    seeds
        Their seeds; each α is run with each seed. Must differ from the sweep's seeds.
    """

    alphas: tuple[float, ...] = (1.2, 2.2, 3.7)
    seeds: tuple[int, ...] = (100,)

    def __post_init__(self) -> None:
        for i, a in enumerate(self.alphas):
            _validate.in_range(f"fresh.alphas[{i}]", a, *ALPHA_RANGE)
        for i, s in enumerate(self.seeds):
            _validate.nonnegative_int(f"fresh.seeds[{i}]", s)
        if self.alphas and not self.seeds:
            raise ValueError("fresh.seeds must name at least one seed when fresh.alphas is set")


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
        Anisotropies whose runs are held out of training and of every choice (they must exist
        in the sweep); generalization to unseen α is measured on them.
    validation_seeds
        Runs of the other anisotropies with these seeds are kept out of training and give
        the validation loss that selects the epoch (``early_stopping_patience`` of the models).
    fresh
        Freshly simulated test runs (see :class:`FreshRuns`).
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
        Tolerance of the monotone fractions (share of each run's range).
    """

    simulation: TDGLSweepConfig = field(default_factory=TDGLSweepConfig)
    fields: str | None = None
    holdout_alphas: tuple[float, ...] = ()
    validation_seeds: tuple[int, ...] = ()
    fresh: FreshRuns = field(default_factory=lambda: FreshRuns(alphas=()))
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
        for name in ("pd_model", "image_model"):
            model = getattr(self, name)
            if model.devices > 1:
                raise ValueError(
                    f"{name}.devices={model.devices}: the pipeline trains each model on one "
                    "device (multi-device DDP relaunches the whole command per rank); call "
                    "topophys.training.nrp.fit_nrp from a script for DDP"
                )
            if model.early_stopping_patience and not self.validation_seeds:
                raise ValueError(
                    f"{name}.early_stopping_patience needs validation runs: set "
                    "validation_seeds (never the held-out anisotropies, which test the model)"
                )
        if self.fields is None:
            self._check_against_sweep()

    def _check_against_sweep(self) -> None:
        sim = self.simulation
        if sim.tdgl.size % self.image_size:
            raise ValueError(
                f"image_size={self.image_size} must divide the simulated grid size={sim.tdgl.size}"
            )
        missing = [a for a in self.holdout_alphas if not np.isclose(a, sim.alphas).any()]
        if missing:
            raise ValueError(
                f"holdout_alphas {missing} are not among the sweep's alphas {list(sim.alphas)}"
            )
        unknown = sorted(set(self.validation_seeds) - set(sim.seeds))
        if unknown:
            raise ValueError(
                f"validation_seeds {unknown} are not among the sweep's seeds {list(sim.seeds)}"
            )
        if set(self.validation_seeds) >= set(sim.seeds):
            raise ValueError("validation_seeds take every seed: no run is left to train on")
        reused = sorted(set(self.fresh.seeds) & set(sim.seeds)) if self.fresh.alphas else []
        if reused:
            raise ValueError(
                f"fresh.seeds {reused} are seeds of the sweep; fresh runs need new seeds"
            )


_DEMO_ALPHAS = tuple(float(a) for a in np.round(np.linspace(1.0, 4.0, 13), 4))

# The choices the measured study in docs/nrp.md supports (benchmarks/nrp_variants.py): λ = 1
# and a 4-D latent space, early stopping on validation seeds; the papers' λ = 0.1 and 2-D
# latent are one override away.
_DEMO_MODEL = NRPConfig(
    latent_dim=4,
    lambda_v=1.0,
    epochs=600,
    early_stopping_patience=100,
    batch_size=128,
    lr=3e-3,
    hidden=(256, 64),
)

DEMO_CONFIG = NRPPipelineConfig(
    # The first snapshot after t = 0 at 0.25 (not 1) so T_init, as early as 0.56 at α = 1,
    # falls inside every run's snapshot range.
    simulation=TDGLSweepConfig(
        tdgl=TDGLConfig(t_first_snapshot=0.25),
        alphas=_DEMO_ALPHAS,
        seeds=(0, 1, 2, 3),
        batch_size=4,
    ),
    holdout_alphas=(1.75, 2.5, 3.25),
    validation_seeds=(3,),
    fresh=FreshRuns(alphas=(1.2, 2.2, 3.7), seeds=(100,)),
    pd_model=_DEMO_MODEL,
    image_size=64,
    # The same latent space, loss and early stopping; the epochs give it about the PD model's
    # training time on one CPU core (each trains in its own process).
    image_model=_DEMO_MODEL.replace(
        epochs=15, batch_size=16, lr=2e-3, conv_channels=(4, 8, 16, 32), conv_hidden=64
    ),
)
"""What ``make demo`` runs: 13 α × 4 seeds on 128², 3 α held out, seed 3 validates, 3 fresh
runs; minutes on 2 CPU cores."""

LARGE_CONFIG = NRPPipelineConfig(
    simulation=TDGLSweepConfig(
        tdgl=TDGLConfig(size=256, n_snapshots=96, t_first_snapshot=0.25),
        alphas=tuple(float(a) for a in np.round(np.linspace(1.0, 4.0, 31), 4)),
        seeds=(0, 1, 2, 3, 4, 5),
        batch_size=16,
    ),
    holdout_alphas=(1.5, 2.5, 3.5),
    validation_seeds=(5,),
    fresh=FreshRuns(alphas=(1.2, 2.2, 3.7), seeds=(100, 101)),
    image_size=128,
    pd_model=_DEMO_MODEL.replace(
        epochs=3000, early_stopping_patience=300, batch_size=256, lr=1e-3, accelerator="auto"
    ),
    image_model=_DEMO_MODEL.replace(
        epochs=1000,
        early_stopping_patience=100,
        batch_size=64,
        lr=5e-4,
        conv_channels=(32, 64, 128, 128),
        conv_hidden=128,
        accelerator="auto",
    ),
)
"""A GPU-sized setting (``--scale large``): 31 α × 6 seeds on 256², 96 snapshots per run."""


# --------------------------------------------------------------------------- data preparation


def _sweep(
    sweep: TDGLSweepConfig,
    path: Path,
    workers: int,
    scheduler: Any,
    device: str,
    progress: bool | None,
) -> Any:
    from ..simulate.sweep import run_tdgl_sweep

    store = run_tdgl_sweep(
        sweep, path, workers=workers, scheduler=scheduler, device=device, progress=progress
    )
    return store.dataset()


def _fields(
    config: NRPPipelineConfig,
    run_dir: Path,
    workers: int,
    scheduler: Any,
    device: str,
    progress: bool | None,
) -> Any:
    from ..data.fields import open_fields

    if config.fields is None:
        path = run_dir / "fields.zarr"
        return _sweep(config.simulation, path, workers, scheduler, device, progress)
    ds = open_fields(config.fields)
    missing = [a for a in config.holdout_alphas if not np.isclose(a, ds["alpha"].values).any()]
    if missing:
        raise ValueError(f"holdout_alphas {missing} are not among the store's alphas")
    unknown = sorted(set(config.validation_seeds) - {int(s) for s in ds["seed"].values})
    if unknown:
        raise ValueError(f"validation_seeds {unknown} are not among the store's seeds")
    return ds


def _tdgl_config(ds: Any) -> TDGLConfig:
    """The TDGL configuration that made a field store (recorded in its attributes)."""
    text = ds.attrs.get("config")
    if not text:
        raise ValueError(
            "the field store records no configuration: the TDGL energy and the fresh runs "
            "need the one that made it"
        )
    return TDGLSweepConfig.from_yaml(text).tdgl


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


@dataclass(frozen=True, eq=False)
class RunData:
    """The snapshots of a set of runs, ready for both models.

    Attributes
    ----------
    phi : ndarray, shape (R, T, S, S)
        The fields from ``first_snapshot`` on.
    alphas, seeds, t_init : ndarray, shape (R,)
        Anisotropy, seed and T_init (in ``time_unit``) of each run.
    h : ndarray, shape (T,)
        The external field at each snapshot.
    diagrams : Diagrams
        The persistence diagrams of the snapshots, ordered (run, time).
    datasets : dict of str to Trajectories
        ``"pd"``: persistence images divided by ``pd_scale``; ``"image"``: the fields
        block-averaged to ``image_size``; the same times and conditions (α, h).
    pd_scale : float
        The standard deviation of the training runs' PD vectors.
    """

    phi: np.ndarray
    alphas: np.ndarray
    seeds: np.ndarray
    t_init: np.ndarray
    h: np.ndarray
    diagrams: Any
    datasets: dict[str, Trajectories]
    pd_scale: float


def _runs(
    ds: Any,
    diagrams_all: Any,
    config: NRPPipelineConfig,
    window: dict[str, Any],
    pd_scale: float | np.ndarray,
) -> RunData:
    """Drop the snapshots before ``first_snapshot`` and build both models' inputs.

    ``pd_scale`` divides the PD vectors: a number, or a boolean mask of the runs whose
    standard deviation sets it (the training runs).
    """
    first = config.first_snapshot
    phi_all = np.asarray(ds["phi"].values, dtype=np.float32)  # (R, T, S, S)
    if phi_all.shape[1] - first < 3:
        raise ValueError(
            f"first_snapshot={first} leaves {phi_all.shape[1] - first} snapshots per run; "
            "at least 3 are needed"
        )
    phi = phi_all[:, first:]
    n_runs, n_times = phi.shape[:2]
    alphas = ds["alpha"].values.astype(np.float64)
    h = ds["h"].values.astype(np.float64)[first:]
    index = np.arange(phi_all.shape[0] * phi_all.shape[1]).reshape(phi_all.shape[:2])
    diagrams = diagrams_all[index[:, first:].ravel()]
    t = np.tile(ds["t"].values.astype(np.float64)[first:] / config.time_unit, (n_runs, 1))
    conditions = np.stack(
        [np.repeat(alphas[:, None], n_times, axis=1), np.tile(h, (n_runs, 1))], axis=2
    )
    pd_x = _vectorize(diagrams, config.features, window).reshape(n_runs, n_times, -1)
    if isinstance(pd_scale, np.ndarray):
        pd_scale = float(pd_x[pd_scale].std()) or 1.0
    names = ("alpha", "h")
    return RunData(
        phi=phi,
        alphas=alphas,
        seeds=ds["seed"].values.astype(np.int64),
        t_init=ds["T_init"].values.astype(np.float64) / config.time_unit,
        h=h,
        diagrams=diagrams,
        datasets={
            "pd": Trajectories(pd_x / pd_scale, t, conditions, names),
            "image": Trajectories(block_average(phi, config.image_size), t, conditions, names),
        },
        pd_scale=float(pd_scale),
    )


def _splits(
    alphas: np.ndarray, seeds: np.ndarray, config: NRPPipelineConfig
) -> dict[str, np.ndarray]:
    """Boolean run masks ``train``, ``validation`` and ``heldout`` (disjoint)."""
    held_alpha = np.asarray(config.holdout_alphas, dtype=np.float64)
    heldout = np.isclose(alphas[:, None], held_alpha[None, :]).any(axis=1)
    validation = ~heldout & np.isin(seeds, config.validation_seeds)
    train = ~heldout & ~validation
    if not train.any():
        raise ValueError(
            "holdout_alphas and validation_seeds hold out every run: nothing is left to train on"
        )
    return {"train": train, "validation": validation, "heldout": heldout}


@dataclass(frozen=True, eq=False)
class NRPInputs:
    """Everything the models of a pipeline run are trained and scored on.

    Attributes
    ----------
    config
        The pipeline configuration.
    ds
        The sweep's field store as an ``xarray.Dataset``.
    tdgl
        The TDGL configuration that made it (for the true energy and the fresh runs).
    runs
        The sweep's runs: fields, α, seeds, T_init and both models' inputs.
    splits
        Boolean run masks ``train``, ``validation``, ``heldout`` (disjoint).
    fresh
        The fresh runs, or None when ``config.fresh`` names none.
    window
        The persistence-image window fitted to the training runs.
    energy : ndarray, shape (R, T)
        The TDGL energy H(φ_t, h_t) of every snapshot of ``runs``.
    """

    config: NRPPipelineConfig
    ds: Any
    tdgl: TDGLConfig
    runs: RunData
    splits: dict[str, np.ndarray]
    fresh: RunData | None
    window: dict[str, Any]
    energy: np.ndarray


def prepare_inputs(
    config: NRPPipelineConfig,
    run_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    device: str = "cpu",
    progress: bool | None = None,
    timer: StageTimer | None = None,
) -> NRPInputs:
    """Simulate (or reuse), compute diagrams, vectorize and split: the models' inputs.

    Resumable like :func:`run`, whose first stages it is; on a finished run directory it
    only reads. Use it to train and score a model of your own on a pipeline's data
    (:func:`evaluate_model`).

    Parameters
    ----------
    run_dir
        Where ``fields.zarr``, ``diagrams.zarr`` and the fresh runs' stores live.
    timer
        Receives the laps ``simulate``, ``diagrams``, ``vectorize`` and ``fresh``.
    """
    lap = timer.lap if timer is not None else (lambda name: None)
    run_dir = Path(run_dir)
    ds = _fields(config, run_dir, workers, scheduler, device, progress)
    tdgl = _tdgl_config(ds)
    lap("simulate")
    source = config.fields or run_dir / "fields.zarr"
    diagrams_all = _diagrams(
        source, config.features, run_dir / "diagrams.zarr", workers, scheduler, progress
    )
    lap("diagrams")
    splits = _splits(
        ds["alpha"].values.astype(np.float64), ds["seed"].values.astype(np.int64), config
    )
    first = config.first_snapshot
    index = np.arange(ds["phi"].shape[0] * ds["phi"].shape[1]).reshape(ds["phi"].shape[:2])
    window = image_window(diagrams_all[index[splits["train"]][:, first:].ravel()], config.features)
    runs = _runs(ds, diagrams_all, config, window, splits["train"])
    energy = _energies(runs, tdgl)
    lap("vectorize")
    fresh = _fresh_runs(
        config, tdgl, run_dir, window, runs.pd_scale, workers, scheduler, device, progress
    )
    lap("fresh")
    return NRPInputs(config, ds, tdgl, runs, splits, fresh, window, energy)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class _TrainJob:
    kind: Literal["mlp", "conv"]
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


def _train(
    inputs: NRPInputs, run_dir: Path, workers: int, scheduler: Any, progress: bool | None
) -> dict[str, dict[str, list[float]]]:
    """Fit both models (in two processes with ``workers >= 2``); finished fits are reused."""
    config, runs, splits = inputs.config, inputs.runs, inputs.splits
    val = splits["validation"]
    jobs = [
        _TrainJob(
            _MODELS[name],
            getattr(config, f"{name}_model"),
            data.subset(splits["train"]),
            data.subset(val) if val.any() else None,
            run_dir / f"{name}_model",
            progress if workers < 2 else False,
        )
        for name, data in runs.datasets.items()
    ]
    if workers >= 2 and scheduler is None:
        from ..parallel import pmap

        histories = pmap(_call, jobs, workers=2, desc="training", progress=progress)
    else:
        histories = [job() for job in jobs]
    return dict(zip(runs.datasets, histories, strict=True))


def _load_models(config: NRPPipelineConfig, runs: RunData, run_dir: Path) -> dict[str, Any]:
    from ..training.nrp import load_model

    models = {}
    for name, data in runs.datasets.items():
        model = load_model(
            _MODELS[name],
            data.shape,
            getattr(config, f"{name}_model"),
            data.conditions.shape[2],
            run_dir / f"{name}_model" / "model.pt",
        )
        models[name] = model.eval()
    return models


# --------------------------------------------------------------------------- evaluation


def _energies(runs: RunData, tdgl: TDGLConfig) -> np.ndarray:
    """The TDGL energy H(φ_t, h_t) of every snapshot of every run: ``(R, T)``."""
    from ..simulate.tdgl import tdgl_energy

    return tdgl_energy(tdgl, runs.phi, runs.alphas, runs.seeds, runs.h)


def _anchored_energies(runs: RunData, tdgl: TDGLConfig, energy: np.ndarray, ref: Any) -> np.ndarray:
    """``H(φ_t, h_t) − H(φ̄, h_t)`` with φ̄ = ``runs.phi[ref]`` in each run's own energy.

    H is affine in h with slope −dx²Σφ, so H(φ̄, h_t) = H(φ̄, 0) − h_t·dx²Σφ̄.
    """
    from ..simulate.tdgl import tdgl_energy

    ref_phi = np.broadcast_to(runs.phi[ref], runs.phi.shape[:1] + runs.phi.shape[2:])
    at_zero = tdgl_energy(tdgl, np.ascontiguousarray(ref_phi), runs.alphas, runs.seeds, 0.0)
    moment = float(runs.phi[ref].astype(np.float64).sum()) * tdgl.dx**2
    return energy - (at_zero[:, None] - runs.h[None, :] * moment)


def _by_split(fn: Any, splits: dict[str, np.ndarray]) -> dict[str, Any]:
    """``fn(mask)`` for every run (``all``) and for each non-empty split."""
    every = {"all": np.ones_like(splits["train"])}
    return {name: fn(mask) for name, mask in {**every, **splits}.items() if mask.any()}


def _energy_metrics(
    model: Any,
    data: Trajectories,
    z: np.ndarray,
    runs: RunData,
    splits: dict[str, np.ndarray],
    tdgl: TDGLConfig,
    energy: np.ndarray,
    tol: float,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The potential against itself and against the TDGL energy, gauge-free where it can be."""
    from ..evaluate import nrp as ev

    ref = ev.reference_snapshot(z, splits["train"])
    v = ev.potential_values(model, z, data.conditions)
    v_anchored = ev.anchored_potential(model, z, data.conditions, z[ref])
    h_anchored = _anchored_energies(runs, tdgl, energy, ref)

    def median_correlation(a: np.ndarray, b: np.ndarray) -> Any:
        return lambda m: float(np.median(ev.rank_correlation(a[m], b[m])))

    metrics = {
        "descent_fraction": ev.descent_fraction(model, z, data.conditions),
        "monotone_fraction": _by_split(lambda m: ev.monotone_fraction(v[m], tol), splits),
        "anchored_monotone_fraction": _by_split(
            lambda m: ev.monotone_fraction(v_anchored[m], tol), splits
        ),
        # The same reading of the true energy, anchored at the same snapshot: what a V that
        # reproduced H would score.
        "anchored_energy_monotone_fraction": _by_split(
            lambda m: ev.monotone_fraction(h_anchored[m], tol), splits
        ),
        "energy_rank_correlation": {
            "raw": _by_split(median_correlation(v, energy), splits),
            "anchored": _by_split(median_correlation(v_anchored, h_anchored), splits),
        },
        "reference_snapshot": {"run": ref[0], "time_index": ref[1]},
    }
    return metrics, {"v": v, "v_anchored": v_anchored, "h_anchored": h_anchored}


def _rollouts(
    model: Any, data: Trajectories, z: np.ndarray, masks: dict[str, np.ndarray], ks: Any
) -> dict[str, Any]:
    from ..evaluate import nrp as ev

    out: dict[str, Any] = {}
    for split, mask in masks.items():
        if mask.any():
            sub = data.subset(mask)
            out[split] = {
                f"k{k}": ev.rollout_errors(model, sub, k, z=z[mask]) for k in ks if k < data.n_times
            }
    return out


def evaluate_model(model: Any, name: str, inputs: NRPInputs) -> tuple[dict[str, Any], dict]:
    """Score one trained model on a pipeline's inputs, as ``run`` does.

    Parameters
    ----------
    model
        A :class:`~topophys.models.nrp.ReducedPotentialModel` (in eval mode).
    name
        ``"pd"`` or ``"image"``: which of the inputs it encodes.

    Returns
    -------
    metrics : dict
        The entries of ``metrics.json`` for this model (see ``docs/nrp.md``).
    arrays : dict
        ``z``, ``v``, ``v_anchored``, ``h_anchored`` ``(R, T[, L])``, ``grad`` ``(R, L)`` and
        ``errors_by_start``: the held-out runs' largest-k errors per start snapshot
        (:func:`~topophys.evaluate.nrp.rollout_errors_by_start`), or None.
    """
    from ..evaluate import nrp as ev

    name = _validate.choice("name", name, tuple(_MODELS))
    config, runs, splits = inputs.config, inputs.runs, inputs.splits
    data = runs.datasets[name]
    z = ev.encode_trajectories(model, data)
    metrics, arrays = _energy_metrics(
        model, data, z, runs, splits, inputs.tdgl, inputs.energy, config.monotone_tol
    )
    masks = {"train": splits["train"], "heldout": splits["heldout"]}
    metrics["rollout"] = _rollouts(model, data, z, masks, config.rollout_steps)
    if inputs.fresh is not None:
        fresh_data = inputs.fresh.datasets[name]
        z_fresh = ev.encode_trajectories(model, fresh_data)
        all_fresh = {"fresh": np.ones(fresh_data.n_runs, bool)}
        metrics["rollout"].update(
            _rollouts(model, fresh_data, z_fresh, all_fresh, config.rollout_steps)
        )
    skipped = [k for k in config.rollout_steps if k >= data.n_times]
    if skipped:
        metrics["rollout_skipped"] = {"k": skipped, "reason": f"runs have {data.n_times} snapshots"}
    metrics["latent"] = ev.latent_smoothness(z, runs.alphas)
    k_max = max((k for k in config.rollout_steps if k < data.n_times), default=None)
    by_start = None
    if k_max is not None and splits["heldout"].any():
        held = splits["heldout"]
        by_start = ev.rollout_errors_by_start(model, data.subset(held), k_max, z=z[held])
    grad = ev.gradient_at_times(model, z, data, runs.t_init)
    ok = np.isfinite(grad).all(axis=1)
    if len(np.unique(runs.alphas[ok])) >= 2:
        metrics["grad_at_t_init"] = {
            "continuity": ev.continuity_score(runs.alphas, grad),
            "runs_with_t_init": int(ok.sum()),
        }
    return metrics, {**arrays, "z": z, "grad": grad, "errors_by_start": by_start}


def _fresh_runs(
    config: NRPPipelineConfig,
    tdgl: TDGLConfig,
    run_dir: Path,
    window: dict[str, Any],
    pd_scale: float,
    workers: int,
    scheduler: Any,
    device: str,
    progress: bool | None,
) -> RunData | None:
    """Simulate the fresh runs (resumable stores in ``run_dir``) and build their inputs."""
    if not config.fresh.alphas:
        return None
    sweep = TDGLSweepConfig(
        tdgl=tdgl, alphas=config.fresh.alphas, seeds=config.fresh.seeds, batch_size=4
    )
    path = run_dir / "fresh_fields.zarr"
    ds = _sweep(sweep, path, workers, scheduler, device, progress)
    diagrams = _diagrams(
        path, config.features, run_dir / "fresh_diagrams.zarr", workers, scheduler, progress
    )
    return _runs(ds, diagrams, config, window, pd_scale)


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
    timer = StageTimer(run_dir / "timings.json")
    machine = {"at_start": machine_info()}

    inputs = prepare_inputs(
        config,
        run_dir,
        workers=workers,
        scheduler=scheduler,
        device=device,
        progress=progress,
        timer=timer,
    )
    histories = _train(inputs, run_dir, workers, scheduler, progress)
    timer.lap("train")
    models = _load_models(config, inputs.runs, run_dir)
    metrics, arrays = _evaluate_models(inputs, models, histories, run_dir, workers)
    timer.lap("evaluate")

    summary = _summary(inputs)
    from .nrp_report import write_report

    write_report(
        run_dir,
        ds=inputs.ds,
        runs=inputs.runs,
        models=models,
        arrays=arrays,
        histories=histories,
        metrics=metrics,
        summary=summary,
        splits=inputs.splits,
        config=config,
    )
    timer.lap("report")
    machine["load_average_at_end"] = machine_info()["load_average"]
    write_metrics(run_dir, {"data": summary, **metrics, **timer.record(), "machine": machine})
    return run_dir


def _evaluate_models(
    inputs: NRPInputs,
    models: dict[str, Any],
    histories: dict[str, dict[str, list[float]]],
    run_dir: Path,
    workers: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    import torch

    from ..training.nrp import fit_record

    threads = torch.get_num_threads()
    # Training is over: this process is alone, so evaluation may use every worker's core.
    torch.set_num_threads(max(threads, workers))
    metrics: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    try:
        for name, model in models.items():
            metrics[name], arrays[name] = evaluate_model(model, name, inputs)
            hist = histories[name]
            metrics[name]["final_losses"] = {
                k: v[-1] for k, v in hist.items() if k != "epoch" and v
            }
            record = fit_record(run_dir / f"{name}_model") or {}
            metrics[name]["fit"] = {
                k: record.get(k) for k in ("epochs_run", "selected_epoch", "stopped_early")
            }
    finally:
        torch.set_num_threads(threads)
    return metrics, arrays


def _summary(inputs: NRPInputs) -> dict[str, Any]:
    from ..evaluate.nrp import monotone_fraction

    config, runs, splits, fresh = inputs.config, inputs.runs, inputs.splits, inputs.fresh
    pd = runs.datasets["pd"]
    return {
        "runs": int(pd.n_runs),
        "train_runs": int(splits["train"].sum()),
        "validation_runs": int(splits["validation"].sum()),
        "heldout_runs": int(splits["heldout"].sum()),
        "heldout_alphas": list(config.holdout_alphas),
        "fresh_runs": 0 if fresh is None else int(fresh.alphas.size),
        "fresh_alphas": list(config.fresh.alphas) if fresh is not None else [],
        "snapshots_per_run": int(pd.n_times),
        "grid": int(runs.phi.shape[-1]),
        "image_size": config.image_size,
        "pd_features": int(pd.shape[0]),
        "pd_window": inputs.window,
        "pd_scale": runs.pd_scale,
        "first_snapshot": config.first_snapshot,
        "time_unit": config.time_unit,
        # The true energy's own behaviour: what a faithful V can be expected to show.
        "energy_monotone_fraction": _by_split(
            lambda m: monotone_fraction(inputs.energy[m], config.monotone_tol), splits
        ),
    }


def _without_hardware(config: NRPPipelineConfig) -> NRPPipelineConfig:
    """The config with the training hardware reset: a run resumes on another accelerator."""
    reset = {"accelerator": "cpu", "devices": 1, "strategy": "auto"}
    return config.replace(
        pd_model={**config.pd_model.to_dict(), **reset},
        image_model={**config.image_model.to_dict(), **reset},
    )
