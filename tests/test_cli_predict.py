"""`topophys predict`: a model trained by the pipeline applied to frames it never saw."""

import json

import ase.io
import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from typer.testing import CliRunner

from topophys import load_energy_model
from topophys.cli import app
from topophys.data.structures import write_structures

runner = CliRunner()

TINY = {
    "frame_stride": 1,
    "descriptor": {"bins": 16},
    "cnn": {"channels": [2, 2, 2], "hidden": 4, "epochs": 1, "milestones": []},
    "chunk_size": 8,
}


def _frames(seed, runs=3, per_run=4, label=True):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3)
    out = []
    for run in range(runs):
        for k in range(per_run):
            amplitude = 0.25 - 0.05 * k
            pos = (grid + rng.normal(scale=amplitude, size=grid.shape)) * 1.55
            atoms = Atoms("C125", positions=pos, cell=[7.75] * 3, pbc=True)
            atoms.wrap()
            atoms.info.update({"density": 2.5, "run": run, "process": "quench"})
            if label:
                atoms.calc = SinglePointCalculator(atoms, energy=125 * (-7.0 + 3 * amplitude))
            out.append(atoms)
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_predict")
    data = root / "aC" / "125atom_amorphous"
    frames = _frames(0)
    for run in range(3):
        write_structures(frames[4 * run : 4 * run + 4], data / f"rho2.500_run{run:03d}.xyz")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = root / "run"
    args = ["run", "mlpot", "--config", str(config), "--data", str(data.parent), "--out", str(out)]
    result = runner.invoke(app, [*args, "-j", "1"])
    assert result.exit_code == 0, result.output
    return out / "models"


@pytest.mark.parametrize("kind", ["ph_ridge", "ph_cnn"])
def test_predict_writes_energies_into_frames_the_model_never_saw(trained, tmp_path, kind):
    fresh = _frames(seed=42, runs=1, per_run=3)  # new random displacements
    source = tmp_path / "fresh.extxyz"
    write_structures(fresh, source)
    out = tmp_path / "out.extxyz"
    model_dir = trained / f"{kind}_random"
    result = runner.invoke(app, ["predict", str(model_dir), str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote 3 frames to {out}: {kind} model" in result.output
    assert "against energy: RMSE" in result.output  # labelled frames are scored
    written = ase.io.read(out, index=":")
    model = load_energy_model(model_dir)
    expected = model.predict(fresh)
    got = [a.info["energy_pred_per_atom"] for a in written]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert [a.info["energy_pred"] for a in written] == pytest.approx(expected * 125)
    assert [a.get_potential_energy() for a in written] == [a.get_potential_energy() for a in fresh]
    manifest = json.loads((model_dir / "model.json").read_text())
    assert manifest["kind"] == kind and manifest["training"]["split"] == "random"


def test_predict_warns_about_frames_outside_the_training_range(trained, tmp_path):
    dense = Atoms("C125", positions=_frames(1, 1, 1)[0].positions * 0.7, cell=[5.425] * 3, pbc=True)
    source = tmp_path / "dense.extxyz"
    write_structures([dense, *_frames(3, 1, 2, label=False)], source)
    out = tmp_path / "out.extxyz"
    result = runner.invoke(
        app, ["predict", str(trained / "ph_ridge_random"), str(source), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "frames 0" in result.output
    written = ase.io.read(out, index=":")
    assert written[0].info["energy_pred_out_of_range"]
    assert "against" not in result.output  # unlabelled frames are not scored


def test_predict_errors_are_clean(trained, tmp_path):
    good = tmp_path / "f.extxyz"
    write_structures(_frames(5, 1, 1), good)
    missing = runner.invoke(app, ["predict", str(tmp_path / "none"), str(good), "-o", "x.extxyz"])
    assert missing.exit_code == 2 and "MODEL" in missing.output
    not_model = runner.invoke(app, ["predict", str(tmp_path), str(good), "-o", str(tmp_path / "o")])
    assert not_model.exit_code == 2 and "not a saved energy model" in not_model.output
    silicon = _frames(6, 1, 1)[0]
    silicon.symbols[0] = "Si"
    bad = tmp_path / "si.extxyz"
    write_structures([silicon], bad)
    result = runner.invoke(
        app,
        ["predict", str(trained / "ph_ridge_random"), str(bad), "-o", str(tmp_path / "o.extxyz")],
    )
    assert result.exit_code == 2 and "frames[0] holds species ['Si']" in result.output


def test_the_default_output_sits_beside_the_frames(trained, tmp_path):
    source = tmp_path / "frames.xyz.gz"
    write_structures(_frames(7, 1, 2), tmp_path / "plain.xyz")
    import gzip
    import shutil

    with open(tmp_path / "plain.xyz", "rb") as f, gzip.open(source, "wb") as g:
        shutil.copyfileobj(f, g)
    result = runner.invoke(app, ["predict", str(trained / "ph_ridge_grouped"), str(source)])
    assert result.exit_code == 0, result.output
    assert len(ase.io.read(tmp_path / "frames.pred.extxyz", index=":")) == 2
