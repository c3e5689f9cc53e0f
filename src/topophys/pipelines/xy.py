"""Spin fields from defect maps: XY Monte Carlo → conditional WGAN-GP → evaluation → report.

``run(config, run_dir)`` does, resuming whatever a previous call on the same directory finished
(each stage leaves its result in ``run_dir`` and is skipped when it is there):

1. ``simulate``: the charge-constrained Monte Carlo datasets (``mc.zarr``) for every temperature
   and pair distance (or reuse a store named in the config). The last ``reference_samples``
   fields of each condition (the last chains: fields are stored chain by chain) are held out as
   the simulated reference; the GAN trains on the first ``train_samples`` (default: all the
   others), and the fields between, when there are as many as the reference, are the
   independent Monte Carlo half;
2. ``train``: the cWGAN (``gan/``: ``history.csv``, checkpoints, ``generator.pt``);
3. ``generate``: ``eval_samples`` fields per condition (``generated.npz``), timed;
4. ``evaluate``: summaries (:func:`topophys.evaluate.xy.summarize`) of the reference, the
   generated fields, the non-learned baseline (analytic pair + harmonic spin waves) and an
   independent half of the Monte Carlo data (the noise ceiling of every score at this sample
   size), and their scores against the reference (:func:`topophys.evaluate.xy.compare`);
5. ``speed``: generated samples per second against Monte Carlo's decorrelated samples per second
   at the same L and T;
6. ``refine`` (beyond the paper; skipped when ``refine_sweeps`` is empty): the generated fields
   as proposals followed by k sweeps of the constrained Monte Carlo, beside the same k sweeps
   from the non-learned spin-wave baseline and plain Monte Carlo from the analytic defect field;
   every score and the wall time per sample (start included) against k;
7. ``transfer`` (beyond the paper; skipped when ``transfer_sizes`` is empty): the generator
   trained at L runs at larger L (it is fully convolutional), scored against Monte Carlo there
   (``mc_L<size>.zarr``), also after k constrained sweeps beside plain Monte Carlo;
8. ``report``: figures (PNG), ``report.html``, and ``metrics.json`` written atomically.

Stage results live in ``stages/<name>.json`` with the seconds they took, so a resumed run
reports the original timings.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate
from ..config import Config, atomic_write_text
from ..simulate.xy import XYConfig, lattice_distance_key, pair_displacement
from ..training.wgan import CWGANConfig
from ._run_dir import machine_info, open_run_dir

__all__ = [
    "DEMO_CONFIG",
    "LARGE_CONFIG",
    "PAPER_DISTANCES",
    "TEMPERATURES_CONFIG",
    "XYPipelineConfig",
    "run",
]

PAPER_DISTANCES = (0.0, 1.0, 1.41, 2.0, 2.24, 2.83, 3.0, 3.16, 3.61, 4.0, 4.12, 4.47, 5.0)
"""The pair distances of the paper's Fig. 5 (0: no defects)."""

_UNET_FACTOR = 16  # the U-Net halves the lattice four times


@dataclass(frozen=True)
class XYPipelineConfig(Config):
    """Everything ``topophys run xy`` does, as one YAML-round-trippable value.

    Parameters
    ----------
    simulation
        The Monte Carlo datasets (ignored when ``data`` names an existing store); must be
        constrained, and L a multiple of 16 (the U-Net).
    data
        Path of an existing spin store (``topophys simulate xy``) to reuse instead of simulating.
    reference_samples
        Fields per condition held out of training as the simulated reference (the last ones,
        i.e. the last chains).
    train_samples
        Fields per condition the GAN trains on (the first ones); ``None``: all but the
        reference. When the store holds at least ``train_samples + 2·reference_samples`` per
        condition, the independent Monte Carlo half is the ``reference_samples`` fields after
        the training ones; otherwise it is taken from the training fields (then it is not
        independent of the generator's data, only of the reference).
    gan
        The cWGAN and its training.
    eval_samples
        Generated (and baseline) fields per condition (paper: 1000).
    morphology_samples
        Fields per ensemble whose topological curves are averaged (paper: 100).
    thresholds
        Points of the Θ grid on [0, π] of the topological curves.
    correlation_distances
        Pair distances whose G(r) and topological curves are reported (paper: 0, 2, ≈4.1); they
        must be among the data's distances.
    jackknife_blocks
        Blocks of the jackknife error bars.
    topo_tol
        Tolerance of the accuracy-within-5% score (paper eq. 5: 0.05).
    refine_sweeps
        k of "generator + k constrained Monte Carlo sweeps" (ascending; empty skips the stage).
    refine_samples
        Fields per condition refined (at most ``eval_samples``).
    transfer_sizes
        Larger lattices to run the trained generator on (multiples of 16; empty skips).
    transfer_distances
        Pair distances simulated and generated at those sizes.
    transfer_samples
        Fields per condition at those sizes (Monte Carlo and generated).
    heldout_maps
        Generate (and draw the baselines) on charge maps the generator was not trained on: each
        condition's map moved by a random lattice symmetry (translation, quarter turns,
        reflection with θ → −θ; :func:`~topophys.simulate.xy.charge_map_image`) that changes
        it. The XY energy is invariant, so the Monte Carlo reference of the training map is
        the reference of its image (every score is invariant too). The defect-free map
        (d = 0) has no other image.
    seed
        Seed of generation, baseline and refinement (the simulation and the GAN have their own).
    """

    simulation: XYConfig = field(
        default_factory=lambda: XYConfig(distances=PAPER_DISTANCES, samples=1000)
    )
    data: str | None = None
    reference_samples: int = 200
    train_samples: int | None = None
    gan: CWGANConfig = field(default_factory=CWGANConfig)
    eval_samples: int = 1000
    morphology_samples: int = 100
    thresholds: int = 33
    correlation_distances: tuple[float, ...] = (0.0, 2.0, 4.12)
    jackknife_blocks: int = 10
    topo_tol: float = 0.05
    refine_sweeps: tuple[int, ...] = (0, 1, 4, 16, 64)
    refine_samples: int = 256
    transfer_sizes: tuple[int, ...] = (32,)
    transfer_distances: tuple[float, ...] = (0.0, 2.0, 4.12)
    transfer_samples: int = 256
    heldout_maps: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        v = _validate
        blocks = v.positive_int("jackknife_blocks", self.jackknife_blocks)
        if blocks < 2:
            raise ValueError(f"jackknife_blocks must be at least 2, got {blocks}")
        for name in ("reference_samples", "eval_samples", "refine_samples", "transfer_samples"):
            if v.positive_int(name, getattr(self, name)) < blocks:
                raise ValueError(
                    f"{name}={getattr(self, name)} must be at least jackknife_blocks={blocks}"
                )
        v.positive_int("morphology_samples", self.morphology_samples)
        if v.positive_int("thresholds", self.thresholds) < 2:
            raise ValueError(f"thresholds must be at least 2 grid points, got {self.thresholds}")
        v.in_range("topo_tol", self.topo_tol, 1e-9, 1.0)
        v.nonnegative_int("seed", self.seed)
        if not isinstance(self.heldout_maps, bool):
            raise TypeError(f"heldout_maps must be true or false, got {self.heldout_maps!r}")
        if self.refine_samples > self.eval_samples:
            raise ValueError(
                f"refine_samples={self.refine_samples} must not exceed eval_samples="
                f"{self.eval_samples} (the refined fields are generated ones)"
            )
        ks = [v.nonnegative_int(f"refine_sweeps[{i}]", k) for i, k in enumerate(self.refine_sweeps)]
        if any(b <= a for a, b in itertools.pairwise(ks)):
            raise ValueError(f"refine_sweeps must be ascending and distinct, got {ks}")
        for i, d in enumerate(self.correlation_distances):
            v.nonnegative(f"correlation_distances[{i}]", d)
            pair_displacement(d)
        for i, size in enumerate(self.transfer_sizes):
            size = v.positive_int(f"transfer_sizes[{i}]", size)
            if size % _UNET_FACTOR:
                raise ValueError(
                    f"transfer_sizes[{i}]={size} must be a multiple of {_UNET_FACTOR} (the U-Net)"
                )
        if self.transfer_sizes and not self.transfer_distances:
            raise ValueError("transfer_distances must name at least one distance")
        if self.data is not None:
            return
        sim = self.simulation
        if sim.L % _UNET_FACTOR:
            raise ValueError(
                f"simulation.L={sim.L} must be a multiple of {_UNET_FACTOR}: the U-Net halves the "
                "lattice four times"
            )
        if not sim.constrained:
            raise ValueError(
                "simulation.constrained must be true: the pipeline conditions on held defect maps"
            )
        if self.train_samples is not None and (
            v.positive_int("train_samples", self.train_samples) + self.reference_samples
            > sim.samples
        ):
            raise ValueError(
                f"train_samples={self.train_samples} and reference_samples="
                f"{self.reference_samples} need simulation.samples >= their sum, got "
                f"{sim.samples}"
            )
        if sim.samples - self.reference_samples < 1:
            raise ValueError(
                f"reference_samples={self.reference_samples} leaves no training fields of "
                f"simulation.samples={sim.samples} per condition"
            )
        have = {lattice_distance_key(d) for d in sim.distances}
        missing = [d for d in self.correlation_distances if lattice_distance_key(d) not in have]
        if missing:
            raise ValueError(
                f"correlation_distances {missing} are not among simulation.distances "
                f"{list(sim.distances)}"
            )
        for size in self.transfer_sizes:
            for d in self.transfer_distances:
                sim.replace(L=size, distances=[d])  # raises if the pair does not fit


DEMO_CONFIG = XYPipelineConfig(
    simulation=XYConfig(
        distances=PAPER_DISTANCES,
        samples=608,
        n_replicas=80,
        equilibration_sweeps=300,
        decorrelation_sweeps=10,
    ),
    reference_samples=256,
    train_samples=96,
    gan=CWGANConfig(
        width=0.25,
        critic_width=0.25,
        noise_channels=8,
        generator_init="kaiming",
        generator_output="defect_residual",
        noise_injection="fine",
        spin_waves=True,
        upsample="nearest",
        defect_base="blend",
        spin_wave_stiffness="scha",
        epochs=30,
        lr=2e-4,
        critic_lr=1e-3,
        energy_moments_weight=0.3,
        spectrum_moments_weight=1.0,
        moments_groups="temperature",
        physics_start_epoch=None,
        monitor_samples=128,
        accelerator="cpu",
    ),
    eval_samples=256,
    morphology_samples=32,
    thresholds=17,
    refine_sweeps=(0, 2, 8, 32),
    refine_samples=64,
    transfer_sizes=(32,),
    transfer_samples=32,
)
"""What the CPU demo runs (a few minutes on 2 cores): all 13 paper distances at T = 0.1, 96 training
fields each, a quarter-width U-Net for 30 epochs, scored on held-out maps. The generator uses
options beyond the paper (``docs/xy_pipeline.md``): it adds a learned correction that cannot change
the charge map to the defect field of the map blended between the analytic one and its quench in
the XY energy by a weight per temperature calibrated on the training fields, starting
from spin waves at T with the self-consistent harmonic stiffness, with noise at the fine scales
only and resize-convolution upsampling; the critic learns 5× faster than the generator (lr 1e-3
against 2e-4); and the generator loss matches the mean and variance, per condition, of the
energy (``energy_moments_weight``) and of the power in the three lowest shells of the spin
structure factor (``spectrum_moments_weight``, which fixed G(r) at d = 0). The paper's method
(``LARGE_CONFIG``) collapsed at this scale."""

TEMPERATURES_CONFIG = DEMO_CONFIG.replace(
    simulation=DEMO_CONFIG.simulation.replace(
        temperatures=(0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3), distances=(0.0, 2.0, 4.12)
    ),
    gan=DEMO_CONFIG.gan.replace(spin_wave_stiffness="calibrated"),
    transfer_sizes=(),
)
"""The CPU demo's method on a temperature sweep up to and across the BKT transition
(T_BKT ≈ 0.89 J; ``--scale temperatures``): 7 temperatures × the Fig. 4 distances 0, 2, ≈4.1,
one generator conditioned on T for all of them. The spin-wave stiffness is calibrated per
temperature on the training fields (``spin_wave_stiffness="calibrated"``): the self-consistent
harmonic one runs 8 % too hot at T = 1.3, above T_BKT. Scores come per temperature (against d)
and per distance along T (``across_temperatures`` in ``metrics.json``)."""

LARGE_CONFIG = XYPipelineConfig(
    simulation=XYConfig(
        distances=PAPER_DISTANCES,
        samples=20232,
        n_replicas=2000,
        equilibration_sweeps=1000,
        decorrelation_sweeps=20,
    ),
    reference_samples=1000,
    gan=CWGANConfig(accelerator="auto"),
    eval_samples=1000,
    morphology_samples=100,
    thresholds=33,
    refine_sweeps=(0, 1, 2, 4, 8, 16, 32, 64, 128),
    refine_samples=1000,
    transfer_sizes=(32, 64),
    transfer_samples=1000,
)
"""The paper's scale for a GPU (``--scale large``): 13 × 19,232 = 250,016 training fields at
T = 0.1, the full-width U-Net for 120 epochs with the physics loss from epoch 40, 1000 fields per
condition for the evaluation."""


# --------------------------------------------------------------------------- stage bookkeeping


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class _Stages:
    """Results of finished stages in ``run_dir/stages/<name>.json``, with their seconds."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "stages"
        self.timings: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        path = self.dir / f"{name}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            self.timings[name] = saved["seconds"]
            return saved["result"]
        start = time.perf_counter()
        result = _jsonable(fn())
        seconds = round(time.perf_counter() - start, 3)
        atomic_write_text(path, json.dumps({"seconds": seconds, "result": result}) + "\n")
        self.timings[name] = seconds
        return result


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, allow_pickle=False, **arrays)  # numeric arrays only, never objects
    tmp.replace(path)


def _temperature_key(T: float) -> str:
    return f"T={T:g}"


# --------------------------------------------------------------------------- data


@dataclass
class _Data:
    """The Monte Carlo data as arrays, split per condition."""

    theta: np.ndarray  # (C, S, L, L) float32
    charge: np.ndarray  # (C, S, L, L) int8
    T: np.ndarray  # (C,)
    d: np.ndarray  # (C,)
    target: np.ndarray  # (C, L, L) int8
    tau_int: np.ndarray  # (C,)
    seconds: np.ndarray  # (C,)
    acceptance: np.ndarray  # (C,)
    held: np.ndarray  # (C,)

    @property
    def L(self) -> int:
        return int(self.theta.shape[-1])


def _load_store(path: Path) -> _Data:
    from ..data.spins import open_spins

    ds = open_spins(path)
    done = ds["done"].values
    if not done.all():
        raise ValueError(
            f"{path} is incomplete ({int((~done).sum())} conditions not done); finish it with "
            "`topophys simulate xy` first"
        )
    n_cond = int(ds.sizes["condition"])
    theta = np.asarray(ds["theta"].values, dtype=np.float32)
    shape = (n_cond, theta.shape[0] // n_cond, *theta.shape[1:])
    return _Data(
        theta=theta.reshape(shape),
        charge=np.asarray(ds["charge"].values, dtype=np.int8).reshape(shape),
        T=ds["cond_T"].values.astype(np.float64),
        d=ds["cond_d"].values.astype(np.float64),
        target=ds["target"].values.astype(np.int8),
        tau_int=ds["tau_int"].values.astype(np.float64),
        seconds=ds["seconds"].values.astype(np.float64),
        acceptance=ds["acceptance"].values.astype(np.float64),
        held=ds["held"].values.astype(np.float64),
    )


def _check_data(config: XYPipelineConfig, data: _Data) -> None:
    if data.L % _UNET_FACTOR:
        raise ValueError(f"the store's L={data.L} must be a multiple of {_UNET_FACTOR}")
    per = data.theta.shape[1]
    if per - config.reference_samples < 1:
        raise ValueError(
            f"reference_samples={config.reference_samples} leaves no training fields of the "
            f"store's {per} per condition"
        )
    have = {round(d * d) for d in data.d}
    missing = [d for d in config.correlation_distances if lattice_distance_key(d) not in have]
    if missing:
        raise ValueError(f"correlation_distances {missing} are not among the store's distances")
    if np.any(data.held < 1.0):
        bad = [f"(T={t:g}, d={d:.3g})" for t, d, h in zip(data.T, data.d, data.held, strict=True)
               if h < 1.0]  # fmt: skip
        raise ValueError(
            f"the store's charge maps were not held at {', '.join(bad)}: the pipeline conditions "
            "on prescribed maps, so simulate with constrained: true"
        )


def _train_count(config: XYPipelineConfig, data: _Data) -> int:
    """Training fields per condition: ``train_samples``, or all but the reference."""
    rest = data.theta.shape[1] - config.reference_samples
    return rest if config.train_samples is None else min(config.train_samples, rest)


def _simulate(config: XYPipelineConfig, run_dir: Path, device: str, progress: bool | None) -> Path:
    from ..simulate.xy import write_dataset

    if config.data is not None:
        return Path(config.data)
    path = run_dir / "mc.zarr"
    write_dataset(config.simulation, path, device=device, progress=progress)
    return path


# --------------------------------------------------------------------------- training


def _read_history(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open() as f:
        for row in csv.DictReader(f):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return rows


_HISTORY_KEYS = (
    "gen_vorticity",
    "real_vorticity",
    "gen_magnetization",
    "real_magnetization",
    "gen_energy",
    "real_energy",
    "charge_fidelity",
    "gen_noise_sensitivity",
)


def _train(
    config: XYPipelineConfig, data: _Data, gan_dir: Path, progress: bool | None
) -> dict[str, Any]:
    from ..training.wgan import train_cwgan

    n_train = _train_count(config, data)
    theta = data.theta[:, :n_train].reshape(-1, data.L, data.L)
    charge = data.charge[:, :n_train].reshape(-1, data.L, data.L)
    temps = np.repeat(data.T, n_train)
    _, history = train_cwgan(config.gan, theta, charge, temps, gan_dir, progress=progress)
    last = history[-1]
    return {
        "epochs": len(history),
        "training_fields": int(theta.shape[0]),
        "final": {k: last.get(k) for k in _HISTORY_KEYS},
        "epoch_seconds": float(np.mean([h["seconds"] for h in history])),
    }


# --------------------------------------------------------------------------- generation


def _generate(
    generator: Any, targets: np.ndarray, temps: np.ndarray, n: int, seed: int, device: str
) -> tuple[np.ndarray, float]:
    import torch

    from ..models.unet import generate

    dev = torch.device(device)
    generator = generator.to(dev)
    start = time.perf_counter()
    theta = generate(generator, targets, temps, n, seed=seed, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - start
    generator.cpu()
    return theta, seconds


_BASELINES = ("baseline", "baseline_scha")
"""The non-learned ensembles: the issue's harmonic one (analytic field + waves of stiffness J)
and the physical one (the generator's base field + waves of the self-consistent harmonic
stiffness)."""


def _baseline(
    targets: np.ndarray,
    temps: np.ndarray,
    n: int,
    seed: int,
    J: float,
    kind: str = "baseline",
    base: str = "relaxed",
    weights: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``kind`` "baseline": analytic field + bare waves; "baseline_scha": the ``base`` field
    ("analytic", "relaxed" or "blend" with the calibration ``weights``) + SCHA waves."""
    from ..evaluate.xy import spin_wave_baseline

    seeds = np.random.SeedSequence([seed, 2]).generate_state(len(targets))
    out = []
    for k, t, s in zip(targets, temps, seeds, strict=True):
        if kind == "baseline":
            field = spin_wave_baseline(
                k, float(t), n, J=J, seed=int(s), base="analytic", stiffness="bare"
            )
        else:
            w = 1.0 if weights is None or not len(weights[0]) else np.interp(t, *weights)
            field = spin_wave_baseline(
                k, float(t), n, J=J, seed=int(s), base=base, stiffness="scha", base_weight=float(w)
            )
        out.append(field)
    return np.stack(out)


def _heldout_targets(targets: np.ndarray, seed: int) -> np.ndarray:
    """An image of every map ``(C, L, L)`` under a random lattice symmetry that changes it.

    The image must keep the least-energy twist sector that :func:`defect_field` picks (the
    energies of the two analytic fields agree), so that its Monte Carlo ensemble is the image
    of the training map's; the defect-free map is returned unchanged.
    """
    from ..observables.spins import energy
    from ..simulate.xy import charge_map_image, defect_field

    rng = np.random.default_rng([seed, 5])
    out = targets.copy()
    L = targets.shape[-1]
    for c, k in enumerate(targets):
        if not k.any():
            continue
        e0 = energy(defect_field(k)[None])[0]
        for _ in range(1000):
            image = charge_map_image(
                k,
                shift=tuple(int(s) for s in rng.integers(0, L, 2)),
                quarter_turns=int(rng.integers(4)),
                reflect=bool(rng.integers(2)),
            )
            if np.array_equal(image, k):
                continue
            if abs(energy(defect_field(image)[None])[0] - e0) < 1e-9:
                out[c] = image
                break
        else:  # pragma: no cover - every map tried has images in its own sector
            raise RuntimeError(f"no held-out image of condition {c} keeps its twist sector")
    return out


# --------------------------------------------------------------------------- evaluation


def _summaries(
    theta: np.ndarray,
    data_T: np.ndarray,
    data_d: np.ndarray,
    targets: np.ndarray,
    config: XYPipelineConfig,
    J: float,
    *,
    morphology: bool = True,
) -> list[Any]:
    """Summaries ``(C,)`` of ensembles ``theta (C, n, L, L)``; curves only at selected d."""
    from ..evaluate.xy import summarize

    chosen = (
        {lattice_distance_key(d) for d in config.correlation_distances} if morphology else set()
    )
    out = []
    for c in range(theta.shape[0]):
        morph = config.morphology_samples if round(data_d[c] ** 2) in chosen else None
        out.append(
            summarize(
                theta[c],
                targets[c],
                float(data_T[c]),
                float(data_d[c]),
                J=J,
                n_blocks=config.jackknife_blocks,
                morphology_samples=morph,
                thresholds=config.thresholds,
            )
        )
    return out


def _score(
    ensembles: dict[str, list[Any]], config: XYPipelineConfig, reference: str = "reference"
) -> dict[str, Any]:
    from ..evaluate.xy import compare

    return {
        name: compare(
            ensembles[reference],
            summaries,
            correlation_distances=config.correlation_distances,
            tol=config.topo_tol,
        )
        for name, summaries in ensembles.items()
        if name != reference
    }


def _by_temperature(data_T: np.ndarray) -> dict[str, np.ndarray]:
    return {_temperature_key(T): np.flatnonzero(data_T == T) for T in np.unique(data_T)}


def _evaluate(
    config: XYPipelineConfig,
    data: _Data,
    fields: dict[str, np.ndarray],
    targets: np.ndarray,
    J: float,
) -> dict[str, Any]:
    """Summaries of every ensemble per temperature: {T: {ensemble: [summary dicts]}}.

    ``fields`` holds the generated and baseline ensembles ``(C, n, L, L)``, drawn on the maps
    ``targets``; the reference and the independent Monte Carlo half are the store's.
    """
    n_ref = config.reference_samples
    per = data.theta.shape[1]
    n_train = _train_count(config, data)
    ensembles = {"reference": (data.theta[:, per - n_ref :], data.target)}
    ensembles |= {name: (theta, targets) for name, theta in fields.items()}
    # An independent Monte Carlo ensemble of the reference's size: the noise ceiling. Fields
    # the GAN never saw when the store has them, else the first training fields.
    if n_train + 2 * n_ref <= per:
        ensembles["mc_independent"] = (data.theta[:, n_train : n_train + n_ref], data.target)
    elif min(n_ref, n_train) >= config.jackknife_blocks:
        ensembles["mc_independent"] = (data.theta[:, : min(n_ref, n_train)], data.target)
    out: dict[str, Any] = {}
    for key, idx in _by_temperature(data.T).items():
        out[key] = {
            name: [
                s.to_dict()
                for s in _summaries(theta[idx], data.T[idx], data.d[idx], maps[idx], config, J)
            ]
            for name, (theta, maps) in ensembles.items()
        }
    return out


def _load_summaries(raw: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    from ..evaluate.xy import EnsembleSummary

    return {
        T: {name: [EnsembleSummary.from_dict(s) for s in lst] for name, lst in by.items()}
        for T, by in raw.items()
    }


# --------------------------------------------------------------------------- speed


def _speed(
    config: XYPipelineConfig,
    data: _Data,
    generate_info: dict[str, Any],
    device: str,
    overrelaxation: int,
    J: float,
) -> dict[str, Any]:
    """Generated samples/s against Monte Carlo's decorrelated samples/s, per temperature."""
    import torch

    from ..simulate.xy import XYSampler

    out: dict[str, Any] = {
        "generator_samples_per_s": generate_info["samples"] / max(generate_info["seconds"], 1e-12),
        "device": device,
    }
    n_ref = config.reference_samples
    for key, idx in _by_temperature(data.T).items():
        T = float(data.T[idx[0]])
        start = data.theta[idx, -n_ref:].reshape(-1, data.L, data.L)[:256]
        sampler = XYSampler(start, T, J=J, constrained=True, device=device)
        sampler.sweep(2, overrelaxation)  # warm-up
        n_sweeps = 10
        t0 = time.perf_counter()
        sampler.sweep(n_sweeps, overrelaxation)
        if sampler.device.type == "cuda":
            torch.cuda.synchronize(sampler.device)
        per_sweep = (time.perf_counter() - t0) / n_sweeps
        tau = float(np.mean(data.tau_int[idx]))
        # A running chain gives one independent sample every 2·τ_int sweeps (at least one sweep).
        per_sample = per_sweep / start.shape[0] * max(1.0, 2.0 * tau)
        produced = float(data.seconds[idx].sum()) / (data.theta.shape[1] * len(idx))
        out[key] = {
            "tau_int_sweeps": tau,
            "mc_sweep_seconds_per_field": per_sweep / start.shape[0],
            "mc_decorrelated_samples_per_s": 1.0 / per_sample,
            "mc_dataset_samples_per_s": 1.0 / produced if produced > 0 else None,
            "speedup_vs_decorrelated": out["generator_samples_per_s"] * per_sample,
            "replicas_timed": int(start.shape[0]),
        }
    return out


# --------------------------------------------------------------------------- beyond the paper


def _analytic_starts(targets: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Plain Monte Carlo's starts: n copies of the analytic defect field of each map
    ``targets (C, L, L)``, each turned by its own random global angle; ``(C·n, L, L)``."""
    from ..simulate.xy import defect_field

    fields = np.repeat(np.stack([defect_field(t) for t in targets]), n, axis=0)
    return fields + rng.uniform(-np.pi, np.pi, (fields.shape[0], 1, 1))


def _refine(
    config: XYPipelineConfig,
    data: _Data,
    starts: dict[str, tuple[np.ndarray, float]],
    targets: np.ndarray,
    reference: dict[str, list[Any]],
    device: str,
    J: float,
) -> dict[str, Any]:
    """Scores against k for k sweeps started from each of ``starts`` (name → fields
    ``(C, n, L, L)`` on the maps ``targets`` and seconds per field) and from the analytic
    defect field (plain Monte Carlo)."""
    from ..evaluate.xy import compare, refine_with_mc

    n = config.refine_samples
    out: dict[str, Any] = {"sweeps": list(config.refine_sweeps)}
    rng = np.random.default_rng([config.seed, 3])
    for key, idx in _by_temperature(data.T).items():
        C = len(idx)
        maps = np.repeat(targets[idx], n, axis=0)
        temps = np.repeat(data.T[idx], n)
        start_time = time.perf_counter()
        analytic = _analytic_starts(targets[idx], n, rng)
        fields = {name: theta[idx, :n].reshape(C * n, data.L, data.L)
                  for name, (theta, _) in starts.items()}  # fmt: skip
        fields["analytic"] = analytic
        cost = {name: seconds for name, (_, seconds) in starts.items()}
        cost["analytic"] = (time.perf_counter() - start_time) / (C * n)
        per_T: dict[str, Any] = {}
        for offset, (name, start) in enumerate(fields.items()):
            ref = refine_with_mc(
                start,
                maps,
                temps,
                config.refine_sweeps,
                J=J,
                overrelaxation=config.simulation.overrelaxation,
                seed=config.seed + offset,
                device=device,
            )
            per_field = ref.seconds_per_sweep / (C * n)
            rows = []
            for k in config.refine_sweeps:
                snap = ref.snapshots[k].reshape(C, n, data.L, data.L)
                summaries = _summaries(snap, data.T[idx], data.d[idx], targets[idx], config, J)
                scores = compare(
                    reference[key],
                    summaries,
                    correlation_distances=config.correlation_distances,
                    tol=config.topo_tol,
                )
                rows.append({"k": k, "seconds_per_sample": k * per_field + cost[name]}
                            | {name: scores[name] for name in _REFINE_SCORES}
                            | {"match_rate": scores["match_rate"]["mean"],
                               "diversity_aligned_ratio": scores["diversity"]["aligned_ratio"],
                               "energy_relative_error": scores["relative_error"]["energy"],
                               "specific_heat_relative_error":
                                   scores["relative_error"]["specific_heat"]})  # fmt: skip
            per_T[name] = {
                "repaired_fraction": float(ref.repaired.mean()),
                "seconds_per_sweep_per_field": per_field,
                "by_k": rows,
            }
        out[key] = per_T
    return out


_REFINE_SCORES = (
    "r2",
    "consistency",
    "correlation_r2",
    "correlation_r2_shown_min",
    "correlation_r2_all_mean",
    "correlation_r2_all_min",
    "topological_accuracy_mean",
    "topological_accuracy_by_tol",
)


def _transfer(
    config: XYPipelineConfig,
    data: _Data,
    generator: Any,
    run_dir: Path,
    device: str,
    progress: bool | None,
    J: float,
) -> dict[str, Any]:
    """The generator at larger L against Monte Carlo there, beside the baseline, and (for
    every k > 0 of ``refine_sweeps``) the generated fields after k constrained sweeps beside
    plain Monte Carlo from the analytic defect field after k sweeps."""
    from ..simulate.xy import write_dataset

    out: dict[str, Any] = {}
    temps = sorted({float(t) for t in data.T})
    sim = config.simulation
    for size in config.transfer_sizes:
        mc_config = sim.replace(
            L=size,
            temperatures=temps,
            distances=list(config.transfer_distances),
            samples=config.transfer_samples,
            n_replicas=min(sim.n_replicas, config.transfer_samples),
        )
        store = write_dataset(mc_config, run_dir / f"mc_L{size}.zarr", device=device,
                              progress=progress)  # fmt: skip
        mc = _load_store(store.path)
        n = config.transfer_samples
        maps = _heldout_targets(mc.target, config.seed) if config.heldout_maps else mc.target
        generated, seconds = _generate(generator, maps, mc.T, n, config.seed, device)
        baseline = _baseline(maps, mc.T, n, config.seed + 1, J)  # the harmonic one
        per_size: dict[str, Any] = {
            "generator_samples_per_s": generated.shape[0] * n / max(seconds, 1e-12)
        }
        # One example field per condition (the first temperature's) for the report.
        first = _by_temperature(mc.T)[_temperature_key(temps[0])]
        _save_npz(
            run_dir / f"transfer_L{size}.npz",
            d=mc.d[first],
            simulated=mc.theta[first, 0],
            generated=generated[first, 0],
        )
        rng = np.random.default_rng([config.seed, 4, size])
        for key, idx in _by_temperature(mc.T).items():
            per_size[key] = _transfer_scores(
                config, mc, idx, maps[idx], generated[idx], baseline[idx], rng, device, J
            )
        out[f"L={size}"] = per_size
    return out


def _transfer_scores(
    config: XYPipelineConfig,
    mc: _Data,
    idx: np.ndarray,
    maps: np.ndarray,
    generated: np.ndarray,
    baseline: np.ndarray,
    rng: np.random.Generator,
    device: str,
    J: float,
) -> dict[str, Any]:
    """Scores at one temperature of the transfer lattice: generated and baseline fields and,
    for every k > 0 of ``refine_sweeps``, the generated fields and the analytic defect field
    (plain Monte Carlo) after k constrained sweeps, each against Monte Carlo there."""
    from ..evaluate.xy import refine_with_mc

    n, size = config.transfer_samples, mc.L
    ks = [k for k in config.refine_sweeps if k > 0]
    # No topological curves here: their cluster search grows as L⁴ (seconds per field at
    # L = 64), and the transfer table reports the observables, G(r) and fidelity.
    thetas = {"generated": generated, "baseline": baseline}
    C = len(idx)
    if ks:
        starts = {
            "generated": generated.reshape(C * n, size, size),
            "analytic": _analytic_starts(maps, n, rng),
        }
        for name, start in starts.items():
            refined = refine_with_mc(
                start, np.repeat(maps, n, axis=0), np.repeat(mc.T[idx], n), ks, J=J,
                overrelaxation=config.simulation.overrelaxation,
                seed=config.seed + (1 if name == "analytic" else 0), device=device,
            )  # fmt: skip
            for k in ks:
                thetas[f"{name} + {k} sweeps"] = refined.snapshots[k].reshape(C, n, size, size)
    cond = (mc.T[idx], mc.d[idx])
    ens = {"reference": _summaries(mc.theta[idx], *cond, mc.target[idx], config, J,
                                   morphology=False)}  # fmt: skip
    ens |= {
        name: _summaries(theta, *cond, maps, config, J, morphology=False)
        for name, theta in thetas.items()
    }
    return {
        "scores": _score(ens, config),
        "observables": {
            name: [s.to_dict()["observables"] for s in lst] for name, lst in ens.items()
        },
        "distances": [float(d) for d in mc.d[idx]],
    }


# --------------------------------------------------------------------------- the pipeline


def run(
    config: XYPipelineConfig,
    run_dir: str | Path,
    *,
    device: str = "cpu",
    progress: bool | None = None,
) -> Path:
    """Run (or resume) the XY pipeline into ``run_dir``; returns ``run_dir``.

    Parameters
    ----------
    config
        The pipeline (``DEMO_CONFIG``, ``LARGE_CONFIG`` or one's own).
    run_dir
        Output directory; a directory holding a run of another configuration is refused.
    device
        torch device of the Monte Carlo, the generation and the refinement (training uses
        ``config.gan.accelerator``).
    progress
        Progress bars; ``None`` shows them on a terminal only.
    """
    import matplotlib

    matplotlib.use("Agg")
    if not isinstance(config, XYPipelineConfig):
        raise TypeError(f"config must be an XYPipelineConfig, got {type(config).__name__}")
    run_dir = open_run_dir(run_dir, config)
    machine = {"at_start": machine_info()}
    stages = _Stages(run_dir)
    J = config.simulation.J
    store_path = Path(stages("simulate", lambda: str(_simulate(config, run_dir, device, progress))))
    data = _load_store(store_path)
    _check_data(config, data)
    train_info = stages("train", lambda: _train(config, data, run_dir / "gan", progress))
    from ..models.unet import load_generator

    generator = load_generator(run_dir / "gan" / "generator.pt")
    targets = _heldout_targets(data.target, config.seed) if config.heldout_maps else data.target
    generated, generate_info = _generated(config, data, targets, generator, run_dir, stages,
                                          device)  # fmt: skip
    base = config.gan.defect_base if config.gan.generator_output == "defect_residual" else "relaxed"
    weights = None
    if base == "blend":
        from ..simulate.xy import blend_weight_table

        n_train = _train_count(config, data)
        weights = blend_weight_table(
            data.theta[:, :n_train].reshape(-1, data.L, data.L),
            data.charge[:, :n_train].reshape(-1, data.L, data.L),
            np.repeat(data.T, n_train),
        )
    baselines: dict[str, tuple[np.ndarray, float]] = {}
    for name in _BASELINES:
        start = time.perf_counter()
        fields = _baseline(targets, data.T, config.eval_samples, config.seed + 1, J, name, base,
                           weights)  # fmt: skip
        baselines[name] = (fields, (time.perf_counter() - start) / fields[:, :, 0, 0].size)

    from ..evaluate.xy import across_temperatures

    ensembles = {"generated": generated} | {name: b[0] for name, b in baselines.items()}
    summaries = _load_summaries(
        stages("evaluate", lambda: _evaluate(config, data, ensembles, targets, J))
    )
    scores = {T: _score(ens, config) for T, ens in summaries.items()}
    across = across_temperatures(summaries)
    speed = stages(
        "speed",
        lambda: _speed(config, data, generate_info, device, config.simulation.overrelaxation, J),
    )
    refine = None
    if config.refine_sweeps:
        per_sample = generate_info["seconds"] / max(generate_info["samples"], 1)
        starts = {"generator": (generated, per_sample)} | baselines
        references = {T: ens["reference"] for T, ens in summaries.items()}
        refine = stages(
            "refine",
            lambda: _refine(config, data, starts, targets, references, device, J),
        )
    transfer = None
    if config.transfer_sizes:
        transfer = stages(
            "transfer", lambda: _transfer(config, data, generator, run_dir, device, progress, J)
        )
    summary = _summary(config, data, store_path)
    from .xy_report import write_report

    start = time.perf_counter()
    write_report(
        run_dir, config=config, data=data, targets=targets, generated=generated,
        baseline=baselines["baseline_scha"][0],
        history=_read_history(run_dir / "gan" / "history.csv"), summaries=summaries,
        scores=scores, across_temperatures=across, speed=speed, refine=refine,
        transfer=transfer, transfer_fields=_transfer_fields(config, run_dir) if transfer else {},
        summary=summary, train_info=train_info, timings=stages.timings,
    )  # fmt: skip
    timings = dict(stages.timings)
    timings["report"] = round(time.perf_counter() - start, 3)
    timings["total"] = round(sum(timings.values()), 3)
    machine["load_average_at_end"] = machine_info()["load_average"]
    metrics = {"data": summary, "training": train_info, "scores": scores}
    metrics |= {"across_temperatures": across or None, "speed": speed, "refine": refine}
    metrics |= {"transfer": transfer, "timings_s": timings, "machine": machine}
    atomic_write_text(run_dir / "metrics.json", json.dumps(_jsonable(metrics), indent=2) + "\n")
    return run_dir


def _generated(
    config: XYPipelineConfig,
    data: _Data,
    targets: np.ndarray,
    generator: Any,
    run_dir: Path,
    stages: _Stages,
    device: str,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The generated fields ``(C, eval_samples, L, L)`` on the maps ``targets``
    (``generated.npz``) and their timing."""
    path = run_dir / "generated.npz"

    def generate_stage() -> dict[str, Any]:
        theta, seconds = _generate(
            generator, targets, data.T, config.eval_samples, config.seed, device
        )
        _save_npz(path, theta=theta)
        return {"seconds": seconds, "samples": int(theta.shape[0] * theta.shape[1])}

    info = stages("generate", generate_stage)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; delete {run_dir / 'stages'} to redo it")
    return np.load(path)["theta"], info


def _transfer_fields(config: XYPipelineConfig, run_dir: Path) -> dict[str, dict[str, Any]]:
    """The example fields of the transfer stage, by "L=<size>"."""
    out = {}
    for size in config.transfer_sizes:
        path = run_dir / f"transfer_L{size}.npz"
        if path.exists():
            with np.load(path) as f:
                out[f"L={size}"] = {k: f[k] for k in f.files}
    return out


def _summary(config: XYPipelineConfig, data: _Data, store_path: Path) -> dict[str, Any]:
    """The data section of ``metrics.json``."""
    return {
        "L": data.L,
        "temperatures": sorted({float(t) for t in data.T}),
        "distances": sorted({float(d) for d in data.d}),
        "conditions": len(data.T),
        "training_fields_per_condition": _train_count(config, data),
        "reference_fields_per_condition": config.reference_samples,
        "eval_fields_per_condition": config.eval_samples,
        "mc_tau_int_sweeps": data.tau_int.tolist(),
        "mc_acceptance": data.acceptance.tolist(),
        "mc_held": data.held.tolist(),
        "store": str(store_path),
    }
