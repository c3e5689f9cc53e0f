"""Zarr stores of XY spin-field datasets, readable with xarray.

Layout (one Zarr v3 group, xarray conventions)::

    theta       (sample, y, x)  float32 angles in [−π, π]; NaN until written
    charge      (sample, y, x)  int8 plaquette charges measured on ``theta``
    energy      (sample,)       energy per spin
    T, d        (sample,)       coordinates: temperature and pair distance of the sample
    condition   (sample,)       coordinate: index of the sample's (T, d) condition
    cond_T, cond_d (condition,) the conditions
    target      (condition, y, x) int8 prescribed charge map of each condition
    tau_int     (condition,)    integrated autocorrelation time of the energy (sweeps)
    acceptance  (condition,)    Metropolis acceptance while sampling
    held        (condition,)    share of samples whose charge map equals ``target``
    seconds     (condition,)    wall-clock time of the condition
    done        (condition,)    True once the condition is completely written

Condition ``c`` owns samples ``c·samples … (c+1)·samples − 1``. The group's attribute
``config_yaml`` is the configuration that made the store. Writes go fields → statistics →
``done``, and Zarr replaces each chunk through a temporary file, so a killed run leaves a readable
store whose unfinished conditions are simply not ``done``.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

__all__ = ["SpinStore", "open_spins"]

_PER_CONDITION = ("tau_int", "acceptance", "held", "seconds")
_REQUIRED = {"theta", "charge", "energy", "T", "d", "condition", "cond_T", "cond_d", "target",
             "done", *_PER_CONDITION}  # fmt: skip


class SpinStore:
    """A resumable on-disk XY dataset (module notes); :func:`open_spins` reads it with xarray."""

    def __init__(self, group: zarr.Group, path: Path) -> None:
        self._group = group
        self.path = path

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        L: int,
        conditions: Sequence[tuple[float, float]],
        samples: int,
        config_yaml: str = "",
        chunk: int = 1024,
    ) -> SpinStore:
        """Create an empty store for ``samples`` fields of each (T, d) in ``conditions``.

        Raises
        ------
        FileExistsError
            If something already exists at ``path``.
        """
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} already exists; open it instead of creating it")
        cond = np.asarray(conditions, dtype=np.float64).reshape(-1, 2)
        if cond.shape[0] == 0:
            raise ValueError("conditions must name at least one (T, d) pair")
        if samples < 1 or L < 2:
            raise ValueError(f"samples and L must be positive, got samples={samples}, L={L}")
        n_cond, n = cond.shape[0], cond.shape[0] * samples
        tmp = path.with_name(path.name + ".creating")
        if tmp.exists():
            shutil.rmtree(tmp)
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        root.attrs["config_yaml"] = config_yaml

        def array(name: str, values: np.ndarray, dims: list[str], **attrs: Any) -> None:
            arr = root.create_array(
                name,
                shape=values.shape,
                dtype=values.dtype,
                chunks=values.shape,
                dimension_names=dims,
                fill_value=_fill(values.dtype),
            )
            arr[...] = values
            arr.attrs.update(attrs)

        per_sample = np.repeat(np.arange(n_cond), samples)
        array("T", cond[per_sample, 0], ["sample"], long_name="temperature")
        array("d", cond[per_sample, 1], ["sample"], long_name="pair distance")
        array("condition", per_sample.astype(np.int32), ["sample"])
        array("cond_T", cond[:, 0], ["condition"], long_name="temperature")
        array("cond_d", cond[:, 1], ["condition"], long_name="pair distance")
        array("target", np.zeros((n_cond, L, L), dtype=np.int8), ["condition", "y", "x"])
        for name in _PER_CONDITION:
            array(name, np.full(n_cond, np.nan), ["condition"])
        array("done", np.zeros(n_cond, dtype=bool), ["condition"])
        rows = min(n, chunk)
        for name, dtype, fill in (("theta", np.float32, np.nan), ("charge", np.int8, 0)):
            arr = root.create_array(
                name,
                shape=(n, L, L),
                dtype=dtype,
                chunks=(rows, L, L),
                dimension_names=["sample", "y", "x"],
                fill_value=fill,
            )
            arr.attrs["coordinates"] = "T d condition"
        energy = root.create_array(
            "energy",
            shape=(n,),
            dtype=np.float64,
            chunks=(min(n, 64 * chunk),),
            dimension_names=["sample"],
            fill_value=np.nan,
        )
        energy.attrs["coordinates"] = "T d condition"
        tmp.rename(path)
        return cls.open(path, mode="r+")

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> SpinStore:
        """Open an existing store (``mode="r"`` to read, ``"r+"`` to write conditions)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no spin store at {path}")
        group = zarr.open_group(str(path), mode=mode)
        missing = _REQUIRED - set(group.array_keys())
        if missing:
            raise ValueError(f"{path} is not a spin store: missing {', '.join(sorted(missing))}")
        return cls(group, path)

    @property
    def config_yaml(self) -> str:
        """YAML of the configuration that made the store ("" if none was given)."""
        return str(self._group.attrs.get("config_yaml", ""))

    @property
    def n_conditions(self) -> int:
        return int(self._group["cond_T"].shape[0])

    @property
    def samples(self) -> int:
        """Fields per condition."""
        return int(self._group["theta"].shape[0]) // self.n_conditions

    @property
    def done(self) -> np.ndarray:
        """``(condition,)`` bool: which conditions are completely written."""
        return np.asarray(self._group["done"][...], dtype=bool)

    def write_condition(self, index: int, result: Any) -> None:
        """Write one condition from an :class:`~topophys.simulate.xy.XYSamples`-like object.

        ``result`` needs ``theta (samples, L, L)``, ``charge``, ``energy (samples,)``,
        ``target (L, L)``, ``T``, ``d`` and the per-condition statistics ``tau_int``,
        ``acceptance``, ``held``, ``seconds``.
        """
        g = self._group
        n_cond, samples = self.n_conditions, self.samples
        if not 0 <= index < n_cond:
            raise ValueError(f"index must lie in [0, {n_cond}), got {index}")
        shape = (samples, *g["theta"].shape[1:])
        if np.shape(result.theta) != shape or np.shape(result.charge) != shape:
            raise ValueError(
                f"theta and charge must have shape {shape}, got {np.shape(result.theta)} and "
                f"{np.shape(result.charge)}"
            )
        want = (float(g["cond_T"][index]), float(g["cond_d"][index]))
        if not np.allclose((result.T, result.d), want):
            raise ValueError(f"condition {index} is (T, d)={want}, got {(result.T, result.d)}")
        rows = slice(index * samples, (index + 1) * samples)
        g["theta"][rows] = np.asarray(result.theta, dtype=np.float32)
        g["charge"][rows] = np.asarray(result.charge, dtype=np.int8)
        g["energy"][rows] = np.asarray(result.energy, dtype=np.float64)
        g["target"][index] = np.asarray(result.target, dtype=np.int8)
        for name in _PER_CONDITION:
            g[name][index] = float(getattr(result, name))
        g["done"][index] = True  # last: marks the condition complete

    def dataset(self) -> xr.Dataset:
        """The store as a lazily loaded ``xarray.Dataset``."""
        return open_spins(self.path)


def open_spins(path: str | Path) -> xr.Dataset:
    """Open a spin store as an ``xarray.Dataset`` (dims ``sample, y, x, condition``).

    ``T``, ``d`` and ``condition`` are coordinates of ``sample``; ``done`` says which conditions
    are complete (the samples of the others hold NaN).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no spin store at {path}")
    ds = xr.open_dataset(str(path), engine="zarr", chunks=None, consolidated=False)
    return ds.set_coords(["T", "d", "condition"])


def _fill(dtype: np.dtype) -> Any:
    if np.issubdtype(dtype, np.floating):
        return np.nan
    if dtype == np.bool_:
        return False
    return 0
