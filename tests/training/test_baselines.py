"""Baselines on the mlpot splits: MLP and SchNet fits, CNN pooled features, the table."""

import pathlib
import pickle

import numpy as np
import pytest
import torch
from ase import Atoms

from topophys.descriptors.soap import SOAPConfig
from topophys.evaluate.regression import baseline_table
from topophys.models.pdcnn import PDCNN
from topophys.training.baselines import (
    BaselinesConfig,
    MLPConfig,
    SchNetConfig,
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
    kw = {
        "transfer_frames": transfer, "y_transfer": y_t, "cnn_models": cnns, "ph_images": images,
        "ph_images_transfer": images_t,
    }  # fmt: skip
    result = run_baselines(config, frames, y, splits, tmp_path, **kw)
    metrics = result.metrics
    for model in ("soap_nn", "ph_soap", "schnet"):
        for split, test in splits.items():
            m = metrics[model][split]
            assert m["test"]["n"] == test.sum() and m["transfer"]["n"] == 3
            assert np.isfinite(m["test"]["rmse_meV"])
            assert set(result.parity[model][split]) == {"train", "test"}
            assert len(result.histories[model][split]["epoch"]) >= 1
    assert metrics["schnet"]["random"]["train_frames"] == 6
    assert (tmp_path / "soap_train.npz").exists() and (tmp_path / "soap_transfer.npz").exists()
    assert (tmp_path / "soap_nn_random" / "model.pt").exists()
    assert (tmp_path / "schnet_grouped" / "checkpoints" / "last.ckpt").exists()
    assert result.descriptors["SOAP"].shape == (12, config.soap.n_features)
    assert result.descriptors["SchNet"].shape == (12, 8)
    # Same inputs, same numbers: cached SOAP, finished fits reloaded from their directories,
    # and fresh fits in another directory (seeded models).
    for again in (
        run_baselines(config, frames, y, splits, tmp_path, **kw),
        run_baselines(config, frames, y, splits, tmp_path / "fresh", **kw),
    ):
        for model in ("soap_nn", "ph_soap", "schnet"):
            assert again.metrics[model]["random"]["test"] == metrics[model]["random"]["test"]
    rows = baseline_table({"ridge": {"random": {"test": {"rmse_meV": 1.0}}}, **metrics})
    assert [r["model"] for r in rows] == ["ridge", "soap_nn", "schnet", "ph_soap"]
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


def test_mlp_and_schnet_continue_to_the_uninterrupted_weights(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(24, 3)), rng.normal(size=24) - 7.0
    mlp = MLPConfig(hidden=(4,), epochs=4, milestones=(2,), checkpoint_every=1)
    whole, _ = fit_mlp(X, y, mlp)
    fit_mlp(X, y, mlp.replace(epochs=2), tmp_path / "mlp")
    longer, hist = fit_mlp(X, y, mlp, tmp_path / "mlp")
    assert hist["epoch"] == [1, 2, 3, 4] and hist["lr"][2] == pytest.approx(mlp.lr * mlp.gamma)
    for a, b in zip(whole.state_dict().values(), longer.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    frames, e = _frames(4), np.linspace(-7.0, -6.0, 4)
    schnet = TINY_SCHNET.replace(epochs=3)
    whole, _ = fit_schnet(frames, e, schnet)
    fit_schnet(frames, e, schnet.replace(epochs=1), run_dir=tmp_path / "schnet")
    longer, _ = fit_schnet(frames, e, schnet, run_dir=tmp_path / "schnet")
    np.testing.assert_array_equal(predict_schnet(longer, frames), predict_schnet(whole, frames))
    with pytest.raises(ValueError, match="SchNet training of another config"):
        fit_schnet(frames, e, schnet.replace(seed=5), run_dir=tmp_path / "schnet")


def test_mlp_early_stopping_and_a_planted_pickle(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    y = X @ [0.2, -0.1, 0.05] - 7.0
    config = MLPConfig(hidden=(4,), epochs=200, lr=0.3, milestones=(), validation_fraction=0.25,
                       patience=2)  # fmt: skip
    _, hist = fit_mlp(X, y, config)
    assert len(hist["epoch"]) < 200 and len(hist["holdout_rmse_meV"]) == len(hist["epoch"])
    marker = tmp_path / "executed"

    class Planted:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    (tmp_path / "run").mkdir()
    torch.save({"identity": Planted()}, tmp_path / "run" / "model.pt")
    (tmp_path / "run" / "history.json").write_text("{}")
    with pytest.raises(pickle.UnpicklingError):
        fit_mlp(X, y, config, tmp_path / "run")
    assert not marker.exists()
