"""Controlled variants of the NRP models on the demo's data: one change at a time, measured.

Reads a finished ``topophys run nrp`` directory (``make demo`` writes ``runs/demo``), reuses its
fields, diagrams, splits and fresh runs (:func:`topophys.pipelines.nrp.prepare_inputs`), trains
each variant of the PD (or image) model's configuration, a few overrides of the demo's, with one
or more training seeds, scores it with :func:`topophys.pipelines.nrp.evaluate_model` exactly as the
pipeline scores its own models, and prints JSON: per variant and seed the k-step ratios
(data / decoded / latent) on the training runs, the held-out anisotropies and the fresh runs,
the held-out reconstruction error, the gauge-free monotone fraction, the rank correlation with
the TDGL energy, the latent smoothness, the epochs run and the CPU and wall time.

Fits are kept in ``RUN/variants/NAME-sSEED`` and reused by a rerun, so an interrupted study
resumes. ``docs/regenerate.py nrp-variants FILE`` turns the JSON into the table of
``docs/nrp.md``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/nrp_variants.py runs/demo --out nrp_variants.json -j 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

BASE = "demo"
"""The demo's own PD model; every other variant changes it in the named fields only."""

VARIANTS: dict[str, dict[str, Any]] = {
    BASE: {},
    # the papers' choices: both, then one at a time
    "papers: λ 0.1 and 2-D": {"lambda_v": 0.1, "latent_dim": 2},
    "λ 0.1": {"lambda_v": 0.1},
    "2-D latent": {"latent_dim": 2},
    # the other levers, each from the demo
    "2-D latent and lv_steps 5": {"latent_dim": 2, "lv_steps": 5},
    "residual relative": {"residual": "relative"},
    "field-coupled V": {"potential_form": "field-coupled"},
    "no early stopping": {"early_stopping_patience": 0},
    "1 training seed per α": {"train_seeds": [0]},
    # the image model: is it the budget?
    "image: demo": {"model": "image"},
    "image: 4× epochs": {"model": "image", "epochs": 60},
    "image: 4× epochs and λ 0 (autoencoder alone)": {
        "model": "image",
        "epochs": 60,
        "lambda_v": 0.0,
    },
}
"""Overrides of the demo's PD model (or, with ``model: image``, of its image model);
``train_seeds`` (not a model field) keeps only the training runs of those seeds, to measure what
more runs per anisotropy buy."""


@dataclass(frozen=True)
class _Job:
    run: Path
    name: str
    seed: int

    def __call__(self) -> dict[str, Any]:
        import resource

        import torch

        from topophys.pipelines.nrp import NRPPipelineConfig, evaluate_model, prepare_inputs
        from topophys.training.nrp import build_model, fit_nrp, fit_record

        torch.set_num_threads(1)
        config = NRPPipelineConfig.from_yaml(self.run / "config.yaml")
        inputs = prepare_inputs(config, self.run, progress=False)
        overrides = dict(VARIANTS[self.name])
        which = overrides.pop("model", "pd")
        train = inputs.splits["train"]
        if "train_seeds" in overrides:
            train = train & np.isin(inputs.runs.seeds, overrides.pop("train_seeds"))
        base = config.pd_model if which == "pd" else config.image_model
        model_config = base.replace(**overrides, seed=self.seed)
        data, splits = inputs.runs.datasets[which], inputs.splits
        model = build_model("mlp" if which == "pd" else "conv", data.shape, model_config, 2)
        slug = re.sub(r"[^A-Za-z0-9.-]+", "_", self.name).strip("_")
        out = self.run / "variants" / f"{slug}-s{self.seed}"
        val = data.subset(splits["validation"]) if splits["validation"].any() else None
        wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_utime
        fit_nrp(model, data.subset(train), model_config, out, val=val, progress=False)
        wall = time.perf_counter() - wall
        cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu
        metrics, _ = evaluate_model(model.eval(), which, inputs)
        return {
            "variant": self.name,
            "model": which,
            "seed": self.seed,
            "overrides": VARIANTS[self.name],
            "rollout": {
                split: {
                    k: [r["ratio"], r["decoded_baseline_ratio"], r["latent_ratio"]]
                    for k, r in by_k.items()
                }
                for split, by_k in metrics["rollout"].items()
            },
            "heldout_reconstruction": _reconstruction(model, data.subset(splits["heldout"])),
            "anchored_monotone_fraction": metrics["anchored_monotone_fraction"],
            "anchored_energy_monotone_fraction": metrics["anchored_energy_monotone_fraction"],
            "energy_rank_correlation": metrics["energy_rank_correlation"]["anchored"],
            "latent": metrics["latent"],
            "fit": fit_record(out),
            "train_wall_s": round(wall, 1),
            "train_cpu_s": round(cpu, 1),
        }


def _reconstruction(model: Any, data: Any) -> float:
    """Σ‖D(E(x)) − x‖ / Σ‖x‖ over every snapshot of ``data``."""
    import torch

    x = np.array(data.x).reshape(-1, *data.shape)  # a copy: the store's arrays are read-only
    with torch.no_grad():
        rec = model.decode(model.encode(torch.as_tensor(x))).numpy()
    num = np.linalg.norm((rec - x).reshape(len(x), -1), axis=1).sum()
    return float(num / np.linalg.norm(x.reshape(len(x), -1), axis=1).sum())


def _call(job: _Job) -> dict[str, Any]:
    return job()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished `topophys run nrp` directory")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated names (default: all)"
    )
    parser.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    parser.add_argument("-j", "--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the results already in --out, replacing those of the same variant and seed",
    )
    args = parser.parse_args(argv)
    if not (args.run / "config.yaml").is_file():
        print(f"error: {args.run} holds no pipeline run (no config.yaml)", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        print(f"error: unknown variants {unknown}; known: {list(VARIANTS)}", file=sys.stderr)
        return 2
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [_Job(args.run, n, s) for n in names for s in seeds]
    start, load_start = time.perf_counter(), os.getloadavg()
    from topophys.parallel import pmap

    results = pmap(_call, jobs, workers=args.workers, desc="variants")
    wall = time.perf_counter() - start
    if args.merge and args.out is not None and args.out.is_file():
        done = {(r["variant"], r["seed"]) for r in results}
        earlier = json.loads(args.out.read_text())
        results = [r for r in earlier["results"] if (r["variant"], r["seed"]) not in done] + results
        # the merged file spans both invocations: their wall time, the first one's start load
        wall += earlier["wall_s"]
        load_start = earlier["load_average"]["start"]
    report = {
        "benchmark": "nrp_variants",
        "run": str(args.run),
        "base": BASE,
        "results": results,
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
