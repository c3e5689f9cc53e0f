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
whose unfinished runs are simply not ``done``. Every chunk carries a checksum; resuming
verifies the finished runs and recomputes damaged ones (see :mod:`topophys.data._store`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
import zarr

from .. import _validate
from ._store import StoreDamagedError, UnitStore

__all__ = ["FieldStore", "StoreDamagedError", "open_fields"]

_COORDS_OF_PHI = "alpha seed T_init t h"


class FieldStore(UnitStore):
    """A resumable on-disk batch of field trajectories (see the module notes for the layout).

    Use :meth:`create` for a new store or :meth:`open` for an existing one, then
    :meth:`write_runs` as batches finish; :func:`open_fields` reads it as an ``xarray.Dataset``.
    Integrity checks and resumption come from :class:`~topophys.data._store.UnitStore` (a unit
    is a run).
    """

    what = "field store"
    unit = "run"
    required = frozenset({"phi", "alpha", "seed", "T_init", "t", "h", "done"})
    unit_arrays: ClassVar[dict[str, int]] = {"phi": 1, "T_init": 1}
    finite_arrays = frozenset({"phi"})
    coordinates = tuple(_COORDS_OF_PHI.split())

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        alpha: Sequence[float] | np.ndarray,
        seed: Sequence[int] | np.ndarray,
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
        path = _validate.path("path", path)
        alpha, seed = _validate.real_array("alpha", alpha), _validate.seed_vector("seed", seed)
        t, h = _validate.real_array("t", t), _validate.real_array("h", h)
        if not isinstance(shape, (tuple, list)) or len(shape) != 2:
            raise TypeError(f"shape must be a pair (y, x), got {shape!r:.60}")
        shape = (
            _validate.positive_int("shape[0]", shape[0]),
            _validate.positive_int("shape[1]", shape[1]),
        )
        dtype = _validate.choice("dtype", dtype, ("float32", "float64"))
        if attrs is not None and not isinstance(attrs, dict):
            raise TypeError(f"attrs must be a dict or None, got {type(attrs).__name__}")
        _validate.fits_in_memory("shape", 8.0 * min(t.size, 8) * shape[0] * shape[1], "one chunk")
        if alpha.shape != seed.shape or alpha.ndim != 1 or alpha.size == 0:
            raise ValueError(
                "alpha and seed must be 1-D of equal, non-zero length, got shapes "
                f"{alpha.shape} and {seed.shape}"
            )
        if t.shape != h.shape or t.ndim != 1 or t.size == 0:
            raise ValueError(
                f"t and h must be 1-D of equal, non-zero length, got shapes {t.shape} and {h.shape}"
            )
        n_runs, n_time = alpha.size, t.size

        def fill(root: zarr.Group) -> None:
            coordinate = cls._coordinate
            coordinate(root, "alpha", alpha, ["run"], long_name="anisotropy")
            coordinate(root, "seed", seed, ["run"], long_name="random seed")
            coordinate(root, "t", t, ["time"], long_name="time")
            coordinate(root, "h", h, ["time"], long_name="external field")
            coordinate(root, "done", np.zeros(n_runs, dtype=bool), ["run"])
            cls._data(root, "T_init", (n_runs,), np.float64, (n_runs,), ["run"],
                      long_name="first time with min phi < 0")  # fmt: skip
            cls._data(
                root,
                "phi",
                (n_runs, n_time, *shape),
                dtype,
                (1, min(n_time, 8), *shape),
                ["run", "time", "y", "x"],
                coordinates=_COORDS_OF_PHI,
                long_name="order parameter",
            )

        return cls._build(path, fill, dict(attrs or {}))

    @property
    def n_runs(self) -> int:
        return self.n_units

    @property
    def runs_written(self) -> int:
        """Runs written through this object (0 after a resume that had nothing to do)."""
        return self.units_written

    def repair_hint(self) -> str:
        if self.attrs.get("kind") == "tdgl":
            return f"run: topophys simulate tdgl {self.path} --repair"
        return "simulate its damaged runs again (FieldStore.verified_done resets them)"

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
        phi = self._array("phi")
        k = runs.stop - runs.start
        if fields.shape != (k, *phi.shape[1:]):
            raise ValueError(f"fields must have shape {(k, *phi.shape[1:])}, got {fields.shape}")
        self._write_unit(
            runs,
            {
                "phi": fields.astype(phi.dtype, copy=False),
                "T_init": np.asarray(t_init, dtype=np.float64),
            },
        )


def open_fields(path: str | Path) -> xr.Dataset:
    """Open a field store as an ``xarray.Dataset`` with dims ``(run, time, y, x)``.

    Coordinates: ``alpha``, ``seed``, ``T_init`` (per run), ``t``, ``h`` (per time). The
    variable ``done`` says which runs are complete; unfinished runs hold NaN.

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If ``path`` is not a field store.
    """
    return FieldStore.open_dataset(path)
