"""Saved energy models: every kind round-trips bit for bit, refuses bad frames and tampered
files, warns out of its training range, works as an ASE calculator, and new kinds plug in."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk
from ase.calculators.calculator import PropertyNotImplementedError

import topophys
from topophys.descriptors.ph import DescriptorConfig
from topophys.descriptors.soap import SOAPConfig
from topophys.models.mlp import MLP
from topophys.models.pdcnn import PDCNN
from topophys.models.schnet import SchNet
from topophys.potentials import (
    FORMAT_VERSION,
    EnergyModel,
    OutOfRangeWarning,
    PHCNNModel,
    PHFeatures,
    PHRidgeModel,
    PHSOAPModel,
    SchNetModel,
    SOAPNNModel,
    TrainingDomain,
    load_energy_model,
    model_kinds,
    register_model_kind,
)
from topophys.simulate.amorphous import lammps_available

TRAINING = {"energy_range": (-7.2, -6.0), "frames": 8, "label_potential": "tersoff"}


def disordered(n_side: int, spacing: float, amplitude: float, seed: int) -> Atoms:
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=positions, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    return atoms


@pytest.fixture(scope="module")
def frames():
    return [disordered(4, 1.55, 0.10 + 0.02 * k, seed=k) for k in range(8)]


@pytest.fixture(scope="module")
def ph(frames):
    d = DescriptorConfig(bins=16)
    hist = d.histogram().fit(d.persistence().fit_transform(frames))
    return PHFeatures.from_histogram(d, hist)


def build(kind: str, ph: PHFeatures, frames) -> EnergyModel:
    torch.manual_seed(0)
    soap = SOAPConfig(n_max=2, l_max=1)
    domain = TrainingDomain.fit(ph(frames), components=3)
    common = {"training": TRAINING, "domain": domain if kind in ("ph_ridge", "ph_cnn") else None}
    cnn = PDCNN((16, 16), (2, 2, 2), 4)
    cnn.set_target_scaling([-7.0, -6.2])
    if kind == "ph_ridge":
        coef = np.random.default_rng(0).normal(scale=1e-3, size=256)
        return PHRidgeModel(ph, coef, -6.6, **common)
    if kind == "ph_cnn":
        return PHCNNModel(ph, cnn, **common)
    mlp = MLP(soap.n_features + (2 if kind == "ph_soap" else 0), (4,))
    mlp.fit_scaling(torch.randn(10, mlp.n_inputs), torch.linspace(-7.0, -6.2, 10))
    if kind == "soap_nn":
        return SOAPNNModel(soap, mlp, **common)
    if kind == "ph_soap":
        return PHSOAPModel(ph, cnn, soap, mlp, **common)
    schnet = SchNet(8, 1, 8, 3.0)
    schnet.set_target_scaling([-7.0, -6.2])
    return SchNetModel(schnet, **common)


KINDS = ("ph_ridge", "ph_cnn", "soap_nn", "ph_soap", "schnet")


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_predict_is_bit_identical(kind, ph, frames, tmp_path):
    model = build(kind, ph, frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)  # untrained toy weights
        before = model.predict(frames)
        loaded = load_energy_model(model.save(tmp_path / kind))
        after = loaded.predict(frames)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(after, before)
    manifest = json.loads((tmp_path / kind / "model.json").read_text())
    assert manifest["kind"] == kind
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["topophys_version"] == topophys.__version__
    assert manifest["species"] == ["C"]
    assert manifest["training"]["energy_range"] == [-7.2, -6.0]
    assert manifest["training"]["label_potential"] == "tersoff"
    assert len(manifest["weights"]["sha256"]) == 64
    assert loaded.energy_range == (-7.2, -6.0)


def test_top_level_loader_and_saving_over_a_model(ph, frames, tmp_path):
    model = build("ph_ridge", ph, frames)
    model.save(tmp_path / "m")
    model.save(tmp_path / "m")  # replaces the directory whole
    assert topophys.load_energy_model(tmp_path / "m" / "model.json").kind == "ph_ridge"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_predict_descriptors_matches_predict_and_rejects_other_sizes(ph, frames):
    model = build("ph_ridge", ph, frames)
    X = model.descriptors(frames)
    assert X.shape == (8, 256) and X.dtype == np.float32
    np.testing.assert_array_equal(model.predict_descriptors(X), model.predict(frames))
    with pytest.raises(ValueError, match=r"1024 features per row; this model's descriptor has 256"):
        model.predict_descriptors(np.zeros((2, 1024)))


def test_a_descriptor_of_another_size_in_the_manifest_is_refused(ph, frames, tmp_path):
    path = build("ph_ridge", ph, frames).save(tmp_path / "m")
    manifest = json.loads((path / "model.json").read_text())
    manifest["settings"]["descriptor"]["bins"] = 32
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"1024 values \(bins=32\), got 256"):
        load_energy_model(path)


def test_the_training_frames_are_in_range_and_far_frames_warn(ph, frames):
    model = build("ph_ridge", ph, frames)
    result = model.evaluate(frames)
    assert not result.out_of_range.any()
    np.testing.assert_array_equal(result.descriptor_excess, 0.0)
    squeezed = disordered(4, 1.1, 0.02, seed=99)  # a dense, nearly ordered cell
    with pytest.warns(OutOfRangeWarning, match=r"frames 1\b.*extrapolations"):
        model.predict([frames[0], squeezed])
    assert model.evaluate([squeezed]).descriptor_excess[0] > model.tolerance


def test_an_energy_outside_the_training_range_warns(ph, frames):
    model = build("ph_ridge", ph, frames)
    far = PHRidgeModel(model.features, model.coef, -3.0, training=TRAINING)
    with pytest.warns(OutOfRangeWarning, match=r"predicted energy outside the training range"):
        far.predict(frames[:2])


@pytest.mark.parametrize("kind", ["ph_ridge", "soap_nn", "schnet"])
def test_wrong_species_and_non_periodic_cells_are_refused(kind, ph, frames):
    model = build(kind, ph, frames)
    other = frames[1].copy()
    other.symbols[3] = "Si"
    with pytest.raises(ValueError, match=r"frames\[1\] holds species \['Si'\]; this .* \['C'\]"):
        model.predict([frames[0], other])
    open_cell = frames[0].copy()
    open_cell.pbc = False
    with pytest.raises(ValueError, match=r"frames\[0\] has pbc=\[False, False, False\]"):
        model.predict([open_cell])
    with pytest.raises(TypeError, match=r"frames\[0\] must be an ase.Atoms"):
        model.predict([np.zeros((4, 3))])
    with pytest.raises(ValueError, match="at least one structure"):
        model.predict([])


def test_calculator_gives_total_energy_and_names_the_kind_for_forces(ph, frames):
    model = build("ph_cnn", ph, frames)
    atoms = frames[2].copy()
    atoms.calc = model.calculator()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)
        expected = model.predict([frames[2]])[0] * len(atoms)
        assert atoms.get_potential_energy() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(PropertyNotImplementedError, match=r"ph_cnn energy model .* not 'forces'"):
        atoms.get_forces()
    with pytest.raises(PropertyNotImplementedError, match="ph_cnn"):
        atoms.get_stress()


def _plant_pickle(path, marker):
    class Boom:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    with open(path / "weights.pt", "wb") as f:
        pickle.dump({"x": Boom()}, f)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_planted_pickle_is_refused_and_not_executed(ph, frames, tmp_path):
    path = build("ph_ridge", ph, frames).save(tmp_path / "m")
    marker = tmp_path / "pwned"
    _plant_pickle(path, marker)
    with pytest.raises(ValueError, match="SHA-256"):
        load_energy_model(path)
    # Even with the checksum forged to match, the weights-only loader refuses the pickle.
    from topophys.potentials import _sha256

    manifest = json.loads((path / "model.json").read_text())
    manifest["weights"]["sha256"] = _sha256(path / "weights.pt")
    (path / "model.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not a weights-only torch file"):
        load_energy_model(path)
    assert not marker.exists()


def test_bad_directories_are_refused(ph, frames, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no model\.json"):
        load_energy_model(tmp_path)
    path = build("ph_ridge", ph, frames).save(tmp_path / "m")
    manifest = json.loads((path / "model.json").read_text())
    for change, message in (
        ({"format": "other"}, "not a topophys energy model"),
        ({"format_version": FORMAT_VERSION + 1}, "upgrade topophys"),
        ({"kind": "nope"}, "unknown model kind 'nope'; known kinds: .*ph_cnn"),
    ):
        (path / "model.json").write_text(json.dumps({**manifest, **change}))
        with pytest.raises(ValueError, match=message):
            load_energy_model(path)


class _PairModel(EnergyModel):
    """A toy per-atom model with forces: E = ½ k Σ_pairs (r − r0)² over pairs within 2 Å."""

    kind = "toy_pairs"
    implemented_properties = ("energy", "free_energy", "forces")

    def __init__(self, k: float, **common):
        super().__init__(**common)
        self.k = k

    def _energy_forces(self, atoms):
        from ase.neighborlist import neighbor_list

        i, _, d, D = neighbor_list("ijdD", atoms, 2.0)
        energy = 0.25 * self.k * np.sum((d - 1.5) ** 2)  # each pair twice
        f = (self.k * (d - 1.5) / d)[:, None] * D
        forces = np.zeros((len(atoms), 3))
        np.add.at(forces, i, f)
        return energy, forces

    def _inputs(self, frames, workers, progress):
        return frames

    def _evaluate(self, inputs):
        return np.array([self._energy_forces(a)[0] / len(a) for a in inputs]), None

    def _calculate(self, atoms, properties):
        energy, forces = self._energy_forces(atoms)
        return {"energy": energy, "free_energy": energy, "forces": forces}

    def _settings(self):
        return {}

    def _tensors(self):
        return {"k": torch.tensor(self.k)}

    @classmethod
    def _restore(cls, settings, tensors, **common):
        return cls(float(tensors["k"]), **common)


def test_a_new_kind_with_forces_registers_saves_loads_and_drives_ase(tmp_path, monkeypatch):
    from topophys import potentials

    monkeypatch.setattr(potentials, "_KINDS", dict(potentials._KINDS))
    register_model_kind("toy_pairs", _PairModel)
    assert model_kinds()["toy_pairs"].endswith(":_PairModel")
    path = _PairModel(2.0, training={"energy_range": (-1.0, 10.0)}).save(tmp_path / "toy")
    model = load_energy_model(path)
    atoms = bulk("C", "diamond", a=3.57, cubic=True)
    atoms.rattle(0.05, seed=1)
    atoms.calc = model.calculator()
    forces = atoms.get_forces()
    # Forces are minus the gradient of the energy (central differences).
    h, k = 1e-5, (3, 1)
    plus, minus = atoms.copy(), atoms.copy()
    plus.positions[k] += h
    minus.positions[k] -= h
    e = [model._energy_forces(a)[0] for a in (plus, minus)]
    assert forces[k] == pytest.approx(-(e[0] - e[1]) / (2 * h), rel=1e-6)
    assert np.abs(forces.sum(axis=0)).max() < 1e-10
    with pytest.raises(ValueError, match="identifier"):
        register_model_kind("not a kind", _PairModel)
    with pytest.raises(TypeError, match="subclass EnergyModel"):
        register_model_kind("other", dict)
    # A kind registered by name is checked when a model of it is loaded.
    register_model_kind("not_a_model", "json:JSONDecoder")
    with pytest.raises(TypeError, match="json:JSONDecoder, which is not an EnergyModel"):
        potentials._kind_class("not_a_model")


@pytest.mark.skipif(not lammps_available(), reason="needs LAMMPS (pip install 'topophys[md]')")
def test_a_saved_model_predicts_a_fresh_melt_quench_it_never_saw(tmp_path):
    """Trained on one short melt-quench run of 125 atoms, applied to another run (new seed):
    the predictions follow the labels far better than the training mean does (measured: RMSE
    0.38 of the labels' spread)."""
    from topophys.data.structures import energies_per_atom
    from topophys.simulate.amorphous import MeltQuenchConfig, melt_quench
    from topophys.training.regression import fit_ridge

    config = MeltQuenchConfig(
        n_atoms=125, densities=(2.5,), runs=1, time_scale=0.1, snapshots=(0, 8, 12, 4, 16)
    )
    train, fresh = melt_quench(config, 2.5, 0), melt_quench(config.replace(seed=7), 2.5, 0)
    d = DescriptorConfig(bins=32)
    hist = d.histogram().fit(d.persistence().fit_transform(train))
    ph = PHFeatures.from_histogram(d, hist)
    X, y = ph(train), energies_per_atom(train)
    ridge = fit_ridge(X, y, alpha=10.0)
    training = {"energy_range": (float(y.min()), float(y.max())), "frames": len(y)}
    model = PHRidgeModel(ph, ridge.coef_, ridge.intercept_, training=training)
    loaded = load_energy_model(model.save(tmp_path / "ridge"))
    y_fresh = energies_per_atom(fresh)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfRangeWarning)
        pred = loaded.predict(fresh)
    rmse = np.sqrt(np.mean((pred - y_fresh) ** 2))
    assert rmse < 0.5 * np.std(y_fresh)


def test_score_refuses_labels_of_another_potential_unless_the_offset_is_removed(ph, frames):
    from ase.calculators.singlepoint import SinglePointCalculator

    model = build("ph_ridge", ph, frames)
    pred = model.predict(frames)
    labelled = []
    for a, e in zip(frames, pred, strict=True):
        b = a.copy()
        b.calc = SinglePointCalculator(b, energy=(e + 0.010) * len(b))
        b.info["potential"] = "tersoff"
        labelled.append(b)
    same = model.score(labelled)
    assert same["rmse_meV"] == pytest.approx(10.0, rel=1e-6) and same["offset_eV"] == 0.0
    for b in labelled:
        b.info["potential"] = "snap"
    with pytest.raises(ValueError, match=r"labelled by snap but this ph_ridge model learned"):
        model.score(labelled)
    aligned = model.score(labelled, offset="mean")
    assert aligned["rmse_meV"] < 1e-6 and aligned["offset_eV"] == pytest.approx(-0.010)
    assert aligned["label_potential"] == "snap" and aligned["model_label_potential"] == "tersoff"
    with pytest.raises(ValueError, match="offset must be"):
        model.score(labelled, offset="ignore")


def test_predict_file_writes_predictions_into_the_frames(ph, frames, tmp_path):
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from topophys.data.structures import write_structures
    from topophys.potentials import predict_file

    model = build("ph_ridge", ph, frames)
    path = model.save(tmp_path / "m")
    labelled = []
    for a in frames:
        b = a.copy()
        b.calc = SinglePointCalculator(b, energy=-6.5 * len(b))
        b.info["potential"] = "tersoff"
        labelled.append(b)
    write_structures(labelled, tmp_path / "in.extxyz")
    summary = predict_file(path, tmp_path / "in.extxyz", tmp_path / "out.extxyz", chunk_size=3)
    out = ase.io.read(tmp_path / "out.extxyz", index=":")
    pred = model.predict(frames)
    assert summary["frames"] == 8 and summary["out_of_range"] == 0
    for a, e in zip(out, pred, strict=True):
        assert a.info["energy_pred_per_atom"] == pytest.approx(e, rel=1e-12)
        assert a.info["energy_pred"] == pytest.approx(e * len(a), rel=1e-12)
        assert (
            a.info["energy_pred_out_of_range"] is False or a.info["energy_pred_out_of_range"] == 0
        )
        assert a.get_potential_energy() == -6.5 * len(a)  # the labels are kept
    rmse = 1000 * np.sqrt(np.mean((pred + 6.5) ** 2))
    assert summary["score"]["rmse_meV"] == pytest.approx(rmse, rel=1e-9)
    for b in labelled:
        b.info["potential"] = "snap"
    write_structures(labelled, tmp_path / "snap.extxyz")
    summary = predict_file(model, tmp_path / "snap.extxyz", tmp_path / "out2.extxyz")
    assert "score" not in summary and "labelled by snap" in summary["score_refused"]
