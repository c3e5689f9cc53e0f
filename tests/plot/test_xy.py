"""Figures of XY fields and scores: what is drawn, and clear errors on bad input."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.plot.xy import (
    COLORS,
    correlation_curves,
    observable_vs_distance,
    score_curves,
    spin_field,
    threshold_curves,
    training_curves,
)
from topophys.simulate.xy import defect_field, pair_charge_map


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_spin_field_marks_each_defect_at_its_plaquette_centre() -> None:
    k = pair_charge_map(16, 2.24)
    ax = spin_field(defect_field(k), title="pair")
    red, blue = ax.collections[-2], ax.collections[-1]
    (i, j) = np.argwhere(k == 1)[0]
    np.testing.assert_allclose(red.get_offsets(), [[j + 0.5, i + 0.5]])
    (i, j) = np.argwhere(k == -1)[0]
    np.testing.assert_allclose(blue.get_offsets(), [[j + 0.5, i + 0.5]])
    assert ax.get_title() == "pair"
    ax = spin_field(np.zeros((8, 8)), arrows=False)
    assert all(len(c.get_offsets()) == 0 for c in ax.collections)  # no defects
    with pytest.raises(ValueError, match="one"):
        spin_field(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="charges"):
        spin_field(np.zeros((8, 8)), charges=np.zeros((4, 4)))


def test_observable_and_correlation_lines_use_the_ensemble_colours() -> None:
    d = [0.0, 1.0, 2.0]
    ax = observable_vs_distance(
        d, {"simulated": ([1, 2, 3], [0.1] * 3), "generated": ([1, 2, 2], [0.2] * 3)}, ylabel="E"
    )
    sim, gen = (c.lines[0] for c in ax.containers)  # the data line of each error-bar plot
    assert matplotlib.colors.same_color(sim.get_color(), COLORS["simulated"])
    np.testing.assert_array_equal(gen.get_ydata(), [1, 2, 2])
    assert [t.get_text() for t in ax.legend().get_texts()] == ["simulated", "generated"]
    assert ax.get_ylabel() == "E"
    ax = correlation_curves([0, 1, 2], {"baseline": ([1.0, 0.9, 0.8], [0.0, 0.01, 0.02])})
    assert matplotlib.colors.same_color(ax.get_lines()[0].get_color(), COLORS["baseline"])
    ax = threshold_curves([0.0, 1.0], {"a": [1, 2], "b": [2, 3]}, ylabel="area", title="d = 0")
    assert len(ax.get_lines()) == 2 and ax.get_title() == "d = 0"


def test_training_curves_from_a_history() -> None:
    history = [
        {"epoch": e, "gen_vorticity": 10.0 - e, "real_vorticity": 2.0, "physics_on": int(e >= 2)}
        for e in range(4)
    ]
    ax = training_curves(history, "vorticity")
    gen, real, physics = ax.get_lines()
    np.testing.assert_array_equal(gen.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(real.get_ydata(), [2.0] * 4)
    assert physics.get_xdata()[0] == 3  # the first physics epoch, counted from 1
    with pytest.raises(ValueError, match="empty"):
        training_curves([])
    with pytest.raises(ValueError, match="gen_energy"):
        training_curves(history, "energy")


def test_score_curves_leave_gaps_for_undefined_scores() -> None:
    ax = score_curves({"generator": ([0, 1, 4], [0.5, None, 0.9])}, logx=True, ylabel="R²")
    y = ax.get_lines()[0].get_ydata()
    assert np.isnan(y[1]) and y[2] == 0.9
    assert ax.get_xscale() == "symlog"


def test_multi_panel_figures_hold_one_panel_per_item():
    from topophys.plot.xy import (
        correlation_grid,
        field_grid,
        observable_grid,
        refine_figure,
        temperature_grid,
        threshold_grid,
        training_figure,
    )

    theta = np.zeros((4, 4))
    fig = field_grid([[theta, theta], [theta, theta]], [["a", "b"], ["c", "d"]])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d"]
    series = {"energy": {"simulated": ([1.0, 2.0], [0.1, 0.1])}}
    fig = observable_grid([0.0, 1.0], series, {"energy": "E"}, shape=(1, 3))
    assert fig.axes[0].get_ylabel() == "E" and [ax.axison for ax in fig.axes] == [1, 0, 0]
    r = np.arange(3.0)
    fig = correlation_grid([(r, {"simulated": (r, 0 * r)}, "d = 0"), (r, {}, "d = 2")])
    assert [ax.get_title() for ax in fig.axes] == ["d = 0", "d = 2"]
    fig = threshold_grid(
        [r, r], [{"area": {"simulated": r}}, {"area": {"simulated": 2 * r}}], {"area": "A"},
        ["d = 0", "d = 2"],
    )  # fmt: skip
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), 2 * r)
    per = {"helicity_modulus": {"simulated": ([1.0, 0.5], [0.1, 0.1])}}
    fig = temperature_grid([0.5, 1.0], [("d = 0", per)], {})
    bkt = [line for line in fig.axes[0].lines if line.get_label() == "2T/π"]
    np.testing.assert_allclose(bkt[0].get_ydata()[-1], 2 / np.pi)
    rows = [
        {"k": k, "seconds_per_sample": 1e-3 * (k + 1), "r2": {"energy": 0.9, "magnetization": 0.8},
         "correlation_r2_all_min": 0.7}
        for k in (0, 1, 4)
    ]  # fmt: skip
    fig = refine_figure({"generator": rows})
    assert len(fig.axes) == 4 and fig.axes[3].get_xlabel() == "ms per sample"
    history = [
        {"epoch": e, "gen_vorticity": 1.0, "gen_magnetization": 0.5, "gen_energy": -1.0,
         "charge_fidelity": 0.5}
        for e in range(3)
    ]  # fmt: skip
    fig = training_figure(history)
    assert fig.axes[3].get_ylabel() == "charge fidelity"
