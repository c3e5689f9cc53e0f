"""Distances between persistence diagrams: ``pairwise_distances`` against GUDHI, POT and persim.

Prints JSON: for a batch of ``n`` H1 diagrams of about ``k`` points each (random births, deaths
one exponential lifetime later, one essential point each), the seconds to fill the ``n × n``
matrix of each distance with ours (:func:`topophys.diagrams.pairwise_distances`) and with a loop
over the pairs of the reference a user would otherwise call, the CPU time beside the wall time,
speedup = reference / ours (CPU), and the largest difference between the matrices:

* bottleneck: ``gudhi.bottleneck_distance`` in its exact mode (``e=0``) and its default fast
  mode (a few units in the last place), ``persim.bottleneck``;
* 2-Wasserstein, L∞ ground distance: ``gudhi.wasserstein.wasserstein_distance`` (POT's exact
  network simplex), ``gudhi.hera.wasserstein_distance`` (approximate, relative error 0.01);
* 1-Wasserstein, Euclidean ground distance: ``persim.wasserstein`` (SciPy's assignment).

The load average is printed at the start and the end.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/homology_distances.py [--n 24] [--k 100] [--out F]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gudhi
import numpy as np

from topophys.diagrams import Diagrams, pairwise_distances


def batch(n: int, k: int, seed: int = 0) -> Diagrams:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = int(rng.integers(k // 2, 3 * k // 2))
        birth = rng.uniform(0.0, 1.0, m)
        rows = np.c_[np.ones(m), birth, birth + rng.exponential(0.2, m)]
        out.append(np.vstack([rows, [[1, rng.uniform(), np.inf]]]))
    return Diagrams.from_list(out)


def timed(fn: Callable[[], Any], repeats: int = 3) -> tuple[dict[str, float], Any]:
    result = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"wall": round(min(wall), 4), "cpu": round(min(cpu), 4)}, result


def loop(pairs: list[np.ndarray], fn: Callable[[np.ndarray, np.ndarray], float]) -> np.ndarray:
    """The matrix by a loop over the upper triangle, as a user would write it."""
    n = len(pairs)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = fn(pairs[i], pairs[j])
    return out


def finite(p: np.ndarray) -> np.ndarray:
    return p[np.isfinite(p[:, 1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24, help="diagrams in the batch")
    parser.add_argument("--k", type=int, default=100, help="typical points per diagram")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    X = batch(args.n, args.k)
    pairs = [X.pairs(i, 1) for i in range(len(X))]
    rows: list[dict[str, Any]] = []

    def compare(metric: str, ours_kw: dict, refs: dict[str, Callable], essential: bool) -> None:
        ours_t, ours = timed(lambda: pairwise_distances(X if essential else F, dim=1, **ours_kw))
        row: dict[str, Any] = {"metric": metric, "ours_seconds": ours_t, "references": {}}
        for name, fn in refs.items():
            data = pairs if essential else [finite(p) for p in pairs]
            ref_t, ref = timed(lambda fn=fn, data=data: loop(data, fn), 1)
            row["references"][name] = {
                "seconds": ref_t,
                "speedup": round(ref_t["cpu"] / ours_t["cpu"], 2),
                "max_abs_difference": float(np.abs(ref - ours).max()),
            }
        rows.append(row)

    F = X.finite()
    compare(
        "bottleneck",
        {},
        {
            "gudhi.bottleneck_distance(e=0), exact": lambda a, b: gudhi.bottleneck_distance(
                a, b, 0.0
            ),
            "gudhi.bottleneck_distance (fast mode)": gudhi.bottleneck_distance,
        },
        essential=True,
    )
    refs: dict[str, Callable] = {}
    try:
        import persim

        refs["persim.bottleneck"] = persim.bottleneck
    except ImportError:
        persim = None
    if refs:
        compare("bottleneck, finite points", {}, refs, essential=False)
    wasserstein_refs: dict[str, Callable] = {}
    try:
        from gudhi.wasserstein import wasserstein_distance

        wasserstein_refs["gudhi.wasserstein (POT), exact"] = lambda a, b: wasserstein_distance(
            a, b, order=2
        )
    except ImportError:
        pass
    from gudhi.hera import wasserstein_distance as hera

    wasserstein_refs["gudhi.hera, relative error 0.01"] = lambda a, b: hera(a, b, order=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare(
            "2-Wasserstein, L-infinity ground", {"metric": "wasserstein", "p": 2}, wasserstein_refs,
            essential=True,
        )  # fmt: skip
    if persim is not None:
        compare(
            "1-Wasserstein, Euclidean ground, finite points",
            {"metric": "wasserstein", "p": 1, "internal_p": 2},
            {"persim.wasserstein": persim.wasserstein},
            essential=False,
        )
    report = {
        "benchmark": "homology_distances",
        "cpus": os.cpu_count(),
        "machine": {
            "cpus": os.cpu_count(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "python": platform.python_version(),
            "gudhi": gudhi.__version__,
        },
        "batch": f"{args.n} H1 diagrams of {int(X.sizes().mean())} points on average",
        "timing": "best wall and CPU seconds for the whole n x n matrix; speedup on CPU time",
        "distances": rows,
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
    }
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
