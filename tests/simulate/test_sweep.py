"""Sweeps resume after interruption and give the same store as one uninterrupted run."""

import numpy as np
import pytest

from topophys.data import FieldStore, open_fields
from topophys.simulate import sweep as sweep_module
from topophys.simulate.sweep import TDGLSweepConfig, run_tdgl_sweep
from topophys.simulate.tdgl import TDGLConfig

CONFIG = TDGLSweepConfig(
    tdgl=TDGLConfig(size=16, dt=0.05, t_end=30.0, n_snapshots=6),
    alphas=(1.0, 2.0, 3.0),
    seeds=(0, 1),
    batch_size=2,
)


def _arrays(path):
    ds = open_fields(path)
    return {name: ds[name].values for name in ("phi", "T_init", "done", "alpha", "seed", "t", "h")}


def _assert_same_store(a, b):
    ours, theirs = _arrays(a), _arrays(b)
    for name in ours:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_sweep_covers_the_grid(tmp_path):
    store = run_tdgl_sweep(CONFIG, tmp_path / "s.zarr", progress=False)
    ds = store.dataset()
    assert ds["done"].values.all()
    assert np.isfinite(ds["phi"].values).all()
    np.testing.assert_array_equal(ds["alpha"].values, [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(ds["seed"].values, [0, 1, 0, 1, 0, 1])
    assert ds["t"].values[0] == 0 and ds["t"].values[-1] == pytest.approx(30.0)
    assert TDGLSweepConfig.from_yaml(ds.attrs["config"]) == CONFIG


def test_resume_after_interruption_gives_the_same_store(tmp_path, monkeypatch):
    run_tdgl_sweep(CONFIG, tmp_path / "whole.zarr", progress=False)

    real = sweep_module.as_completed

    def killed_after_one_batch(*args, **kwargs):
        for n, item in enumerate(real(*args, **kwargs)):
            if n == 1:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(sweep_module, "as_completed", killed_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        run_tdgl_sweep(CONFIG, tmp_path / "resumed.zarr", progress=False)
    monkeypatch.setattr(sweep_module, "as_completed", real)

    partial = FieldStore.open(tmp_path / "resumed.zarr")
    np.testing.assert_array_equal(partial.done, [True, True, False, False, False, False])
    # A run killed mid-write: fields landed, the done flag did not.
    garbage = np.full((2, 6, 16, 16), 7.0, dtype=np.float32)
    FieldStore.open(tmp_path / "resumed.zarr", mode="r+")._group["phi"][2:4] = garbage
    assert open_fields(tmp_path / "resumed.zarr")["phi"].shape == (6, 6, 16, 16)  # readable

    calls = []

    def counting(*args, **kwargs):
        calls.append(len(args[1]))
        yield from real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "as_completed", counting)
    run_tdgl_sweep(CONFIG, tmp_path / "resumed.zarr", progress=False)
    assert calls == [2]  # only the two unfinished batches were simulated
    _assert_same_store(tmp_path / "whole.zarr", tmp_path / "resumed.zarr")

    run_tdgl_sweep(CONFIG, tmp_path / "resumed.zarr", progress=False)
    assert calls == [2, 0]  # nothing left to do


def test_store_of_another_config_is_refused(tmp_path):
    run_tdgl_sweep(CONFIG, tmp_path / "s.zarr", progress=False)
    other = CONFIG.replace(alphas=[1.0, 4.0])
    with pytest.raises(ValueError, match="different configuration"):
        run_tdgl_sweep(other, tmp_path / "s.zarr", progress=False)


def test_two_workers_give_the_same_store(tmp_path):
    run_tdgl_sweep(CONFIG, tmp_path / "one.zarr", workers=1, progress=False)
    run_tdgl_sweep(CONFIG, tmp_path / "two.zarr", workers=2, progress=False)
    _assert_same_store(tmp_path / "one.zarr", tmp_path / "two.zarr")
