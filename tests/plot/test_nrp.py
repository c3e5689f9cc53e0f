"""NRP figures: each draws what it is given (line counts, labels, shapes of the panels)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.plot import nrp as pn

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_potential_curves_one_line_per_run_and_log_time_drops_t0() -> None:
    t = np.tile(np.array([0.0, 1.0, 2.0, 4.0]), (3, 1))
    v = -np.cumsum(RNG.random((3, 4)), axis=1)
    ax = pn.potential_curves(t, v, np.array([1.0, 2.0, 3.0]))
    assert len(ax.lines) == 3
    assert ax.get_xscale() == "log"
    assert all(line.get_xdata().min() > 0 for line in ax.lines)
    ax = pn.potential_curves(t, v, np.array([1.0, 2.0, 3.0]), log_time=False)
    assert ax.lines[0].get_xdata()[0] == 0.0


def test_latent_trajectories_projects_high_dimensional_latents() -> None:
    z = RNG.standard_normal((4, 5, 3))
    ax = pn.latent_trajectories(z, np.arange(4.0))
    assert len(ax.lines) == 8  # a path and a start marker per run
    assert ax.get_xlabel() == "PC 1"
    ax = pn.latent_trajectories(z[:, :, :2], np.arange(4.0))
    np.testing.assert_allclose(ax.lines[0].get_xdata(), z[0, :, 0])


def test_gradient_vs_alpha_skips_nan_runs_and_averages_seeds() -> None:
    alphas = np.array([1.0, 1.0, 2.0, 2.0, 3.0])
    grads = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 1.0], [2.0, 1.0], [np.nan, np.nan]])
    ax = pn.gradient_vs_alpha(alphas, grads)
    mean_line = ax.lines[0]
    np.testing.assert_allclose(mean_line.get_xdata(), [1.0, 2.0])
    np.testing.assert_allclose(mean_line.get_ydata(), [2.0, 2.0])


def test_training_curves_draws_every_series() -> None:
    hist = {"train_ae": [3.0, 2.0], "train_v": [1.0, 0.5], "val_ae": [3.5, 2.5]}
    ax = pn.training_curves({"pd": hist, "image": {"train_ae": [1.0, 0.9]}})
    assert len(ax.lines) == 4
    assert ax.get_yscale() == "log"


@pytest.mark.parametrize(
    ("shape", "image_shape", "expected"),
    [
        ((6, 8, 8), None, (8, 8)),
        ((6, 2 * 3 * 4), (2, 3, 4), (4, 6)),  # two 3×4 persistence images side by side, transposed
    ],
)
def test_prediction_panel_grid(shape, image_shape, expected) -> None:
    preds = {k: RNG.random(shape) for k in ("truth", "reconstruction", "prediction")}
    fig = pn.prediction_panel(preds, [1, 3, 5], np.arange(6.0), image_shape=image_shape)
    axes = fig.axes
    assert len(axes) == 9
    assert axes[0].get_title() == "truth" and axes[2].get_title() == "prediction"
    assert axes[0].images[0].get_array().shape == expected
