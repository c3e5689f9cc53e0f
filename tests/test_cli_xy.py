"""`topophys simulate xy`: config resolution, a tiny run, resuming and clean errors."""

import numpy as np
from typer.testing import CliRunner

from topophys.cli import app

runner = CliRunner()

ARGS = [
    "--L", "8", "--temperatures", "0.1,0.3", "--distances", "0,1", "--samples", "4",
    "--replicas", "2", "--sweeps", "10", "--decorrelation", "2",
]  # fmt: skip


def test_dump_config_resolves_flags():
    result = runner.invoke(app, ["simulate", "xy", "unused.zarr", *ARGS, "--dump-config"])
    assert result.exit_code == 0, result.output
    from topophys.simulate.xy import XYConfig

    cfg = XYConfig.from_yaml(result.output)
    assert cfg.L == 8 and cfg.temperatures == (0.1, 0.3) and cfg.distances == (0.0, 1.0)
    assert cfg.samples == 4 and cfg.n_replicas == 2 and cfg.constrained


def test_simulate_then_resume(tmp_path):
    out = tmp_path / "xy.zarr"
    result = runner.invoke(app, ["simulate", "xy", str(out), *ARGS])
    assert result.exit_code == 0, result.output
    assert "wrote 4 conditions" in result.output and "tau_int" in result.output
    from topophys.data.spins import open_spins

    ds = open_spins(out)
    assert ds["done"].values.all()
    np.testing.assert_array_equal(ds["held"].values, 1.0)
    before = ds["theta"].values.copy()
    again = runner.invoke(app, ["simulate", "xy", str(out), *ARGS])
    assert again.exit_code == 0, again.output
    np.testing.assert_array_equal(open_spins(out)["theta"].values, before)
    other = runner.invoke(app, ["simulate", "xy", str(out), *ARGS, "--seed", "3"])
    assert other.exit_code == 2 and "different configuration" in other.output


def test_bad_flags_are_clean_errors():
    for extra, message in (
        (["--L", "7"], "even"),
        (["--temperatures", "0,1"], "must be > 0"),
        (["--distances", "1.7"], "not a lattice distance"),
    ):
        result = runner.invoke(app, ["simulate", "xy", "x.zarr", *ARGS, *extra, "--dump-config"])
        assert result.exit_code == 2, result.output
        assert message in result.output
    help_text = runner.invoke(app, ["simulate", "xy", "--help"])
    assert help_text.exit_code == 0 and "--unconstrained" in help_text.output
