"""`topophys simulate amorphous`: config resolution, a tiny resumable run, clear errors."""

import yaml
from typer.testing import CliRunner

from topophys.cli import app

runner = CliRunner()

# 8 atoms on the pure-Python engine, 2 frames per run: about a second per run.
TINY = [
    "--atoms",
    "8",
    "--engine",
    "ase",
    "--time-scale",
    "0.0025",
    "--runs",
    "1",
]


def _config_file(tmp_path):
    path = tmp_path / "quench.yaml"
    path.write_text(yaml.safe_dump({"snapshots": [0, 1, 0, 0, 1], "stage_ps": [2, 3, 2, 2, 2]}))
    return path


def test_help():
    result = runner.invoke(app, ["simulate", "amorphous", "--help"])
    assert result.exit_code == 0, result.output
    assert "--densities" in result.output and "--label-potential" in result.output


def test_dump_config_merges_file_and_flags(tmp_path):
    args = ["simulate", "amorphous", str(tmp_path / "out"), "--config", str(_config_file(tmp_path))]
    result = runner.invoke(app, [*args, *TINY, "--densities", "1.5:3.5:5", "--dump-config"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.output)
    assert config["densities"] == [1.5, 2.0, 2.5, 3.0, 3.5]
    assert config["n_atoms"] == 8 and config["engine"] == "ase"
    assert config["snapshots"] == [0, 1, 0, 0, 1]
    assert not (tmp_path / "out").exists()


def test_tiny_run_then_resume(tmp_path):
    out = tmp_path / "out"
    args = ["simulate", "amorphous", str(out), "--config", str(_config_file(tmp_path)), *TINY]
    result = runner.invoke(app, [*args, "--densities", "2.5"])
    assert result.exit_code == 0, result.output
    assert "1 runs (2 frames each)" in result.output
    from topophys.data.structures import load_published_dataset

    frames = load_published_dataset(out)["8atom_amorphous"]
    assert [f.info["process"] for f in frames] == ["melt", "quench"]
    written = (out / "8atom_amorphous" / "rho2.500_run000.xyz").read_bytes()
    again = runner.invoke(app, [*args, "--densities", "2.5"])
    assert again.exit_code == 0, again.output
    assert (out / "8atom_amorphous" / "rho2.500_run000.xyz").read_bytes() == written
    # a different protocol in the same folder is refused
    clash = runner.invoke(app, [*args, "--densities", "2.5", "--seed", "3"])
    assert clash.exit_code == 2
    assert "different protocol" in clash.output


def test_bad_values_are_reported(tmp_path):
    base = ["simulate", "amorphous", str(tmp_path / "out"), "--dump-config"]
    for flags, message in (
        (["--densities", "2.0,-1.0"], "densities[1]"),
        (["--densities", "two"], "expected comma-separated numbers"),
        (["--potential", "lj"], "potential must be one of"),
        (["--atoms", "100"], "n_atoms must be a cube"),
    ):
        result = runner.invoke(app, [*base, *flags])
        assert result.exit_code == 2, (flags, result.output)
        assert message in " ".join(result.output.split()), (flags, result.output)
