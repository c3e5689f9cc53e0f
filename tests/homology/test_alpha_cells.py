"""Periodic alpha: cells are judged by their shape, not their size, and refused before any work."""

import time

import numpy as np
import pytest

from topophys.homology import periodic_alpha_diagram


def _points(n=12, d=2):
    return np.random.default_rng(0).uniform(0, 1, (n, d))


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e6])
def test_the_diagram_does_not_depend_on_the_unit_of_length(scale):
    cell = np.array([[1.0, 0.0], [0.3, 1.1]])
    points = _points() @ cell
    reference = periodic_alpha_diagram(points, cell)
    # zero_tolerance is in squared-radius units: scale it with them.
    scaled = periodic_alpha_diagram(points * scale, cell * scale, zero_tolerance=1e-10 * scale**2)
    # Squared radii scale with the square of the unit; the pairs are the same.
    np.testing.assert_array_equal(scaled[:, 0], reference[:, 0])
    np.testing.assert_allclose(scaled[:, 1:], reference[:, 1:] * scale**2, rtol=1e-6)


@pytest.mark.parametrize(
    "cell",
    [
        np.array([[1.0, 0.0], [1.0, 1e-6]]),  # the reported hang: a cover of ~10^7 images
        np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1e-7]]),
    ],
)
def test_a_thin_cell_is_refused_at_once(cell):
    d = cell.shape[0]
    start = time.perf_counter()
    with pytest.raises(ValueError, match="cell is too thin"):
        periodic_alpha_diagram(_points(12, d) @ cell, cell)
    assert time.perf_counter() - start < 2.0


def test_a_large_margin_is_refused_like_a_thin_cell():
    with pytest.raises(ValueError, match="margin"):
        periodic_alpha_diagram(_points(), np.eye(2), margin=1e4)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (np.array([[1.0, 0.0], [2.0, 0.0]]), "degenerate"),
        (np.array([[1.0, 0.0], [1.0, 1e-14]]), "degenerate"),
        (np.zeros((2, 2)), "degenerate"),
        (1e-300 * np.eye(2), "unit of length"),
        (1e200 * np.eye(2), "unit of length"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "finite"),
    ],
)
def test_a_degenerate_or_unrepresentable_cell_is_named(cell, message):
    with pytest.raises(ValueError, match=message) as info:
        periodic_alpha_diagram(_points(), cell)
    assert "cell" in str(info.value)


def test_complex_input_is_refused_not_cast():
    with pytest.raises(TypeError, match="points"):
        periodic_alpha_diagram(_points().astype(complex) + 1j, np.eye(2))
    with pytest.raises(TypeError, match="cell"):
        periodic_alpha_diagram(_points(), np.eye(2) + 0j)


def test_periodic_alpha_does_not_depend_on_the_unit_of_length():
    # The same structure in Å and in units of 1e8 Å: squared radii scale by 1e-16 and no pair
    # is lost to an absolute tolerance.
    import numpy as np

    from topophys.homology import periodic_alpha_diagram

    points = np.random.default_rng(0).uniform(0, 1, (40, 2))
    big = periodic_alpha_diagram(points, np.eye(2))
    tiny = periodic_alpha_diagram(points * 1e-8, 1e-8 * np.eye(2))
    assert tiny.shape == big.shape
    np.testing.assert_array_equal(tiny[:, 0], big[:, 0])
    np.testing.assert_allclose(tiny[:, 1:] * 1e16, big[:, 1:], rtol=1e-6, atol=1e-12)
