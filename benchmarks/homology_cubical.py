"""Cubical persistence speed: ours against GUDHI (and CubicalRipser when installed), in one run.

Prints JSON with these sections:

``single_field``
    For random fields of 256² and 512² pixels, nanoseconds per pixel of ``cubical_diagram``
    for each construction, open and periodic, next to the general GUDHI complex for the same
    construction and boundaries (``gudhi.CubicalComplex`` / ``gudhi.PeriodicCubicalComplex``)
    and CubicalRipser (open boundaries only), with ``speedup = reference / ours`` and a check
    that the diagrams agree pair for pair. Smooth fields (the case the goal is set for) and,
    periodic only, white noise (the hardest case: a basin every few pixels). Each figure is
    the best of repeated calls after a warm-up, on two clocks: ``wall`` (``perf_counter``)
    and ``cpu`` (``process_time`` of this single-threaded process, which other load on the
    machine disturbs less); ``meets_goal`` compares the cpu figure with the 40 ns/pixel goal.
``jit``
    The periodic path runs numba kernels compiled on first use and cached on disk. In fresh
    processes: the import, then the first periodic call of each construction with an empty
    cache (compiling) and again with the cache filled (loading), then a second call.
``batch``
    Throughput of ``CubicalPersistence.transform`` on 1 and 2 local worker processes through
    ``topophys.parallel.pmap``: marginal fields per second, and apart from it the one-off
    costs of starting the (persistent) process pool and of the workers' first call.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/homology_cubical.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gudhi
import numba
import numpy as np
from scipy.ndimage import gaussian_filter

from topophys.homology import CubicalPersistence, cubical_diagram
from topophys.parallel import warm_up

try:
    import cripser
except ImportError:  # optional reference
    cripser = None

GOAL_NS_PER_PIXEL = 40.0


def make_field(seed: int, size: int, kind: str = "smooth") -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal((size, size))
    return gaussian_filter(noise, 4.0, mode="wrap") if kind == "smooth" else noise


def best_seconds(
    fn: Callable[[], object], budget: float, max_repeats: int = 50
) -> dict[str, float]:
    """Fastest wall and cpu time of as many calls as fit in ``budget`` seconds (at least 3)."""
    fn()
    wall: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(wall) < 3 or (time.perf_counter() - start < budget and len(wall) < max_repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"wall": min(wall), "cpu": min(cpu)}


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


def ns(seconds: dict[str, float], pixels: int) -> dict[str, float]:
    return {clock: round(t * 1e9 / pixels, 1) for clock, t in seconds.items()}


def single_field(size: int, kind: str, periodic_options: tuple[bool, ...], budget: float) -> list:
    f = make_field(0, size, kind)
    results = []
    for construction in ("top", "vertex"):
        for periodic in periodic_options:
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
                "field": kind,
                "construction": construction,
                "periodic": periodic,
                "ours_ns_per_pixel": ns(ours, f.size),
                "gudhi_class": "PeriodicCubicalComplex" if periodic else "CubicalComplex",
                "gudhi_ns_per_pixel": ns(ref, f.size),
                "speedup_vs_gudhi": round(ref["cpu"] / ours["cpu"], 1),
                "pairs_identical_to_gudhi": agree,
                "meets_goal": ours["cpu"] * 1e9 / f.size <= GOAL_NS_PER_PIXEL,
            }
            if cripser is not None and not periodic:
                rip = best_seconds(lambda c=construction: cripser_run(f, c), budget)
                row["cubicalripser_ns_per_pixel"] = ns(rip, f.size)
                row["speedup_vs_cubicalripser"] = round(rip["cpu"] / ours["cpu"], 1)
            results.append(row)
    return results


# Run in a fresh interpreter: import, first periodic call of each construction, second call.
_JIT_SCRIPT = textwrap.dedent(
    """
    import json, time
    t0 = time.perf_counter()
    import numpy as np
    from topophys.homology import cubical_diagram
    out = {"import_seconds": time.perf_counter() - t0}
    f = np.random.default_rng(0).standard_normal((64, 64))
    for construction in ("top", "vertex"):
        t0 = time.perf_counter()
        cubical_diagram(f, construction=construction, periodic=True)
        out[f"first_call_{construction}_seconds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cubical_diagram(f, construction="top", periodic=True)
    out["second_call_seconds_64x64"] = time.perf_counter() - t0
    print(json.dumps(out))
    """
)


def jit_warmup() -> dict:
    """First-call cost of the compiled periodic kernels, with an empty and a filled cache."""
    out: dict = {}
    with tempfile.TemporaryDirectory() as cache:
        # NUMBA_CACHE_DIR takes precedence over the package's __pycache__: empty means compile.
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
        for state in ("empty_cache", "filled_cache"):
            done = subprocess.run(
                [sys.executable, "-c", _JIT_SCRIPT],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            out[state] = {k: round(v, 4) for k, v in json.loads(done.stdout).items()}
    return out


def batch(size: int, n_fields: int, periodic: bool) -> dict:
    """Throughput of ``transform`` with 1 and 2 workers, apart from the one-off costs.

    ``startup_seconds``: starting the persistent worker pool (spawned processes, each
    importing numpy, torch and topophys; with 1 worker nothing starts). ``first_call_seconds``:
    a first ``transform`` of one field per worker, where each worker loads the compiled
    kernels. Then ``n`` and ``3n`` fields: their difference gives the marginal throughput.
    """
    fields = np.stack([make_field(seed, size) for seed in range(3 * n_fields)])
    out: dict = {"pixels": f"{size}x{size}", "periodic": periodic}
    reference = CubicalPersistence(periodic=periodic).transform(fields)
    for workers in (1, 2):
        cp = CubicalPersistence(periodic=periodic, n_jobs=workers, progress=False)
        t0 = time.perf_counter()
        if workers > 1:
            warm_up(workers)
        t1 = time.perf_counter()
        cp.transform(fields[:workers])
        t2 = time.perf_counter()
        seconds = {}
        for n in (n_fields, 3 * n_fields):
            t_start = time.perf_counter()
            diagrams = cp.transform(fields[:n])
            seconds[n] = time.perf_counter() - t_start
        marginal = (seconds[3 * n_fields] - seconds[n_fields]) / (2 * n_fields)
        out[f"workers_{workers}"] = (
            {
                "startup_seconds": round(t1 - t0, 2),
                "first_call_seconds": round(t2 - t1, 2),
            }
            | {f"seconds_for_{n}_fields": round(t, 3) for n, t in seconds.items()}
            | {
                "fields_per_second_marginal": round(1 / marginal, 1),
                "same_diagrams_as_serial": bool(diagrams == reference),
            }
        )
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
    single = []
    for size in (256, 512):
        single += single_field(size, "smooth", (False, True), budget)
    for size in (256,) if args.quick else (256, 512):
        single += single_field(size, "noise", (True,), budget)
    report = {
        "benchmark": "homology_cubical",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "gudhi": gudhi.__version__,
            "cubicalripser": getattr(cripser, "__version__", None) if cripser else None,
        },
        "fields": {
            "smooth": "gaussian_filter(standard normal, sigma=4, mode='wrap'), seed 0",
            "noise": "standard normal, seed 0",
        },
        "timing": "best of repeated calls after one warm-up; wall = perf_counter, "
        "cpu = process_time",
        "goal_ns_per_pixel": GOAL_NS_PER_PIXEL,
        "single_field": single,
        "jit": jit_warmup(),
        "batch": [
            batch(256, 40 if args.quick else 100, periodic=False),
            batch(256, 20 if args.quick else 60, periodic=True),
        ],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
