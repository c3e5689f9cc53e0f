"""Inverse-analysis figures: the coefficients, regions and histograms drawn are those given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.plot.inverse import (
    REGION_COLORS,
    attention_map,
    region_map,
    ring_geometry_histograms,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_region_map_draws_coefficients_symmetric_with_both_outlines():
    coef = np.zeros((8, 8))
    coef[1, 6], coef[5, 2] = 2.0, -1.0
    ax = region_map(coef, coef > 1, coef < -0.5, (0, 4), (0, 4))
    (im,) = ax.images
    assert im.get_clim() == (-2.0, 2.0)
    shown = np.asarray(im.get_array())
    assert np.unravel_index(np.argmax(shown), shown.shape) == (6, 1)  # death up, birth right
    assert len(ax.collections) >= 2  # one contour per region
    with pytest.raises(ValueError, match="one shape"):
        region_map(coef, coef[:4] > 1, coef < 0)


def test_ring_geometry_histograms_one_curve_per_region_in_its_colour():
    rng = np.random.default_rng(0)
    fig = ring_geometry_histograms(
        {"high": rng.normal(1.6, 0.2, 50), "low": rng.normal(1.45, 0.05, 80)},
        {"high": rng.normal(100, 20, 50), "low": rng.normal(115, 5, 80)},
    )
    lengths, angles = fig.axes[:2]
    assert len(lengths.patches) == 2 and len(angles.patches) == 2
    labels = [t.get_text() for t in lengths.get_legend().get_texts()]
    assert labels == ["high energy (n = 50)", "low energy (n = 80)"]
    assert matplotlib.colors.same_color(lengths.patches[1].get_edgecolor(), REGION_COLORS["low"])
    with pytest.raises(ValueError, match="same non-empty regions"):
        ring_geometry_histograms({"high": [1.0]}, {"low": [1.0]})


def test_attention_map_shows_the_cam_with_death_up():
    img = np.zeros((8, 8))
    img[2, 5] = 1.0
    cam = np.zeros((8, 8))
    cam[2, 5] = 1.0
    ax = attention_map(img, cam, (0, 4), (0, 4))
    (im,) = ax.images
    shown = np.asarray(im.get_array())
    assert np.unravel_index(np.argmax(shown), shown.shape) == (5, 2)
    assert im.get_extent() == [0.0, 4.0, 0.0, 4.0]
    with pytest.raises(ValueError, match="one shape"):
        attention_map(img, cam[:4])
