"""The letter's cyclo-octane study: the intrinsic dimension of each representation's embedding.

Prints JSON: for each representation (Kabsch-aligned coordinates, pair distances, DScribe SOAP
and ACSF, persistence images of the alpha diagrams) the maximum-likelihood local dimension of
its 3-D PCA embedding and of the full feature space, and the variance the three components
explain. The letter's claim is that the persistence images lie on a curve (dimension ≈ 1) in
three PCA dimensions where the others form surfaces (≈ 2).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/cyclooctane.py [--conformers 1000] [--seed 0]
[--out FILE]``; ``docs/cyclooctane.md``'s table is regenerated with
``python docs/regenerate.py cyclooctane FILE``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from topophys.evaluate.cyclooctane import REPRESENTATIONS, CycloOctaneConfig, cyclooctane_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conformers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, default=12, help="neighbours of the dimension estimate")
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    config = CycloOctaneConfig(
        n_conformers=args.conformers, seed=args.seed, k=args.k, representations=REPRESENTATIONS
    )
    start, cpu = time.perf_counter(), time.process_time()
    metrics, figures = cyclooctane_section(config)
    for figure, _ in figures:
        plt.close(figure)
    report = {
        "benchmark": "cyclo-octane conformers: local dimension of each representation",
        "config": {"n_conformers": args.conformers, "seed": args.seed, "k": args.k},
        "metrics": metrics,
        "seconds": round(time.perf_counter() - start, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
