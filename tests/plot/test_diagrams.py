"""Figures of persistence diagrams: every point drawn where it belongs, essential ones included."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.diagrams import Diagrams
from topophys.plot.diagrams import diagram_panel, diagram_plot
from topophys.vectorize import PersistenceHistogram, PersistenceImage

DIAGRAM = np.array(
    [
        [0, 0.0, np.inf],
        [0, 0.5, 1.0],
        [0, 0.2, 0.4],
        [1, 1.0, 3.0],
        [1, 1.5, 2.0],
        [1, 2.0, np.inf],
    ]
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _collections(ax):
    return {c.get_label(): c.get_offsets().data for c in ax.collections}


def test_points_and_essential_classes_are_where_they_belong():
    ax = diagram_plot(DIAGRAM)
    drawn = _collections(ax)
    assert set(drawn) == {"H0: 2 finite", "H0: 1 essential", "H1: 2 finite", "H1: 1 essential"}
    np.testing.assert_array_equal(drawn["H1: 2 finite"], [[1.0, 3.0], [1.5, 2.0]])
    np.testing.assert_array_equal(drawn["H0: 2 finite"], [[0.5, 1.0], [0.2, 0.4]])
    # essential: at their birth, all on one line above every finite death, inside the axes
    top = drawn["H0: 1 essential"][0, 1]
    assert drawn["H0: 1 essential"][0, 0] == 0.0 and drawn["H1: 1 essential"][0, 0] == 2.0
    assert drawn["H1: 1 essential"][0, 1] == top and top > 3.0
    assert ax.get_ylim()[1] > top
    assert any(t.get_text().strip() == "∞" for t in ax.texts)
    diagonal = ax.lines[0].get_xydata()
    np.testing.assert_array_equal(diagonal[:, 0], diagonal[:, 1])


def test_dims_selects_and_ax_is_reused():
    fig, ax = plt.subplots()
    assert diagram_plot(Diagrams.from_list([DIAGRAM]), ax=ax, dims=[1]) is ax
    assert set(_collections(ax)) == {"H1: 2 finite", "H1: 1 essential"}
    assert ax.figure is fig


def test_empty_and_finite_only_diagrams_draw():
    ax = diagram_plot(np.empty((0, 3)))
    assert not ax.collections
    ax = diagram_plot(DIAGRAM[np.isfinite(DIAGRAM[:, 2])])
    assert not ax.texts  # no essential line without essential classes


def test_bad_diagrams_are_refused():
    with pytest.raises(ValueError, match="one diagram"):
        diagram_plot(Diagrams.from_list([DIAGRAM, DIAGRAM]))
    with pytest.raises(ValueError, match="shape"):
        diagram_plot(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        diagram_plot(np.array([[0, np.nan, 1.0]]))


def test_panel_shows_the_vectorizers_output():
    fig = diagram_panel(DIAGRAM, dim=1, resolution=8)
    _, hist_ax, image_ax = fig.axes[:3]
    assert "H1" in hist_ax.get_title() and "H1" in image_ax.get_title()
    hist = hist_ax.images[0].get_array()
    assert hist.shape == (8, 8) and hist.sum() == 2  # two finite H1 points, raw counts
    image = image_ax.images[0].get_array()
    assert image.shape == (8, 8) and image.min() >= 0 and image.max() > 0
    assert any("1 essential H1 not binned" in t.get_text() for t in hist_ax.texts)


def test_panel_uses_given_vectorizers_as_they_are():
    batch = Diagrams.from_list([DIAGRAM])
    hist = PersistenceHistogram(
        bins=4, birth_range=(0, 4), death_range=(0, 4), standardize="none"
    ).fit(batch)
    image = PersistenceImage(resolution=(5, 3), birth_range=(0, 4), persistence_range=(0, 4))
    fig = diagram_panel(DIAGRAM, histogram=hist, image=image, title="run 0, t = 1")
    hist_values = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(hist_values.T.ravel(), hist.transform(batch)[0])
    assert fig.axes[2].images[0].get_array().shape == (3, 5)  # persistence rows, birth columns
    np.testing.assert_allclose(fig.axes[2].images[0].get_extent(), [0, 4, 0, 4])
    assert fig._suptitle.get_text() == "run 0, t = 1"


def test_panel_of_a_dimension_without_points():
    fig = diagram_panel(DIAGRAM[DIAGRAM[:, 0] == 0], dim=1, resolution=4)
    assert fig.axes[1].images[0].get_array().sum() == 0
