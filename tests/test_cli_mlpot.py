"""`topophys run mlpot`: config resolution, a tiny run on synthetic extxyz data, clear errors."""

import json

import numpy as np
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from typer.testing import CliRunner

from topophys.cli import app
from topophys.data.structures import write_structures

runner = CliRunner()

TINY = {
    "frame_stride": 1,
    "descriptor": {"bins": 16},
    "cnn": {"channels": [2, 2, 2], "hidden": 4, "epochs": 1, "milestones": []},
    "chunk_size": 8,
}


def _synthetic(root):
    """3 runs × 4 frames of 125 disordered carbon atoms; energy per atom grows with disorder."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3)
    for run in range(3):
        frames = []
        for k in range(4):
            amplitude = 0.25 - 0.05 * k
            pos = (grid + rng.normal(scale=amplitude, size=grid.shape)) * 1.55
            atoms = Atoms("C125", positions=pos, cell=[7.75] * 3, pbc=True)
            atoms.wrap()
            atoms.info.update({"density": 2.5, "run": run, "process": "quench"})
            atoms.calc = SinglePointCalculator(atoms, energy=125 * (-7.0 + 3 * amplitude))
            frames.append(atoms)
        write_structures(frames, root / "125atom_amorphous" / f"rho2.500_run{run:03d}.xyz")
    return root


def test_help():
    result = runner.invoke(app, ["run", "mlpot", "--help"])
    assert result.exit_code == 0, result.output
    assert "--scale" in result.output and "--data" in result.output


def test_dump_config_demo_and_paper(tmp_path):
    demo = runner.invoke(app, ["run", "mlpot", "--out", str(tmp_path / "r"), "--dump-config"])
    assert demo.exit_code == 0, demo.output
    cfg = yaml.safe_load(demo.output)
    assert cfg["generate"]["n_atoms"] == 216 and cfg["transfer"]["n_atoms"] == 512
    assert cfg["descriptor"]["bins"] == 128 and cfg["ridge_alpha"] == 200.0
    paper = runner.invoke(app, ["run", "mlpot", "--scale", "paper", "--dump-config"])
    cfg = yaml.safe_load(paper.output)
    assert cfg["cnn"]["epochs"] == 1600 and cfg["cnn"]["channels"] == [64, 64, 32]
    assert cfg["generate"]["runs"] == 12 and cfg["frame_stride"] == 5
    assert cfg["learning_curves"]["sizes"] == [100, 300, 1000, 3000, 0]
    with_data = runner.invoke(app, ["run", "mlpot", "--data", "somewhere", "--dump-config"])
    assert yaml.safe_load(with_data.output)["data"] == "somewhere"
    assert not (tmp_path / "r").exists()


def test_tiny_run_on_reused_data(tmp_path):
    data = _synthetic(tmp_path / "aC")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    args = ["run", "mlpot", "--config", str(config), "--data", str(data), "--out", str(out)]
    result = runner.invoke(app, [*args, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["frames"] == 12 and metrics["data"]["runs"] == 3
    assert "transfer" not in metrics["ridge"]["random"]  # no larger structures in this set
    assert set(metrics["summary_meV"]["cnn"]) == {
        f"{p}_{m}" for p in ("train", "test", "grouped_test") for m in ("rmse", "mae")
    }


def test_errors_are_clean(tmp_path):
    bad_scale = runner.invoke(app, ["run", "mlpot", "--scale", "huge", "--dump-config"])
    assert bad_scale.exit_code == 2 and "demo" in bad_scale.output
    missing = runner.invoke(
        app, ["run", "mlpot", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]
    )
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text(yaml.safe_dump({"ridge_alpha": -1.0}))
    result = runner.invoke(app, ["run", "mlpot", "--config", str(bad_config), "--dump-config"])
    assert result.exit_code == 2 and "ridge_alpha" in result.output
