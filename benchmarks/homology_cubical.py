"""Cubical persistence speed: ours against GUDHI (and CubicalRipser when installed), in one run.

Prints JSON: for random smoothed fields of 256² and 512² pixels, nanoseconds per pixel of
``cubical_diagram`` for each construction, open and periodic, next to the general GUDHI complex
for the same construction (``gudhi.CubicalComplex`` / ``gudhi.PeriodicCubicalComplex``) and
CubicalRipser (open boundaries only), with ``speedup = reference / ours`` and a check that the
diagrams agree pair for pair. Then the batch throughput of ``CubicalPersistence.transform`` on
1 and 2 local worker processes through ``topophys.parallel.pmap``: marginal fields per second,
and apart from it the fixed cost of starting the process pool that every call pays.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/homology_cubical.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gudhi
import numpy as np
from scipy.ndimage import gaussian_filter

from topophys.homology import CubicalPersistence, cubical_diagram

try:
    import cripser
except ImportError:  # optional reference
    cripser = None


def smooth_field(seed: int, size: int, sigma: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")


def best_seconds(fn: Callable[[], object], budget: float, max_repeats: int = 50) -> float:
    """Fastest of as many calls as fit in ``budget`` seconds (at least 3 after one warm-up)."""
    fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < max_repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def gudhi_rows(f: np.ndarray, construction: str, periodic: bool) -> np.ndarray:
    key = "top_dimensional_cells" if construction == "top" else "vertices"
    if periodic:
        cc = gudhi.PeriodicCubicalComplex(**{key: f}, periodic_dimensions=[True, True])
    else:
        cc = gudhi.CubicalComplex(**{key: f})
    cc.compute_persistence()
    rows = [(d, b, e) for d in (0, 1) for b, e in cc.persistence_intervals_in_dimension(d)]
    out = np.array(rows, dtype=float).reshape(-1, 3)
    return out[np.lexsort((out[:, 2], out[:, 1], out[:, 0]))]


def cripser_run(f: np.ndarray, construction: str) -> np.ndarray:
    if construction == "top":
        return cripser.computePH_T(f, maxdim=1)
    return cripser.computePH(f, maxdim=1)


def single_field(size: int, budget: float) -> list[dict]:
    f = smooth_field(0, size)
    ns = 1e9 / f.size
    results = []
    for construction in ("top", "vertex"):
        for periodic in (False, True):
            ours = best_seconds(
                lambda c=construction, p=periodic: cubical_diagram(f, construction=c, periodic=p),
                budget,
            )
            ref = best_seconds(lambda c=construction, p=periodic: gudhi_rows(f, c, p), budget)
            agree = bool(
                np.array_equal(
                    cubical_diagram(f, construction=construction, periodic=periodic),
                    gudhi_rows(f, construction, periodic),
                )
            )
            row = {
                "pixels": f"{size}x{size}",
                "construction": construction,
                "periodic": periodic,
                "ours_ns_per_pixel": round(ours * ns, 1),
                "gudhi_class": "PeriodicCubicalComplex" if periodic else "CubicalComplex",
                "gudhi_ns_per_pixel": round(ref * ns, 1),
                "speedup_vs_gudhi": round(ref / ours, 1),
                "pairs_identical_to_gudhi": agree,
            }
            if cripser is not None and not periodic:
                rip = best_seconds(lambda c=construction: cripser_run(f, c), budget)
                row["cubicalripser_ns_per_pixel"] = round(rip * ns, 1)
                row["speedup_vs_cubicalripser"] = round(rip / ours, 1)
            results.append(row)
    return results


def batch(size: int, n_fields: int, periodic: bool) -> dict:
    """Wall time of ``transform`` on ``n`` and ``3n`` fields with 1 and 2 workers.

    The difference of the two calls gives the marginal throughput, free of the fixed cost of
    starting the worker processes (spawned, each importing numpy, torch and topophys), which is
    reported apart as ``startup_seconds``.
    """
    fields = np.stack([smooth_field(seed, size) for seed in range(3 * n_fields)])
    out: dict = {"pixels": f"{size}x{size}", "periodic": periodic}
    reference = CubicalPersistence(periodic=periodic).transform(fields)
    for workers in (1, 2):
        cp = CubicalPersistence(periodic=periodic, n_jobs=workers, progress=False)
        seconds = {}
        for n in (n_fields, 3 * n_fields):
            t0 = time.perf_counter()
            diagrams = cp.transform(fields[:n])
            seconds[n] = time.perf_counter() - t0
        marginal = (seconds[3 * n_fields] - seconds[n_fields]) / (2 * n_fields)
        out[f"workers_{workers}"] = {
            f"seconds_for_{n}_fields": round(t, 3) for n, t in seconds.items()
        } | {
            "fields_per_second_marginal": round(1 / marginal, 1),
            "startup_seconds": round(max(seconds[n_fields] - n_fields * marginal, 0.0), 2),
            "same_diagrams_as_serial": bool(diagrams == reference),
        }
    out["marginal_speedup_2_vs_1_workers"] = round(
        out["workers_2"]["fields_per_second_marginal"]
        / out["workers_1"]["fields_per_second_marginal"],
        2,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budgets")
    args = parser.parse_args()
    budget = 0.3 if args.quick else 1.5
    report = {
        "benchmark": "homology_cubical",
        "machine": {
            "cpus": os.cpu_count(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "gudhi": gudhi.__version__,
            "cubicalripser": getattr(cripser, "__version__", None) if cripser else None,
        },
        "field": "gaussian_filter(standard normal, sigma=4, mode='wrap'), seed 0",
        "timing": "best of repeated calls, after one warm-up",
        "single_field": single_field(256, budget) + single_field(512, budget),
        "batch": [
            batch(256, 40 if args.quick else 100, periodic=False),
            batch(256, 10 if args.quick else 40, periodic=True),
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
