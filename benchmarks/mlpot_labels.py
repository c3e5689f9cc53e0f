"""Does the models' ranking hold on DFT-quality labels? The same frames, Tersoff against SNAP.

Runs the ``mlpot`` pipeline twice on the same melt-quench frames (every ``--stride``-th frame of
each run of an existing generated set, e.g. the paper-scale run's ``data/``): once with the
frames' own Tersoff labels, once relabelled with the DFT-trained carbon SNAP that ships with
LAMMPS (``relabel: snap``). Both fit Ridge, the CNN (narrow: the papers' width is GPU-sized),
SOAP + NN and PH + SOAP on every training frame of both splits (learning curves at the full
size) and score them on the test frames and the 512-atom frames. Also measured: how the two
label sets differ on the same frames (mean and spread of E_SNAP − E_Tersoff per atom, by stage,
and their rank correlation), which is why a model trained on one is never scored on the other
(:meth:`topophys.potentials.EnergyModel.score` refuses unless the mean offset is removed).

Usage (from the repository root; the data folder holds ``train/`` and ``transfer/``)::

    OMP_NUM_THREADS=1 python benchmarks/mlpot_labels.py runs/paper/data --stride 15 \\
        --out-dir runs/labels -j 1 --json docs/data/mlpot_labels.json
    python docs/regenerate.py mlpot-labels docs/data/mlpot_labels.json

Both runs resume (run directories under ``--out-dir``).
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


def configs(data: Path, stride: int):
    from topophys.pipelines.mlpot import LearningCurvesConfig, MLPotConfig
    from topophys.training.baselines import MLPConfig
    from topophys.training.regression import CNNConfig

    base = MLPotConfig(
        data=str(data / "train"),
        transfer_data=str(data / "transfer"),
        frame_stride=stride,
        chunk_size=64,
        cnn=CNNConfig(
            channels=(8, 8, 4), hidden=32, epochs=60, lr=5e-3, milestones=(30, 50),
            validation_fraction=0.1, patience=10,
        ),
        learning_curves=LearningCurvesConfig(
            sizes=(0,),
            models=("ridge", "soap_nn", "cnn", "ph_soap"),
            mlp=MLPConfig(validation_fraction=0.1, patience=100),
        ),
    )  # fmt: skip
    return {"tersoff": base, "snap": base.replace(relabel="snap")}


def label_differences(tersoff: Path, snap: Path) -> dict:
    """E_SNAP − E_Tersoff per atom on the same frames, overall and by stage."""
    from scipy.stats import spearmanr

    a, b = np.load(tersoff / "predictions.npz"), np.load(snap / "predictions.npz")
    if not np.array_equal(a["group"], b["group"]):
        raise SystemExit("the two runs do not hold the same frames")
    diff = b["energy"] - a["energy"]
    out = {
        "frames": len(diff),
        "mean_eV": float(diff.mean()),
        "std_eV": float(diff.std()),
        "min_eV": float(diff.min()),
        "max_eV": float(diff.max()),
        "spearman": float(spearmanr(a["energy"], b["energy"]).statistic),
        "tersoff_range_eV": [float(a["energy"].min()), float(a["energy"].max())],
        "snap_range_eV": [float(b["energy"].min()), float(b["energy"].max())],
        "by_stage": {},
    }
    for stage in dict.fromkeys(a["process"].tolist()):
        m = a["process"] == stage
        out["by_stage"][stage] = {
            "frames": int(m.sum()),
            "mean_eV": float(diff[m].mean()),
            "std_eV": float(diff[m].std()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="generated set with train/ and transfer/")
    parser.add_argument("--stride", type=int, default=15)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/labels"))
    parser.add_argument("-j", "--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    from topophys.pipelines.mlpot import run

    report: dict = {
        "benchmark": "mlpot ranking on Tersoff and SNAP labels of the same frames",
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": {"start": [round(x, 2) for x in os.getloadavg()]},
        "data": str(args.data),
        "stride": args.stride,
        "runs": {},
    }
    for name, config in configs(args.data, args.stride).items():
        t0 = time.perf_counter()
        run_dir = run(config, args.out_dir / name, workers=args.workers, progress=False)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        report["runs"][name] = {
            "run_dir": str(run_dir),
            "wall_s": round(time.perf_counter() - t0, 1),
            "data": metrics["data"],
            "points": metrics["learning_curves"]["points"],
            "cnn_overtakes_ridge_at": metrics["learning_curves"]["cnn_overtakes_ridge_at"],
            "cnn": {k: metrics["cnn"][k] for k in ("random", "grouped")},
        }
    report["label_differences"] = label_differences(args.out_dir / "tersoff", args.out_dir / "snap")
    report["load_average"]["end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
