"""XY spin stores: layout, round trip through xarray, resuming, and refusals."""

import numpy as np
import pytest

from topophys.data.spins import SpinStore, open_spins
from topophys.simulate.xy import XYConfig, XYSamples, write_dataset

CFG = XYConfig(
    L=8, temperatures=(0.1, 0.4), distances=(0, 1.41), samples=6, n_replicas=3,
    equilibration_sweeps=20, decorrelation_sweeps=2,
)  # fmt: skip


def fake(T, d, L=8, samples=6, value=0.5):
    theta = np.full((samples, L, L), value, dtype=np.float32)
    charge = np.zeros((samples, L, L), dtype=np.int8)
    return XYSamples(
        theta=theta, charge=charge, energy=np.full(samples, -2.0), target=charge[0], T=T, d=d,
        tau_int=1.5, acceptance=0.5, held=1.0, seconds=0.1,
    )  # fmt: skip


def test_create_write_read(tmp_path):
    path = tmp_path / "s.zarr"
    store = SpinStore.create(path, L=8, conditions=[(0.1, 0.0), (0.2, 1.0)], samples=6)
    assert store.n_conditions == 2 and store.samples == 6
    assert not store.done.any()
    store.write_condition(1, fake(0.2, 1.0))
    ds = open_spins(path)
    assert dict(ds.sizes) == {"sample": 12, "y": 8, "x": 8, "condition": 2}
    np.testing.assert_array_equal(ds["done"].values, [False, True])
    assert np.isnan(ds["theta"].values[:6]).all()
    np.testing.assert_array_equal(ds["theta"].values[6:], 0.5)
    np.testing.assert_array_equal(ds["T"].values, [0.1] * 6 + [0.2] * 6)
    np.testing.assert_array_equal(ds["condition"].values, [0] * 6 + [1] * 6)
    assert ds["tau_int"].values[1] == 1.5 and np.isnan(ds["tau_int"].values[0])
    assert ds["charge"].dtype == np.int8


def test_refusals(tmp_path):
    path = tmp_path / "s.zarr"
    store = SpinStore.create(path, L=8, conditions=[(0.1, 0.0)], samples=6)
    with pytest.raises(FileExistsError):
        SpinStore.create(path, L=8, conditions=[(0.1, 0.0)], samples=6)
    with pytest.raises(ValueError, match="shape"):
        store.write_condition(0, fake(0.1, 0.0, samples=5))
    with pytest.raises(ValueError, match="condition 0"):
        store.write_condition(0, fake(0.3, 0.0))
    with pytest.raises(ValueError, match="index"):
        store.write_condition(3, fake(0.1, 0.0))
    with pytest.raises(FileNotFoundError):
        SpinStore.open(tmp_path / "missing.zarr")
    (tmp_path / "other").mkdir()
    import zarr

    zarr.open_group(str(tmp_path / "other"), mode="w")
    with pytest.raises(ValueError, match="not a spin store"):
        SpinStore.open(tmp_path / "other")


def test_write_dataset_resumes_and_is_deterministic(tmp_path):
    full = write_dataset(CFG, tmp_path / "full.zarr", progress=False)
    assert full.done.all()
    ds_full = open_spins(tmp_path / "full.zarr")
    np.testing.assert_array_equal(ds_full["held"].values, 1.0)
    np.testing.assert_allclose(np.unique(ds_full["d"].values), [0.0, np.sqrt(2)])
    # An interrupted run: only condition 2 got written; resuming completes the rest identically.
    part = SpinStore.create(
        tmp_path / "part.zarr",
        L=CFG.L,
        conditions=CFG.conditions,
        samples=CFG.samples,
        config_yaml=CFG.to_yaml(),
    )
    from topophys.simulate.xy import simulate_condition

    part.write_condition(2, simulate_condition(CFG, *CFG.conditions[2], progress=False))
    write_dataset(CFG, tmp_path / "part.zarr", progress=False)
    ds_part = open_spins(tmp_path / "part.zarr")
    np.testing.assert_array_equal(ds_part["theta"].values, ds_full["theta"].values)
    np.testing.assert_array_equal(ds_part["charge"].values, ds_full["charge"].values)
    with pytest.raises(ValueError, match="different configuration"):
        write_dataset(CFG.replace(seed=1), tmp_path / "full.zarr", progress=False)
