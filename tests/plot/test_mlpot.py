"""Figures of the PH-descriptor energy models: what is drawn is where it belongs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.plot.mlpot import (
    PARITY_COLORS,
    coefficient_map,
    descriptor_image,
    energy_trajectories,
    learning_curves,
    parity_grid,
    parity_per_split,
    parity_plot,
    sheet_plot,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_parity_plot_draws_each_set_with_its_rmse_and_the_diagonal():
    t = np.array([-7.0, -6.5, -6.0, -5.0])
    ax = parity_plot({"train": (t, t + 0.01), "test": (t[:2], t[:2] - 0.002)})
    points = {c.get_label(): c.get_offsets().data for c in ax.collections}
    assert set(points) == {"train (n = 4, RMSE 10.0 meV)", "test (n = 2, RMSE 2.0 meV)"}
    np.testing.assert_allclose(points["train (n = 4, RMSE 10.0 meV)"], np.c_[t, t + 0.01])
    train = next(c for c in ax.collections if c.get_label().startswith("train"))
    assert matplotlib.colors.same_color(train.get_facecolor()[0][:3], PARITY_COLORS["train"])
    (diag,) = ax.lines
    x, y = diag.get_data()
    np.testing.assert_allclose(x, y)
    assert x[0] <= -7.0 and x[-1] >= -4.99
    assert ax.get_xlim() == ax.get_ylim()


def test_parity_plot_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        parity_plot({})
    with pytest.raises(ValueError, match="same non-zero length"):
        parity_plot({"test": ([1.0, 2.0], [1.0])})


def test_descriptor_image_puts_birth_right_and_death_up():
    h = np.zeros((8, 8))
    h[1, 6] = 1.0  # birth bin 1 (0.5–1 Å² on [0, 4]), death bin 6 (3–3.5 Å²)
    ax = descriptor_image(h, (0.0, 4.0), (0.0, 4.0), title="x")
    (im,) = ax.images
    assert im.get_extent() == [0.0, 4.0, 0.0, 4.0]
    shown = np.asarray(im.get_array())
    row, col = np.unravel_index(np.argmax(shown), shown.shape)  # origin="lower": row = death
    assert (row, col) == (6, 1)
    assert ax.get_xlabel().startswith("birth") and ax.get_ylabel().startswith("death")
    # log colours leave empty bins blank (masked) instead of failing on log(0)
    sparse = h + 1e-3 * (np.arange(64).reshape(8, 8) % 3 == 0)  # 22 more bins, 23 occupied
    arr = descriptor_image(sparse, log=True).images[0].get_array()
    assert np.ma.is_masked(arr) and arr.mask.sum() == 64 - 23
    assert isinstance(plt.gca().images[0].norm, matplotlib.colors.LogNorm)


def test_coefficient_map_is_centred_and_symmetric():
    coef = np.zeros((4, 4))
    coef[0, 3], coef[2, 2] = 0.004, -0.001
    ax = coefficient_map(coef, (0, 8), (0, 8))
    norm = ax.images[0].norm
    assert (norm.vmin, norm.vcenter, norm.vmax) == (-0.004, 0.0, 0.004)
    assert np.asarray(ax.images[0].get_array())[3, 0] == pytest.approx(0.004)
    with pytest.raises(ValueError, match="2-D"):
        coefficient_map(np.zeros(4))
    with pytest.raises(ValueError, match="birth_range"):
        coefficient_map(coef, (8, 0))


def test_learning_curves_one_solid_and_one_dashed_line_per_history():
    hist = {"epoch": [1, 2, 3], "train_rmse_meV": [30, 20, 10], "val_rmse_meV": [40, 30, 25]}
    ax = learning_curves({"random": hist, "grouped": {**hist, "val_rmse_meV": []}})
    styles = [(line.get_label(), line.get_linestyle()) for line in ax.lines]
    assert styles == [("random: train", "-"), ("random: test", "--"), ("grouped: train", "-")]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [40, 30, 25])
    with pytest.raises(ValueError, match="at least one"):
        learning_curves({})


def test_energy_trajectories_one_line_per_run_in_frame_order():
    energy = np.array([-5.0, -6.0, -7.0, -4.0, -6.5])
    groups = np.array([0, 0, 0, 1, 1])
    ax = energy_trajectories(energy, groups, np.array([2.0, 2.0, 2.0, 3.0, 3.0]))
    assert len(ax.lines) == 2
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [-5.0, -6.0, -7.0])
    np.testing.assert_array_equal(ax.lines[1].get_xdata(), [0, 1])
    with pytest.raises(ValueError, match="one length"):
        energy_trajectories(energy, groups[:2], groups)


def _sets(shift):
    t = np.array([-7.0, -6.5, -6.0])
    return {"train": (t, t + shift), "test": (t[:2], t[:2] - shift)}


def test_parity_grid_has_a_panel_per_model_and_split_and_blanks_the_missing():
    fig = parity_grid(
        {
            "soap_nn": {"random": _sets(0.01), "grouped": _sets(0.02)},
            "ph_soap": {"random": _sets(0.0)},
        },
        {"soap_nn": "SOAP + NN"},
    )
    axes = fig.axes
    assert len(axes) == 4
    visible = [ax for ax in axes if ax.axison]
    assert len(visible) == 3  # ph_soap has no grouped split
    assert axes[0].get_title() == "SOAP + NN (random split)"
    assert axes[1].get_title() == "ph_soap (random split)"


def test_parity_per_split_ends_with_the_learning_curves():
    history = {"epoch": [1, 2], "train_rmse_meV": [10.0, 5.0]}
    fig = parity_per_split(
        {"random": _sets(0.01), "grouped": _sets(0.02)}, {"random split": history}, "SchNet",
        {"random": "random 80/20 split"},
    )  # fmt: skip
    assert [ax.get_title() for ax in fig.axes[:3]] == [
        "SchNet, random 80/20 split", "SchNet, grouped", "SchNet training",
    ]  # fmt: skip
    np.testing.assert_array_equal(fig.axes[2].lines[0].get_ydata(), [10.0, 5.0])


def test_sheet_plot_colours_atoms_by_coordination():
    from ase.build import graphene

    sheet = graphene(size=(4, 4, 1), vacuum=5.0)
    ax = sheet_plot(sheet[1:], title="one vacancy")
    counts = {
        c.get_label(): len(c.get_offsets()) for c in ax.collections if "fold" in c.get_label()
    }
    assert counts == {"2-fold": 3, "3-fold": len(sheet) - 4}
    assert ax.get_title() == "one vacancy"
