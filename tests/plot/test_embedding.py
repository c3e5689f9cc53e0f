"""Descriptor-map figures: the points and colours drawn are the ones given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.plot.embedding import embedding_grid, embedding_map


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_embedding_map_draws_every_point_with_its_value():
    coords = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    values = np.array([3.0, 1.0, 2.0])
    ax = embedding_map(coords, values, label="density")
    (sc,) = ax.collections
    drawn = sc.get_offsets().data
    order = np.argsort(values)
    np.testing.assert_array_equal(drawn, coords[order])
    np.testing.assert_array_equal(sc.get_array(), values[order])
    with pytest.raises(ValueError, match="one value per point"):
        embedding_map(coords, values[:2])


def test_embedding_grid_lays_out_properties_by_maps_with_metrics_in_titles():
    rng = np.random.default_rng(0)
    maps = {"PH": rng.normal(size=(10, 2)), "SOAP": rng.normal(size=(10, 2))}
    props = {"density": np.arange(10.0), "energy": -np.arange(10.0)}
    metrics = {"PH": {"density": {"knn_r2": 0.91, "spearman": 0.52}}}
    fig = embedding_grid(maps, props, metrics=metrics)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 4
    titles = [ax.get_title() for ax in panels]
    assert titles[0] == "PH: density\nkNN R² 0.91, Spearman 0.52"
    assert titles[3] == "SOAP: energy"
    np.testing.assert_array_equal(panels[1].collections[0].get_offsets().data.shape, (10, 2))
