"""The Zarr layout shared by the field store and the spin store, and its integrity checks.

Both stores are one Zarr v3 group made of

- *coordinate* arrays written once when the store is created (``alpha``, ``t``, ``cond_T``...);
- *unit* arrays holding the results of independent units of work (a TDGL run, an XY condition),
  written whole by one call as each unit finishes;
- ``done (unit,)``, set for a unit only after its data are written.

A store is built under a temporary name and renamed into place, so a half-created store never
exists, and every chunk of the unit arrays carries a CRC32C checksum (a Zarr codec), so a
truncated or scrambled chunk fails to decode instead of reading as other numbers.

Resuming must not trust ``done`` alone: a chunk can be deleted, truncated or overwritten after
it was written. :meth:`UnitStore.verify` checks every chunk of the finished units (present,
decodable, finite where the values must be) and :meth:`UnitStore.verified_done` resets the
damaged units, deleting their unreadable chunks, so that resuming recomputes exactly them.
Readers get a :class:`StoreDamagedError` naming the store, the array, the unit and how to
recover, never a decompression traceback.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

from .. import _validate

__all__ = ["StoreDamagedError", "UnitStore"]

S = TypeVar("S", bound="UnitStore")

log = logging.getLogger("topophys.data")

# Exceptions a damaged chunk raises while decoding: a checksum mismatch (ValueError), a codec
# failure (RuntimeError from zstd, or others from numcodecs) or an unreadable file.
_DECODE_ERRORS = (ValueError, RuntimeError, OSError, EOFError, TypeError, KeyError)
# Attribute of stores whose writes keep every chunk, even one equal to the fill value, so a
# missing chunk is damage and not an all-zero block (older stores lack it).
_ALL_CHUNKS = "all_chunks_written"


class StoreDamagedError(ValueError):
    """A store's data cannot be read back as written (a chunk is missing, truncated or scrambled).

    The message names the store, the array, the unit (run, condition, chunk) and how to recover.
    """


class UnitStore:
    """Base of :class:`~topophys.data.FieldStore` and :class:`~topophys.data.SpinStore`.

    Subclasses set the class attributes below and write units with :meth:`_write_unit`.

    Attributes
    ----------
    path : pathlib.Path
    units_written : int
        Units written through this object (0 after a resume that had nothing to do).
    """

    #: Name of the store in messages ("field store").
    what: ClassVar[str] = "store"
    #: Name of a unit in messages ("run").
    unit: ClassVar[str] = "unit"
    #: Arrays every store of the kind has.
    required: ClassVar[frozenset[str]] = frozenset()
    #: Unit arrays: name → rows per unit along axis 0 (1: one row per unit; 0: ``samples``).
    unit_arrays: ClassVar[dict[str, int]] = {}
    #: Unit arrays whose values are finite in every finished unit (NaN means a lost chunk).
    finite_arrays: ClassVar[frozenset[str]] = frozenset()
    #: Variables that :meth:`open_dataset` makes xarray coordinates.
    coordinates: ClassVar[tuple[str, ...]] = ()

    def __init__(self, group: zarr.Group, path: Path) -> None:
        self._group = group
        self.path = path
        self.units_written = 0

    # ------------------------------------------------------------------ opening and creating

    @classmethod
    def open(cls: type[S], path: str | Path, mode: Literal["r", "r+"] = "r") -> S:
        """Open an existing store (``mode="r"`` to read, ``"r+"`` to write units).

        Raises
        ------
        FileNotFoundError
            If nothing is at ``path``.
        ValueError
            If ``path`` is not a store of this kind.
        """
        path = _validate.path("path", path)
        _validate.choice("mode", mode, ("r", "r+"))
        if not path.exists():
            raise FileNotFoundError(f"no {cls.what} at {path}")
        if not path.is_dir():
            raise ValueError(f"{path} is a file, not a {cls.what} (a Zarr directory)")
        try:
            group = zarr.open_group(str(path), mode=mode)
            arrays = set(group.array_keys())
        except (ValueError, OSError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a {cls.what}: {err}") from None
        missing = cls.required - arrays
        if missing:
            raise ValueError(f"{path} is not a {cls.what}: missing {', '.join(sorted(missing))}")
        return cls(group, path)

    @classmethod
    def _build(cls: type[S], path: Path, fill: Callable[[zarr.Group], None], attrs: dict) -> S:
        """Create a store at ``path``: ``fill(group)`` adds the arrays in a temporary directory
        that is renamed into place, so a half-created store never exists."""
        if path.exists():
            raise FileExistsError(f"{path} already exists; open it instead of creating it")
        tmp = path.with_name(path.name + ".creating")
        if tmp.exists():
            shutil.rmtree(tmp)
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        root.attrs.update({**attrs, _ALL_CHUNKS: True})
        with _all_chunks():
            fill(root)
        tmp.rename(path)
        return cls.open(path, mode="r+")

    @staticmethod
    def _coordinate(
        group: zarr.Group, name: str, values: np.ndarray, dims: list[str], **attrs: Any
    ) -> None:
        """A small array written at creation, one chunk."""
        arr = group.create_array(
            name,
            shape=values.shape,
            dtype=values.dtype,
            chunks=values.shape or "auto",  # "auto" (as None) for a 0-d array
            dimension_names=dims,
            fill_value=_fill(values.dtype),
            compressors=_COMPRESSORS,
        )
        arr[...] = values
        arr.attrs.update(attrs)

    @staticmethod
    def _data(
        group: zarr.Group,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        chunks: tuple[int, ...],
        dims: list[str],
        **attrs: Any,
    ) -> None:
        """An array filled unit by unit (NaN or 0 until written)."""
        dtype = np.dtype(dtype)
        arr = group.create_array(
            name,
            shape=shape,
            dtype=dtype,
            chunks=chunks,
            dimension_names=dims,
            fill_value=_fill(dtype),
            compressors=_COMPRESSORS,
        )
        arr.attrs.update(attrs)

    @classmethod
    def open_dataset(cls, path: str | Path) -> Any:
        """The store at ``path`` as a lazily loaded ``xarray.Dataset`` (kind checked first)."""
        import xarray as xr

        path = cls.open(path).path  # refuses other stores with a clear message
        # chunks=None: xarray's own lazy indexing, so reading needs no dask.
        ds = xr.open_dataset(str(path), engine="zarr", chunks=None, consolidated=False)
        return ds.set_coords([c for c in cls.coordinates if c in ds.variables])

    def dataset(self) -> Any:
        """The store as a lazily loaded ``xarray.Dataset``."""
        return self.open_dataset(self.path)

    # ------------------------------------------------------------------ queries

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

    @property
    def n_units(self) -> int:
        return int(self._array("done").shape[0])

    @property
    def done(self) -> np.ndarray:
        """``(units,)`` bool: which units are marked completely written (not verified)."""
        try:
            return np.asarray(self._array("done")[...], dtype=bool)
        except _DECODE_ERRORS as err:
            raise self._damaged(None, "done", f"unreadable ({_reason(err)})") from None

    def repair_hint(self) -> str:
        """How a user recomputes the damaged parts (overridden by the stores)."""
        return "run the command that made it again to recompute them"

    # ------------------------------------------------------------------ integrity

    def verify(self, units: Iterable[int] | None = None) -> dict[int, str]:
        """Check the chunks of finished units; return ``{unit: reason}`` for the damaged ones.

        Every chunk of the units' arrays must be present (stores made by this version write all
        chunks), decode (each carries a checksum) and, for :attr:`finite_arrays`, hold finite
        values. Reads each chunk once.

        Raises
        ------
        StoreDamagedError
            If a coordinate array (written only at creation) is damaged: the store cannot be
            repaired in place.
        """
        self._verify_coordinates()
        done = self._done_or_none()
        if done is None:  # the done flags themselves are lost: nothing counts as finished
            return {}
        todo = np.flatnonzero(done) if units is None else [k for k in units if done[k]]
        cache: dict[tuple[str, tuple[int, ...]], tuple[str | None, np.ndarray | None]] = {}
        damaged: dict[int, str] = {}
        for k in todo:
            for name in self.unit_arrays:
                reason = self._unit_reason(name, int(k), cache)
                if reason is not None:
                    damaged[int(k)] = f"array {name!r} {reason}"
                    break
        return damaged

    def verified_done(self) -> np.ndarray:
        """Which units are finished and intact; damaged ones are reset so they are recomputed.

        Unreadable chunks are deleted (with every unit they hold). The damaged units are logged
        as one warning on the ``topophys`` logger. Needs a store opened with ``mode="r+"``.
        """
        damaged = self.verify()
        done = self._done_or_none()
        if done is None:
            self._delete_chunks("done", [(0,)])
            log.warning(
                f"{self.path}: the done flags are unreadable or missing; recomputing every "
                f"{self.unit}"
            )
            return np.zeros(self.n_units, dtype=bool)
        lost = set(damaged)
        for name in self.unit_arrays:
            for coords in self._bad_chunks(name, sorted(damaged)):
                self._delete_chunks(name, [coords])
                lost.update(self._units_of_chunk(name, coords))
        lost = {k for k in lost if done[k]}
        if lost:
            for k in sorted(lost - set(damaged)):
                damaged[k] = "shares a deleted chunk with a damaged " + self.unit
            flags = self._array("done")
            with _all_chunks():
                flags[sorted(lost)] = False
            done[sorted(lost)] = False
            shown = "; ".join(f"{self.unit} {k}: {damaged[k]}" for k in sorted(lost)[:5])
            more = f" (and {len(lost) - 5} more)" if len(lost) > 5 else ""
            log.warning(
                f"{self.path}: {len(lost)} finished {self.unit}(s) damaged, recomputing them: "
                f"{shown}{more}"
            )
        return done

    def check(self, units: Iterable[int] | None = None) -> None:
        """Raise :class:`StoreDamagedError` naming the first damaged finished unit, if any."""
        damaged = self.verify(units)
        if damaged:
            k = min(damaged)
            others = f" ({len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
            raise self._damaged(k, None, damaged[k] + others)

    def read(self, name: str, k: int) -> np.ndarray:
        """Unit ``k``'s part of array ``name`` (its row, or its samples), checked like
        :meth:`verify`.

        Raises
        ------
        StoreDamagedError
            If the unit's chunks are missing, unreadable or hold NaN where values must be finite.
        """
        rows = self._rows(name, k)
        try:
            values = np.asarray(self._array(name)[rows])
        except _DECODE_ERRORS:
            values = None
        if values is None or (name in self.finite_arrays and not np.isfinite(values).all()):
            reason = self._unit_reason(name, k, {}) or "unreadable"
            raise self._damaged(k, name, reason)
        return values[0] if self.unit_arrays.get(name, 1) == 1 else values

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Turn a decoding error raised while reading the store (e.g. through xarray) into a
        :class:`StoreDamagedError` that names the damaged unit."""
        try:
            yield
        except _DECODE_ERRORS as err:
            if isinstance(err, StoreDamagedError):
                raise
            damaged = self.verify()
            if not damaged:
                raise
            k = min(damaged)
            raise self._damaged(k, None, damaged[k]) from None

    # ------------------------------------------------------------------ internals

    def _write_unit(self, k: int | slice, values: dict[str, np.ndarray]) -> None:
        """Write the arrays of unit(s) ``k`` then mark them done (the flag goes last)."""
        with _all_chunks():
            for name, value in values.items():
                rows = self._rows(name, k)
                self._array(name)[rows] = value
            self._array("done")[k] = True
        self.units_written += (k.stop - k.start) if isinstance(k, slice) else 1

    def _array(self, name: str) -> zarr.Array:
        """The array ``name`` (a group of that name is damage, not a store of this kind)."""
        node = self._group[name]
        if not isinstance(node, zarr.Array):
            raise self._damaged(None, name, "is a group where an array belongs")
        return node

    def _rows(self, name: str, k: int | slice) -> slice:
        per = self.unit_arrays.get(name, 1) or self._samples()
        if isinstance(k, slice):
            return slice(k.start * per, k.stop * per)
        return slice(k * per, (k + 1) * per)

    def _samples(self) -> int:
        first = next(n for n, per in self.unit_arrays.items() if per == 0)
        return int(self._array(first).shape[0]) // self.n_units

    def _done_or_none(self) -> np.ndarray | None:
        """The done flags, or None when they are unreadable or (in a store that keeps every
        chunk) missing."""
        if self._chunk_status("done", (0,))[0] is not None:
            return None
        return np.asarray(self._array("done")[...], dtype=bool)

    def _chunks_of_rows(self, arr: zarr.Array, rows: slice) -> Iterator[tuple[int, ...]]:
        if rows.stop <= rows.start:
            return
        c0 = arr.chunks[0]
        first, last = rows.start // c0, (rows.stop - 1) // c0
        others = [range(-(-s // c)) for s, c in zip(arr.shape[1:], arr.chunks[1:], strict=True)]
        for coords in itertools.product(range(first, last + 1), *others):
            yield tuple(int(c) for c in coords)

    def _chunk_status(
        self, name: str, coords: tuple[int, ...]
    ) -> tuple[str | None, np.ndarray | None]:
        """``(reason or None, per-row finiteness along axis 0 or None)`` of one chunk."""
        arr = self._array(name)
        key = arr.metadata.encode_chunk_key(coords)
        region = tuple(
            slice(c * n, min((c + 1) * n, s))
            for c, n, s in zip(coords, arr.chunks, arr.shape, strict=True)
        )
        if not (self.path / arr.path / key).is_file():
            if self._group.attrs.get(_ALL_CHUNKS) or name in self.finite_arrays:
                return f"chunk {key} is missing", None
            return None, None  # an older store may leave out a chunk equal to its fill value
        try:
            block = np.asarray(arr[region])
        except _DECODE_ERRORS as err:
            return f"chunk {key} is unreadable ({_reason(err)})", None
        if name in self.finite_arrays:
            return None, np.isfinite(block.reshape(block.shape[0], -1)).all(axis=1)
        return None, None

    def _unit_reason(
        self,
        name: str,
        k: int,
        cache: dict[tuple[str, tuple[int, ...]], tuple[str | None, np.ndarray | None]],
    ) -> str | None:
        arr = self._array(name)
        rows = self._rows(name, k)
        for coords in self._chunks_of_rows(arr, rows):
            if (name, coords) not in cache:
                cache[(name, coords)] = self._chunk_status(name, coords)
            reason, finite = cache[(name, coords)]
            if reason is not None:
                return reason
            if finite is not None:
                start = coords[0] * arr.chunks[0]
                lo, hi = max(rows.start - start, 0), min(rows.stop - start, len(finite))
                if not finite[lo:hi].all():
                    return f"holds non-finite values where a finished {self.unit} has none"
        return None

    def _bad_chunks(self, name: str, units: list[int]) -> list[tuple[int, ...]]:
        arr = self._array(name)
        bad = []
        for k in units:
            for coords in self._chunks_of_rows(arr, self._rows(name, k)):
                reason, _ = self._chunk_status(name, coords)
                if reason is not None and "unreadable" in reason and coords not in bad:
                    bad.append(coords)
        return bad

    def _units_of_chunk(self, name: str, coords: tuple[int, ...]) -> range:
        arr = self._array(name)
        per = self.unit_arrays.get(name, 1) or self._samples()
        start = coords[0] * arr.chunks[0]
        stop = min(start + arr.chunks[0], arr.shape[0])
        return range(start // per, -(-stop // per))

    def _delete_chunks(self, name: str, chunks: list[tuple[int, ...]]) -> None:
        # An unreadable chunk cannot be partly rewritten (Zarr decodes it first): remove it.
        arr = self._array(name)
        for coords in chunks:
            (self.path / arr.path / arr.metadata.encode_chunk_key(coords)).unlink(missing_ok=True)

    def _verify_coordinates(self) -> None:
        for name in sorted(set(self._group.array_keys()) - set(self.unit_arrays) - {"done"}):
            arr = self._array(name)
            for coords in self._chunks_of_rows(arr, slice(0, arr.shape[0])):
                reason, _ = self._chunk_status(name, coords)
                if reason is not None:
                    raise StoreDamagedError(
                        f"{self.what} {self.path} is damaged: coordinate array {name!r} {reason}; "
                        "it is written only when the store is created, so delete the store and "
                        "run the command that made it again"
                    )

    def _damaged(self, k: int | None, name: str | None, reason: str) -> StoreDamagedError:
        where = f"{self.unit} {k}" if k is not None else "its bookkeeping"
        what = f"array {name!r} " if name else ""
        return StoreDamagedError(
            f"{self.what} {self.path} is damaged: {where}: {what}{reason}; to recover, "
            f"{self.repair_hint()}"
        )


# Zstandard, as Zarr's default, followed by a CRC32C of the compressed bytes.
_COMPRESSORS = (ZstdCodec(), Crc32cCodec())


@contextlib.contextmanager
def _all_chunks() -> Iterator[None]:
    # Zarr skips chunks equal to the fill value by default; keep them, so absence means damage.
    with zarr.config.set({"array.write_empty_chunks": True}):
        yield


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if "checksum" in text.lower():
        return "checksum mismatch: truncated or overwritten"
    return text if len(text) < 120 else text[:117] + "..."


def _fill(dtype: np.dtype) -> Any:
    if np.issubdtype(dtype, np.floating):
        return np.nan
    if dtype == np.bool_:
        return False
    return 0
