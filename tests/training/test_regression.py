"""Energy regression: metrics, random and grouped splits, Ridge on a known linear law, the CNN
loop (learning, determinism, checkpoint resume, refusal of a foreign directory), bad input."""

import json
import pathlib
import pickle

import numpy as np
import pytest
import torch

from topophys.diagrams import Diagrams
from topophys.evaluate.regression import regression_metrics
from topophys.models.pdcnn import PDCNN
from topophys.training.regression import (
    CNNConfig,
    fit_cnn,
    fit_ridge,
    grouped_split,
    load_cnn,
    predict_cnn,
    random_split,
)
from topophys.vectorize import PersistenceHistogram

# --------------------------------------------------------------------------- splits


def test_random_split_size_and_seed():
    a, b, c = random_split(100, 0.2, 0), random_split(100, 0.2, 0), random_split(100, 0.2, 1)
    assert a.sum() == 20 and a.dtype == bool
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert random_split(3, 0.01).sum() == 1  # at least one test frame
    assert random_split(3, 0.99).sum() == 2  # and at least one training frame
    with pytest.raises(ValueError, match="test_fraction"):
        random_split(10, 1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        random_split(1)


def test_grouped_split_never_cuts_a_group():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), rng.integers(3, 9, size=10))
    for seed in range(5):
        test = grouped_split(groups, 0.2, seed)
        for g in np.unique(groups):
            assert len(np.unique(test[groups == g])) == 1
        assert len(np.unique(groups[test])) == 2


def test_grouped_split_spreads_over_strata_and_keeps_each_in_training():
    # 5 densities × 2 runs, 4 frames each: 20 % of runs is 2, from two different densities.
    density = np.repeat([1.5, 2.0, 2.5, 3.0, 3.5], 8)
    groups = np.repeat(np.arange(10), 4)
    for seed in range(20):
        test = grouped_split(groups, 0.2, seed, strata=density)
        assert len(np.unique(groups[test])) == 2
        assert len(np.unique(density[test])) == 2
        assert set(density[~test]) == set(density)
    # 60 % of 5 runs at 5 densities: strata cannot all keep a run, yet 3 runs are held out.
    test = grouped_split(np.arange(5), 0.6, 0, strata=np.arange(5))
    assert test.sum() == 3


def test_grouped_split_bad_input():
    with pytest.raises(ValueError, match="at least 2 groups"):
        grouped_split([0, 0, 0])
    with pytest.raises(ValueError, match="constant within a group"):
        grouped_split([0, 0, 1, 1], strata=[1, 2, 3, 3])
    with pytest.raises(ValueError, match="shape of groups"):
        grouped_split([0, 1], strata=[1, 2, 3])


# --------------------------------------------------------------------------- Ridge

# Four ring types, each at its own (birth, death) in Å²: a structure is a mix of them.
RINGS = np.array([[1.0, 1.5], [2.2, 3.1], [3.3, 5.2], [5.5, 6.4]])
WEIGHTS = np.array([-0.8, -0.3, 0.4, 1.1])  # eV/atom of a structure made of one type only


def ring_diagrams(counts):
    return Diagrams.from_list(
        [
            np.array([[1, *RINGS[k]] for k, c in enumerate(row) for _ in range(c)], dtype=float)
            for row in counts
        ]
    )


def test_ridge_recovers_energy_linear_in_ring_statistics():
    """E/atom = Σ_k w_k p_k with p_k the share of ring type k: the histogram is exact in p."""
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 60, size=(60, 4))
    p = counts / counts.sum(axis=1, keepdims=True)
    energy = -7.0 + p @ WEIGHTS
    train, test = np.arange(45), np.arange(45, 60)
    hist = PersistenceHistogram(bins=16).fit(ring_diagrams(counts[train]))
    X = hist.transform(ring_diagrams(counts))
    model = fit_ridge(X[train], energy[train], alpha=1e-8)
    assert regression_metrics(energy[test], model.predict(X[test]))["rmse_meV"] < 1e-3
    # Only the four occupied bins carry weight.
    coef = model.coef_.reshape(16, 16)
    assert np.count_nonzero(np.abs(coef) > 1e-9) == 4
    # Pure structures of one ring type get that type's energy (w_k − w_0 up to the shared −7).
    pure = hist.transform(ring_diagrams(10 * np.eye(4, dtype=int)))
    np.testing.assert_allclose(model.predict(pure), -7.0 + WEIGHTS, atol=1e-6)


def test_ridge_paper_default_and_bad_input():
    X, y = np.eye(3), np.array([1.0, 2.0, 3.0])
    model = fit_ridge(X, y)
    assert model.alpha == 200.0 and model.fit_intercept
    with pytest.raises(ValueError, match="3 rows but y has 2"):
        fit_ridge(X, y[:2])
    with pytest.raises(ValueError, match="finite"):
        fit_ridge(X, [1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match=r"\(n, features\)"):
        fit_ridge(np.ones(3), y)


# --------------------------------------------------------------------------- the CNN

TINY = CNNConfig(channels=(2, 2), hidden=4, epochs=4, batch_size=8, lr=0.02, milestones=(2,))


def toy_images(n=40, seed=0):
    """Images whose mean value sets the target: something a CNN can learn in a few epochs."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(-1, 1, n)
    X = (rng.normal(size=(n, 8, 8)) * 0.3 + level[:, None, None]).astype(np.float32)
    return X, -7.0 + 0.5 * level


def test_cnn_config_defaults_are_the_papers():
    c = CNNConfig()
    assert (c.channels, c.kernel_size, c.epochs, c.lr) == ((64, 64, 32), 3, 1600, 1.5e-3)
    assert (c.momentum, c.nesterov, c.weight_decay) == (0.9, True, 1e-3)
    assert (c.milestones, c.gamma) == ((200, 400, 800, 1200), 0.5)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"milestones": (4, 2)}, "strictly increasing"),
        ({"momentum": 0.0}, "nesterov"),
        ({"channels": ()}, "at least one"),
        ({"lr": 0.0}, "lr"),
    ],
)
def test_cnn_config_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        CNNConfig(**changes)


def test_cnn_learns_and_is_deterministic():
    X, y = toy_images()
    model_a, hist_a = fit_cnn(X, y, TINY.replace(epochs=12), X_val=X[:10], y_val=y[:10])
    model_b, hist_b = fit_cnn(X, y, TINY.replace(epochs=12), X_val=X[:10], y_val=y[:10])
    assert hist_a["train_loss"][-1] < 0.5 * hist_a["train_loss"][0]
    assert hist_a["train_loss"] == hist_b["train_loss"]
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert hist_a["lr"][:3] == pytest.approx([0.02, 0.02, 0.01])
    assert len(hist_a["val_rmse_meV"]) == 12
    pred = predict_cnn(model_a, X)
    assert pred.shape == (40,) and pred.dtype == np.float64
    # Predictions are in the targets' units (eV/atom), near them.
    assert abs(pred.mean() - y.mean()) < 0.1


def test_checkpoint_resume_gives_the_uninterrupted_result(tmp_path, monkeypatch):
    X, y = toy_images()
    reference, ref_hist = fit_cnn(X, y, TINY, tmp_path / "whole")

    real = PDCNN.standardized
    calls = []

    def dies_in_epoch_3(self, x):
        if torch.is_grad_enabled():  # training steps only, not predictions
            calls.append(1)
            if len(calls) == 2 * 5 + 1:  # 5 batches per epoch: the first step of epoch 3
                raise RuntimeError("killed")
        return real(self, x)

    monkeypatch.setattr(PDCNN, "standardized", dies_in_epoch_3)
    with pytest.raises(RuntimeError, match="killed"):
        fit_cnn(X, y, TINY, tmp_path / "killed")
    monkeypatch.setattr(PDCNN, "standardized", real)
    assert not (tmp_path / "killed" / "model.pt").exists()
    assert (tmp_path / "killed" / "checkpoints" / "last.ckpt").exists()
    resumed, hist = fit_cnn(X, y, TINY, tmp_path / "killed")
    assert hist["epoch"] == [1, 2, 3, 4]
    assert hist["train_loss"] == ref_hist["train_loss"]
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert json.loads((tmp_path / "killed" / "history.json").read_text())["epoch"] == [1, 2, 3, 4]
    assert (tmp_path / "killed" / "logs").is_dir()  # Lightning's CSV logs


def test_more_epochs_continue_a_finished_fit_to_the_uninterrupted_weights(tmp_path):
    X, y = toy_images()
    whole, _ = fit_cnn(X, y, TINY, tmp_path / "whole")
    fit_cnn(X, y, TINY.replace(epochs=2), tmp_path / "steps")
    longer, hist = fit_cnn(X, y, TINY, tmp_path / "steps")
    assert hist["epoch"] == [1, 2, 3, 4]
    for a, b in zip(whole.state_dict().values(), longer.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_early_stopping_keeps_the_best_holdout_epoch():
    X, y = toy_images(60)
    config = TINY.replace(epochs=40, lr=0.2, milestones=(), validation_fraction=0.25, patience=3)
    model, hist = fit_cnn(X, y, config)
    held = hist["holdout_rmse_meV"]
    assert len(held) == len(hist["epoch"]) < 40  # stopped early (too large a rate)
    best = int(np.argmin(held))
    assert len(held) - 1 - best == 3  # patience epochs without improvement
    # The returned weights are those of the best epoch: their holdout error is the minimum.
    from topophys.training._loop import holdout_split

    _, idx = holdout_split(60, 0.25, config.seed)
    rmse = regression_metrics(y[idx], predict_cnn(model, X[idx]))["rmse_meV"]
    assert rmse == pytest.approx(held[best], rel=1e-6)
    with pytest.raises(ValueError, match="validation_fraction"):
        CNNConfig(patience=3)


class _Planted:
    """A pickle that would create ``marker`` when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


@pytest.mark.parametrize("where", ["model.pt", "checkpoints/last.ckpt"])
def test_a_planted_pickle_in_a_run_directory_is_refused(tmp_path, where):
    X, y = toy_images(16)
    run_dir = tmp_path / "run"
    marker = tmp_path / "executed"
    target = run_dir / where
    target.parent.mkdir(parents=True)
    torch.save({"identity": _Planted(marker), "model": {}}, target)
    (run_dir / "history.json").write_text("{}")
    with pytest.raises(pickle.UnpicklingError, match=r"[Ww]eights only load failed"):
        fit_cnn(X, y, TINY, run_dir)
    with pytest.raises(pickle.UnpicklingError):
        load_cnn(target)
    assert not marker.exists()


def test_finished_directory_is_loaded_and_foreign_one_refused(tmp_path):
    X, y = toy_images()
    model, hist = fit_cnn(X, y, TINY, tmp_path)
    again, hist_again = fit_cnn(X, y, TINY, tmp_path)
    assert hist_again == json.loads(json.dumps(hist))
    np.testing.assert_array_equal(predict_cnn(again, X), predict_cnn(model, X))
    np.testing.assert_array_equal(
        predict_cnn(load_cnn(tmp_path / "model.pt"), X), predict_cnn(model, X)
    )
    with pytest.raises(ValueError, match="another config"):
        fit_cnn(X, y, TINY.replace(seed=1), tmp_path)
    with pytest.raises(ValueError, match="another data"):
        fit_cnn(X, y + 1.0, TINY, tmp_path)


def test_cnn_bad_input(tmp_path):
    X, y = toy_images(8)
    with pytest.raises(ValueError, match=r"X must have shape \(n ≥ 1, nb, nd\)"):
        fit_cnn(X[0], y, TINY)
    with pytest.raises(ValueError, match="one value per image"):
        fit_cnn(X, y[:3], TINY)
    bad = X.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_cnn(bad, y, TINY)
    with pytest.raises(ValueError, match="together"):
        fit_cnn(X, y, TINY, X_val=X)
    with pytest.raises(TypeError, match="CNNConfig"):
        fit_cnn(X, y, {"epochs": 1})
    with pytest.raises(ValueError, match="divisible"):
        fit_cnn(np.zeros((4, 6, 6), np.float32), np.zeros(4), TINY)
    torch.save({"weights": 1}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="not a model saved by fit_cnn"):
        load_cnn(tmp_path / "model.pt")
