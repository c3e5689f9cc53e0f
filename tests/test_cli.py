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
