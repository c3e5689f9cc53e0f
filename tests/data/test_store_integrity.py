"""Damaged stores: deleted, truncated and scrambled chunks are found, nothing damaged counts as
done, and resuming (or --repair) gives exactly the store of an uninterrupted run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from topophys.cli import app
from topophys.data import (
    DiagramStore,
    FieldStore,
    SpinStore,
    StoreDamagedError,
    compute_atoms_diagrams,
    compute_field_diagrams,
)
from topophys.simulate.sweep import TDGLSweepConfig, run_tdgl_sweep
from topophys.simulate.tdgl import TDGLConfig

SWEEP = TDGLSweepConfig(
    tdgl=TDGLConfig(size=8, dt=0.5, t_end=4.0, n_snapshots=3),
    alphas=(1.0, 2.0, 3.0),
    seeds=(0, 1),
    batch_size=2,
)


def _delete(path: Path) -> None:
    path.unlink()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(len(path.read_bytes()) // 2, 1)])


def _scramble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(len(data))
    for i in rng.choice(len(data), size=max(1, len(data) // 8), replace=False):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "deleted": _delete,
    "truncated": _truncate,
    "scrambled": _scramble,
}


def _chunk(store: Path, array: str, *coords: int) -> Path:
    return store / array / "c" / "/".join(map(str, coords))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "fields.zarr"
    run_tdgl_sweep(SWEEP, path)
    return path


def _same_fields(a: Path, b: Path) -> None:
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    for name in ("phi", "T_init", "done", "alpha", "seed", "t", "h"):
        np.testing.assert_array_equal(ga[name][...], gb[name][...], err_msg=name)


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize(
    ("array", "coords", "damaged"),
    [
        ("phi", (3, 0, 0, 0), {3}),  # one run's snapshots
        ("T_init", (0,), set(range(6))),  # one chunk for every run
    ],
)
def test_field_store_resume_recomputes_exactly_the_damaged_runs(
    reference: Path, tmp_path: Path, how: str, array: str, coords: tuple, damaged: set
) -> None:
    store = tmp_path / "fields.zarr"
    shutil.copytree(reference, store)
    DAMAGE[how](_chunk(store, array, *coords))
    opened = FieldStore.open(store, mode="r+")
    assert opened.done.all()  # the flags alone still claim every run
    assert set(opened.verify()) == damaged
    with pytest.raises(StoreDamagedError, match=rf"array '{array}'"):
        opened.check()
    done = opened.verified_done()  # nothing damaged counts as done
    assert set(np.flatnonzero(~done)) == damaged
    assert not FieldStore.open(store).done[sorted(damaged)].any()
    resumed = run_tdgl_sweep(SWEEP, store)
    assert resumed.verify() == {}
    _same_fields(store, reference)


def test_lost_done_flags_recompute_everything(reference: Path, tmp_path: Path) -> None:
    store = tmp_path / "fields.zarr"
    shutil.copytree(reference, store)
    _scramble(_chunk(store, "done", 0))
    resumed = run_tdgl_sweep(SWEEP, store)
    assert resumed.units_written == 6
    _same_fields(store, reference)


def test_a_damaged_coordinate_cannot_be_recomputed_and_says_so(
    reference: Path, tmp_path: Path
) -> None:
    store = tmp_path / "fields.zarr"
    shutil.copytree(reference, store)
    _scramble(_chunk(store, "alpha", 0))
    with pytest.raises(StoreDamagedError, match=r"coordinate array 'alpha'.*delete the store"):
        run_tdgl_sweep(SWEEP, store)


def test_cli_resume_and_repair_of_a_field_store(reference: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "fields.zarr"
    shutil.copytree(reference, store)
    config = tmp_path / "sweep.yaml"
    SWEEP.to_yaml(config)
    again = runner.invoke(app, ["simulate", "tdgl", str(store), "--config", str(config)])
    assert again.exit_code == 0 and "nothing to do" in again.stdout
    _delete(_chunk(store, "phi", 1, 0, 0, 0))
    _scramble(_chunk(store, "phi", 4, 0, 0, 0))
    # --repair needs no options: the configuration is read from the store
    result = runner.invoke(app, ["simulate", "tdgl", str(store), "--repair"])
    assert result.exit_code == 0, result.output
    assert "run 1" in result.stderr and "run 4" in result.stderr  # said which
    assert "wrote 4 runs" in result.stdout  # the batches (0, 1) and (4, 5)
    _same_fields(store, reference)
    other = runner.invoke(app, ["simulate", "tdgl", str(store), "--repair", "--size", "16"])
    assert other.exit_code == 2 and "--repair" in other.stderr


# ---------------------------------------------------------------------------------------------
# spin store


@pytest.fixture(scope="module")
def spins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    from topophys.simulate.xy import XYConfig, write_dataset

    config = XYConfig(
        L=4, temperatures=(0.3, 0.6), distances=(0.0,), samples=8, n_replicas=2,
        equilibration_sweeps=4, decorrelation_sweeps=1,
    )  # fmt: skip
    path = tmp_path_factory.mktemp("spins") / "xy.zarr"
    write_dataset(config, path)
    return path, config


@pytest.mark.parametrize("how", list(DAMAGE))
@pytest.mark.parametrize("array", ["theta", "charge", "energy", "tau_int"])
def test_spin_store_resume_recomputes_the_damaged_conditions(
    spins: tuple[Path, object], tmp_path: Path, how: str, array: str
) -> None:
    from topophys.simulate.xy import write_dataset

    reference, config = spins
    store = tmp_path / "xy.zarr"
    shutil.copytree(reference, store)
    arr = zarr.open_group(str(store))[array]
    DAMAGE[how](_chunk(store, array, *([0] * arr.ndim)))
    assert SpinStore.open(store).verify()  # found
    resumed = write_dataset(config, store)
    assert resumed.verify() == {} and resumed.units_written >= 1
    ga, gb = zarr.open_group(str(store), mode="r"), zarr.open_group(str(reference), mode="r")
    for name in ("theta", "charge", "energy", "target", "done"):
        np.testing.assert_array_equal(ga[name][...], gb[name][...], err_msg=name)


# ---------------------------------------------------------------------------------------------
# diagram store


def _data_chunk(store: Path, k: int, array: str = "data") -> Path:
    chunks = store / "chunks" / f"{k:06d}" / "diagrams" / array / "c"
    return next(p for p in chunks.rglob("*") if p.is_file())


def _silently_changed(store: Path, k: int) -> None:
    """A chunk whose bytes decode, but to other numbers than were written."""
    group = zarr.open_group(str(store / "chunks" / f"{k:06d}" / "diagrams"), mode="r+")
    data = group["data"][...]
    data[0, 1] -= 0.125  # still a valid row: birth lowered
    group["data"][...] = data


DIAGRAM_DAMAGE: dict[str, Callable[[Path, int], None]] = {
    "chunk deleted": lambda s, k: shutil.rmtree(s / "chunks" / f"{k:06d}"),
    "data truncated": lambda s, k: _truncate(_data_chunk(s, k)),
    "data scrambled": lambda s, k: _scramble(_data_chunk(s, k)),
    "offsets scrambled": lambda s, k: _scramble(_data_chunk(s, k, "offsets")),
    "metadata scrambled": lambda s, k: _scramble(s / "chunks" / f"{k:06d}" / "zarr.json"),
    "values changed": _silently_changed,
}


@pytest.fixture(scope="module")
def field_diagrams(reference: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dgm") / "fields.diagrams.zarr"
    compute_field_diagrams(reference, out)
    return out


@pytest.mark.parametrize("how", list(DIAGRAM_DAMAGE))
def test_diagram_store_resume_recomputes_the_damaged_chunks(
    reference: Path, field_diagrams: Path, tmp_path: Path, how: str
) -> None:
    store = tmp_path / "d.zarr"
    shutil.copytree(field_diagrams, store)
    DIAGRAM_DAMAGE[how](store, 2)
    opened = DiagramStore.open(store)
    if how != "chunk deleted":
        with pytest.raises(StoreDamagedError, match=r"chunk 2 \(run 2\).*--repair"):
            opened.read_chunk(2)
    assert not opened.verified_done()[2]  # nothing damaged is reported done
    got = compute_field_diagrams(reference, store)
    assert got == DiagramStore.open(field_diagrams).load()
    assert DiagramStore.open(store).load() == got


def test_cli_repair_of_a_diagram_store_uses_its_recorded_parameters(
    reference: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "d.zarr"
    args = ["diagrams", "fields", str(reference), "-o", str(out), "--periodic", "--dims", "0,1,2"]
    assert runner.invoke(app, args).exit_code == 0
    expected = DiagramStore.open(out).load()
    _scramble(_data_chunk(out, 1))
    _silently_changed(out, 4)
    result = runner.invoke(app, ["diagrams", "fields", str(reference), "-o", str(out), "--repair"])
    assert result.exit_code == 0, result.output
    assert "chunk 1" in result.stderr and "chunk 4" in result.stderr
    assert DiagramStore.open(out).load() == expected


def test_atoms_diagram_store_resumes_after_damage(tmp_path: Path) -> None:
    from ase import Atoms

    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.arange(4)] * 3, indexing="ij"), -1).reshape(-1, 3) * 1.5
    structures = [
        Atoms("C64", positions=grid + rng.normal(0, 0.2, grid.shape), cell=[6] * 3, pbc=True)
        for _ in range(5)
    ]
    reference = compute_atoms_diagrams(structures, tmp_path / "ref.zarr", chunk_size=2)
    store = tmp_path / "a.zarr"
    shutil.copytree(tmp_path / "ref.zarr", store)
    _scramble(_data_chunk(store, 1))
    with pytest.raises(StoreDamagedError, match=r"structures 2-3"):
        DiagramStore.open(store).load()
    assert compute_atoms_diagrams(structures, store, chunk_size=2) == reference
