"""Baselines on the mlpot splits: MLP and SchNet fits, CNN pooled features, the table."""

import numpy as np
import pytest
import torch
from ase import Atoms

from topophys.descriptors.soap import SOAPConfig
from topophys.models.pdcnn import PDCNN
from topophys.training.baselines import (
    PAPER_RMSE_MEV,
    BaselinesConfig,
    MLPConfig,
    SchNetConfig,
    baseline_table,
    cnn_pooled_features,
    fit_mlp,
    fit_schnet,
    predict_mlp,
    predict_schnet,
    run_baselines,
    schnet_descriptor,
    subsample,
)
from topophys.training.regression import random_split

TINY_SCHNET = SchNetConfig(
    n_features=8, n_interactions=1, n_gaussians=8, cutoff=3.0, epochs=3, batch_size=2,
    max_train_frames=6, lr=1e-2,
)  # fmt: skip


def _frames(k=12, n=8, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(k):
        side = 4.0 + 0.1 * (i % 4)
        a = Atoms(f"C{n}", positions=rng.uniform(0, side, (n, 3)), cell=[side] * 3, pbc=True)
        a.info["density"] = float(side)
        out.append(a)
    return out


def test_mlp_learns_a_linear_target_and_is_deterministic():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5))
    y = X @ [0.3, -0.2, 0.1, 0.0, 0.05] - 7.0
    config = MLPConfig(hidden=(16,), epochs=150, batch_size=64, milestones=(100,), lr=1e-2)
    model, history = fit_mlp(X, y, config)
    pred = predict_mlp(model, X)
    assert pred.shape == (64,) and pred.dtype == np.float64
    spread = np.sqrt(np.mean((y - y.mean()) ** 2))
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.1 * spread
    assert history["lr"][0] == 1e-2 and history["lr"][-1] == 5e-3
    again, _ = fit_mlp(X, y, config)
    assert np.array_equal(predict_mlp(again, X), pred)


def test_mlp_bad_input():
    with pytest.raises(ValueError, match="one value per row"):
        fit_mlp(np.zeros((3, 2)), np.zeros(2), MLPConfig(epochs=1))
    with pytest.raises(ValueError, match="finite"):
        fit_mlp(np.full((3, 2), np.nan), np.zeros(3), MLPConfig(epochs=1))
    with pytest.raises(ValueError, match="milestones"):
        MLPConfig(milestones=(5, 3))
    model, _ = fit_mlp(np.eye(3), np.arange(3.0), MLPConfig(epochs=1))
    with pytest.raises(ValueError, match="features"):
        predict_mlp(model, np.zeros((2, 4)))


def test_schnet_fit_is_deterministic_and_shapes():
    frames = _frames(6)
    y = np.linspace(-7.0, -6.0, 6)
    model, history = fit_schnet(frames, y, TINY_SCHNET)
    assert len(history["epoch"]) == 3 and all(np.isfinite(history["train_rmse_meV"]))
    pred = predict_schnet(model, frames)
    assert pred.shape == (6,) and np.isfinite(pred).all()
    assert schnet_descriptor(model, frames).shape == (6, 8)
    again, _ = fit_schnet(frames, y, TINY_SCHNET)
    assert np.array_equal(predict_schnet(again, frames), pred)
    other, _ = fit_schnet(frames, y, TINY_SCHNET.replace(seed=1))
    assert not np.array_equal(predict_schnet(other, frames), pred)


def test_schnet_descriptor_is_the_atom_mean_of_the_representation():
    from topophys.models.schnet import collate, neighbor_graph

    frames = _frames(2, n=5)
    torch.manual_seed(0)
    model, _ = fit_schnet(frames, [-7.0, -6.0], TINY_SCHNET.replace(epochs=1))
    with torch.no_grad():
        rep = model.representation(collate([neighbor_graph(frames[1], 3.0)]))
    np.testing.assert_allclose(schnet_descriptor(model, frames)[1], rep.mean(0), rtol=1e-6)


def test_cnn_pooled_features_match_the_last_convolution():
    torch.manual_seed(0)
    cnn = PDCNN((8, 8), channels=(3, 5), hidden=4).eval()
    X = np.random.default_rng(0).normal(size=(4, 8, 8)).astype(np.float32)
    pooled = cnn_pooled_features(cnn, X)
    assert pooled.shape == (4, 5)
    with torch.no_grad():
        x = torch.from_numpy(X).unsqueeze(1)
        for layer in list(cnn.features)[:-1]:
            x = layer(x)
    np.testing.assert_allclose(pooled, x.mean(dim=(2, 3)).numpy(), rtol=1e-6)
    assert (pooled >= 0).all()  # after the ReLU
    with pytest.raises(ValueError, match="shape"):
        cnn_pooled_features(cnn, X[:, :4])
    with pytest.raises(TypeError, match="PDCNN"):
        cnn_pooled_features(object(), X)


def test_subsample():
    idx = subsample(20, 5, seed=3)
    assert len(idx) == 5 == len(set(idx.tolist())) and (np.diff(idx) > 0).all()
    assert np.array_equal(subsample(20, 5, seed=3), idx)
    assert subsample(3, 10).tolist() == [0, 1, 2]


def test_run_baselines_on_shared_splits(tmp_path):
    pytest.importorskip("dscribe")
    frames, transfer = _frames(12), _frames(3, n=16, seed=1)
    y = np.array([a.cell[0, 0] for a in frames]) * -1.5
    y_t = np.array([a.cell[0, 0] for a in transfer]) * -1.5
    splits = {"random": random_split(12, 0.25, 0), "grouped": np.arange(12) >= 9}
    torch.manual_seed(0)
    cnns = {s: PDCNN((8, 8), channels=(2,), hidden=4).eval() for s in splits}
    rng = np.random.default_rng(0)
    images = {s: rng.normal(size=(12, 8, 8)) for s in splits}
    images_t = {s: rng.normal(size=(3, 8, 8)) for s in splits}
    config = BaselinesConfig(
        soap=SOAPConfig(r_cut=3.0, n_max=2, l_max=2, sigma=0.3),
        mlp=MLPConfig(hidden=(8,), epochs=5, milestones=()),
        schnet=TINY_SCHNET.replace(epochs=1),
    )
    metrics, figures = run_baselines(
        config, frames, y, splits, tmp_path, transfer_frames=transfer, y_transfer=y_t,
        cnn_models=cnns, ph_images=images, ph_images_transfer=images_t,
    )  # fmt: skip
    for model in ("soap_nn", "ph_soap", "schnet"):
        for split, test in splits.items():
            m = metrics[model][split]
            assert m["test"]["n"] == test.sum() and m["transfer"]["n"] == 3
            assert np.isfinite(m["test"]["rmse_meV"])
    assert metrics["schnet"]["random"]["train_frames"] == 6
    assert (tmp_path / "soap_train.npz").exists() and (tmp_path / "soap_transfer.npz").exists()
    assert set(figures) == {"baselines_parity"}
    # Same inputs, same numbers (cached SOAP, seeded models).
    again, _ = run_baselines(
        config, frames, y, splits, tmp_path, transfer_frames=transfer, y_transfer=y_t,
        cnn_models=cnns, ph_images=images, ph_images_transfer=images_t,
    )  # fmt: skip
    for model in ("soap_nn", "ph_soap", "schnet"):
        assert again[model]["random"]["test"] == metrics[model]["random"]["test"]
    rows = baseline_table({"ridge": {"random": {"test": {"rmse_meV": 1.0}}}, **metrics})
    assert [r["model"] for r in rows] == ["ridge", "soap_nn", "schnet", "ph_soap"]
    assert rows[1]["paper_rmse"] == str(PAPER_RMSE_MEV["soap_nn"]) == "16.4"
    assert rows[3]["paper_rmse"] is None
    assert rows[2]["grouped_transfer_rmse"] == metrics["schnet"]["grouped"]["transfer"]["rmse_meV"]


def test_run_baselines_bad_input():
    frames = _frames(4)
    config = BaselinesConfig(schnet=None)
    with pytest.raises(ValueError, match="bool mask"):
        run_baselines(config, frames, np.zeros(4), {"random": np.ones(4, bool)})
    with pytest.raises(ValueError, match="one value per row"):
        run_baselines(config, frames, np.zeros(3), {"random": np.arange(4) > 2})
    with pytest.raises(ValueError, match="y_transfer"):
        run_baselines(config, frames, np.zeros(4), {"r": np.arange(4) > 2}, transfer_frames=frames)
    with pytest.raises(ValueError, match="lack the splits"):
        run_baselines(
            config, frames, np.zeros(4), {"r": np.arange(4) > 2}, cnn_models={}, ph_images={}
        )
    with pytest.raises(TypeError, match="BaselinesConfig"):
        run_baselines(MLPConfig(), frames, np.zeros(4), {"r": np.arange(4) > 2})


def test_paper_table_values():
    cnn = baseline_table({"cnn": {"grouped": {"test": {"rmse_meV": 2.0}}}})[0]
    assert cnn["paper_rmse"] == "40.7 / 33.3" and cnn["test_rmse"] is None
    assert cnn["grouped_test_rmse"] == 2.0
    assert PAPER_RMSE_MEV["ridge"] == 59.2 and PAPER_RMSE_MEV["schnet"] == 30.5
