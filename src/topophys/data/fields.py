"""Zarr stores of simulated field trajectories, readable with xarray.

Layout (one Zarr v3 group, xarray conventions)::

    phi     (run, time, y, x)   the fields, NaN until the run is written
    alpha   (run,)              coordinate: anisotropy
    seed    (run,)              coordinate: random seed
    T_init  (run,)              coordinate: first time with min φ < 0 (NaN if none)
    t       (time,)             coordinate: snapshot times
    h       (time,)             coordinate: external field at those times
    done    (run,)              True once the run's fields and T_init are completely written

The group's attributes hold the YAML of the configuration that made the store, so a store knows
how to repeat itself. Writes are ordered fields → T_init → ``done`` and Zarr writes each chunk
through a temporary file and a rename, so a process killed mid-write leaves a readable store
whose unfinished runs are simply not ``done``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

__all__ = ["FieldStore", "open_fields"]

_COORDS_OF_PHI = "alpha seed T_init t h"


class FieldStore:
    """A resumable on-disk batch of field trajectories (see the module notes for the layout).

    Use :meth:`create` for a new store or :meth:`open` for an existing one, then
    :meth:`write_runs` as batches finish; :func:`open_fields` reads it as an ``xarray.Dataset``.
    """

    def __init__(self, group: zarr.Group, path: Path) -> None:
        self._group = group
        self.path = path

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        alpha: Sequence[float],
        seed: Sequence[int],
        t: np.ndarray,
        h: np.ndarray,
        shape: tuple[int, int],
        dtype: str = "float32",
        attrs: dict[str, Any] | None = None,
    ) -> FieldStore:
        """Create an empty store for ``len(alpha)`` runs of ``len(t)`` snapshots of ``shape``.

        Raises
        ------
        FileExistsError
            If something already exists at ``path``.
        """
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path} already exists; open it instead of creating it")
        alpha = np.asarray(alpha, dtype=np.float64)
        seed = np.asarray(seed, dtype=np.int64)
        t = np.asarray(t, dtype=np.float64)
        h = np.asarray(h, dtype=np.float64)
        if alpha.shape != seed.shape or alpha.ndim != 1:
            raise ValueError(
                f"alpha and seed must be 1-D of equal length, got {alpha.shape} and {seed.shape}"
            )
        if t.shape != h.shape or t.ndim != 1:
            raise ValueError(f"t and h must be 1-D of equal length, got {t.shape} and {h.shape}")
        n_runs, n_time = alpha.size, t.size
        # Build in a temporary directory and rename, so a half-created store never exists.
        tmp = path.with_name(path.name + ".creating")
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp)
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        root.attrs.update(attrs or {})

        def small(name: str, values: np.ndarray, dims: list[str], **attrs: Any) -> None:
            arr = root.create_array(
                name,
                shape=values.shape,
                dtype=values.dtype,
                chunks=values.shape or None,
                dimension_names=dims,
                fill_value=_fill(values.dtype),
            )
            arr[...] = values
            arr.attrs.update(attrs)

        small("alpha", alpha, ["run"], long_name="anisotropy")
        small("seed", seed, ["run"], long_name="random seed")
        small("T_init", np.full(n_runs, np.nan), ["run"], long_name="first time with min phi < 0")
        small("t", t, ["time"], long_name="time")
        small("h", h, ["time"], long_name="external field")
        small("done", np.zeros(n_runs, dtype=bool), ["run"])
        phi = root.create_array(
            "phi",
            shape=(n_runs, n_time, *shape),
            dtype=np.dtype(dtype),
            chunks=(1, min(n_time, 8), *shape),
            dimension_names=["run", "time", "y", "x"],
            fill_value=np.nan,
        )
        phi.attrs.update({"coordinates": _COORDS_OF_PHI, "long_name": "order parameter"})
        tmp.rename(path)
        return cls.open(path, mode="r+")

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> FieldStore:
        """Open an existing store (``mode="r"`` to read, ``"r+"`` to write runs)."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no field store at {path}")
        group = zarr.open_group(str(path), mode=mode)
        missing = {"phi", "alpha", "seed", "T_init", "t", "h", "done"} - set(group.array_keys())
        if missing:
            raise ValueError(f"{path} is not a field store: missing {', '.join(sorted(missing))}")
        return cls(group, path)

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

    @property
    def n_runs(self) -> int:
        return int(self._group["alpha"].shape[0])

    @property
    def done(self) -> np.ndarray:
        """``(runs,)`` bool: which runs are completely written."""
        return np.asarray(self._group["done"][...], dtype=bool)

    def write_runs(
        self, runs: Sequence[int] | slice, fields: np.ndarray, t_init: np.ndarray
    ) -> None:
        """Write finished runs: ``fields`` ``(k, time, y, x)``, ``t_init`` ``(k,)``.

        ``runs`` must be a contiguous block of run indices (a slice or consecutive ints).
        """
        if not isinstance(runs, slice):
            idx = np.asarray(runs, dtype=np.int64)
            if idx.size == 0 or np.any(np.diff(idx) != 1):
                raise ValueError(f"runs must be consecutive run indices, got {idx.tolist()}")
            runs = slice(int(idx[0]), int(idx[-1]) + 1)
        phi = self._group["phi"]
        k = runs.stop - runs.start
        if fields.shape != (k, *phi.shape[1:]):
            raise ValueError(f"fields must have shape {(k, *phi.shape[1:])}, got {fields.shape}")
        phi[runs] = fields.astype(phi.dtype, copy=False)
        self._group["T_init"][runs] = np.asarray(t_init, dtype=np.float64)
        self._group["done"][runs] = True  # last: marks the runs complete

    def dataset(self) -> xr.Dataset:
        """The store as a lazily loaded ``xarray.Dataset``."""
        return open_fields(self.path)


def open_fields(path: str | Path) -> xr.Dataset:
    """Open a field store as an ``xarray.Dataset`` with dims ``(run, time, y, x)``.

    Coordinates: ``alpha``, ``seed``, ``T_init`` (per run), ``t``, ``h`` (per time). The
    variable ``done`` says which runs are complete; unfinished runs hold NaN.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no field store at {path}")
    # chunks=None: xarray's own lazy indexing, so reading needs no dask.
    ds = xr.open_dataset(str(path), engine="zarr", chunks=None, consolidated=False)
    return ds.set_coords([c for c in _COORDS_OF_PHI.split() if c in ds.variables])


def _fill(dtype: np.dtype) -> Any:
    if np.issubdtype(dtype, np.floating):
        return np.nan
    if dtype == np.bool_:
        return False
    return 0
