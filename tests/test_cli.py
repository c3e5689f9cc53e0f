"""The command line: fast start, sweeps, plots and helpful errors."""

import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from topophys.cli import app

runner = CliRunner()


def test_help_imports_no_heavy_module():
    code = (
        "import sys; from topophys.cli import app; "
        "heavy = {'torch', 'xarray', 'zarr', 'matplotlib', 'scipy'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_command_has_help():
    for args in (
        ["--help"],
        ["simulate", "--help"],
        ["simulate", "tdgl", "--help"],
        ["plot", "tdgl", "--help"],
        ["plot", "diagram", "--help"],
        ["diagrams", "--help"],
        ["diagrams", "fields", "--help"],
        ["diagrams", "atoms", "--help"],
        ["demo", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_simulate_then_plot(tmp_path):
    store = tmp_path / "s.zarr"
    args = [
        "simulate",
        "tdgl",
        str(store),
        "--alpha",
        "1:3:3",
        "--seeds",
        "0",
        "--size",
        "16",
        "--dt",
        "0.05",
        "--snapshots",
        "5",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    from topophys.data import open_fields

    ds = open_fields(store)
    np.testing.assert_allclose(ds["alpha"].values, [1.0, 2.0, 3.0])
    assert ds["done"].values.all()
    again = runner.invoke(app, args)  # resumes: nothing to do, same store
    assert again.exit_code == 0
    png = tmp_path / "grid.png"
    result = runner.invoke(app, ["plot", "tdgl", str(store), "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_dump_config_round_trips():
    result = runner.invoke(app, ["simulate", "tdgl", "x.zarr", "--size", "48", "--dump-config"])
    assert result.exit_code == 0
    from topophys.simulate.sweep import TDGLSweepConfig

    assert TDGLSweepConfig.from_yaml(result.output).tdgl.size == 48


def test_bad_arguments_say_what_is_wrong(tmp_path):
    result = runner.invoke(app, ["simulate", "tdgl", str(tmp_path / "a.zarr"), "--alpha", "one"])
    assert result.exit_code != 0 and "--alpha" in result.output
    result = runner.invoke(app, ["simulate", "tdgl", str(tmp_path / "a.zarr"), "--dt", "-1"])
    assert result.exit_code != 0 and "dt" in result.output
    blow_up = [
        "simulate",
        "tdgl",
        str(tmp_path / "b.zarr"),
        "--alpha",
        "4",
        "--size",
        "8",
        "--dt",
        "2",
        "--snapshots",
        "3",
        "--config",
        str(_stiff_config(tmp_path)),
    ]
    result = runner.invoke(app, blow_up)
    assert result.exit_code == 2 and "smaller dt" in result.output
    result = runner.invoke(app, ["plot", "tdgl", str(tmp_path / "missing.zarr")])
    assert result.exit_code == 2 and "no field store" in result.output


def _stiff_config(tmp_path):
    path = tmp_path / "stiff.yaml"
    path.write_text("tdgl:\n  stabilizer: 0.0\n")
    return path


def _field_store(path, runs=2, times=3, size=8, done=True):
    from topophys.data import FieldStore

    store = FieldStore.create(
        path,
        alpha=[1.0, 2.0][:runs],
        seed=[0] * runs,
        t=np.arange(float(times)),
        h=np.zeros(times),
        shape=(size, size),
    )
    fields = np.random.default_rng(0).standard_normal((runs, times, size, size)).astype(np.float32)
    if done:
        store.write_runs(list(range(runs)), fields, np.zeros(runs))
    return fields


def test_diagrams_fields_then_plot(tmp_path):
    from topophys.data.diagram_store import DiagramStore
    from topophys.homology import CubicalPersistence

    fields = _field_store(tmp_path / "f.zarr")
    args = ["diagrams", "fields", str(tmp_path / "f.zarr"), "--construction", "vertex"]
    result = runner.invoke(app, [*args, "--periodic", "--dims", "0,1,2", "-j", "1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "f.diagrams.zarr"
    assert "wrote 6 diagrams" in result.output and str(out) in result.output
    expected = CubicalPersistence(
        construction="vertex", periodic=True, homology_dimensions=(0, 1, 2)
    ).transform(fields.reshape(6, 8, 8))
    assert DiagramStore.open(out).load() == expected
    again = runner.invoke(app, [*args, "--periodic", "--dims", "0,1,2"])
    assert again.exit_code == 0 and "2 of 2 chunks already done" in again.output
    other = runner.invoke(app, args)  # --no-periodic is another computation: refused
    assert other.exit_code == 2 and "periodic: True there, False now" in other.output
    png = tmp_path / "d.png"
    result = runner.invoke(app, ["plot", "diagram", str(out), "--index", "4", "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    result = runner.invoke(app, ["plot", "diagram", str(out), "-i", "-1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f.diagrams.-1.png").exists()


def test_diagrams_atoms_resumes_and_plots_a_plain_group(tmp_path):
    import ase.io
    from ase.build import bulk, molecule

    from topophys.diagrams import Diagrams
    from topophys.homology import AlphaPersistence

    crystal = bulk("Si", cubic=True).repeat(2)
    crystal.rattle(0.05, seed=0)
    structures = [molecule("C6H6"), crystal, molecule("H2O")]
    path = tmp_path / "s.extxyz"
    ase.io.write(path, structures)
    args = ["diagrams", "atoms", str(path), "--chunk-size", "2", "--max-dim", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    got = Diagrams.concat(
        [Diagrams.load(tmp_path / "s.diagrams.zarr" / "chunks" / f"{k:06d}") for k in (0, 1)]
    )
    assert got == AlphaPersistence(max_dim=1).transform(ase.io.read(path, index=":"))
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "2 of 2 chunks already done" in again.output
    got.save(tmp_path / "plain.zarr")
    png = tmp_path / "p.png"
    result = runner.invoke(
        app,
        ["plot", "diagram", str(tmp_path / "plain.zarr"), "-i", "1", "--dim", "0", "-o", str(png)],
    )
    assert result.exit_code == 0, result.output
    assert png.exists()


def test_diagrams_bad_arguments_say_what_is_wrong(tmp_path):
    _field_store(tmp_path / "f.zarr", done=False)
    cases = [
        (
            ["diagrams", "fields", str(tmp_path / "f.zarr"), "--construction", "pixel"],
            "--construction",
        ),
        (["diagrams", "fields", str(tmp_path / "f.zarr"), "--dims", "0,3"], "--dims"),
        (["diagrams", "fields", str(tmp_path / "f.zarr")], "not finished"),
        (["diagrams", "fields", str(tmp_path / "missing.zarr")], "no field store"),
        (["diagrams", "atoms", str(tmp_path / "missing.extxyz")], "no file"),
        (["diagrams", "atoms", str(tmp_path / "x.extxyz"), "--periodic", "maybe"], "--periodic"),
        (["diagrams", "atoms", str(tmp_path / "x.extxyz"), "--dimension", "4"], "--dimension"),
        (["plot", "diagram", str(tmp_path / "missing.zarr")], "no diagram store"),
        (["plot", "diagram", str(tmp_path / "f.zarr")], "no diagrams group"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
