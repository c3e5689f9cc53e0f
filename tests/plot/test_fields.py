"""Figures of field stores."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from topophys.data import FieldStore
from topophys.plot.fields import snapshot_grid, t_init_plot


@pytest.fixture
def dataset(tmp_path):
    store = FieldStore.create(
        tmp_path / "f.zarr",
        alpha=[1.0, 2.0, 3.0, 1.0],
        seed=[0, 0, 0, 1],
        t=np.arange(5.0),
        h=np.zeros(5),
        shape=(4, 4),
    )
    store.write_runs([0, 1, 2], np.random.default_rng(0).normal(size=(3, 5, 4, 4)), [1.0, 2.0, 9.0])
    return store.dataset()


def test_snapshot_grid_rows_are_alphas_and_cols_times(dataset):
    fig = snapshot_grid(dataset, n_alpha=2, n_time=3)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 6
    assert images[0].get_ylabel() == "α = 1" and images[3].get_ylabel() == "α = 3"
    assert images[0].get_title() == "t = 0" and images[2].get_title() == "t = 4"


def test_snapshot_grid_refuses_a_seed_without_finished_runs(dataset):
    with pytest.raises(ValueError, match="seed=1"):
        snapshot_grid(dataset, seed=1)


def test_t_init_plot_shows_finished_runs(dataset):
    fig = t_init_plot(dataset)
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(y, [1.0, 2.0, 9.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_alpha": 0}, "n_alpha"), ({"n_time": 0}, "n_time"), ({"times": []}, "times")],
)
def test_snapshot_grid_refuses_an_empty_grid(dataset, kwargs, match):
    # an empty grid once failed inside np.nanmax ("zero-size array"), naming no argument
    with pytest.raises(ValueError, match=match):
        snapshot_grid(dataset, **kwargs)


def test_t_init_plot_on_axes_in_a_subfigure_returns_the_root_figure(dataset, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    root = plt.figure()
    ax = root.subfigures(1, 2)[0].subplots()
    fig = t_init_plot(dataset, ax=ax)
    assert isinstance(fig, Figure) and fig is root  # a SubFigure has no savefig
    fig.savefig(tmp_path / "t_init.png")
    plt.close(root)
