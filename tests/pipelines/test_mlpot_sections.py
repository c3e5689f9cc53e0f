"""The mlpot report's further sections on toy data: saving and resuming a section, the baselines'
subsample scored against Ridge and the CNN, the size-transfer table, run-frame selection and the
birth limit of the inverse analysis, Grad-CAM statistics, maps and cyclo-octane."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from topophys.descriptors.soap import SOAPConfig
from topophys.evaluate.cyclooctane import CycloOctaneConfig
from topophys.pipelines import mlpot_sections as ms
from topophys.pipelines.mlpot import (
    BaselinesSectionConfig,
    DescriptorConfig,
    GradCAMConfig,
    InverseConfig,
    MapsConfig,
)
from topophys.training.baselines import BaselinesConfig, MLPConfig, subsample
from topophys.training.regression import grouped_split, random_split, regression_metrics


def _frame(info=None, n_side=3, spacing=1.55, amplitude=0.1, seed=0):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=pos, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    atoms.info.update(info or {})
    return atoms


# --------------------------------------------------------------------------- saving, resuming


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def test_cached_section_saves_once_and_loads(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return ms.Section(
            "A section",
            {"value": np.float64(1.5), "array": np.arange(3), "nan": float("nan")},
            ["a paragraph"],
            [([{"a": 1}], "a table")],
            [("fig_one", _figure(), "a caption")],
        )

    first, seconds = ms.cached_section(tmp_path, "one", compute)
    assert first.metrics["compute_s"] >= 0
    assert seconds > 0 and calls == [1]
    assert (tmp_path / "fig_one.png").exists() and (tmp_path / "sections" / "one.json").exists()
    stored = json.loads((tmp_path / "sections" / "one.json").read_text())
    assert stored["metrics"]["array"] == [0, 1, 2] and stored["metrics"]["nan"] is None
    again, seconds = ms.cached_section(tmp_path, "one", compute)
    assert seconds == 0.0 and calls == [1]
    assert again.metrics["value"] == 1.5 and again.text == ["a paragraph"]
    assert again.tables == [([{"a": 1}], "a table")]
    assert again.figures == [("fig_one", tmp_path / "fig_one.png", "a caption")]
    # A section whose figure went missing is computed again.
    (tmp_path / "fig_one.png").unlink()
    ms.cached_section(tmp_path, "one", compute)
    assert calls == [1, 1]


def test_size_transfer_table_rows_and_ratio():
    m = {
        "ridge": {
            "random": {
                "test": {"rmse_meV": 50.0},
                "transfer": {"rmse_meV": 75.0, "mae_meV": 60.0},
            },
            "grouped": {"test": {"rmse_meV": 80.0}},  # no transfer: no row
        },
        "schnet": {"random": {"test": {"rmse_meV": 40.0}, "transfer": {"rmse_meV": 20.0}}},
    }
    rows = ms.size_transfer_table(m, ([216], [512]))
    assert [(r["model"], r["split"]) for r in rows] == [
        ("PH + Ridge", "random"),
        ("SchNet", "random"),
    ]
    assert rows[0]["ratio"] == 1.5 and rows[0]["MAE, 512 atoms"] == 60.0
    assert rows[1]["RMSE, 512 atoms"] == 20.0 and rows[1]["test RMSE, 216 atoms"] == 40.0


# --------------------------------------------------------------------------- baselines


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
    section, extra = ms.baselines_section(
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
        ms.baselines_section(
            config.replace(seed=0), frames[:11], y[:11],
            {"random": np.isin(np.arange(11), left_out)}, predictions,
        )  # fmt: skip


# --------------------------------------------------------------------------- maps


def test_maps_section_leaves_out_constant_properties():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 3, 40)
    X = np.c_[np.cos(t), np.sin(t), 0.1 * t]
    section = ms.maps_section(
        MapsConfig(perplexities=(5.0, 100.0), k=5),
        {"curve": X},
        {"density": np.full(40, 2.0), "energy": t},
    )
    m = section.metrics
    assert m["properties_left_out"] == ["density"] and m["skipped"] == ["tsne_p100"]
    assert m["curve"]["pca"]["energy"]["knn_r2"] > 0.9  # a smooth curve: continuous
    assert [name for name, _, _ in section.figures] == ["maps_tsne_p5", "maps_pca"]
    with pytest.raises(ValueError, match="varies"):
        ms.maps_section(MapsConfig(), {"x": X}, {"density": np.full(40, 1.0)})


# --------------------------------------------------------------------------- inverse analysis


def _runs():
    frames = []
    for run, density in enumerate((2.0, 3.0, 3.0)):
        for k, process in enumerate(["melt", "anneal", "anneal", "anneal", "quench"]):
            frames.append(
                _frame({"density": density, "run": run, "process": process, "k": k}, seed=k)
            )
    return frames


def test_select_run_frames_picks_density_run_stage_and_the_last_frames():
    frames = _runs()
    chosen, what = ms.select_run_frames(frames, InverseConfig(density=2.9, run=1, frames=2))
    assert [(a.info["run"], a.info["k"]) for a in chosen] == [(2, 2), (2, 3)]
    assert what == {
        "density": 3.0, "run": 1, "process": "anneal", "frames": 2, "source": "",
    }  # fmt: skip
    # Default density: the median of the runs' (3.0); any stage with process=None.
    chosen, _ = ms.select_run_frames(frames, InverseConfig(process=None, frames=10))
    assert [a.info["k"] for a in chosen] == [0, 1, 2, 3, 4] and chosen[0].info["run"] == 1
    with pytest.raises(ValueError, match="2 runs at density 3"):
        ms.select_run_frames(frames, InverseConfig(density=3.0, run=2))
    with pytest.raises(ValueError, match="no frame of stage"):
        ms.select_run_frames(frames, InverseConfig(process="cool"))


def test_inverse_section_birth_limit_keeps_chemical_rings(tmp_path):
    """With regions limited to births below b_max, every ring bond is shorter than 2·√b_max: a
    ring is born when its last edge enters, and an edge of length r enters at (r/2)² or later."""
    frames = [_frame({"density": 2.5, "run": 0, "process": "anneal"}, n_side=4, amplitude=0.2,
                     seed=s) for s in range(2)]  # fmt: skip
    descriptor = DescriptorConfig(bins=16)
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(16, 16))
    free = ms.inverse_section(InverseConfig(quantile=0.2), frames, coef, descriptor).metrics
    limited = ms.inverse_section(
        InverseConfig(quantile=0.2, max_birth=1.0), frames, coef, descriptor
    )
    m = limited.metrics
    assert m["max_birth_A2"] == 1.0 and m["frames"]["frames"] == 2
    assert m["high"]["bins"] + m["low"]["bins"] <= free["high"]["bins"] + free["low"]["bins"]
    assert m["high"]["rings"] + m["low"]["rings"] > 0
    # Bins of width 0.5 Å²: only the first two birth columns may be in a region.
    assert m["high"]["bins"] <= 2 * 16 and m["low"]["bins"] <= 2 * 16
    for region in ("high", "low"):
        if m[region]["bonds"]:
            assert m[region]["bond_length_max_A"] <= 2.0 * np.sqrt(1.0) + 1e-9
    # Without the limit, longer bonds close rings in this loose structure.
    assert max(free[r].get("bond_length_max_A", 0) for r in ("high", "low")) > 2.0
    assert [name for name, _, _ in limited.figures] == ["inverse_regions", "inverse_rings"]
    with pytest.raises(ValueError, match="leaves no bin"):
        ms.inverse_section(
            InverseConfig(max_birth=0.1), frames, np.zeros((16, 16)) + np.eye(16)[::-1],
            descriptor,
        )  # fmt: skip


def test_restricted_coefficients_have_no_region_beyond_the_birth_limit():
    coef = np.arange(64.0).reshape(8, 8) - 30
    out = ms._restrict_births(coef, (0.0, 8.0), 3.0)
    assert (out[:3] == coef[:3]).all() and not out[3:].any()
    assert ms._restrict_births(coef, (0.0, 8.0), None) is coef


# --------------------------------------------------------------------------- Grad-CAM


def test_attention_statistics_weighted_means():
    points = np.zeros((4, 4))
    points[0, 1] = points[2, 3] = 1.0  # (b, d) centres (0.5, 1.5) and (2.5, 3.5)
    points[1, 1] = 2.0  # on the diagonal
    cam = np.zeros((4, 4))
    cam[0, 1], cam[2, 3] = 1.0, 3.0
    cam[3, 0] = 5.0  # below the diagonal, no point there: ignored
    s = ms.attention_statistics(cam, points, (0, 4), (0, 4))
    assert s["attention_mean_birth_A2"] == pytest.approx((0.5 + 3 * 2.5) / 4)
    assert s["attention_mean_persistence_A2"] == pytest.approx(1.0)
    assert s["points_mean_persistence_A2"] == pytest.approx(0.5)
    assert s["points_mean_birth_A2"] == pytest.approx((0.5 + 2.5 + 2 * 1.5) / 4)
    no_attention = ms.attention_statistics(np.zeros((4, 4)), points, (0, 4), (0, 4))
    assert no_attention["attention_mean_birth_A2"] is None


def test_gradcam_section_explains_the_extreme_frames():
    import torch

    from topophys.models.pdcnn import PDCNN

    torch.manual_seed(0)
    model = PDCNN((16, 16), channels=(2, 2), hidden=4)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, 16, 16)).astype(np.float32)
    probabilities = np.abs(images) / np.abs(images).sum(axis=(1, 2), keepdims=True)
    y = np.array([-7.0, -6.0, -7.5, -6.5, -6.8])
    section = ms.gradcam_section(
        GradCAMConfig(method="hires"), model, images, probabilities, y, y + 0.01,
        DescriptorConfig(bins=16),
    )  # fmt: skip
    m = section.metrics
    assert (m["high"]["frame"], m["low"]["frame"]) == (1, 2)
    assert m["method"] == "hires" and m["high"]["predicted_eV"] == pytest.approx(-5.99)
    assert 0 < m["high"]["points_mean_persistence_A2"] < 8
    assert [name for name, _, _ in section.figures] == ["gradcam"]


# --------------------------------------------------------------------------- cyclo-octane


def test_cyclooctane_report_tiny():
    section = ms.cyclooctane_report(
        CycloOctaneConfig(
            n_conformers=40, representations=("coordinates", "persistence"), k=5, highlight=4,
            resolution=8,
        )
    )  # fmt: skip
    m = section.metrics
    assert m["n_conformers"] == 40 and m["max_residual_A"] < 1e-6
    rows, _ = section.tables[0]
    assert [r["representation"] for r in rows] == ["coordinates", "persistence"]
    assert all(r["local dim. (3-D PCA, MLE)"] > 0 for r in rows)
    names = [name for name, _, _ in section.figures]
    assert names == ["cyclooctane_diagrams", "cyclooctane_embeddings"]
