"""Figures of the cyclo-octane descriptor spaces: what is drawn is where it belongs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.plot.cyclooctane import embedding_panels, embedding_scatter, ring_plot, two_diagrams


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_scatter_puts_highlighted_points_in_red_last():
    e = np.arange(30.0).reshape(10, 3)
    mask = np.zeros(10, dtype=bool)
    mask[[2, 7]] = True
    ax = embedding_scatter(e, highlight=mask, title="x")
    ordinary, red = ax.collections
    assert red.get_label() == "highlighted"
    np.testing.assert_allclose(np.array(red._offsets3d).T, e[mask])
    np.testing.assert_allclose(np.array(ordinary._offsets3d).T, e[~mask])
    assert matplotlib.colors.same_color(red.get_facecolor()[0][:3], "red")
    assert ax.get_title() == "x" and ax.get_zlabel() == "PC 3"


def test_panels_one_3d_axes_per_embedding():
    rng = np.random.default_rng(0)
    fig = embedding_panels(
        {"soap": rng.normal(size=(5, 3)), "persistence": rng.normal(size=(5, 3))}
    )
    assert [ax.get_title() for ax in fig.axes] == ["SOAP", "persistence images"]
    assert all(ax.name == "3d" for ax in fig.axes)
    with pytest.raises(ValueError, match="same number of points"):
        embedding_panels({"a": np.zeros((4, 3)), "b": np.zeros((5, 3))})


def test_ring_plot_closes_the_loop_and_diagrams_figure():
    ring = np.c_[np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4), np.zeros(8)]
    ax = ring_plot(ring)
    (line,) = ax.lines
    xs, ys, _ = line.get_data_3d()
    assert len(xs) == 9 and xs[0] == xs[-1] and ys[0] == ys[-1]
    d = np.array([[0, 0.0, 0.5], [1, 0.6, 1.4], [0, 0.0, np.inf]])
    fig = two_diagrams(d, d, np.stack([ring, ring]))
    assert len(fig.axes) == 4
    assert fig.axes[0].get_xlabel() == "birth (Å²)"


def test_bad_input():
    with pytest.raises(ValueError, match=r"embedding must have shape \(n ≥ 1, 3\)"):
        embedding_scatter(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="highlight must be a boolean"):
        embedding_scatter(np.zeros((4, 3)), highlight=np.zeros(4))
    _, flat = plt.subplots()
    with pytest.raises(ValueError, match="3-D Axes"):
        embedding_scatter(np.zeros((4, 3)), flat)
    with pytest.raises(ValueError, match="rings must have shape"):
        two_diagrams(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((8, 3)))
