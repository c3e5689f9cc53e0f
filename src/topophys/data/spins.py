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
store whose unfinished conditions are simply not ``done``. Every chunk carries a checksum; resuming
verifies the finished conditions and recomputes damaged ones (see :mod:`topophys.data._store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
import zarr

from .. import _validate
from ._store import UnitStore

__all__ = ["SpinStore", "open_spins"]

_PER_CONDITION = ("tau_int", "acceptance", "held", "seconds")


class SpinStore(UnitStore):
    """A resumable on-disk XY dataset (module notes); :func:`open_spins` reads it with xarray.

    Integrity checks and resumption come from :class:`~topophys.data._store.UnitStore` (a unit
    is a (T, d) condition).
    """

    what = "spin store"
    unit = "condition"
    required = frozenset(
        {"theta", "charge", "energy", "T", "d", "condition", "cond_T", "cond_d", "target",
         "done", *_PER_CONDITION}
    )  # fmt: skip
    unit_arrays: ClassVar[dict[str, int]] = {
        "theta": 0,
        "charge": 0,
        "energy": 0,
        "target": 1,
        **dict.fromkeys(_PER_CONDITION, 1),
    }
    finite_arrays = frozenset({"theta", "energy"})
    coordinates = ("T", "d", "condition")

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
        path = _validate.path("path", path)
        cond = _validate.real_array("conditions", conditions)
        if cond.ndim != 2 or cond.shape[1:] != (2,) or cond.shape[0] == 0:
            raise ValueError(
                f"conditions must be (T, d) pairs, at least one, got shape {cond.shape}"
            )
        L, samples = _validate.positive_int("L", L), _validate.positive_int("samples", samples)
        chunk = _validate.positive_int("chunk", chunk)
        if L < 2:
            raise ValueError(f"L must be at least 2, got {L}")
        if not isinstance(config_yaml, str):
            raise TypeError(f"config_yaml must be a string, got {type(config_yaml).__name__}")
        n = samples * len(cond)
        _validate.fits_in_memory("samples", 24.0 * n, f"the coordinates of {n} samples")
        _validate.fits_in_memory(
            "chunk", 4.0 * min(chunk, n) * L * L, f"a chunk of fields of L={L}"
        )
        n_cond, n = cond.shape[0], cond.shape[0] * samples
        rows = min(n, chunk)

        def fill(root: zarr.Group) -> None:
            coordinate = cls._coordinate
            per_sample = np.repeat(np.arange(n_cond), samples)
            coordinate(root, "T", cond[per_sample, 0], ["sample"], long_name="temperature")
            coordinate(root, "d", cond[per_sample, 1], ["sample"], long_name="pair distance")
            coordinate(root, "condition", per_sample.astype(np.int32), ["sample"])
            coordinate(root, "cond_T", cond[:, 0], ["condition"], long_name="temperature")
            coordinate(root, "cond_d", cond[:, 1], ["condition"], long_name="pair distance")
            coordinate(root, "done", np.zeros(n_cond, dtype=bool), ["condition"])
            cls._data(root, "target", (n_cond, L, L), np.int8, (n_cond, L, L),
                      ["condition", "y", "x"])  # fmt: skip
            for name in _PER_CONDITION:
                cls._data(root, name, (n_cond,), np.float64, (n_cond,), ["condition"])
            for name, dtype in (("theta", np.float32), ("charge", np.int8)):
                cls._data(root, name, (n, L, L), dtype, (rows, L, L), ["sample", "y", "x"],
                          coordinates="T d condition")  # fmt: skip
            cls._data(root, "energy", (n,), np.float64, (min(n, 64 * chunk),), ["sample"],
                      coordinates="T d condition")  # fmt: skip

        return cls._build(path, fill, {"config_yaml": config_yaml})

    @property
    def config_yaml(self) -> str:
        """YAML of the configuration that made the store ("" if none was given)."""
        return str(self._group.attrs.get("config_yaml", ""))

    @property
    def n_conditions(self) -> int:
        return self.n_units

    @property
    def samples(self) -> int:
        """Fields per condition."""
        return self._samples()

    def repair_hint(self) -> str:
        return f"run: topophys simulate xy {self.path} --repair"

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
        values = {
            "theta": np.asarray(result.theta, dtype=np.float32),
            "charge": np.asarray(result.charge, dtype=np.int8),
            "energy": np.asarray(result.energy, dtype=np.float64),
            "target": np.asarray(result.target, dtype=np.int8)[None],
        }
        values.update({name: np.array([float(getattr(result, name))]) for name in _PER_CONDITION})
        self._write_unit(slice(index, index + 1), values)


def open_spins(path: str | Path) -> xr.Dataset:
    """Open a spin store as an ``xarray.Dataset`` (dims ``sample, y, x, condition``).

    ``T``, ``d`` and ``condition`` are coordinates of ``sample``; ``done`` says which conditions
    are complete (the samples of the others hold NaN).

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If ``path`` is not a spin store.
    """
    return SpinStore.open_dataset(path)
