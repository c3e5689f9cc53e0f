"""Our differentiable local persistence against torch-topological's, where they overlap.

torch-topological (``pip install torch-topological``; 0.1.9 measured) makes Vietoris–Rips and
alpha persistence differentiable in torch for a point cloud. For every atom of one 216-atom
amorphous carbon structure this script takes the cloud of its neighbours within ``r_cut``
(periodic images placed around it) and computes, with autograd to the positions:

- **Rips** up to H1 with torch-topological's ``VietorisRipsComplex`` (giotto-ph pairs,
  distances gathered in torch) and with ours (``filtration="rips"``, every atom entering at
  0, no truncation in range: the plain Rips diagram of the ball, in squared half-distances);
  the diagrams are compared (ours mapped back to distances, 2√v) and both timed;
- **alpha** with torch-topological's ``AlphaComplex`` and with ours: torch-topological's
  values are distance-based (its documentation says so), not the squared circumradii of the
  alpha filtration, so the script reports how many of its H1 points differ from the exact
  alpha values rather than a timing race.

    python benchmarks/local_ph_torch_topological.py runs/local_ph/data/rho2.500_run002.extxyz \\
        --out docs/data/local_ph_torch_topological.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import ase.io
import gudhi
import numpy as np
import torch

from topophys.descriptors.local_ph import LocalPHConfig, local_pairs, slot_geometry

R_CUT = 3.2


def clouds(atoms) -> list[np.ndarray]:
    """Each atom's neighbours within R_CUT (itself first), as Cartesian clouds."""
    from ase.neighborlist import neighbor_list

    i, d_vec = neighbor_list("iD", atoms, R_CUT)
    return [np.vstack([[0.0, 0.0, 0.0], d_vec[i == k]]) for k in range(len(atoms))]


def sorted_rows(dim: np.ndarray, birth: np.ndarray, death: np.ndarray) -> np.ndarray:
    rows = np.column_stack([dim, birth, death])
    rows = rows[np.isfinite(rows[:, 2])]
    return rows[np.lexsort((rows[:, 2], rows[:, 1], rows[:, 0]))]


def torch_topological_rips(cloud_list: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    from torch_topological.nn import VietorisRipsComplex

    vr = VietorisRipsComplex(dim=1)
    out, start = [], time.perf_counter()
    for cloud in cloud_list:
        x = torch.as_tensor(cloud).requires_grad_(True)
        infos = vr(x)
        total = sum(info.diagram.sum() for info in infos if len(info.diagram))
        torch.autograd.grad(total, x)
        rows = [
            np.column_stack([np.full(len(info.diagram), d), info.diagram.detach().numpy()])
            for d, info in enumerate(infos)
            if len(info.diagram)
        ]
        out.append(np.concatenate(rows))
    return out, time.perf_counter() - start


def ours_rips(atoms) -> tuple[list[np.ndarray], float]:
    # Every atom in the ball enters at 0 (κ = 0, the ramp confined to the last 10⁻⁶ Å) and the
    # filtration runs past the ball's diameter: the plain Rips diagram of each ball.
    config = LocalPHConfig(
        filtration="rips",
        r_cut=R_CUT,
        r_inner=R_CUT - 1e-6,
        kappa=0.0,
        t_max=R_CUT**2,
        max_dim=1,
    )
    start = time.perf_counter()
    pairs = local_pairs(atoms, config)
    geometry = slot_geometry(pairs, atoms.positions, atoms.cell[:])
    elapsed = time.perf_counter() - start
    rows = []
    for k in range(len(atoms)):
        at = (pairs.centre == k) & (pairs.death < config.t_max)
        v = geometry.values[:, at].numpy()
        rows.append(sorted_rows(pairs.dim[at], 2 * np.sqrt(v[0]), 2 * np.sqrt(v[1])))
    return rows, elapsed


def compare_rips(theirs: list[np.ndarray], ours: list[np.ndarray]) -> dict[str, float]:
    same, worst = 0, 0.0
    for t, o in zip(theirs, ours, strict=True):
        t = sorted_rows(t[:, 0], t[:, 1], t[:, 2])
        t = t[t[:, 2] - t[:, 1] > 1e-12]
        if t.shape == o.shape:
            gap = float(np.abs(t - o).max()) if len(t) else 0.0
            worst = max(worst, gap)
            same += gap < 1e-9
    return {"atoms_with_equal_diagrams": same / len(ours), "largest_difference_A": worst}


def alpha_disagreement(cloud_list: list[np.ndarray]) -> dict[str, float]:
    from torch_topological.nn import AlphaComplex

    ac = AlphaComplex()
    differ, total, start = 0, 0, time.perf_counter()
    for cloud in cloud_list:
        infos = ac(torch.as_tensor(cloud))
        theirs = infos[1].diagram.detach().numpy() if len(infos[1].diagram) else np.zeros((0, 2))
        st = gudhi.AlphaComplex(points=cloud).create_simplex_tree()
        st.compute_persistence()
        exact = np.sqrt(np.asarray(st.persistence_intervals_in_dimension(1)).reshape(-1, 2))
        exact = exact[np.isfinite(exact[:, 1])]
        total += len(theirs)
        for b, d in theirs:  # a distance d corresponds to a radius d/2
            near = np.abs(exact - [b / 2, d / 2]).max(axis=1) < 1e-6 if len(exact) else []
            differ += not np.any(near)
    return {
        "h1_points": total,
        "h1_points_not_alpha": differ / max(total, 1),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("frames", type=Path)
    parser.add_argument("--index", type=int, default=-1)
    parser.add_argument(
        "--out", type=Path, default=Path("docs/data/local_ph_torch_topological.json")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    atoms = ase.io.read(args.frames, args.index)
    load = os.getloadavg()
    cloud_list = clouds(atoms)
    theirs, t_theirs = torch_topological_rips(cloud_list)
    ours, t_ours = ours_rips(atoms)
    from importlib.metadata import version

    out = {
        "torch_topological_version": version("torch-topological"),
        "n_atoms": len(atoms),
        "r_cut": R_CUT,
        "mean_neighbours": float(np.mean([len(c) - 1 for c in cloud_list])),
        "rips": {
            "torch_topological_s": t_theirs,
            "ours_s": t_ours,
            **compare_rips(theirs, ours),
        },
        "alpha": alpha_disagreement(cloud_list),
        "cpus": os.cpu_count(),
        "load_average": {"start": load, "end": os.getloadavg()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
