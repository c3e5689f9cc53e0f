"""Periodic alpha persistence speed: ours against a reference measured in the same run.

Prints JSON: for amorphous-carbon-like structures of 216 and 512 atoms (a simple cubic lattice
at 0.125 atoms/Å³, i.e. ~2.5 g/cm³ of carbon, every atom displaced by a Gaussian of 0.25
spacings; periodic cubic cell), the median seconds of ``periodic_alpha_diagram`` (H0–H2) and
of the reference (wall and CPU time), ``speedup = reference / ours`` and the pair counts.

The reference is HomCloud's periodic alpha filtration when ``homcloud`` is importable, and then
the diagrams are also compared pair for pair. Otherwise it is GUDHI's ``AlphaComplex`` on the
3×3×3 replica of the cell (complex, filtration and persistence): a *different* computation,
wrong for the torus (it over-counts), timed only as a speed yardstick and labelled as such.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/homology_alpha.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gudhi
import numpy as np
import scipy

from topophys.homology import periodic_alpha_diagram

try:
    import homcloud.interface as homcloud
except ImportError:  # optional reference
    homcloud = None

DENSITY = 0.125  # atoms per Å³, amorphous carbon at ~2.5 g/cm³


def structure(n_side: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_side³`` atoms: a displaced simple cubic lattice in its periodic cubic cell (Å)."""
    rng = np.random.default_rng(seed)
    spacing = DENSITY ** (-1.0 / 3.0)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    points = (grid + rng.normal(0.0, 0.25, grid.shape)) * spacing
    return points, np.eye(3) * n_side * spacing


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``repeats`` calls after one warm-up, and the last result.

    CPU time (this process) is the steadier figure on a machine shared with other jobs.
    """
    result = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu), result


def homcloud_rows(points: np.ndarray, length: float) -> np.ndarray:
    pdlist = homcloud.PDList.from_alpha_filtration(points % length, periodicity=[(0.0, length)] * 3)
    rows = []
    for dim in range(3):
        pd = pdlist.dth_diagram(dim)
        finite = np.column_stack([pd.births, pd.deaths])
        finite = finite[finite[:, 1] - finite[:, 0] > 1e-10]
        essential = np.column_stack(
            [pd.essential_births, np.full(len(pd.essential_births), np.inf)]
        )
        for pairs in (finite, essential):
            rows.append(np.column_stack([np.full(len(pairs), dim), pairs]))
    return np.concatenate(rows)


def gudhi_replica(points: np.ndarray, cell: np.ndarray) -> int:
    """Pairs of GUDHI's alpha complex of the 3×3×3 replica (not a periodic computation)."""
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    replica = (points[None, :, :] + (shifts @ cell)[:, None, :]).reshape(-1, 3)
    st = gudhi.AlphaComplex(points=replica).create_simplex_tree()
    return len(st.persistence(min_persistence=0.0))


def same_pairs(ours: np.ndarray, theirs: np.ndarray) -> dict:
    out: dict = {"identical_counts": True, "max_bottleneck": 0.0}
    for dim in range(3):
        a, b = ours[ours[:, 0] == dim, 1:], theirs[theirs[:, 0] == dim, 1:]
        out["identical_counts"] &= len(a) == len(b)
        if len(a) == len(b):
            out["max_bottleneck"] = max(out["max_bottleneck"], gudhi.bottleneck_distance(a, b))
    return out


def run(n_side: int, repeats: int, reference_repeats: int) -> dict:
    points, cell = structure(n_side)
    ours, ours_cpu, diagram = median_seconds(lambda: periodic_alpha_diagram(points, cell), repeats)
    row = {
        "atoms": len(points),
        "cell_angstrom": round(float(cell[0, 0]), 3),
        "ours_seconds": round(ours, 4),
        "ours_cpu_seconds": round(ours_cpu, 4),
        "ours_pairs": len(diagram),
        "ours_pairs_by_dim": [int((diagram[:, 0] == k).sum()) for k in range(3)],
    }
    if homcloud is not None:
        length = float(cell[0, 0])
        ref, ref_cpu, theirs = median_seconds(
            lambda: homcloud_rows(points, length), reference_repeats
        )
        row |= {
            "reference": "homcloud periodic alpha",
            "reference_seconds": round(ref, 4),
            "reference_cpu_seconds": round(ref_cpu, 4),
            "speedup": round(ref / ours, 2),
            "speedup_cpu": round(ref_cpu / ours_cpu, 2),
            "pairs_vs_reference": same_pairs(diagram, theirs),
        }
    else:
        ref, ref_cpu, pairs = median_seconds(lambda: gudhi_replica(points, cell), reference_repeats)
        row |= {
            "reference": "gudhi AlphaComplex on the 3x3x3 replica (NOT periodic: speed only)",
            "reference_seconds": round(ref, 4),
            "reference_cpu_seconds": round(ref_cpu, 4),
            "speedup": round(ref / ours, 2),
            "speedup_cpu": round(ref_cpu / ours_cpu, 2),
            "reference_pairs": pairs,
        }
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    repeats, reference_repeats = (3, 1) if args.quick else (9, 3)
    load_start = [round(x, 2) for x in os.getloadavg()]
    report = {
        "benchmark": "homology_alpha",
        "cpus": os.cpu_count(),
        "machine": {
            "cpus": os.cpu_count(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "gudhi": gudhi.__version__,
            "homcloud": getattr(homcloud, "__version__", "installed") if homcloud else None,
        },
        "structure": "simple cubic lattice at 0.125 atoms/A^3 displaced by N(0, 0.25 spacing), "
        "seed 0, cubic periodic cell",
        "timing": f"median wall and CPU seconds of {repeats} calls (reference: "
        f"{reference_repeats}) after one warm-up; H0-H2",
        "goal": "512 atoms <= 0.2 s and >= 10x HomCloud (CPU time) with identical pairs",
        "periodic_alpha": [run(n, repeats, reference_repeats) for n in (6, 8)],
    }
    report["load_average"] = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
