"""Accuracy and cost of the local PH potential against per-atom SOAP + NN and SchNet.

All three are trained by one loop on one loss (energies per atom and forces, both in units of
their label spread, weight 1 unless the model's name says otherwise), on the same structures
and the same force labels: the frames of ``benchmarks/local_ph_data.py``, runs 0 and 1 of each
density for training (10 % of them held out for early stopping), run 2 for testing, and the
forces of 16 atoms per training structure (32 per test structure, other atoms) drawn by
structure number. ``reference`` scores the labels' own spread (the training mean energy per
atom and zero forces) on the same atoms.

    python benchmarks/local_ph_accuracy.py runs/local_ph/data --work runs/local_ph \\
        --out docs/data/local_ph_accuracy.json \\
        [--models ph ph_both ph_circumradius soap schnet reference] [--epochs 300]

``ph`` is the default descriptor (each atom's complex with the atom itself); ``ph_both`` the
complexes with and without it side by side (``LocalPHConfig(centre="both")``);
``ph_circumradius`` the same with the neighbours' graph valued by the triangles with the centre
(``graph="circumradius"``); ``ph_cycles`` the same with the graph's cycles
(``graph_cycles=True``) and the force term weighted 0.3, ``ph_linear_start`` the same from the
exact linear fit (``LocalPHFitConfig(linear_start=True)``), ``soap_w_f0.3`` SOAP + NN with the
force weight 0.3 (the like-for-like row), ``soap_linear`` the per-atom energy linear in SOAP
fitted exactly (no network; the PH linear term's counterpart) and ``soap_linear_start``
SOAP + NN trained from it (``ph_linear_start``'s counterpart); ``ph_linear`` the PH images'
linear term alone, ``ph_root`` / ``ph_root_narrow`` ``ph_linear_start`` on images of the
values' square roots at 0.1 / 0.05 Å, ``ph_root_simplices`` ``ph_root`` with the neighbours'
graph summarised by its simplices' values (``graph_summary="simplices"``), and
``ph_root_simplices_wide`` the same at 0.2 Å; ``--seed N`` reruns ``ph_root``,
``ph_root_narrow`` and ``ph_root_simplices`` with another fit seed (entries
``<name>_seed<N>``). Each model's entry is merged
into ``--out`` as it finishes, so the models can run one at a time; a trained PH potential is
saved under ``--work / name`` (``ph/model``, ``ph_both/model``, …) for the MD benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
import torch

from topophys.config import atomic_write_text
from topophys.data.structures import frame_energy
from topophys.descriptors.local_ph import LocalPHConfig
from topophys.descriptors.soap import SOAPConfig
from topophys.models.local_ph import AtomicNetwork
from topophys.training._forces import errors
from topophys.training._loop import holdout_split
from topophys.training.force_baselines import (
    AtomicSchNet,
    SchNetForceConfig,
    fit_force_model,
    schnet_samples,
    soap_samples,
)
from topophys.training.local_ph import (
    LocalPHFitConfig,
    fit_local_ph,
    force_labels,
    force_subset,
    ph_samples,
    prepare_network,
)

TRAIN_FORCE_ATOMS, TEST_FORCE_ATOMS = 16, 32


def load(data: Path) -> tuple[list[Any], list[Any], np.ndarray, np.ndarray]:
    frames = []
    for path in sorted(data.glob("*.extxyz")):
        frames += ase.io.read(path, ":")
    runs = np.array([a.info["run"] for a in frames])
    index = np.arange(len(frames))
    train, test = index[runs != 2], index[runs == 2]
    return [frames[i] for i in train], [frames[i] for i in test], train, test


def header(data: Path, train: list[Any], test: list[Any]) -> dict[str, Any]:
    """What the JSON says of the data set and the machine (shared with local_ph_study.py)."""
    return {
        "data": str(data),
        "n_train_structures": len(train),
        "n_test_structures": len(test),
        "atoms_per_structure": len(train[0]),
        "force_atoms": {"train": TRAIN_FORCE_ATOMS, "test": TEST_FORCE_ATOMS},
        "cpus": os.cpu_count(),
    }


def fit_config(epochs: int, force_weight: float = 1.0, seed: int = 0) -> LocalPHFitConfig:
    return LocalPHFitConfig(
        epochs=epochs,
        force_weight=force_weight,
        seed=seed,
        milestones=tuple(sorted({max(1, epochs // 2), max(2, (4 * epochs) // 5)})),
        force_atoms=TRAIN_FORCE_ATOMS,
        patience=max(10, epochs // 5),
        validation_fraction=0.1,
        checkpoint_every=10,
    )


def git_commit() -> str | None:
    """The checked-out commit (short hash) when a model's run starts, recorded with its entry:
    the models of one JSON may be measured at different commits. ``-dirty`` when ``src/`` or
    ``benchmarks/`` differ from it (the commit alone would not reproduce the numbers)."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "benchmarks"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    commit = found.stdout.strip()
    return (commit + ("-dirty" if changed.stdout.strip() else "")) or None


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def cold(frames: list[Any]) -> np.ndarray:
    """Frames near the conditions of the MD benchmark: the NVT frames at 300 and 1000 K and the
    quench below 2000 K (by the step's place in the 5000 → 300 K ramp)."""
    out = []
    for a in frames:
        stage = a.info.get("process")
        # The quench ramps 5000 → 300 K over steps 9001-11000 of the papers' protocol.
        temperature = 5000.0 - 4700.0 * (a.info.get("step", 0) - 9000) / 2000.0
        late = stage == "quench" and temperature <= 2000.0
        out.append(stage == "nvt" or late)
    return np.array(out)


def scores(model: torch.nn.Module, samples: list[Any], mask: np.ndarray) -> dict[str, Any]:
    return {
        **errors(model, samples),
        "cold": errors(model, [s for s, m in zip(samples, mask, strict=True) if m]),
    }


def ph_samples_of(
    train, test, i_train, i_test, descriptor: LocalPHConfig
) -> tuple[list[Any], list[Any], float]:
    """Training and test PH samples (the force atoms of every model) and the seconds per
    structure they took."""
    samples, t_train = timed(
        ph_samples, train, descriptor, force_atoms=TRAIN_FORCE_ATOMS, seed=0, indices=i_train
    )
    held, t_test = timed(
        ph_samples, test, descriptor, force_atoms=TEST_FORCE_ATOMS, seed=1, indices=i_test
    )
    return samples, held, (t_train + t_test) / (len(train) + len(test))


def run_ph(
    train,
    test,
    i_train,
    i_test,
    work: Path,
    epochs: int,
    name: str = "ph",
    force_weight: float = 1.0,
    linear_start: bool = False,
    seed: int = 0,
    **changes: Any,
) -> dict[str, Any]:
    """The local PH potential on ``LocalPHConfig(**changes)``, saved in ``work / name``;
    ``seed`` is the fit's (weights, batch order, held-out structures), not the force atoms'."""
    descriptor = LocalPHConfig(**changes)
    config = fit_config(epochs, force_weight, seed).replace(linear_start=linear_start)
    samples, held, seconds = ph_samples_of(train, test, i_train, i_test, descriptor)
    where = work / name
    fitted, t_fit = timed(fit_local_ph, train, descriptor, config, where, samples=samples)
    model, history = fitted
    potential = model.potential
    start = time.perf_counter()
    for a in test[:5]:
        potential.compute(a)
    predict = (time.perf_counter() - start) / 5
    return {
        "descriptor": descriptor.to_dict(),
        "force_weight": force_weight,
        "linear_start": linear_start,
        "n_features": descriptor.n_features,
        "n_parameters": n_params(potential.network),
        "test": scores(potential.network, held, cold(test)),
        "train": errors(potential.network, samples),
        "epochs_run": len(history["epoch"]),
        "best_holdout_epoch": int(np.argmin(history.get("holdout_score", [0])) + 1),
        "descriptor_s_per_structure": seconds,
        "fit_s": t_fit,
        "energy_forces_s_per_structure": predict,
    }


_SOAP_SAMPLES: dict[str, Any] = {}


def soap_samples_of(train, test, i_train, i_test) -> tuple[list[Any], list[Any], float]:
    """Training and test SOAP samples and the seconds per structure they took, computed once
    per process (the SOAP rows share them)."""
    if not _SOAP_SAMPLES:
        soap = SOAPConfig()
        samples, t_train = timed(
            soap_samples, train, soap, force_atoms=TRAIN_FORCE_ATOMS, seed=0, indices=i_train
        )
        held, t_test = timed(
            soap_samples, test, soap, force_atoms=TEST_FORCE_ATOMS, seed=1, indices=i_test
        )
        _SOAP_SAMPLES.update(
            samples=samples, held=held, seconds=(t_train + t_test) / (len(train) + len(test))
        )
    return _SOAP_SAMPLES["samples"], _SOAP_SAMPLES["held"], _SOAP_SAMPLES["seconds"]


def run_soap(
    train,
    test,
    i_train,
    i_test,
    work: Path,
    epochs: int,
    force_weight: float = 1.0,
    linear_start: bool = False,
) -> dict[str, Any]:
    soap = SOAPConfig()
    samples, held, seconds = soap_samples_of(train, test, i_train, i_test)
    torch.manual_seed(0)
    model = AtomicNetwork(soap.n_features, linear=linear_start)
    name = "soap" if force_weight == 1.0 else f"soap_w_f{force_weight:g}"
    name += "_linear_start" if linear_start else ""
    config = fit_config(epochs, force_weight).replace(linear_start=linear_start)
    (model, history), t_fit = timed(fit_force_model, model, samples, config, run_dir=work / name)
    return {
        "descriptor": soap.to_dict(),
        "force_weight": force_weight,
        "linear_start": history.get("linear_start", False),
        "n_features": soap.n_features,
        "n_parameters": n_params(model),
        "test": scores(model, held, cold(test)),
        "train": errors(model, samples),
        "epochs_run": len(history["epoch"]),
        "best_holdout_epoch": int(np.argmin(history.get("holdout_score", [0])) + 1),
        "descriptor_and_derivatives_s_per_structure": seconds,
        "fit_s": t_fit,
    }


def linear_only(samples: list[Any], n_features: int, epochs: int) -> tuple[AtomicNetwork, Any]:
    """No network: the per-atom energy linear in the features, fitted exactly
    (``linear_start``) to the energies and forces at force weight 0.3, its ridge chosen on the
    held-out structures of the fits (``fit_config``'s split). Returns the model and what
    ``linear_start`` returned, with the fit's seconds."""
    config = fit_config(epochs, 0.3).replace(linear_start=True)
    fit, hold = holdout_split(len(samples), config.validation_fraction, config.seed)
    model = AtomicNetwork(n_features, linear=True).double()
    start = time.perf_counter()
    found = prepare_network(model, [samples[k] for k in fit], [samples[k] for k in hold], config)
    assert found is not None
    return model, {**found, "seconds": time.perf_counter() - start}


def linear_entry(model: AtomicNetwork, found: dict[str, Any], held, samples, test):
    return {
        "predictor": "linear per-atom energy, exact least squares",
        "force_weight": 0.3,
        "linear_start": {k: v for k, v in found.items() if k != "seconds"},
        "n_features": model.n_features,
        "n_parameters": model.n_features + 1,
        "test": scores(model, held, cold(test)),
        "train": errors(model, samples),
        "epochs_run": 0,
        "best_holdout_epoch": 0,
        "fit_s": found["seconds"],
    }


def run_soap_linear(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """The per-atom energy linear in SOAP (``linear_only``), the PH linear term's counterpart."""
    soap = SOAPConfig()
    samples, held, seconds = soap_samples_of(train, test, i_train, i_test)
    model, found = linear_only(samples, soap.n_features, epochs)
    return {
        "descriptor": soap.to_dict(),
        **linear_entry(model, found, held, samples, test),
        "descriptor_and_derivatives_s_per_structure": seconds,
    }


def run_ph_linear(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """The per-atom energy linear in ``ph_linear_start``'s images (``linear_only``): the term
    that fit starts from, alone."""
    descriptor = LocalPHConfig(**CYCLES)
    samples, held, seconds = ph_samples_of(train, test, i_train, i_test, descriptor)
    model, found = linear_only(samples, descriptor.n_features, epochs)
    return {
        "descriptor": descriptor.to_dict(),
        **linear_entry(model, found, held, samples, test),
        "descriptor_s_per_structure": seconds,
    }


def run_soap_linear_start(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """``soap_w_f0.3`` with the network trained on what the exact linear fit leaves, as
    ``ph_linear_start``."""
    return run_soap(train, test, i_train, i_test, work, epochs, force_weight=0.3, linear_start=True)


def run_schnet(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    config = SchNetForceConfig()
    samples = schnet_samples(train, config, force_atoms=TRAIN_FORCE_ATOMS, seed=0, indices=i_train)
    held = schnet_samples(test, config, force_atoms=TEST_FORCE_ATOMS, seed=1, indices=i_test)
    torch.manual_seed(0)
    model = AtomicSchNet(config)
    (model, history), t_fit = timed(
        fit_force_model, model, samples, fit_config(epochs), run_dir=work / "schnet"
    )
    start = time.perf_counter()
    for s in held[:5]:
        s.predict(model, False)
    return {
        "architecture": config.to_dict(),
        "n_parameters": n_params(model),
        "test": scores(model, held, cold(test)),
        "train": errors(model, samples),
        "epochs_run": len(history["epoch"]),
        "best_holdout_epoch": int(np.argmin(history.get("holdout_score", [0])) + 1),
        "fit_s": t_fit,
        "energy_forces_s_per_structure": (time.perf_counter() - start) / 5,
    }


class LabelSample:
    """A structure's labels on the force atoms the models are scored on, predicted by the
    reference: the training mean energy per atom and zero forces."""

    def __init__(self, atoms: Any, index: int, force_atoms: int, seed: int, e_atom: float):
        self.n_atoms, self.energy, self.e_atom = len(atoms), frame_energy(atoms), e_atom
        forces = force_labels(atoms)
        subset = force_subset(len(atoms), force_atoms, seed, index)
        self.forces = torch.as_tensor(forces[subset] if forces is not None else np.empty((0, 3)))

    def predict(self, model: Any, create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor(self.e_atom * self.n_atoms), torch.zeros_like(self.forces)


def run_reference(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """What the labels' own spread gives: a model must beat these to have learnt anything."""
    e_atom = float(np.mean([frame_energy(a) / len(a) for a in train]))
    held = [
        LabelSample(a, i, TEST_FORCE_ATOMS, 1, e_atom) for a, i in zip(test, i_test, strict=True)
    ]
    fitted = [
        LabelSample(a, i, TRAIN_FORCE_ATOMS, 0, e_atom) for a, i in zip(train, i_train, strict=True)
    ]
    none = torch.nn.Identity()
    return {
        "predictor": "training mean energy per atom, zero forces",
        "n_parameters": 1,
        "test": scores(none, held, cold(test)),
        "train": errors(none, fitted),
        "epochs_run": 0,
        "best_holdout_epoch": 0,
        "fit_s": 0.0,
    }


def run_ph_both(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """The local PH potential on the complexes with and without the centre."""
    return run_ph(train, test, i_train, i_test, work, epochs, "ph_both", centre="both")


def run_ph_circumradius(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """The same, the neighbours' graph valued by the triangles with the centre."""
    return run_ph(
        train, test, i_train, i_test, work, epochs, "ph_circumradius",
        centre="both", graph="circumradius",
    )  # fmt: skip


CYCLES = {"centre": "both", "graph": "circumradius", "graph_cycles": True}
"""The descriptor of ``ph_cycles`` and the rows after it: both complexes, the neighbours'
graph valued by the triangles with the centre, with its cycles."""
FROM_LINEAR = {"force_weight": 0.3, "linear_start": True}
"""The fit of ``ph_linear_start`` and the rows after it."""


def run_ph_cycles(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """The same with the graph's cycles (its H1), force weight 0.3."""
    return run_ph(
        train, test, i_train, i_test, work, epochs, "ph_cycles", force_weight=0.3, **CYCLES
    )


def run_ph_linear_start(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """``ph_cycles`` with the networks trained on what the exact linear fit leaves."""
    return run_ph(
        train, test, i_train, i_test, work, epochs, "ph_linear_start", **FROM_LINEAR, **CYCLES
    )


def run_ph_root(
    train, test, i_train, i_test, work: Path, epochs: int, seed: int = 0,
    name: str = "ph_root", bandwidth: float = 0.1, graph_summary: str = "persistence",
) -> dict[str, Any]:  # fmt: skip
    """``ph_linear_start`` on images of the values' square roots (Å), bandwidth 0.1 Å."""
    return run_ph(
        train, test, i_train, i_test, work, epochs, name, **FROM_LINEAR, **CYCLES,
        image_axes="root", bandwidth=bandwidth, seed=seed, graph_summary=graph_summary,
    )  # fmt: skip


def run_ph_root_narrow(
    train, test, i_train, i_test, work: Path, epochs: int, seed: int = 0
) -> dict[str, Any]:
    """``ph_root`` at bandwidth 0.05 Å (one pixel's width, as the squared axes' 0.1 Å²)."""
    return run_ph_root(train, test, i_train, i_test, work, epochs, seed, "ph_root_narrow", 0.05)


def run_ph_root_simplices(
    train, test, i_train, i_test, work: Path, epochs: int, seed: int = 0,
    name: str = "ph_root_simplices", bandwidth: float = 0.1,
) -> dict[str, Any]:  # fmt: skip
    """``ph_root`` with the neighbours' graph summarised by its simplices' values
    (``graph_summary="simplices"``: no pairing, so no force jumps where its forest changes)."""
    return run_ph_root(
        train, test, i_train, i_test, work, epochs, seed, name, bandwidth,
        graph_summary="simplices",
    )  # fmt: skip


def run_ph_root_simplices_wide(
    train, test, i_train, i_test, work: Path, epochs: int, seed: int = 0
) -> dict[str, Any]:
    """``ph_root_simplices`` at bandwidth 0.2 Å (the bandwidth against the MD drift)."""
    return run_ph_root_simplices(
        train, test, i_train, i_test, work, epochs, seed, "ph_root_simplices_wide", 0.2
    )


def run_soap_light_forces(train, test, i_train, i_test, work: Path, epochs: int) -> dict[str, Any]:
    """SOAP + NN at the force weight of ``ph_cycles`` (0.3), for a like-for-like row."""
    return run_soap(train, test, i_train, i_test, work, epochs, force_weight=0.3)


RUNNERS = {
    "ph": run_ph,
    "ph_both": run_ph_both,
    "ph_circumradius": run_ph_circumradius,
    "ph_cycles": run_ph_cycles,
    "ph_linear_start": run_ph_linear_start,
    "ph_root": run_ph_root,
    "ph_root_narrow": run_ph_root_narrow,
    "ph_root_simplices": run_ph_root_simplices,
    "ph_root_simplices_wide": run_ph_root_simplices_wide,
    "ph_linear": run_ph_linear,
    "soap": run_soap,
    "soap_w_f0.3": run_soap_light_forces,
    "soap_linear": run_soap_linear,
    "soap_linear_start": run_soap_linear_start,
    "schnet": run_schnet,
    "reference": run_reference,
}
SEEDED = ("ph_root", "ph_root_narrow", "ph_root_simplices")
"""The models ``--seed`` reruns (entries ``<name>_seed<n>``, saved under ``--work/seed<n>``)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--work", type=Path, default=Path("runs/local_ph"))
    parser.add_argument("--out", type=Path, default=Path("docs/data/local_ph_accuracy.json"))
    parser.add_argument("--models", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--schnet-epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help=f"the fit's seed, for {SEEDED}")
    args = parser.parse_args()
    if args.seed and set(args.models) - set(SEEDED):
        parser.error(f"--seed reruns only {', '.join(SEEDED)}")
    torch.set_num_threads(1)
    train, test, i_train, i_test = load(args.data)
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    out.update(header(args.data, train, test))
    out.setdefault("models", {})
    for name in args.models:
        load_start, commit = os.getloadavg(), git_commit()
        epochs = args.schnet_epochs if name == "schnet" else args.epochs
        if args.seed:
            work, key = args.work / f"seed{args.seed}", f"{name}_seed{args.seed}"
            result = RUNNERS[name](train, test, i_train, i_test, work, epochs, seed=args.seed)
            result["seed"] = args.seed
        else:
            key = name
            result = RUNNERS[name](train, test, i_train, i_test, args.work, epochs)
        result["load_average"] = {"start": load_start, "end": os.getloadavg()}
        result["commit"] = commit
        # Merged into the file as it is now: other models may have run beside this one.
        if args.out.exists():
            out["models"] = json.loads(args.out.read_text()).get("models", {})
        out["models"][key] = result
        out["load_average"] = {"start": load_start, "end": os.getloadavg()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")
        print(key, json.dumps(result["test"]), flush=True)


if __name__ == "__main__":
    main()
