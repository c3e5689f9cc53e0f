"""The baselines section on a seeded subsample: every model scored on the same frames."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from topophys.descriptors.soap import SOAPConfig
from topophys.evaluate.regression import regression_metrics
from topophys.pipelines.mlpot import BaselinesSectionConfig
from topophys.pipelines.mlpot.baselines import baselines_section
from topophys.training.baselines import BaselinesConfig, MLPConfig, subsample
from topophys.training.regression import grouped_split, random_split


def _frame(info=None, n_side=3, spacing=1.55, amplitude=0.1, seed=0):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=pos, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    atoms.info.update(info or {})
    return atoms


@pytest.fixture(scope="module")
def toy_set():
    """12 frames of 27 atoms in 4 runs, and 3 frames of 64 atoms; energy grows with disorder."""
    frames, groups = [], []
    for k in range(12):
        amplitude = 0.05 + 0.02 * k
        atoms = _frame({"density": 2.0 + k % 2}, amplitude=amplitude, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=27 * (-7.0 + amplitude))
        frames.append(atoms)
        groups.append(k // 3)
    transfer = [_frame(n_side=4, amplitude=0.05 + 0.1 * k, seed=50 + k) for k in range(3)]
    y = np.array([-7.0 + 0.05 + 0.02 * k for k in range(12)])
    y_t = np.array([-7.0 + 0.05 + 0.1 * k for k in range(3)])
    splits = {
        "random": random_split(12, 0.25, 0),
        "grouped": grouped_split(np.array(groups), 0.25, 0),
    }
    rng = np.random.default_rng(0)
    predictions = {
        f"{m}_{s}": y + rng.normal(scale=0.01, size=12) for m in ("ridge", "cnn") for s in splits
    }
    predictions.update({f"{m}_{s}_transfer": y_t + 0.02 for m in ("ridge", "cnn") for s in splits})
    return frames, y, transfer, y_t, splits, predictions


TOY_BASELINES = BaselinesConfig(
    soap=SOAPConfig(n_max=2, l_max=1), mlp=MLPConfig(epochs=3, milestones=()), schnet=None
)


def test_baselines_section_on_a_subsample_scores_every_model_on_the_same_frames(toy_set, tmp_path):
    frames, y, transfer, y_t, splits, predictions = toy_set
    config = BaselinesSectionConfig(
        models=TOY_BASELINES, max_frames=10, max_transfer_frames=2, seed=3
    )
    section, extra = baselines_section(
        config, frames, y, splits, predictions, transfer_frames=transfer, y_transfer=y_t,
        folder=tmp_path,
    )  # fmt: skip
    sub = extra["frames"]
    assert len(sub) == 10 and len(np.unique(sub)) == 10
    assert extra["descriptors"]["SOAP"].shape == (10, SOAPConfig(n_max=2, l_max=1).n_features)
    assert "SchNet" not in extra["descriptors"]  # schnet=None
    m = section.metrics
    assert m["frames"] == 10 and m["transfer_frames"] == 2
    assert set(m["models"]) == {"soap_nn", "ridge", "cnn", "mean_baseline"}  # no CNN: no PH+SOAP
    for split, test in splits.items():
        t = test[sub]
        assert m["test_frames"][split] == int(t.sum())
        expected = regression_metrics(y[sub][t], predictions[f"ridge_{split}"][sub][t])
        assert m["models"]["ridge"][split]["test"] == pytest.approx(expected)
        assert m["models"]["soap_nn"][split]["test"]["n"] == int(t.sum())
        assert m["models"]["ridge"][split]["transfer"]["n"] == 2
    assert [r["model"] for r in m["comparison_meV"]] == ["ridge", "cnn", "soap_nn"]
    assert "subsample of 10 of the 12" in section.text[0]
    assert [name for name, _, _ in section.figures] == ["baselines_parity"]
    # A split whose only test frame is not drawn is refused.
    left_out = np.setdiff1d(np.arange(11), subsample(11, 10, seed=0))
    with pytest.raises(ValueError, match="without training or test frames"):
        baselines_section(
            config.replace(seed=0), frames[:11], y[:11],
            {"random": np.isin(np.arange(11), left_out)}, predictions,
        )  # fmt: skip
