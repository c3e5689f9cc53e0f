"""Frames of the mlpot pipeline: runs from labels or stage order, strides, the inverse analysis'
run."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from topophys.pipelines.mlpot import InverseConfig, run_groups, stride_frames
from topophys.pipelines.mlpot.data import select_run_frames


def _frame(info):
    atoms = Atoms("C", positions=[[0, 0, 0]])
    atoms.info.update(info)
    return atoms


def test_run_groups_from_run_labels_and_from_stage_order():
    labelled = [_frame({"source": "a", "density": 2.0, "run": r}) for r in (0, 0, 1, 1, 0)]
    assert run_groups(labelled).tolist() == [0, 0, 1, 1, 0]
    # Published-style frames: no run label; a run restarts when the stage goes back.
    stages = ["melt", "cool", "quench", "melt", "anneal", "quench"]
    seq = [_frame({"source": "f", "density": 2.0, "process": s}) for s in stages]
    seq += [_frame({"source": "g", "density": 2.0, "process": "melt"})]
    seq += [_frame({"source": "g", "density": 2.5, "process": "cool"})]
    assert run_groups(seq).tolist() == [0, 0, 0, 1, 1, 1, 2, 3]


def test_stride_keeps_each_runs_last_frame():
    groups = np.repeat([0, 1, 2], [7, 3, 1])
    keep = stride_frames(groups, 3)
    assert keep.tolist() == [0, 3, 6, 9, 10]
    assert stride_frames(groups, 1).tolist() == list(range(11))


def _toy(info=None, n_side=3, spacing=1.55, amplitude=0.1, seed=0):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=pos, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    atoms.info.update(info or {})
    return atoms


def _runs():
    frames = []
    for run, density in enumerate((2.0, 3.0, 3.0)):
        for k, process in enumerate(["melt", "anneal", "anneal", "anneal", "quench"]):
            frames.append(
                _toy({"density": density, "run": run, "process": process, "k": k}, seed=k)
            )
    return frames


def test_select_run_frames_picks_density_run_stage_and_the_last_frames():
    frames = _runs()
    chosen, what = select_run_frames(frames, InverseConfig(density=2.9, run=1, frames=2))
    assert [(a.info["run"], a.info["k"]) for a in chosen] == [(2, 2), (2, 3)]
    assert what == {
        "density": 3.0, "run": 1, "process": "anneal", "frames": 2, "source": "",
    }  # fmt: skip
    # Default density: the median of the runs' (3.0); any stage with process=None.
    chosen, _ = select_run_frames(frames, InverseConfig(process=None, frames=10))
    assert [a.info["k"] for a in chosen] == [0, 1, 2, 3, 4] and chosen[0].info["run"] == 1
    with pytest.raises(ValueError, match="2 runs at density 3"):
        select_run_frames(frames, InverseConfig(density=3.0, run=2))
    with pytest.raises(
        ValueError, match=r"no frame with info\[.process.\] == inverse.process=.cool."
    ):
        select_run_frames(frames, InverseConfig(process="cool"))


def test_keys_of_other_sets_group_and_select():
    """Frames naming the stage ``stage`` and the run ``trajectory`` (as other sets do)."""
    frames = []
    for f in _runs():
        info = dict(f.info)
        f.info = {"density": info["density"], "trajectory": info["run"], "stage": info["process"]}
        frames.append(f)
    # Under the default keys the run labels are not seen and the stages are unknown: the
    # three runs split only where density changes.
    assert run_groups(frames).tolist() == [0] * 5 + [1] * 10
    assert run_groups(frames, "trajectory", "stage").tolist() == [0] * 5 + [1] * 5 + [2] * 5
    # Without run labels, the stage order still separates the runs.
    assert run_groups(frames, None, "stage").tolist() == [0] * 5 + [1] * 5 + [2] * 5
    with pytest.raises(ValueError, match=r"atoms.info\['process'\], which no frame has .*stage"):
        select_run_frames(frames, InverseConfig(density=2.0))
    chosen, what = select_run_frames(frames, InverseConfig(density=2.0), "trajectory", "stage")
    assert len(chosen) == 3 and what["process"] == "anneal"
