"""Resumable on-disk batches of persistence diagrams, computed and written chunk by chunk.

A :class:`DiagramStore` holds the diagrams of every field snapshot of a field store, or of every
structure of an atoms file, in the order of the source: ``(run, time)`` for fields, file order for
structures. Work is cut into chunks (one run of a field store; a block of structures), each chunk
is written as soon as it is computed, and computing again skips the chunks already there, so a
killed job loses no finished chunk.

Layout (one Zarr v3 group, on a local disk)::

    zarr.json                  attributes: format, version, kind ("fields" or "atoms"), params,
                               source, n_diagrams, chunk_offsets, topophys_version
    run, time   (n,) int64     fields: the run and time index of each diagram
    structure   (n,) int64     atoms: the position of each diagram's structure in the source
    chunks/000000/diagrams     a Diagrams group (see Diagrams.save) with the diagrams of chunk 0
    chunks/000001/diagrams     ... of chunk 1; chunk k holds diagrams chunk_offsets[k:k + 2]

``params`` records the transformer (its class and parameters) and ``source`` a fingerprint of the
input (shapes, coordinates, a hash of the structures), so that a rerun with other parameters or
on other data is refused instead of mixing diagrams. A chunk is written into a temporary
directory beside its final place and renamed into place once complete, so a chunk directory
exists only when the chunk is whole; its ``diagrams`` group records the SHA-256 of its arrays.
Resuming reads every finished chunk back and recomputes those that are unreadable or do not
match their hash (:meth:`DiagramStore.verified_done`); reading a damaged chunk raises
:class:`~topophys.data.StoreDamagedError`. One process at a time may write a store.

By default the store of ``fields.zarr`` is ``fields.diagrams.zarr`` and that of ``a.extxyz`` is
``a.diagrams.zarr``, beside the source (:func:`default_diagrams_path`): the source stays
untouched (it may be read-only, or still be simulated into) and diagrams made with other
parameters go to another path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _validate
from ..diagrams import Diagrams
from ..parallel import as_completed
from ._store import StoreDamagedError, log

if TYPE_CHECKING:  # pragma: no cover
    import xarray as xr
    import zarr

__all__ = [
    "DiagramStore",
    "compute_atoms_diagrams",
    "compute_field_diagrams",
    "default_diagrams_path",
]

_FORMAT = "topophys.diagram_store"
_FORMAT_VERSION = 1
_KINDS = ("fields", "atoms")
_INDEX_NAMES = {"fields": ("run", "time"), "atoms": ("structure",)}
_TMP_PREFIX = ".tmp-"
# Transformer parameters that change how the work is run, not the diagrams it gives.
_EXECUTION_PARAMS = ("n_jobs", "scheduler", "progress")
# The transformers a store may name to be rebuilt by --repair: a store is data, and a class
# path read from it must not let it construct anything else.
_TRANSFORMERS = {
    "topophys.homology.cubical.CubicalPersistence": ("homology.cubical", "CubicalPersistence"),
    "topophys.homology.alpha.AlphaPersistence": ("homology.alpha", "AlphaPersistence"),
}


def default_diagrams_path(source: str | os.PathLike[str]) -> Path:
    """Where the diagrams of ``source`` go by default: ``<stem>.diagrams.zarr`` beside it.

    Examples
    --------
    >>> default_diagrams_path("runs/demo/fields.zarr").as_posix()
    'runs/demo/fields.diagrams.zarr'
    >>> default_diagrams_path("carbon.extxyz").as_posix()
    'carbon.diagrams.zarr'
    """
    path = _validate.path("source", source)
    if not path.name or path.name in (".", ".."):
        raise ValueError(f"source must name a file or store, got {str(source)!r}")
    return path.with_name(f"{path.stem}.diagrams.zarr")


class DiagramStore:
    """A chunked, resumable Zarr store of persistence diagrams (layout in the module notes).

    Use :meth:`open` to read an existing store; :func:`compute_field_diagrams` and
    :func:`compute_atoms_diagrams` create and fill them.

    Attributes
    ----------
    path : pathlib.Path
    kind : str
        ``"fields"`` or ``"atoms"``.
    params : dict
        The transformer that made the diagrams: ``{"class": ..., <its parameters>}``.
    source : dict
        What the diagrams were computed from (a fingerprint, plus the path when known).
    chunk_offsets : numpy.ndarray, shape (n_chunks + 1,)
        Chunk ``k`` holds diagrams ``chunk_offsets[k]`` to ``chunk_offsets[k + 1] - 1``.
    index : dict of str to numpy.ndarray, each shape (n_diagrams,)
        ``run`` and ``time`` (fields) or ``structure`` (atoms) of every diagram.
    """

    def __init__(self, path: Path, attrs: dict[str, Any], index: dict[str, np.ndarray]) -> None:
        self.path = path
        self.kind: str = attrs["kind"]
        self.params: dict[str, Any] = attrs["params"]
        self.source: dict[str, Any] = attrs["source"]
        self.chunk_offsets = np.asarray(attrs["chunk_offsets"], dtype=np.int64)
        self.index = index
        self.chunks_written = 0

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> DiagramStore:
        """Open an existing store.

        Raises
        ------
        FileNotFoundError
            If nothing is at ``path``.
        ValueError
            If ``path`` is not a diagram store.
        """
        import zarr

        path = _validate.path("path", path)
        if not path.exists():
            raise FileNotFoundError(f"no diagram store at {path}")
        try:
            group = zarr.open_group(str(path), mode="r")
        except (ValueError, OSError) as err:  # zarr's "no group here" errors are ValueErrors
            raise ValueError(f"{path} is not a diagram store: {err}") from None
        attrs: dict[str, Any] = dict(group.attrs)  # JSON; a bad "kind" fails below
        if attrs.get("format") != _FORMAT:
            raise ValueError(
                f"{path} is not a diagram store (format attribute {attrs.get('format')!r}, "
                f"expected {_FORMAT!r})"
            )
        if attrs.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path} is a diagram store of format version {attrs.get('version')}; this "
                f"topophys reads version {_FORMAT_VERSION}"
            )
        try:
            index = {name: _read_array(group, name) for name in _INDEX_NAMES[attrs["kind"]]}
            store = cls(path, attrs, index)
        except (KeyError, TypeError, ValueError, RuntimeError, OSError) as err:
            raise StoreDamagedError(
                f"diagram store {path} is damaged: its index or attributes are unreadable "
                f"({' '.join(str(err).split())}); delete it and run the command that made it "
                "again (its diagrams are recomputed)"
            ) from None
        return store

    @classmethod
    def _create(
        cls,
        path: Path,
        *,
        kind: str,
        params: dict[str, Any],
        source: dict[str, Any],
        index: dict[str, np.ndarray],
        chunk_offsets: np.ndarray,
    ) -> DiagramStore:
        import zarr

        from .. import __version__

        # Built under a temporary name and renamed, so a half-created store never exists.
        tmp = path.with_name(path.name + ".creating")
        if tmp.exists():
            shutil.rmtree(tmp)
        n = int(chunk_offsets[-1])
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        for name, values in index.items():
            arr = root.create_array(
                name,
                shape=(n,),
                dtype=np.int64,
                chunks=(max(n, 1),),
                dimension_names=["diagram"],
            )
            arr[...] = values
        root.create_group("chunks")
        root.attrs.update(
            {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "kind": kind,
                "params": params,
                "source": source,
                "n_diagrams": n,
                "chunk_offsets": [int(x) for x in chunk_offsets],
                "topophys_version": __version__,
            }
        )
        tmp.rename(path)
        return cls.open(path)

    @classmethod
    def _open_or_create(
        cls,
        path: str | os.PathLike[str],
        *,
        kind: str,
        params: dict[str, Any],
        source: dict[str, Any],
        index: dict[str, np.ndarray],
        chunk_offsets: np.ndarray,
    ) -> DiagramStore:
        """Open ``path`` for more work if it was made by the same computation, else create it."""
        path = Path(path)
        params, source = _jsonable(params), _jsonable(source)
        if not path.exists():
            return cls._create(
                path,
                kind=kind,
                params=params,
                source=source,
                index=index,
                chunk_offsets=chunk_offsets,
            )
        store = cls.open(path)
        if store.kind != kind:
            raise ValueError(
                f"{path} holds diagrams of {store.kind}, not of {kind}; choose another output path"
            )
        _refuse_differences(path, "parameters", store.params, params)
        # The path is informational: a source may move, what matters is its content.
        _refuse_differences(
            path,
            "source",
            {k: v for k, v in store.source.items() if k != "path"},
            {k: v for k, v in source.items() if k != "path"},
        )
        if not np.array_equal(store.chunk_offsets, chunk_offsets):
            raise ValueError(
                f"{path} was cut into other chunks ({len(store.chunk_offsets) - 1} chunks, "
                f"now {len(chunk_offsets) - 1}); use the same chunk size, or another output path"
            )
        store._remove_temporaries()
        return store

    # ------------------------------------------------------------------ queries

    @property
    def n_diagrams(self) -> int:
        return int(self.chunk_offsets[-1])

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_offsets) - 1

    def __len__(self) -> int:
        return self.n_diagrams

    def __repr__(self) -> str:
        return (
            f"DiagramStore({str(self.path)!r}, kind={self.kind!r}, n_diagrams={self.n_diagrams}, "
            f"chunks_done={int(self.done.sum())}/{self.n_chunks})"
        )

    def _chunk_path(self, k: int) -> Path:
        return self.path / "chunks" / f"{k:06d}"

    @property
    def done(self) -> np.ndarray:
        """``(n_chunks,)`` bool: which chunks are written."""
        return np.array([self._chunk_path(k).is_dir() for k in range(self.n_chunks)], dtype=bool)

    @property
    def complete(self) -> bool:
        """True when every chunk is written."""
        return bool(self.done.all())

    # ------------------------------------------------------------------ reading and writing

    def read_chunk(self, k: int) -> Diagrams:
        """The diagrams of chunk ``k``, in source order.

        Raises
        ------
        KeyError
            If chunk ``k`` has not been computed yet.
        """
        k = self._check_chunk(k)
        path = self._chunk_path(k)
        if not path.is_dir():
            raise KeyError(f"chunk {k} of {self.path} has not been computed yet")
        try:
            import zarr

            diagrams = Diagrams.load(path)
            recorded = zarr.open_group(str(path), mode="r")["diagrams"].attrs.get("sha256")
        except (ValueError, TypeError, KeyError, RuntimeError, OSError, EOFError) as err:
            raise self._damaged(k, f"unreadable ({' '.join(str(err).split())[:160]})") from None
        if recorded is not None and recorded != _sha256(diagrams.data, diagrams.offsets):
            raise self._damaged(k, "does not match the checksum recorded when it was written")
        return diagrams

    def verified_done(self) -> np.ndarray:
        """Which chunks are written and intact; damaged ones are deleted, so they are recomputed.

        Reads every written chunk back (its diagrams must load and match their recorded
        checksum). The damaged chunks are logged as one warning on the ``topophys`` logger.
        """
        done = self.done
        damaged = {}
        for k in np.flatnonzero(done):
            try:
                self.read_chunk(int(k))
            except StoreDamagedError as err:
                damaged[int(k)] = str(err).split(": ", 2)[-1].split("; to recover")[0]
                shutil.rmtree(self._chunk_path(int(k)), ignore_errors=True)
                done[k] = False
        if damaged:
            shown = "; ".join(f"{self._chunk_label(k)}: {why}" for k, why in damaged.items())
            log.warning(
                f"{self.path}: {len(damaged)} chunk(s) damaged, recomputing them: {shown[:600]}"
            )
        return done

    def homology_dimensions(self) -> list[int]:
        """The homology dimensions the recorded transformer computes (empty if unknown)."""
        params = self.params
        if "homology_dimensions" in params:
            return sorted(int(d) for d in params["homology_dimensions"])
        if "max_dim" in params and "dimension" in params:
            top = params["dimension"] - 1 if params["max_dim"] is None else params["max_dim"]
            return list(range(int(top) + 1))
        return []

    def repair_hint(self) -> str:
        """The command that recomputes the damaged chunks of this store."""
        source = self.source.get("path")
        if source is None:
            return "compute the diagrams into it again (the damaged chunks are recomputed)"
        return f"run: topophys diagrams {self.kind} {source} --out {self.path} --repair"

    def transformer(self) -> Any:
        """A new transformer with the parameters recorded in the store (as ``--repair`` uses).

        Raises
        ------
        ValueError
            If the store names a class other than topophys' own diagram transformers.
        """
        import importlib

        params = dict(self.params)
        name = params.pop("class", None)
        if name not in _TRANSFORMERS:
            raise ValueError(
                f"{self.path} was made by {name!r}; only {', '.join(_TRANSFORMERS)} can be "
                "rebuilt from a store: pass the transformer yourself"
            )
        module, cls = _TRANSFORMERS[name]
        return getattr(importlib.import_module(f"topophys.{module}"), cls)(**params)

    def _chunk_label(self, k: int) -> str:
        if self.kind == "fields":
            return f"chunk {k} (run {k})"
        lo, hi = int(self.chunk_offsets[k]), int(self.chunk_offsets[k + 1]) - 1
        return f"chunk {k} (structures {lo}-{hi})"

    def _damaged(self, k: int, reason: str) -> StoreDamagedError:
        group = self._chunk_path(k).relative_to(self.path) / "diagrams"
        return StoreDamagedError(
            f"diagram store {self.path} is damaged: {self._chunk_label(k)}: group {group} "
            f"(arrays data, offsets) {reason}; to recover, {self.repair_hint()}"
        )

    def load(self) -> Diagrams:
        """Every diagram, in source order (``(run, time)`` for fields).

        Raises
        ------
        ValueError
            If some chunks are missing (the computation was interrupted: run it again).
        """
        missing = np.flatnonzero(~self.done)
        if missing.size:
            raise ValueError(
                f"{self.path} is incomplete: {missing.size} of {self.n_chunks} chunks missing "
                f"(first: {missing[:5].tolist()}); run the computation again to finish it"
            )
        return Diagrams.concat([self.read_chunk(k) for k in range(self.n_chunks)])

    def _gather(self, computed: dict[int, Diagrams]) -> Diagrams:
        """Every diagram, taking the chunks in ``computed`` from memory and the others from disk."""
        if len(computed) < self.n_chunks and not self.complete:
            return self.load()  # raises, naming the missing chunks
        return Diagrams.concat(
            [computed[k] if k in computed else self.read_chunk(k) for k in range(self.n_chunks)]
        )

    def diagram(self, i: int) -> np.ndarray:
        """Diagram ``i`` (source order) as a ``(k, 3)`` array, reading only its chunk."""
        n = self.n_diagrams
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"diagram index must be an integer, got {i!r}")
        if not -n <= i < n:
            raise IndexError(f"diagram index {i} out of range for {n} diagrams")
        i = int(i) % n
        k = int(np.searchsorted(self.chunk_offsets, i, side="right") - 1)
        if not self._chunk_path(k).is_dir():
            raise ValueError(
                f"diagram {i} is in {self._chunk_label(k)} of {self.path}, which has not been "
                "computed yet; run the computation again to finish it"
            )
        return np.array(self.read_chunk(k)[i - int(self.chunk_offsets[k])])

    def write_chunk(self, k: int, diagrams: Diagrams) -> None:
        """Write chunk ``k`` atomically (an existing chunk ``k`` is kept as it is).

        Raises
        ------
        ValueError
            If ``diagrams`` does not hold exactly the chunk's number of diagrams.
        """
        k = self._check_chunk(k)
        if not isinstance(diagrams, Diagrams):
            raise TypeError(f"diagrams must be a Diagrams, got {type(diagrams).__name__}")
        expected = int(self.chunk_offsets[k + 1] - self.chunk_offsets[k])
        if len(diagrams) != expected:
            raise ValueError(f"chunk {k} holds {expected} diagrams, got {len(diagrams)}")
        final = self._chunk_path(k)
        if final.is_dir():
            return
        tmp = final.with_name(f"{_TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}")
        try:
            import zarr

            diagrams.save(tmp)
            group = zarr.open_group(str(tmp), mode="r+")["diagrams"]
            group.attrs["sha256"] = _sha256(diagrams.data, diagrams.offsets)
            os.rename(tmp, final)  # atomic on POSIX: the chunk appears whole or not at all
            self.chunks_written += 1
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def _check_chunk(self, k: Any) -> int:
        k = _validate.nonnegative_int("k", k)
        if k >= self.n_chunks:
            raise IndexError(f"chunk {k} out of range for {self.n_chunks} chunks")
        return k

    def _remove_temporaries(self) -> None:
        # Left by a process killed while writing a chunk.
        for tmp in (self.path / "chunks").glob(f"{_TMP_PREFIX}*"):
            shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# computing


def compute_field_diagrams(
    fields: str | os.PathLike[str] | xr.Dataset,
    out: str | os.PathLike[str] | None = None,
    transformer: Any = None,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> Diagrams:
    """Cubical persistence diagrams of every snapshot of a field store, saved chunk by chunk.

    Each run is one chunk, computed by one worker (which reads the run itself when ``fields`` is
    a path) and written as soon as it is done; calling again with the same arguments skips the
    runs already written and finishes the others.

    Parameters
    ----------
    fields
        Path of a field store (see :mod:`topophys.data.fields`), or a Dataset with a variable
        ``phi`` of dims ``(run, time, y, x)`` (as from :func:`topophys.data.open_fields`). Every
        run must be finished (``done``), since unfinished runs hold NaN.
    out
        Diagram store to write or resume; default :func:`default_diagrams_path` of ``fields``
        (required when ``fields`` is a Dataset).
    transformer
        The diagram maker, default ``CubicalPersistence()`` (its defaults: top-cell construction,
        sublevel, open boundaries, dims 0 and 1). Any object with ``get_params()`` and
        ``transform(fields (n, H, W)) -> Diagrams`` works; its parameters (except ``n_jobs``,
        ``scheduler``, ``progress``) are recorded in the store.
    workers, scheduler
        Local workers, or a Dask scheduler; see :func:`topophys.parallel.as_completed`. Runs
        are spread over Dask's workers, or over local worker processes; a
        :class:`~topophys.homology.CubicalPersistence` instead gets one run at a time with
        ``n_jobs=workers`` and runs its snapshots on threads (its kernels release the GIL).
    progress
        Progress bar over runs: ``True``, ``False`` or ``None`` (only on a terminal).

    Returns
    -------
    Diagrams
        ``n_runs * n_time`` diagrams ordered by run, then time: diagram ``r * n_time + t`` is
        snapshot ``t`` of run ``r`` (also in the store's ``index``).

    Raises
    ------
    ValueError
        If a run is unfinished, ``phi`` has the wrong dims, or ``out`` exists but was made
        with other parameters or from other data.
    """
    from .fields import FieldStore, open_fields

    transformer = _default_transformer(transformer, "fields")
    if out is not None:
        out = _validate.path("out", out)
    if isinstance(fields, (str, os.PathLike)):
        fields = _validate.path("fields", fields)
        source_path: str | None = str(Path(fields).resolve())
        ds = open_fields(fields)
        out = default_diagrams_path(fields) if out is None else out
        if Path(out).resolve() == Path(fields).resolve():
            raise ValueError(f"out must differ from the field store {fields}")
    elif hasattr(fields, "data_vars"):
        source_path, ds = None, fields
        if out is None:
            raise ValueError("out is required when fields is a Dataset (there is no source path)")
    else:
        raise TypeError(
            f"fields must be a field store path or an xarray.Dataset, got {type(fields).__name__}"
        )
    if "phi" not in ds.data_vars or ds["phi"].dims != ("run", "time", "y", "x"):
        dims = ds["phi"].dims if "phi" in ds.data_vars else None
        raise ValueError(
            f"fields must hold a variable 'phi' with dims ('run', 'time', 'y', 'x'), got {dims}"
        )
    n_runs, n_time = int(ds.sizes["run"]), int(ds.sizes["time"])
    if "done" in ds.variables:
        unfinished = np.flatnonzero(~np.asarray(ds["done"].values, dtype=bool))
        if unfinished.size:
            raise ValueError(
                f"{unfinished.size} of {n_runs} runs are not finished "
                f"(first: {unfinished[:5].tolist()}); finish the simulation first"
            )
    store = DiagramStore._open_or_create(
        out,
        kind="fields",
        params=_transformer_params(transformer),
        source=_fields_fingerprint(ds, source_path),
        index={
            "run": np.repeat(np.arange(n_runs), n_time),
            "time": np.tile(np.arange(n_time), n_runs),
        },
        chunk_offsets=np.arange(n_runs + 1, dtype=np.int64) * n_time,
    )
    todo = np.flatnonzero(~store.verified_done()).tolist()
    if source_path is not None:
        # A worker reads its run from the store itself, checked (a damaged run is named).
        FieldStore.open(source_path)._verify_coordinates()
        items: list[Any] = [(source_path, k) for k in todo]
    else:  # lazily indexed DataArrays: a worker receiving one reads its run itself
        items = [ds["phi"].isel(run=k) for k in todo]
    job = _TransformJob(_serial_copy(transformer))
    if scheduler is None and workers > 1 and _on_threads(transformer):
        # Its kernels release the GIL: one run at a time here, its snapshots on `workers`
        # threads, instead of a process pool (benchmarks/parallel.py, docs/performance.md).
        job = _TransformJob(_serial_copy(transformer).set_params(n_jobs=workers))
        workers = 1
    computed: dict[int, Diagrams] = {}
    for i, diagrams in as_completed(
        job, items, workers=workers, scheduler=scheduler, desc="diagrams (runs)", progress=progress
    ):
        store.write_chunk(todo[i], diagrams)
        computed[todo[i]] = diagrams
    return store._gather(computed)


def compute_atoms_diagrams(
    structures: str | os.PathLike[str] | Sequence[Any],
    out: str | os.PathLike[str] | None = None,
    transformer: Any = None,
    *,
    chunk_size: int = 64,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> Diagrams:
    """Alpha persistence diagrams of atomic structures, saved chunk by chunk.

    Structures are spread one by one over the workers; a chunk of ``chunk_size`` consecutive
    structures is written as soon as all of its diagrams are in, and calling again with the same
    arguments computes only the missing chunks.

    Parameters
    ----------
    structures
        A file ``ase.io.read`` understands (every frame is read, e.g. an extxyz trajectory), or
        a sequence of ``ase.Atoms``.
    out
        Diagram store to write or resume; default :func:`default_diagrams_path` of the file
        (required when ``structures`` is a sequence).
    transformer
        Default ``AlphaPersistence()`` (periodic when a structure's ``pbc`` is, 3D, squared radii).
        Recorded in the store like in :func:`compute_field_diagrams`.
    chunk_size
        Structures per chunk (the unit of resumption).
    workers, scheduler, progress
        As in :func:`compute_field_diagrams`; the progress bar counts structures.

    Returns
    -------
    Diagrams
        One diagram per structure, in the order of ``structures``.
    """
    if out is not None:
        out = _validate.path("out", out)
    if isinstance(structures, (str, os.PathLike)):
        import ase.io

        structures = _validate.path("structures", structures)
        if not structures.is_file():
            raise FileNotFoundError(f"structures: no file {structures}")
        source_path: str | None = str(Path(structures).resolve())
        out = default_diagrams_path(structures) if out is None else out
        atoms_list = list(ase.io.read(structures, index=":"))
    else:
        source_path = None
        if out is None:
            raise ValueError("out is required when structures are given as a sequence")
        if isinstance(structures, (bytes, np.ndarray)) or not hasattr(structures, "__iter__"):
            raise TypeError(
                "structures must be a file or a sequence of ase.Atoms, got "
                f"{type(structures).__name__}"
            )
        atoms_list = list(structures)
    for i, atoms in enumerate(atoms_list):
        if not hasattr(atoms, "get_positions") or not hasattr(atoms, "get_cell"):
            raise TypeError(f"structures[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
    chunk_size = _validate.positive_int("chunk_size", chunk_size)
    n = len(atoms_list)
    transformer = _default_transformer(transformer, "atoms")
    store = DiagramStore._open_or_create(
        out,
        kind="atoms",
        params=_transformer_params(transformer),
        source=_atoms_fingerprint(atoms_list, source_path),
        index={"structure": np.arange(n)},
        chunk_offsets=np.unique(np.r_[np.arange(0, n, chunk_size), n]).astype(np.int64),
    )
    offsets = store.chunk_offsets
    todo = np.flatnonzero(~store.verified_done()).tolist()
    positions = [i for k in todo for i in range(offsets[k], offsets[k + 1])]
    pending = {k: int(offsets[k + 1] - offsets[k]) for k in todo}
    results: dict[int, Diagrams] = {}
    computed: dict[int, Diagrams] = {}
    job = _TransformJob(_serial_copy(transformer))
    for j, diagrams in as_completed(
        job,
        [[atoms_list[i]] for i in positions],
        workers=workers,
        scheduler=scheduler,
        desc="diagrams (structures)",
        progress=progress,
    ):
        i = positions[j]
        k = int(np.searchsorted(offsets, i, side="right") - 1)
        results[i] = diagrams
        pending[k] -= 1
        if pending[k] == 0:
            chunk = range(offsets[k], offsets[k + 1])
            computed[k] = Diagrams.concat([results.pop(x) for x in chunk])
            store.write_chunk(k, computed[k])
    return store._gather(computed)


class _TransformJob:
    """Picklable job: ``transformer.transform`` of one chunk of inputs, in the worker."""

    def __init__(self, transformer: Any) -> None:
        self.transformer = transformer

    def __call__(self, chunk: Any) -> Diagrams:
        if isinstance(chunk, tuple):  # (field store path, run): read the run here, checked
            from .fields import FieldStore

            path, run = chunk
            chunk = FieldStore.open(path).read("phi", run)
        elif hasattr(chunk, "values") and hasattr(chunk, "dims"):  # a DataArray: read it here
            chunk = np.asarray(chunk.values)
            if not np.isfinite(chunk).all():
                raise ValueError("fields hold NaN or inf: an unfinished or damaged run")
        diagrams = self.transformer.transform(chunk)
        if not isinstance(diagrams, Diagrams):
            raise TypeError(
                f"{type(self.transformer).__name__}.transform must return a Diagrams, got "
                f"{type(diagrams).__name__}"
            )
        return diagrams


def _on_threads(transformer: Any) -> bool:
    """Whether ``transformer`` runs its own ``n_jobs`` on threads (CubicalPersistence)."""
    from ..homology.cubical import CubicalPersistence

    return isinstance(transformer, CubicalPersistence)


def _default_transformer(transformer: Any, kind: str) -> Any:
    if transformer is None:
        if kind == "fields":
            from ..homology.cubical import CubicalPersistence

            return CubicalPersistence()
        from ..homology.alpha import AlphaPersistence

        return AlphaPersistence()
    if not hasattr(transformer, "get_params") or not hasattr(transformer, "transform"):
        raise TypeError(
            "transformer must have get_params() and transform() (e.g. CubicalPersistence), got "
            f"{type(transformer).__name__}"
        )
    return transformer


def _serial_copy(transformer: Any) -> Any:
    """A copy that runs in one process without a progress bar: parallelism is ours."""
    from sklearn.base import clone

    copy = clone(transformer)
    params = copy.get_params()
    updates = {"n_jobs": 1, "scheduler": None, "progress": False}
    copy.set_params(**{k: v for k, v in updates.items() if k in params})
    return copy


def _transformer_params(transformer: Any) -> dict[str, Any]:
    cls = type(transformer)
    params = {
        k: v for k, v in transformer.get_params(deep=False).items() if k not in _EXECUTION_PARAMS
    }
    return {"class": f"{cls.__module__}.{cls.__qualname__}", **params}


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), or a TypeError."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=_json_default))
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"transformer parameters must be plain JSON values to be recorded: {err}"
        ) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable ({value!r})")


def _sha256(*arrays: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _fields_fingerprint(ds: xr.Dataset, path: str | None) -> dict[str, Any]:
    coords = [np.asarray(ds[c].values) for c in ("alpha", "seed", "t", "h") if c in ds.variables]
    config = ds.attrs.get("config")
    return {
        "shape": [int(s) for s in ds["phi"].shape],
        "dtype": str(ds["phi"].dtype),
        "coords_sha256": _sha256(*coords),
        "config_sha256": hashlib.sha256(str(config).encode()).hexdigest() if config else None,
        "path": path,
    }


def _atoms_fingerprint(atoms_list: Sequence[Any], path: str | None) -> dict[str, Any]:
    h = hashlib.sha256()
    for atoms in atoms_list:
        h.update(
            _sha256(
                atoms.get_atomic_numbers(),
                atoms.get_positions(),
                np.asarray(atoms.get_cell()[:]),
                atoms.get_pbc(),
            ).encode()
        )
    return {
        "n_structures": len(atoms_list),
        "n_atoms": int(sum(len(a) for a in atoms_list)),
        "structures_sha256": h.hexdigest(),
        "path": path,
    }


def _refuse_differences(path: Path, what: str, stored: dict, now: dict) -> None:
    keys = sorted(set(stored) | set(now))
    diff = [k for k in keys if stored.get(k) != now.get(k)]
    if diff:
        shown = "; ".join(f"{k}: {stored.get(k)!r} there, {now.get(k)!r} now" for k in diff[:4])
        raise ValueError(
            f"{path} was made with other {what} ({shown}); choose another output path or delete "
            "it to start over"
        )


def _read_array(group: zarr.Group, name: str) -> np.ndarray:
    """The array ``name`` of ``group``, read whole (a group of that name is a TypeError)."""
    import zarr

    node = group[name]
    if not isinstance(node, zarr.Array):
        raise TypeError(f"{name!r} is a group, not an array")
    return np.asarray(node[...])
