"""Molecular dynamics with the local PH potential against the label potential (Tersoff, LAMMPS).

1. **NVE** (velocity Verlet, 1 fs) of a 216-atom amorphous carbon structure the potential
   never saw (the last 300 K NVT frame of a test run of ``benchmarks/local_ph_data.py``),
   from the same positions and Maxwell–Boltzmann velocities at 300 K, with the PH potential
   (ASE) and with Tersoff (LAMMPS): energy drift per atom per ps, temperature, radial
   distribution and sp/sp²/sp³ shares.
2. **Switches**: over the first steps of the PH run, the share of atoms whose diagram changed
   recipe from one step to the next (:func:`topophys.descriptors.local_ph.recipe_changes`:
   pairing switches, attachment changes, flips — where the forces may jump).
3. **Cost**: milliseconds per MD step at 216, 512 and 1,728 atoms for both (1,728 is the
   216-atom structure repeated 2 × 2 × 2; 512 a short melt-quench).

    python benchmarks/local_ph_md.py runs/local_ph/ph/model runs/local_ph/data \\
        --out docs/data/local_ph_md.json --ps 10

Parts are merged into ``--out`` as they finish (``--parts nve switches cost``). The PH NVE run
(about 0.5–1 s per step here, so hours for 10 ps) writes a checkpoint every 100 steps
(``--checkpoint``, default ``runs/local_ph_md/<model>_<ps>ps.npz``); the same command run again
resumes it where it stopped, on the same trajectory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import ase.io
import numpy as np
from ase import units
from ase.md.verlet import VelocityVerlet

from topophys.descriptors.local_ph import local_pairs, recipe_changes
from topophys.evaluate.md import coordination_fractions, energy_drift, radial_distribution
from topophys.potentials import load_energy_model
from topophys.simulate.amorphous import MeltQuenchConfig, melt_quench
from topophys.simulate.md import NVEResult, lammps_nve, maxwell_boltzmann, nve

DENSITY, TEST_RUN, TEMPERATURE = 2.5, 2, 300.0


def start_structure(data: Path) -> Any:
    frames = ase.io.read(data / f"rho{DENSITY:.3f}_run{TEST_RUN:03d}.extxyz", ":")
    cold = [a for a in frames if a.info.get("process") == "nvt" and a.info["temperature"] == 300.0]
    atoms = cold[-1].copy()
    atoms.calc = None
    return atoms


def summary(run: NVEResult, half: bool = True) -> dict[str, Any]:
    frames = run.frames[len(run.frames) // 2 :] if half else run.frames
    r, g = radial_distribution(frames, r_max=5.0, bins=100)
    return {
        **energy_drift(run.time_ps, run.total, run.n_atoms),
        "temperature_K": {
            "mean": float(run.temperature.mean()),
            "std": float(run.temperature.std()),
        },
        "coordination": coordination_fractions(frames),
        "rdf": {"r": r.round(4).tolist(), "g": g.round(5).tolist()},
        "ms_per_step": 1000.0 * run.seconds_per_step,
        "steps": round(run.time_ps[-1] * 1000),
        "energy_per_atom_eV": {
            "potential_mean": float(run.potential.mean() / run.n_atoms),
            "total_start": float(run.total[0] / run.n_atoms),
        },
    }


def compare_rdf(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    r, ga, gb = (np.array(x) for x in (a["rdf"]["r"], a["rdf"]["g"], b["rdf"]["g"]))
    first = r < 1.9
    return {
        "first_peak_A": [
            float(r[first][np.argmax(ga[first])]),
            float(r[first][np.argmax(gb[first])]),
        ],
        "first_peak_height": [float(ga[first].max()), float(gb[first].max())],
        "relative_l1_difference": float(np.abs(ga - gb).sum() / np.abs(gb).sum()),
    }


def model_hash(model_dir: Path) -> str:
    """SHA-256 of a saved model's files: a checkpoint of another potential is refused."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def part_nve(model: Any, atoms: Any, ps: float, checkpoint: Path, tag: str) -> dict[str, Any]:
    steps = round(ps * 1000)
    v = maxwell_boltzmann(atoms, TEMPERATURE, seed=0)
    ours = nve(
        atoms, model.calculator(), steps, velocities=v, interval=10, progress=True,
        checkpoint=checkpoint, checkpoint_tag=tag,
    )  # fmt: skip
    ref = lammps_nve(atoms, steps, velocities=v, interval=10)
    a, b = summary(ours), summary(ref)
    return {"ph": a, "lammps": b, "rdf_comparison": compare_rdf(a, b), "ps": ps}


def part_switches(model: Any, atoms: Any, steps: int) -> dict[str, Any]:
    run = atoms.copy()
    run.set_velocities(maxwell_boltzmann(atoms, TEMPERATURE, seed=0))
    run.calc = model.calculator()
    config = model.config
    thresholds = (0.0, 0.01, 0.1)  # Å²: every change, and changes of pairs more persistent
    shares: list[list[float]] = []
    last = [local_pairs(run, config)]

    def count() -> None:
        now = local_pairs(run, config)
        shares.append([float(recipe_changes(last[0], now, t).mean()) for t in thresholds])
        last[0] = now

    dyn = VelocityVerlet(run, timestep=1.0 * units.fs)
    dyn.attach(count, interval=1)
    dyn.run(steps)
    table = np.array(shares[1:])  # the first call compares the start with itself
    return {
        "steps": steps,
        "by_min_persistence": {
            str(t): {
                "atoms_changed_per_step": float(table[:, k].mean()),
                "steps_with_a_change": float(np.mean(table[:, k] > 0)),
            }
            for k, t in enumerate(thresholds)
        },
    }


def structures(atoms: Any) -> dict[int, Any]:
    small = melt_quench(MeltQuenchConfig(n_atoms=512, time_scale=0.2, seed=17), DENSITY, 0)[-1]
    small.calc = None
    return {216: atoms, 512: small, 1728: atoms.repeat(2)}


def part_cost(model: Any, atoms: Any, steps: int) -> dict[str, Any]:
    out = {}
    for n, structure in structures(atoms).items():
        v = maxwell_boltzmann(structure, TEMPERATURE, seed=1)
        ours = nve(structure, model.calculator(), steps, velocities=v, interval=steps)
        ref = lammps_nve(structure, 200, velocities=v, interval=100)
        out[str(n)] = {
            "ph_ms_per_step": 1000.0 * ours.seconds_per_step,
            "lammps_ms_per_step": 1000.0 * ref.seconds_per_step,
        }
    sizes = np.array([int(k) for k in out])
    ph = np.array([v["ph_ms_per_step"] for v in out.values()])
    slope, intercept = np.polyfit(sizes, ph, 1)
    return {
        "sizes": out,
        "ph_ms_per_atom_step": (ph / sizes).tolist(),
        "ph_linear_fit": {"ms_per_atom": float(slope), "ms_offset": float(intercept)},
        "ph_steps_timed": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/data/local_ph_md.json"))
    parser.add_argument("--ps", type=float, default=10.0)
    parser.add_argument("--switch-steps", type=int, default=100)
    parser.add_argument("--cost-steps", type=int, default=5)
    parser.add_argument("--parts", nargs="+", default=["nve", "switches", "cost"])
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="the PH NVE run's checkpoint (default runs/local_ph_md/<model>_<ps>ps.npz): a run "
        "stopped part-way resumes from it",
    )
    args = parser.parse_args()
    checkpoint = args.checkpoint or Path(
        f"runs/local_ph_md/{args.model.parent.name}_{args.ps:g}ps.npz"
    )
    model = load_energy_model(args.model)
    atoms = start_structure(args.data)
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    out.update(
        {
            "model": str(args.model),
            "n_atoms": len(atoms),
            "density": DENSITY,
            "temperature_K": TEMPERATURE,
            "cpus": os.cpu_count(),
        }
    )
    runners = {
        "nve": lambda: part_nve(model, atoms, args.ps, checkpoint, model_hash(args.model)),
        "switches": lambda: part_switches(model, atoms, args.switch_steps),
        "cost": lambda: part_cost(model, atoms, args.cost_steps),
    }
    for part in args.parts:
        load, start = os.getloadavg(), time.perf_counter()
        result = runners[part]()
        result["wall_s"] = time.perf_counter() - start
        result["load_average"] = {"start": load, "end": os.getloadavg()}
        out[part] = result
        out["load_average"] = result["load_average"]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(part, "done", flush=True)


if __name__ == "__main__":
    main()
