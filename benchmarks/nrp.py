"""The flagship pipeline at demo size: stage wall times, training throughput, peak memory.

Prints JSON:

- ``stages_s``: wall time of each stage of ``topophys run nrp`` with the demo configuration
  (simulate, diagrams, vectorize, train, evaluate, report) and the total, against the goal of the
  whole demo under 10 minutes on 2 cores;
- ``train_throughput``: training windows per second of each model (PD MLP and image conv), measured
  on synthetic inputs of the demo's shapes, one thread, the same loss as the pipeline; the
  reference is a plain autoencoder step (L_AE only) on the same batch, so ``ratio`` is the cost of
  the potential term (its double backward) relative to an autoencoder alone;
- ``peak_rss_mb``: peak resident memory of this process and of its worker processes.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/nrp.py [--out DIR] [--workers 2] [--skip-pipeline]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from topophys.pipelines.nrp import DEMO_CONFIG, run
from topophys.training.nrp import build_model, nrp_loss


def throughput(kind: str, shape: tuple[int, ...], config, steps: int = 20) -> dict:
    torch.manual_seed(0)
    model = build_model(kind, shape, config, 2)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    b = config.batch_size
    x = torch.randn(b, 2, *shape)
    t = torch.sort(torch.rand(b, 2), dim=1).values
    c = torch.randn(b, 2, 2)

    def joint() -> None:
        loss = nrp_loss(model, x, t, c, config)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    def ae_only() -> None:
        flat = x.reshape(2 * b, *shape)
        loss = ((model.decode(model.encode(flat)) - flat) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    out = {}
    for name, fn in (("ours", joint), ("reference_ae_only", ae_only)):
        fn()
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        out[name] = round(b * steps / (time.perf_counter() - start), 1)
    out["ratio"] = round(out["reference_ae_only"] / out["ours"], 3)
    out["unit"] = "windows/s (one thread)"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: temp)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-pipeline", action="store_true", help="only the throughput")
    args = parser.parse_args()
    torch.set_num_threads(1)
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_avg": os.getloadavg(),
        },
        "train_throughput": {
            "pd_mlp": throughput("mlp", (800,), DEMO_CONFIG.pd_model),
            "image_conv": throughput(
                "conv", (DEMO_CONFIG.image_size,) * 2, DEMO_CONFIG.image_model
            ),
        },
    }
    if not args.skip_pipeline:
        out = args.out or Path(tempfile.mkdtemp(prefix="nrp-bench-")) / "run"
        start = time.perf_counter()
        run(DEMO_CONFIG, out, workers=args.workers, progress=False)
        wall = time.perf_counter() - start
        metrics = json.loads((out / "metrics.json").read_text())
        result["stages_s"] = metrics["timings_s"]
        result["pipeline_wall_s"] = round(wall, 1)
        result["goal_s"] = 600
        result["goal_met"] = wall <= 600
        result["run_dir"] = str(out)
    result["peak_rss_mb"] = {
        "self": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "children": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
