"""The linear start's own errors for each ridge: how much of the best local PH potential is the
exact linear fit, and which ridge the fit's held-out structures pick.

For the accuracy table's descriptor with the graph's cycles (``ph_cycles``), at force weights 1
and 0.3, each ridge of a decade grid from 1e-10 to 1 (``--ridges``) alone: the
linear term (the networks at zero) scored on the accuracy table's test structures (all and
cold), on the fit's held-out structures, and its held-out loss (what ``linear_start`` ranks
the ridges by).

    OMP_NUM_THREADS=1 python benchmarks/local_ph_ridge.py runs/local_ph/data \\
        --out docs/data/local_ph_ridge.json
    python docs/regenerate.py local-ph-ridge docs/data/local_ph_ridge.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from local_ph_accuracy import TEST_FORCE_ATOMS, TRAIN_FORCE_ATOMS, cold, git_commit, load
from local_ph_study import compute_pairs, samples_of
from topophys.descriptors.local_ph import LocalPHConfig
from topophys.models.local_ph import AtomicNetwork
from topophys.training._forces import errors
from topophys.training._loop import holdout_split
from topophys.training.local_ph import linear_start

RIDGES = tuple(10.0**k for k in range(-10, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/data/local_ph_ridge.json"))
    parser.add_argument("--ridges", type=float, nargs="+", default=list(RIDGES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    start, load_start, commit = time.perf_counter(), os.getloadavg(), git_commit()
    train, test, i_train, i_test = load(args.data)
    config = LocalPHConfig(centre="both", graph="circumradius", graph_cycles=True)
    s_train = samples_of(compute_pairs(train, config), train, i_train, TRAIN_FORCE_ATOMS, 0)
    s_test = samples_of(compute_pairs(test, config), test, i_test, TEST_FORCE_ATOMS, 1)
    cold_test = [s for s, m in zip(s_test, cold(test), strict=True) if m]
    fit, held = holdout_split(len(train), 0.1, 0)  # fit_local_ph's split (seed 0)
    rows = []
    for weight in (1.0, 0.3):
        for ridge in args.ridges:
            net = AtomicNetwork(config.n_features, linear=True).double()
            fitted = [s_train[i] for i in fit]
            net.fit_scaling(  # as fit_local_ph does (one species)
                torch.cat([s.features for s in fitted]).double(),
                torch.tensor([[float(s.n_atoms)] for s in fitted]),
                torch.tensor([s.energy for s in fitted]),
                0.1,
            )
            found = linear_start(net, fitted, [s_train[i] for i in held], weight, (ridge,))
            every, cold_only = errors(net, s_test), errors(net, cold_test)
            rows.append(
                {
                    "force_weight": weight,
                    "ridge": ridge,
                    "test_energy_rmse_meV": [
                        every["energy_rmse_meV"],
                        cold_only["energy_rmse_meV"],
                    ],
                    "test_force_rmse_meV": [every["force_rmse_meV"], cold_only["force_rmse_meV"]],
                    "holdout_energy_rmse_meV": errors(net, [s_train[i] for i in held])[
                        "energy_rmse_meV"
                    ],
                    "holdout_loss": found["holdout_score"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    out = {
        "rows": rows,
        "commit": commit,
        "cpus": os.cpu_count(),
        "n_train_structures": len(train),
        "n_test_structures": len(test),
        "n_fit_structures": len(fit),
        "n_holdout_structures": len(held),
        "force_atoms": {"train": TRAIN_FORCE_ATOMS, "test": TEST_FORCE_ATOMS},
        "wall_s": time.perf_counter() - start,
        "cpu_s": time.process_time(),
        "load_average": {"start": load_start, "end": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
