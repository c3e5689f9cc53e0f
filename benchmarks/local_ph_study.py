"""Why the local PH potential does not learn forces: one change at a time from its fit.

The PH fit of ``benchmarks/local_ph_accuracy.py`` (the baseline) is re-run in this session's
setting, then varied one setting at a time (input floor, force weight, force atoms per
structure, …); each variant is scored on the accuracy table's test structures and force
atoms (energy and force RMSE, all and cold frames), with the RMS of its predicted forces
against the labels' and their correlation. The ``linear*`` variants replace the network by a
per-atom energy linear in the images, fitted exactly by least squares on the same energies and
forces (:meth:`topophys.training.local_ph.PHSample.force_jacobian`): the ceiling of what the
features give linearly, in seconds, also for other image settings (the pairs stay the same)
and other complexes (``FILTRATIONS``: the pairs are computed again).
``md`` runs short NVE trajectories of saved models from the MD benchmark's start at several
time steps over the same simulated time, to tell force jumps (an energy error that shrinks
like dt), a smooth surface (like dt²) and forces that are not the energy's gradient (no
shrinking). ``jumps`` runs ``--jump-steps`` NVE steps at 1 fs with each of ``--md-models``
and measures at every step how far the recipe changes since the previous step moved the
forces, in all and per image (:meth:`LocalPHPotential.compute` with the previous step's
pairs held fixed): where the forces jump.

    python benchmarks/local_ph_study.py runs/local_ph/data --work runs/local_ph_study \\
        --out docs/data/local_ph_study.json --parts fits md --epochs 30 \\
        --md-models runs/local_ph/ph/model [--variants baseline w_f10 …] [--md-dt 1 0.5]

The pairs of every structure are computed once per call and descriptor setting (minutes;
order ``--variants`` by setting); each variant's entry (and each model's MD) is merged into
``--out`` as it finishes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from local_ph_accuracy import (
    TEST_FORCE_ATOMS,
    cold,
    fit_config,
    git_commit,
    header,
    load,
)
from topophys.config import atomic_write_text
from topophys.descriptors.local_ph import LocalPHConfig, local_pairs
from topophys.parallel import pmap
from topophys.training._forces import errors
from topophys.training.local_ph import (
    PHSample,
    fit_local_ph,
    force_subset,
)


class _Pairs:
    def __init__(self, config: LocalPHConfig) -> None:
        self.config = config

    def __call__(self, atoms: Any) -> Any:
        return local_pairs(atoms, self.config)


def compute_pairs(frames: list[Any], config: LocalPHConfig) -> list[Any]:
    """The pairs of ``frames`` (not cached: a pickle cache would load code, not data)."""
    return pmap(_Pairs(config), frames, workers=1, desc="local pairs")


def samples_of(
    pairs: list[Any], frames: list[Any], indices: np.ndarray, force_atoms: int, seed: int
) -> list[PHSample]:
    config = pairs[0].config
    return [
        PHSample(p, a, config.species, force_subset(len(a), force_atoms, seed, int(i)))
        for p, a, i in zip(pairs, frames, indices, strict=True)
    ]


def force_stats(model: torch.nn.Module, samples: list[PHSample]) -> dict[str, float]:
    """RMS of predicted and label force components (meV/Å) and their correlation."""
    pred, label = [], []
    with torch.no_grad():
        for s in samples:
            _, f = s.predict(model, False)
            pred.append(f.detach().reshape(-1).numpy())
            label.append(s.forces.reshape(-1).double().numpy())
    p, q = np.concatenate(pred), np.concatenate(label)
    return {
        "predicted_rms_meV": 1000.0 * float(np.sqrt(np.mean(p * p))),
        "label_rms_meV": 1000.0 * float(np.sqrt(np.mean(q * q))),
        "correlation": float(np.corrcoef(p, q)[0, 1]),
    }


VARIANTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "baseline": ("the accuracy table's fit", {}, {}),
    "linear": ("linear per-atom energy, exact least squares (no network)", {}, {}),
    "floor_1": ("input_floor 1 (one input scale for every pixel)", {"input_floor": 1.0}, {}),
    "floor_0.3": ("input_floor 0.3", {"input_floor": 0.3}, {}),
    "floor_0.01": ("input_floor 0.01", {"input_floor": 0.01}, {}),
    "w_f10": ("force weight 10", {"force_weight": 10.0}, {}),
    "w_f100": ("force weight 100", {"force_weight": 100.0}, {}),
    "atoms_64": ("forces of 64 atoms per training structure", {"force_atoms": 64}, {}),
    "no_early_stopping": ("no early stopping", {"patience": 0}, {}),
    "lr_5e-4": ("learning rate 5e-4", {"lr": 5e-4}, {}),
    "lr_1e-2": ("learning rate 1e-2", {"lr": 1e-2}, {}),
    "linear_images_32": (
        "linear, images 32 × 32, bandwidth 0.05 Å²",
        {},
        {"resolution": (32, 32), "bandwidth": 0.05},
    ),
    "linear_linear_weight": (
        "linear, images weighted p/t_max (not (p/t_max)²)",
        {},
        {"weight": "linear"},
    ),
    "images_32": (
        "images 32 × 32, bandwidth 0.05 Å²",
        {},
        {"resolution": (32, 32), "bandwidth": 0.05},
    ),
}
"""Each variant: its label, its changes to the baseline fit, its changes to the images
(the pairs, hence the filtration, stay those of the default descriptor unless
:data:`FILTRATIONS` names the variant)."""

FIRST_RIDGES = (1e-6, 1e-4, 1e-2, 1.0)
"""The linear start's ridges before every decade from 1e-8 to 1 became its default: the
variants measured with them keep them."""

VARIANTS.update(
    {
        "linear_centre_removed": ("linear, centre removed from its complex", {}, {}),
        "linear_centre_both": ("linear, complexes with and without the centre", {}, {}),
        "centre_removed": ("centre removed from its complex", {}, {}),
        "centre_both": ("complexes with and without the centre", {}, {}),
        "linear_rips": ("linear, Rips H0–H1 (centre kept)", {}, {}),
        "linear_rips_both": ("linear, Rips H0–H1, complexes with and without the centre", {}, {}),
        "rips": ("Rips H0–H1 (centre kept)", {}, {}),
        "rips_both": ("Rips H0–H1, complexes with and without the centre", {}, {}),
        "linear_circumradius_removed": (
            "linear, centre removed, its graph valued by the triangles with the centre",
            {},
            {},
        ),
        "linear_circumradius_both": (
            "linear, complexes with and without the centre, the graph valued by the triangles "
            "with the centre",
            {},
            {},
        ),
        "circumradius_removed": (
            "centre removed, its graph valued by the triangles with the centre",
            {},
            {},
        ),
        "circumradius_both": (
            "complexes with and without the centre, the graph valued by the triangles with "
            "the centre",
            {},
            {},
        ),
        "circumradius_both_lr_5e-4": (
            "the same, learning rate 5e-4",
            {"lr": 5e-4},
            {},
        ),
        "circumradius_both_w_f0.3": (
            "the same, force weight 0.3",
            {"force_weight": 0.3},
            {},
        ),
        "circumradius_both_w_f0.1": (
            "the same, force weight 0.1",
            {"force_weight": 0.1},
            {},
        ),
        "linear_circumradius_both_cycles": (
            "linear, complexes with and without the centre, the graph valued by the triangles "
            "with the centre, with its cycles (H1)",
            {},
            {},
        ),
        "circumradius_both_cycles": (
            "complexes with and without the centre, the graph valued by the triangles with "
            "the centre, with its cycles (H1)",
            {},
            {},
        ),
        "circumradius_both_cycles_w_f0.3": (
            "the same, force weight 0.3",
            {"force_weight": 0.3},
            {},
        ),
        "circumradius_both_cycles_linear_start": (
            "the same, force weight 1, from the linear fit (linear_start)",
            {"linear_start": True, "linear_ridges": FIRST_RIDGES},
            {},
        ),
        "circumradius_both_cycles_linear_start_w_f0.3": (
            "the same, force weight 0.3",
            {"linear_start": True, "force_weight": 0.3, "linear_ridges": FIRST_RIDGES},
            {},
        ),
        "circumradius_both_cycles_linear_start_lr_5e-4": (
            "the same, force weight 1, learning rate 5e-4",
            {"linear_start": True, "lr": 5e-4, "linear_ridges": FIRST_RIDGES},
            {},
        ),
        "circumradius_both_cycles_linear_start_lr_1e-4": (
            "the same, learning rate 1e-4",
            {"linear_start": True, "lr": 1e-4, "linear_ridges": FIRST_RIDGES},
            {},
        ),
        "circumradius_both_cycles_linear_start_ridges": (
            "from the linear fit, the graph's cycles, force weight 1, its ridge chosen from "
            "every decade of 1e-8 to 1 (not 1e-6, 1e-4, 1e-2, 1)",
            {"linear_start": True},
            {},
        ),
        "linear_circumradius_both_cycles_bandwidth_0.05": (
            "linear, the same descriptor with its cycles, bandwidth 0.05 Å²",
            {},
            {"bandwidth": 0.05},
        ),
        "linear_circumradius_both_cycles_bandwidth_0.2": (
            "the same, bandwidth 0.2 Å²",
            {},
            {"bandwidth": 0.2},
        ),
        "linear_circumradius_both_cycles_bandwidth_0.3": (
            "linear, the graph's cycles, bandwidth 0.3 Å²",
            {},
            {"bandwidth": 0.3},
        ),
        "linear_circumradius_both_cycles_bandwidth_0.4": (
            "the same, bandwidth 0.4 Å²",
            {},
            {"bandwidth": 0.4},
        ),
        "circumradius_both_cycles_linear_start_w_f0.3_bandwidth_0.2": (
            "from the linear fit, the graph's cycles, force weight 0.3, bandwidth 0.2 Å²",
            {"linear_start": True, "force_weight": 0.3},
            {"bandwidth": 0.2},
        ),
        "linear_circumradius_both_cycles_32": (
            "the same, images 32 × 32, bandwidth 0.1 Å²",
            {},
            {"resolution": (32, 32)},
        ),
        "linear_circumradius_both_cycles_32_bandwidth_0.05": (
            "the same, images 32 × 32, bandwidth 0.05 Å²",
            {},
            {"resolution": (32, 32), "bandwidth": 0.05},
        ),
        "linear_circumradius_both_cycles_root": (
            "linear, the graph's cycles, images of the values' square roots (Å), bandwidth 0.05 Å",
            {},
            {"image_axes": "root", "bandwidth": 0.05},
        ),
        "linear_circumradius_both_cycles_root_bandwidth_0.1": (
            "the same, bandwidth 0.1 Å",
            {},
            {"image_axes": "root"},
        ),
        "circumradius_both_cycles_linear_start_w_f0.3_root": (
            "from the linear fit, the graph's cycles, force weight 0.3, images of the "
            "values' square roots (Å), bandwidth 0.05 Å",
            {"linear_start": True, "force_weight": 0.3},
            {"image_axes": "root", "bandwidth": 0.05},
        ),
        "circumradius_both_cycles_linear_start_w_f0.3_32": (
            "from the linear fit, force weight 0.3, images 32 × 32, bandwidth 0.1 Å²",
            {"linear_start": True, "force_weight": 0.3},
            {"resolution": (32, 32)},
        ),
    }
)

CYCLES = {"centre": "both", "graph": "circumradius", "graph_cycles": True}

FILTRATIONS: dict[str, dict[str, Any]] = {
    "linear_centre_removed": {"centre": "removed"},
    "linear_centre_both": {"centre": "both"},
    "centre_removed": {"centre": "removed"},
    "centre_both": {"centre": "both"},
    "linear_rips": {"filtration": "rips", "max_dim": 1},
    "linear_rips_both": {"filtration": "rips", "max_dim": 1, "centre": "both"},
    "rips": {"filtration": "rips", "max_dim": 1},
    "rips_both": {"filtration": "rips", "max_dim": 1, "centre": "both"},
    "linear_circumradius_removed": {"centre": "removed", "graph": "circumradius"},
    "linear_circumradius_both": {"centre": "both", "graph": "circumradius"},
    "circumradius_removed": {"centre": "removed", "graph": "circumradius"},
    "circumradius_both": {"centre": "both", "graph": "circumradius"},
}
"""Variants whose descriptor changes the pairs (so they are computed again for them); the
image and schedule variants of a descriptor are added below, on its pairs."""

# Every variant of the descriptor with the graph's cycles (images, schedules) fits on its pairs.
for _name in VARIANTS:
    if "circumradius_both_cycles" in _name:
        FILTRATIONS.setdefault(_name, CYCLES)

# The schedule variants of the circumradius graph fit on its pairs (those not named above).
for _name in VARIANTS:
    if _name.startswith("circumradius_both_"):
        FILTRATIONS.setdefault(_name, FILTRATIONS["circumradius_both"])

ACCURACY_MODELS = {
    "ph": "the accuracy table's model",
    "ph_both": "the accuracy table's model on both complexes",
    "ph_circumradius": "the accuracy table's model, the graph valued by the triangles",
    "ph_root": "the accuracy table's model on images of the square roots",
    "ph_root_narrow": "the same at bandwidth 0.05 Å",
    "ph_root_simplices": "the accuracy table's model on images of the square roots, the "
    "graph by its simplices' values",
    "ph_root_simplices_wide": "the same at bandwidth 0.2 Å",
}
"""Labels of the accuracy benchmark's saved models, by their directory's name."""


STUDIED = [
    "baseline",
    "linear",
    "floor_1",
    "floor_0.01",
    "w_f10",
    "w_f100",
    "atoms_64",
    "linear_images_32",
]
"""The variants of ``docs/local_ph.md``'s study table (the others are there to be tried)."""


def with_images(pairs: list[Any], changes: dict[str, Any]) -> list[Any]:
    """``pairs`` whose config has the image settings ``changes`` (pairs do not depend on
    them: only the images built from them do)."""
    if not changes:
        return pairs
    config = pairs[0].config.replace(**changes)
    return [dataclasses.replace(p, config=config) for p in pairs]


def variant_config(name: str, epochs: int) -> Any:
    base = fit_config(epochs)
    return base.replace(**VARIANTS[name][1]) if VARIANTS[name][1] else base


class LazySamples(Sequence[PHSample]):
    """Samples built when read (images of many pixels would not fit in memory at once)."""

    def __init__(
        self, pairs: list[Any], frames: list[Any], indices: np.ndarray, k: int, seed: int
    ) -> None:
        self.pairs, self.frames, self.indices, self.k, self.seed = pairs, frames, indices, k, seed

    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, i: int) -> PHSample: ...

    @overload
    def __getitem__(self, i: slice) -> LazySamples: ...

    def __getitem__(self, i: int | slice) -> PHSample | LazySamples:
        if isinstance(i, slice):
            return self.subset(np.arange(len(self))[i])
        p, a, index = self.pairs[i], self.frames[i], int(self.indices[i])
        return PHSample(p, a, p.config.species, force_subset(len(a), self.k, self.seed, index))

    def subset(self, keep: np.ndarray) -> LazySamples:
        keep = np.arange(len(self))[keep] if keep.dtype == bool else keep
        return LazySamples(
            [self.pairs[i] for i in keep],
            [self.frames[i] for i in keep],
            self.indices[keep],
            self.k,
            self.seed,
        )


def subset(samples: Sequence[PHSample], mask: np.ndarray) -> Sequence[PHSample]:
    if isinstance(samples, LazySamples):
        return samples.subset(mask)
    return [s for s, m in zip(samples, mask, strict=True) if m]


def fit_linear(train: Sequence[PHSample], floor: float = 0.1) -> dict[str, Any]:
    """Exact ridge fit of a linear per-atom energy on energies and forces (the networks'
    loss, force weight 1), the ridge chosen on the last 10 % of ``train`` (read twice)."""
    from topophys.models.local_ph import AtomicNetwork

    start = time.perf_counter()
    n_fit = len(train) - max(1, len(train) // 10)
    n_features = train[0].features.shape[1]
    total = torch.zeros(n_features, dtype=torch.float64)
    square = torch.zeros(n_features, dtype=torch.float64)
    atoms, e_atom, f2, nf = 0, [], 0.0, 0
    counts, energies = [], []
    for k in range(n_fit):
        s = train[k]
        x = s.features.double()
        total += x.sum(0)
        square += (x * x).sum(0)
        atoms += len(x)
        e_atom.append(s.energy / s.n_atoms)
        counts.append([float(s.n_atoms)])
        energies.append(s.energy)
        f2 += float((s.forces.double() ** 2).sum())
        nf += s.forces.numel()
    mean = total / atoms
    std = torch.sqrt(torch.clamp(square / atoms - mean * mean, min=0.0))
    scale = torch.clamp(std, min=max(float(std.max()) * floor, 1e-12))
    sigma_e = max(float(np.std(e_atom)), 1e-3)
    sigma_f = max(float(np.sqrt(f2 / max(nf, 1))), 1e-3)

    def rows(s: PHSample) -> tuple[torch.Tensor, torch.Tensor]:
        x = ((s.features.double() - mean) / scale).mean(0)  # energy per atom: mean of w·x + b
        e_row = torch.cat([x, torch.ones(1, dtype=x.dtype)])[None] / sigma_e
        e_y = torch.tensor([s.energy / s.n_atoms], dtype=x.dtype) / sigma_e
        j = s.force_jacobian() / scale
        w = 1.0 / np.sqrt(max(j.shape[0], 1)) / sigma_f
        f_rows = torch.cat([j, torch.zeros(len(j), 1, dtype=j.dtype)], 1) * w
        return torch.cat([e_row, f_rows]), torch.cat([e_y, s.forces.reshape(-1).double() * w])

    gram = torch.zeros(n_features + 1, n_features + 1, dtype=torch.float64)
    rhs = torch.zeros(n_features + 1, dtype=torch.float64)
    held = []
    for k in range(len(train)):
        a, y = rows(train[k])
        if k < n_fit:
            gram += a.T @ a
            rhs += a.T @ y
        else:
            held.append((a, y))
    best: dict[str, Any] = {}
    for lam in (1e-6, 1e-4, 1e-2, 1.0):
        reg = lam * n_fit * torch.eye(n_features + 1, dtype=torch.float64)
        reg[-1, -1] = 0.0
        sol = torch.linalg.solve(gram + reg, rhs)
        score = sum(float(((a @ sol - y) ** 2).sum()) for a, y in held) / max(len(held), 1)
        if not best or score < best["score"]:
            best = {"score": score, "ridge": lam, "solution": sol}
    # The solution as a network without hidden layers: inputs (d − mean)/scale, unit output.
    net = AtomicNetwork(n_features, hidden=()).double()
    with torch.no_grad():
        net.input_mean.copy_(mean)
        net.input_scale.copy_(scale)
        net.energy_scale.fill_(1.0)
        net.energy_shift.fill_(0.0)
        net.nets[0][0].weight.copy_(best["solution"][:n_features][None])
        net.nets[0][0].bias.fill_(float(best["solution"][-1]))
    return {
        "network": net,
        "ridge": best["ridge"],
        "holdout_score": best["score"],
        "fit_s": time.perf_counter() - start,
    }


def run_variant(
    name: str,
    train: list[Any],
    i_train: np.ndarray,
    test_samples: Sequence[PHSample],
    mask: np.ndarray,
    pairs: list[Any],
    work: Path,
    epochs: int,
) -> dict[str, Any]:
    pairs = with_images(pairs, VARIANTS[name][2])
    descriptor = pairs[0].config
    config = variant_config(name, epochs)
    force_atoms = config.force_atoms
    samples: Sequence[PHSample]
    if name.startswith("linear"):
        samples = LazySamples(pairs, train, i_train, force_atoms, 0)
        fitted = fit_linear(samples, config.input_floor)
        network = fitted["network"]
        epochs_run, best, fit_s = 0, 0, fitted["fit_s"]
        extra = {"ridge": fitted["ridge"], "holdout_score": fitted["holdout_score"]}
    else:
        samples = samples_of(pairs, train, i_train, force_atoms, 0)
        start = time.perf_counter()
        model, history = fit_local_ph(train, descriptor, config, work / name, samples=samples)
        fit_s = time.perf_counter() - start
        network = model.potential.network
        epochs_run = len(history["epoch"])
        best = int(np.argmin(history.get("holdout_score", [0])) + 1)
        extra = {
            **({"linear_start": history["linear_start"]} if "linear_start" in history else {}),
            "history": {
                k: [round(v, 4) for v in history[k]]
                for k in (
                    "train_energy_rmse_meV",
                    "train_force_rmse_meV",
                    "holdout_energy_rmse_meV",
                    "holdout_force_rmse_meV",
                )
                if k in history
            },
        }
    cold_samples = subset(test_samples, mask)
    return {
        "label": VARIANTS[name][0],
        "changes": {**VARIANTS[name][1], **VARIANTS[name][2], **FILTRATIONS.get(name, {})},
        "config": config.to_dict(),
        "test": {**errors(network, test_samples), "cold": errors(network, cold_samples)},
        "train": errors(network, samples),
        "forces": {
            "all": force_stats(network, test_samples),
            "cold": force_stats(network, cold_samples),
        },
        "epochs_run": epochs_run,
        "best_holdout_epoch": best,
        "fit_s": fit_s,
        **extra,
    }


def md_dt(model_dir: Path, data: Path, fs: float, steps_fs: list[float]) -> dict[str, Any]:
    """Short NVE runs of one saved model from the MD benchmark's start, at several time steps
    over the same simulated time: total-energy drift and excursion per time step."""
    from local_ph_md import TEMPERATURE, start_structure
    from topophys.evaluate.md import energy_drift
    from topophys.potentials import load_energy_model
    from topophys.simulate.md import maxwell_boltzmann, nve

    model = load_energy_model(model_dir)
    atoms = start_structure(data)
    v = maxwell_boltzmann(atoms, TEMPERATURE, seed=0)
    out: dict[str, Any] = {"model": str(model_dir), "simulated_fs": fs, "runs": {}}
    for dt in steps_fs:
        steps = round(fs / dt)
        run = nve(atoms, model.calculator(), steps, timestep_fs=dt, velocities=v, interval=1)
        total = (run.potential + run.kinetic) / run.n_atoms
        out["runs"][str(dt)] = {
            **energy_drift(run.time_ps, run.potential + run.kinetic, run.n_atoms),
            "steps": steps,
            "total_meV_per_atom": (1000.0 * (total - total[0])).round(4).tolist(),
            "potential_meV_per_atom": (1000.0 * (run.potential - run.potential[0]) / run.n_atoms)
            .round(3)
            .tolist(),
            "temperature_end_K": float(run.temperature[-1]),
            "ms_per_step": 1000.0 * run.seconds_per_step,
        }
        print(
            "md",
            model_dir,
            dt,
            json.dumps(
                {
                    k: v
                    for k, v in out["runs"][str(dt)].items()
                    if "per_atom" not in k or "drift" in k or "excursion" in k
                }
            ),
            flush=True,
        )
    return out


def block_names(config: LocalPHConfig) -> list[str]:
    """What each image of ``config`` shows, in block order."""
    names = [] if config.centre == "removed" else [f"H{k}" for k in range(config.max_dim + 1)]
    if config.centre == "kept":
        return names
    if config.filtration == "rips":
        return names + [f"without the centre, H{k}" for k in range(config.max_dim + 1)]
    if config.graph_summary == "simplices":
        return [*names, "graph's vertices", "graph's edges"]
    return names + ["graph's H0", "graph's H1"][: config.removed_blocks]


def force_jumps(model_dir: Path, data: Path, steps: int, dt: float) -> dict[str, Any]:
    """How much the recipe changes of each MD step move the forces: NVE from the MD
    benchmark's start, and at every step the forces on the step's recipes against those of
    the previous step's recipes held fixed (the smooth continuation of its surface), in all
    and per image; with the energy difference between the two."""
    from local_ph_md import TEMPERATURE, start_structure
    from topophys.potentials import load_energy_model
    from topophys.simulate.md import maxwell_boltzmann, nve

    model = load_energy_model(model_dir)
    potential = model.potential
    atoms = start_structure(data)
    v = maxwell_boltzmann(atoms, TEMPERATURE, seed=0)
    run = nve(atoms, model.calculator(), steps, timestep_fs=dt, velocities=v, interval=1)
    cell = np.asarray(atoms.get_cell()[:])

    def rms(f: np.ndarray) -> float:  # meV/Å from eV/Å
        return 1000.0 * float(np.sqrt(np.mean(f * f)))

    rows: list[dict[str, Any]] = []
    x = run.frames[0].get_positions()
    now = run.frames[0].copy()
    pairs = local_pairs(now, potential.config)
    before = potential.compute(now, pairs=pairs)
    for frame in run.frames[1:]:
        step = frame.get_positions() - x  # unwrapped: the held pairs' images stay valid
        step -= np.rint(step @ np.linalg.inv(cell)) @ cell
        x = x + step
        now.set_positions(x)
        held = potential.compute(now, pairs=pairs, by_block=True)
        pairs = local_pairs(now, potential.config)
        after = potential.compute(now, pairs=pairs, by_block=True)
        jump = after["forces_by_block"] - held["forces_by_block"]
        rows.append(
            {
                "energy_difference_meV_per_atom": 1000.0
                * (after["energy"] - held["energy"])
                / len(now),
                "jump_rms_meV": rms(after["forces"] - held["forces"]),
                "jump_rms_by_block_meV": [rms(j) for j in jump],
                "step_change_rms_meV": rms(after["forces"] - before["forces"]),
                "force_rms_meV": rms(after["forces"]),
            }
        )
        before = after
    return {
        "model": str(model_dir),
        "timestep_fs": dt,
        "steps": steps,
        "blocks": block_names(potential.config),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--work", type=Path, default=Path("runs/local_ph_study"))
    parser.add_argument("--out", type=Path, default=Path("docs/data/local_ph_study.json"))
    parser.add_argument("--parts", nargs="+", default=["fits"], choices=["fits", "md", "jumps"])
    parser.add_argument("--variants", nargs="+", default=STUDIED, choices=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--md-models", nargs="+", type=Path, default=[])
    parser.add_argument("--md-fs", type=float, default=30.0)
    parser.add_argument("--md-dt", nargs="+", type=float, default=[1.0, 0.5, 0.25, 0.125])
    parser.add_argument("--jump-steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    train, test, i_train, i_test = load(args.data)
    computed: dict[str, tuple[list[Any], list[Any]]] = {}

    def pairs_of(name: str) -> tuple[list[Any], list[Any]]:
        """Train and test pairs of the variant's descriptor (one setting in memory at once)."""
        changes = FILTRATIONS.get(name, {})
        key = json.dumps(changes, sort_keys=True)
        if key not in computed:
            computed.clear()
            descriptor = LocalPHConfig().replace(**changes)
            computed[key] = (compute_pairs(train, descriptor), compute_pairs(test, descriptor))
        return computed[key]

    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    out.update(header(args.data, train, test))
    out.setdefault("variants", {})
    out.setdefault("md", {})
    out.setdefault("jumps", {})
    command = "OMP_NUM_THREADS=1 python " + " ".join(sys.argv)
    run_start = os.getloadavg()

    def refresh() -> None:
        """The entries as the file holds them now (another run may have added some)."""
        if args.out.exists():
            latest = json.loads(args.out.read_text())
            for part in ("variants", "md", "jumps"):
                out[part] = latest.get(part, {})

    def stamp(result: dict[str, Any], model_dir: Path, load_start: Any) -> str:
        """Add the load, the command and the model's label to a model's result; its name."""
        result["load_average"] = {"start": load_start, "end": os.getloadavg()}
        result["command"] = command
        name = model_dir.parent.name
        result["label"] = VARIANTS[name][0] if name in VARIANTS else ACCURACY_MODELS[name]
        return name

    def save() -> None:
        out["load_average"] = {"start": run_start, "end": os.getloadavg()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")

    if "fits" in args.parts:
        out["epochs"] = args.epochs
        mask = cold(test)
        test_samples: dict[str, Sequence[PHSample]] = {}
        for name in args.variants:
            pairs_train, pairs_test = pairs_of(name)
            load_start = os.getloadavg()
            images = VARIANTS[name][2]
            key = json.dumps([images, FILTRATIONS.get(name, {})], sort_keys=True)
            if key not in test_samples:
                test_samples.clear()
                held = with_images(pairs_test, images)
                test_samples[key] = (
                    LazySamples(held, test, i_test, TEST_FORCE_ATOMS, 1)
                    if images
                    else samples_of(held, test, i_test, TEST_FORCE_ATOMS, 1)
                )
            result = run_variant(
                name, train, i_train, test_samples[key], mask, pairs_train, args.work, args.epochs
            )
            result["load_average"] = {"start": load_start, "end": os.getloadavg()}
            result["command"] = command
            refresh()
            out["variants"][name] = result
            order = [k for k in VARIANTS if k in out["variants"]]
            out["variants"] = {k: out["variants"][k] for k in order}
            save()
            print(
                name,
                json.dumps({k: result[k] for k in ("test", "forces", "epochs_run", "fit_s")}),
                flush=True,
            )
    if "md" in args.parts:
        for model_dir in args.md_models:
            load_start, commit = os.getloadavg(), git_commit()
            result = md_dt(model_dir, args.data, args.md_fs, args.md_dt)
            for run in result["runs"].values():
                run["commit"] = commit
            name = stamp(result, model_dir, load_start)
            refresh()
            if name in out["md"]:  # more time steps for a model already run: merge them
                runs = {**out["md"][name]["runs"], **result["runs"]}
                result["runs"] = dict(sorted(runs.items(), key=lambda kv: -float(kv[0])))
                result["load_average"]["start"] = out["md"][name]["load_average"]["start"]
            out["md"][name] = result
            save()
    if "jumps" in args.parts:
        for model_dir in args.md_models:
            load_start, commit = os.getloadavg(), git_commit()
            result = force_jumps(model_dir, args.data, args.jump_steps, 1.0)
            result["commit"] = commit
            name = stamp(result, model_dir, load_start)
            refresh()
            out["jumps"][name] = result
            save()


if __name__ == "__main__":
    main()
