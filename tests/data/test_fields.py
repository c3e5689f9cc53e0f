"""The Zarr field store: layout, partial writes and errors."""

import numpy as np
import pytest

from topophys.data import FieldStore, open_fields


def _make(tmp_path, runs=3, times=4, shape=(5, 6)):
    return FieldStore.create(
        tmp_path / "f.zarr",
        alpha=np.linspace(1, 3, runs),
        seed=np.arange(runs),
        t=np.arange(times, dtype=float),
        h=np.linspace(1.5, 0, times),
        shape=shape,
        attrs={"config": "x: 1\n"},
    )


def test_layout_is_what_xarray_users_expect(tmp_path):
    store = _make(tmp_path)
    ds = open_fields(store.path)
    assert ds["phi"].dims == ("run", "time", "y", "x")
    assert ds["phi"].shape == (3, 4, 5, 6)
    assert set(ds.coords) >= {"alpha", "seed", "T_init", "t", "h"}
    assert ds.attrs["config"] == "x: 1\n"
    assert not ds["done"].values.any()
    assert np.isnan(ds["phi"].values).all()


def test_written_runs_are_done_and_others_stay_empty(tmp_path):
    store = _make(tmp_path)
    fields = np.random.default_rng(0).normal(size=(2, 4, 5, 6)).astype(np.float32)
    store.write_runs([1, 2], fields, np.array([0.5, np.nan]))
    ds = open_fields(store.path)
    np.testing.assert_array_equal(ds["done"].values, [False, True, True])
    np.testing.assert_array_equal(ds["phi"].values[1:], fields)
    assert np.isnan(ds["phi"].values[0]).all()
    np.testing.assert_array_equal(ds["T_init"].values, [np.nan, 0.5, np.nan])


def test_errors(tmp_path):
    store = _make(tmp_path)
    with pytest.raises(FileExistsError):
        _make(tmp_path)
    with pytest.raises(ValueError, match="consecutive"):
        store.write_runs([0, 2], np.zeros((2, 4, 5, 6)), np.zeros(2))
    with pytest.raises(ValueError, match="shape"):
        store.write_runs([0], np.zeros((1, 4, 5, 5)), np.zeros(1))
    with pytest.raises(FileNotFoundError):
        open_fields(tmp_path / "missing.zarr")
    (tmp_path / "other").mkdir()
    import zarr

    zarr.open_group(str(tmp_path / "other"), mode="w")
    with pytest.raises(ValueError, match="not a field store"):
        FieldStore.open(tmp_path / "other")
