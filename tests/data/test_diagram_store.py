"""The chunked diagram store: same diagrams as the transformers, resumable, refuses mixing."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from topophys.data import FieldStore, open_fields
from topophys.data.diagram_store import (
    DiagramStore,
    compute_atoms_diagrams,
    compute_field_diagrams,
    default_diagrams_path,
)
from topophys.diagrams import Diagrams
from topophys.homology import AlphaPersistence, CubicalPersistence

RUNS, TIMES, SIZE = 3, 4, 8


def _fields(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((RUNS, TIMES, SIZE, SIZE)).astype(np.float32)


def _store(path, fields=None, alpha=(1.0, 2.0, 3.0), done=True):
    fields = _fields() if fields is None else fields
    store = FieldStore.create(
        path,
        alpha=list(alpha),
        seed=[0] * RUNS,
        t=np.arange(TIMES, dtype=float),
        h=np.zeros(TIMES),
        shape=(SIZE, SIZE),
        attrs={"config": "tdgl: {size: 8}\n"},
    )
    if done:
        store.write_runs(list(range(RUNS)), fields, np.zeros(RUNS))
    return store


def _reference(fields, **params):
    return CubicalPersistence(**params).transform(fields.reshape(-1, SIZE, SIZE))


def test_field_diagrams_match_the_transformer_in_run_time_order(tmp_path):
    fields = _fields()
    _store(tmp_path / "f.zarr", fields)
    got = compute_field_diagrams(tmp_path / "f.zarr", progress=False)
    assert got == _reference(fields)
    store = DiagramStore.open(tmp_path / "f.diagrams.zarr")  # the documented default path
    assert store.kind == "fields" and store.complete and len(store) == RUNS * TIMES
    np.testing.assert_array_equal(store.index["run"], np.repeat(np.arange(RUNS), TIMES))
    np.testing.assert_array_equal(store.index["time"], np.tile(np.arange(TIMES), RUNS))
    assert store.params["class"].endswith("CubicalPersistence")
    assert store.params["construction"] == "top" and store.params["homology_dimensions"] == [0, 1]
    assert "n_jobs" not in store.params
    # diagram(i) reads one chunk and agrees with the whole load
    i = 2 * TIMES + 3
    np.testing.assert_array_equal(store.diagram(i), got[i])
    np.testing.assert_array_equal(store.diagram(-1), got[len(got) - 1])


def test_two_workers_and_a_dataset_give_the_same_diagrams(tmp_path):
    fields = _fields(1)
    _store(tmp_path / "f.zarr", fields)
    params = {"construction": "vertex", "filtration": "superlevel"}
    reference = _reference(fields, **params)
    by_path = compute_field_diagrams(
        tmp_path / "f.zarr", tmp_path / "a.zarr", CubicalPersistence(**params), workers=2
    )
    assert by_path == reference
    by_dataset = compute_field_diagrams(
        open_fields(tmp_path / "f.zarr"), tmp_path / "b.zarr", CubicalPersistence(**params)
    )
    assert by_dataset == reference


def test_an_interrupted_computation_resumes_without_redoing_finished_runs(tmp_path):
    fields = _fields(2)
    broken = fields.copy()
    broken[1, 2, 3, 3] = np.nan  # run 1 cannot be computed: the job stops there
    source = _store(tmp_path / "f.zarr", broken)
    out = tmp_path / "d.zarr"
    with pytest.raises(ValueError, match="finite") as info:
        compute_field_diagrams(tmp_path / "f.zarr", out, progress=False)
    assert "(raised while processing item 1)" in info.value.__notes__
    store = DiagramStore.open(out)
    np.testing.assert_array_equal(store.done, [True, False, False])
    with pytest.raises(ValueError, match="incomplete"):
        store.load()
    with pytest.raises(KeyError, match="chunk 1"):
        store.read_chunk(1)
    first = (out / "chunks" / "000000").stat().st_ino
    (out / "chunks" / ".tmp-000001-dead").mkdir()  # as a process killed mid-write leaves it
    source.write_runs([1], fields[1:2], [0.0])
    got = compute_field_diagrams(tmp_path / "f.zarr", out, progress=False)
    assert got == _reference(fields)
    assert (out / "chunks" / "000000").stat().st_ino == first  # kept, not recomputed
    assert not list((out / "chunks").glob(".tmp-*"))


def test_a_killed_process_loses_no_finished_chunk(tmp_path):
    fields = _fields(3)
    _store(tmp_path / "f.zarr", fields)
    out = tmp_path / "d.zarr"
    script = textwrap.dedent(
        f"""
        import time
        from topophys.data.diagram_store import compute_field_diagrams
        from topophys.homology import CubicalPersistence

        fast = CubicalPersistence.transform

        def slow(self, X):
            time.sleep(0.5)
            return fast(self, X)

        CubicalPersistence.transform = slow
        compute_field_diagrams({str(tmp_path / "f.zarr")!r}, {str(out)!r}, progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not (out / "chunks" / "000000").is_dir():
            assert proc.poll() is None, "the computation ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    store = DiagramStore.open(out)
    assert store.done[0] and not store.complete
    # the surviving chunk is whole and right
    assert store.read_chunk(0) == _reference(fields)[:TIMES]
    assert compute_field_diagrams(tmp_path / "f.zarr", out, progress=False) == _reference(fields)


def test_other_parameters_or_other_data_are_refused(tmp_path):
    _store(tmp_path / "f.zarr")
    _store(tmp_path / "g.zarr", alpha=(1.0, 2.0, 4.0))
    out = tmp_path / "d.zarr"
    compute_field_diagrams(tmp_path / "f.zarr", out, progress=False)
    with pytest.raises(ValueError, match="construction: 'top' there, 'vertex' now"):
        compute_field_diagrams(tmp_path / "f.zarr", out, CubicalPersistence(construction="vertex"))
    with pytest.raises(ValueError, match="other source"):
        compute_field_diagrams(tmp_path / "g.zarr", out, progress=False)
    # execution settings are not parameters of the diagrams
    again = compute_field_diagrams(tmp_path / "f.zarr", out, CubicalPersistence(n_jobs=2))
    assert again == DiagramStore.open(out).load()


def test_bad_field_input_says_what_is_wrong(tmp_path):
    _store(tmp_path / "f.zarr", done=False)
    with pytest.raises(ValueError, match="3 of 3 runs are not finished"):
        compute_field_diagrams(tmp_path / "f.zarr", progress=False)
    with pytest.raises(FileNotFoundError, match="no field store"):
        compute_field_diagrams(tmp_path / "missing.zarr")
    ds = open_fields(tmp_path / "f.zarr")
    with pytest.raises(ValueError, match="out is required"):
        compute_field_diagrams(ds)
    with pytest.raises(ValueError, match="dims"):
        compute_field_diagrams(ds.rename(phi="psi"), tmp_path / "x.zarr")
    with pytest.raises(TypeError, match="fields must be"):
        compute_field_diagrams(np.zeros((2, 4, 4)), tmp_path / "x.zarr")
    with pytest.raises(TypeError, match="transformer"):
        compute_field_diagrams(tmp_path / "f.zarr", tmp_path / "x.zarr", transformer=abs)
    with pytest.raises(ValueError, match="not a diagram store"):
        DiagramStore.open(tmp_path / "f.zarr")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a diagram store"):
        DiagramStore.open(tmp_path / "empty")


def _structures():
    from ase.build import bulk, molecule

    crystal = bulk("Si", cubic=True).repeat(2)
    crystal.rattle(0.05, seed=1)
    return [molecule("C6H6"), crystal, molecule("CH4")]


def test_atoms_diagrams_from_a_file_match_the_transformer_and_resume(tmp_path):
    import ase.io

    structures = _structures()
    path = tmp_path / "s.extxyz"
    ase.io.write(path, structures)
    reference = AlphaPersistence().transform(ase.io.read(path, index=":"))
    got = compute_atoms_diagrams(path, chunk_size=2, progress=False)
    assert got == reference
    out = default_diagrams_path(path)
    assert out == tmp_path / "s.diagrams.zarr"
    store = DiagramStore.open(out)
    np.testing.assert_array_equal(store.chunk_offsets, [0, 2, 3])
    np.testing.assert_array_equal(store.index["structure"], [0, 1, 2])
    # lose the last chunk: only it is computed again
    first = (out / "chunks" / "000000").stat().st_ino
    import shutil

    shutil.rmtree(out / "chunks" / "000001")
    assert compute_atoms_diagrams(path, chunk_size=2, workers=2, progress=False) == reference
    assert (out / "chunks" / "000000").stat().st_ino == first
    with pytest.raises(ValueError, match="other chunks"):
        compute_atoms_diagrams(path, chunk_size=1)
    with pytest.raises(ValueError, match="max_dim"):
        compute_atoms_diagrams(path, transformer=AlphaPersistence(max_dim=1), chunk_size=2)
    moved = [*structures[:2], structures[2].copy()]
    moved[2].positions[0, 0] += 0.1
    with pytest.raises(ValueError, match="structures_sha256"):
        compute_atoms_diagrams(moved, out, chunk_size=2)


def test_atoms_input_checks(tmp_path):
    with pytest.raises(ValueError, match="out is required"):
        compute_atoms_diagrams(_structures())
    with pytest.raises(TypeError, match=r"structures\[1\] must be an ase.Atoms"):
        compute_atoms_diagrams([_structures()[0], "C6H6"], tmp_path / "x.zarr")
    with pytest.raises(ValueError, match="chunk_size"):
        compute_atoms_diagrams(_structures(), tmp_path / "x.zarr", chunk_size=0)


def test_write_chunk_checks_the_chunk(tmp_path):
    out = tmp_path / "d.zarr"
    compute_atoms_diagrams(_structures(), out, chunk_size=2, progress=False)
    store = DiagramStore.open(out)
    with pytest.raises(ValueError, match="chunk 1 holds 1 diagrams, got 2"):
        store.write_chunk(1, Diagrams.empty(2))
    with pytest.raises(IndexError, match="chunk 2 out of range"):
        store.write_chunk(2, Diagrams.empty(1))
    with pytest.raises(TypeError, match="Diagrams"):
        store.write_chunk(0, [np.zeros((0, 3))])
    before = store.read_chunk(1)
    store.write_chunk(1, Diagrams.empty(1))  # a written chunk is final
    assert store.read_chunk(1) == before
