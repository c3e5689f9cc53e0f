"""The labelled 216-atom amorphous-carbon set of the local PH potential's benchmarks.

Short of the papers' DFT set, it is made here with LAMMPS and Tersoff (energies and forces):
melt-quench runs with the papers' protocol at three densities, frames kept from each stage
(mostly the quench), and from the final quenched structure of each run NVT frames at 300 K
and 1000 K, the conditions of the molecular dynamics the potential is judged by. One extxyz
file per run (``rho<ρ>_run<k>.extxyz``), skipped when present, so the script resumes.

    python benchmarks/local_ph_data.py runs/local_ph/data

The benchmarks split by run: runs 0 and 1 of each density train, run 2 tests.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ase.io

from topophys.simulate.amorphous import MeltQuenchConfig, melt_quench
from topophys.simulate.md import lammps_nvt_frames

DENSITIES = (2.0, 2.5, 3.0)
RUNS = 3
# Every k-th frame of each stage: heat (none kept), melt, cool, anneal, quench.
STRIDES = {"melt": 15, "cool": 20, "anneal": 5, "quench": 5}
NVT = ((300.0, 8), (1000.0, 8))  # temperature (K), frames from a 2 ps run
NVT_STEPS = 2000


def run_frames(density: float, run: int) -> list:
    frames = melt_quench(MeltQuenchConfig(seed=17), density, run)
    kept = []
    for stage, stride in STRIDES.items():
        of_stage = [a for a in frames if a.info["process"] == stage]
        kept += of_stage[stride - 1 :: stride]
    final = frames[-1]
    for k, (temperature, count) in enumerate(NVT):
        kept += lammps_nvt_frames(
            final,
            temperature,
            NVT_STEPS,
            count,
            seed=1 + 10 * run + k,
            info={"density": density, "run": run},
        )
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for density in DENSITIES:
        for run in range(RUNS):
            path = args.out / f"rho{density:.3f}_run{run:03d}.extxyz"
            if path.exists():
                continue
            start = time.perf_counter()
            frames = run_frames(density, run)
            tmp = path.with_suffix(".tmp")
            ase.io.write(tmp, frames, format="extxyz")
            tmp.replace(path)
            print(
                f"{path.name}: {len(frames)} frames, {time.perf_counter() - start:.0f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
