"""The local PH potential: forces and stress are derivatives of its energy; symmetries; saving."""

import json

import numpy as np
import pytest
import torch
from ase import Atoms

from topophys.descriptors.local_ph import local_pairs
from topophys.models.local_ph import AtomicNetwork, LocalPHModel, LocalPHPotential
from topophys.potentials import OutOfRangeWarning, load_energy_model

from ..descriptors.test_local_ph import SMALL, amorphous

CYCLES = {"centre": "both", "graph": "circumradius", "graph_cycles": True}


@pytest.fixture(
    scope="module",
    params=[
        {"centre": "kept"},
        {"centre": "both"},
        {"centre": "both", "graph": "circumradius"},
        CYCLES,
        {"centre": "kept", "image_axes": "root"},
        CYCLES | {"graph_summary": "simplices", "image_axes": "root"},
    ],
    ids=[
        "kept",
        "both",
        "both_circumradius",
        "both_circumradius_cycles",
        "kept_root",
        "both_simplices_root",
    ],
)
def potential(request):
    torch.manual_seed(0)
    config = SMALL.replace(**request.param)
    network = AtomicNetwork(config.n_features, hidden=(16, 16))
    pot = LocalPHPotential(config, network)
    # Spread the weights so the energy depends visibly on the descriptor.
    with torch.no_grad():
        for p in pot.network.parameters():
            p.mul_(3.0)
        pot.network.input_scale.fill_(0.05)
    return pot


def energy(potential, atoms):
    return potential.compute(atoms, forces=False)["energy"]


def test_forces_equal_central_differences_of_the_energy(potential):
    atoms = amorphous(seed=2)
    out = potential.compute(atoms)
    rng = np.random.default_rng(1)
    agree = 0
    for atom, axis in rng.integers(0, [len(atoms), 3], size=(10, 2)):
        step, e = 1e-5, []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * step
            e.append(energy(potential, moved))
        fd = -(e[0] - e[1]) / (2 * step)
        agree += abs(fd - out["forces"][atom, axis]) < 1e-5 * max(1.0, abs(fd))
    # Only a pairing switch inside ±1e-5 Å could break one; none is expected in 10 draws.
    assert agree == 10
    assert np.abs(out["forces"]).max() > 1e-3


def test_zero_net_force_and_torque_and_rotation_covariance(potential):
    cluster = amorphous(seed=3)
    cluster.pbc = False
    out = potential.compute(cluster)
    assert np.abs(out["forces"].sum(0)).max() < 1e-9
    torque = np.cross(cluster.positions - cluster.positions.mean(0), out["forces"]).sum(0)
    assert np.abs(torque).max() < 1e-8
    periodic = potential.compute(amorphous(seed=3))
    assert np.abs(periodic["forces"].sum(0)).max() < 1e-9
    rotated = cluster.copy()
    rotated.rotate(63.0, (0.3, 1.0, -0.4))
    turned = potential.compute(rotated)
    rotation = np.linalg.lstsq(
        cluster.positions - cluster.positions.mean(0),
        rotated.positions - rotated.positions.mean(0),
        rcond=None,
    )[0]
    assert abs(turned["energy"] - out["energy"]) < 1e-9
    np.testing.assert_allclose(turned["forces"], out["forces"] @ rotation, atol=1e-9)


def test_forces_by_block_and_pairs_held_fixed(potential):
    atoms = amorphous(seed=4)
    out = potential.compute(atoms, by_block=True)
    assert out["forces_by_block"].shape == (potential.config.n_blocks, len(atoms), 3)
    np.testing.assert_allclose(out["forces_by_block"].sum(0), out["forces"], atol=1e-12)
    pairs = local_pairs(atoms, potential.config)
    same = potential.compute(atoms, pairs=pairs)
    assert same["energy"] == out["energy"]
    np.testing.assert_array_equal(same["forces"], out["forces"])
    # Held fixed, the recipes of `atoms` give a smooth surface far beyond any switch: its
    # forces are its own central differences 0.05 Å away, where recipes have changed.
    moved = atoms.copy()
    moved.positions += 0.05 * np.random.default_rng(0).standard_normal(atoms.positions.shape)
    held = potential.compute(moved, pairs=pairs)
    atom, axis, step, e = 5, 1, 1e-5, []
    for sign in (1, -1):
        shifted = moved.copy()
        shifted.positions[atom, axis] += sign * step
        e.append(potential.compute(shifted, pairs=pairs, forces=False)["energy"])
    fd = -(e[0] - e[1]) / (2 * step)
    assert abs(fd - held["forces"][atom, axis]) < 1e-5 * max(1.0, abs(fd))
    assert np.abs(held["forces"] - potential.compute(moved)["forces"]).max() > 1e-6
    with pytest.raises(ValueError, match="pairs must be of 48 atoms, got 47"):
        potential.compute(atoms, pairs=local_pairs(atoms[:-1], potential.config))
    broken = atoms.copy()
    broken.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        potential.compute(broken, pairs=pairs)
    with pytest.raises(ValueError, match="descriptor settings"):
        potential.compute(atoms, pairs=local_pairs(atoms, potential.config.replace(kappa=0.05)))


def test_energy_is_extensive_and_invariant_under_permutation(potential):
    atoms = amorphous(seed=4)
    e = energy(potential, atoms)
    assert abs(energy(potential, atoms.repeat((1, 2, 1))) - 2 * e) < 1e-8 * abs(e)
    order = np.random.default_rng(0).permutation(len(atoms))
    assert abs(energy(potential, atoms[order]) - e) < 1e-9
    moved = atoms.copy()
    moved.positions[5] += atoms.cell[1]  # another periodic image of the same atom
    assert abs(energy(potential, moved) - e) < 1e-9


def test_stress_equals_the_strain_derivative(potential):
    atoms = amorphous(seed=5)
    stress = potential.compute(atoms, stress=True)["stress"]
    for i, j in ((0, 0), (1, 2)):
        e = []
        for sign in (1, -1):
            strained = atoms.copy()
            strain = np.eye(3)
            strain[i, j] += sign * 1e-6
            strained.set_cell(atoms.cell[:] @ strain, scale_atoms=True)
            e.append(energy(potential, strained))
        fd = (e[0] - e[1]) / 2e-6 / atoms.get_volume()
        assert abs(fd - stress[i, j]) < 1e-6 * max(1.0, abs(fd))


def test_calculator_gives_energy_forces_stress(potential):
    atoms = amorphous(seed=6)
    atoms.calc = LocalPHModel(potential, training={"energy_range": (-1e3, 1e3)}).calculator()
    out = potential.compute(atoms, stress=True)
    assert atoms.get_potential_energy() == pytest.approx(out["energy"])
    np.testing.assert_allclose(atoms.get_forces(), out["forces"])
    np.testing.assert_allclose(atoms.get_potential_energies().sum(), out["energy"])
    np.testing.assert_allclose(atoms.get_stress(voigt=False), out["stress"])


def test_saved_model_loads_and_predicts_the_same_and_warns_out_of_range(potential, tmp_path):
    frames = [amorphous(seed=7), amorphous(seed=8)]
    model = LocalPHModel(potential, training={"energy_range": (-1e3, 1e3), "frames": 2})
    folder = model.save(tmp_path / "model")
    loaded = load_energy_model(folder)
    assert isinstance(loaded, LocalPHModel) and loaded.kind == "local_ph"
    np.testing.assert_array_equal(loaded.predict(frames), potential.predict(frames))
    assert json.loads((folder / "model.json").read_text())["settings"]["descriptor"]["r_cut"] == 3.2
    narrow = LocalPHModel(potential, training={"energy_range": (100.0, 101.0)})
    with pytest.warns(OutOfRangeWarning, match="outside the training range"):
        narrow.predict(frames[:1])
    with pytest.raises(ValueError, match="species"):
        model.predict([Atoms("Si2", positions=[[0, 0, 0], [2, 0, 0]], cell=[9] * 3, pbc=True)])


def test_bad_construction_and_species():
    with pytest.raises(ValueError, match="features"):
        LocalPHPotential(SMALL, AtomicNetwork(7))
    with pytest.raises(ValueError, match="species"):
        LocalPHPotential(SMALL, AtomicNetwork(SMALL.n_features, species=("Si",)))
    with pytest.raises(TypeError, match="LocalPHConfig"):
        LocalPHPotential({}, AtomicNetwork(SMALL.n_features))
    with pytest.raises(ValueError, match="activation"):
        AtomicNetwork(4, activation="relu")
    network = AtomicNetwork(4)
    with pytest.raises(ValueError, match=r"\['H'\]"):
        network.species_index(["C", "H"])
    with pytest.raises(ValueError, match="features must have shape"):
        network(torch.zeros(3, 5), torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="no neighbour"):
        LocalPHPotential(SMALL, AtomicNetwork(SMALL.n_features)).compute(
            Atoms("C2", positions=[[0, 0, 0], [6, 0, 0]])
        )


def test_one_network_per_species():
    config = SMALL.replace(species=["C", "Si"])
    torch.manual_seed(1)
    network = AtomicNetwork(config.n_features, species=("C", "Si"), hidden=(8,))
    potential = LocalPHPotential(config, network)
    atoms = amorphous(seed=9)
    mixed = atoms.copy()
    mixed.symbols[[0, 5]] = "Si"
    with torch.no_grad():
        network.energy_shift.copy_(torch.tensor([-7.0, -4.0], dtype=torch.float64))
    e_c = potential.compute(atoms, forces=False)["energies"]
    e_mixed = potential.compute(mixed, forces=False)["energies"]
    # Same geometry, so the same features: only the two Si atoms change network.
    changed = np.flatnonzero(np.abs(e_mixed - e_c) > 1e-12)
    assert changed.tolist() == [0, 5]
    counts = torch.tensor([[48.0, 0.0], [46.0, 2.0]], dtype=torch.float64)
    x = torch.rand(20, config.n_features, dtype=torch.float64)
    network.fit_scaling(x, counts, counts @ torch.tensor([-7.0, -4.0], dtype=torch.float64))
    np.testing.assert_allclose(network.energy_shift, [-7.0, -4.0], atol=1e-9)


def test_topophys_predict_applies_a_saved_local_ph_model(potential, tmp_path):
    import ase.io
    from typer.testing import CliRunner

    from topophys.cli import app

    frames = [amorphous(seed=10), amorphous(seed=11)]
    folder = LocalPHModel(potential, training={"energy_range": (-1e3, 1e3)}).save(tmp_path / "m")
    ase.io.write(tmp_path / "frames.extxyz", frames)
    out = tmp_path / "pred.extxyz"
    result = CliRunner().invoke(
        app, ["predict", str(folder), str(tmp_path / "frames.extxyz"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "local_ph model" in result.output
    written = [a.info["energy_pred_per_atom"] for a in ase.io.read(out, ":")]
    # extxyz stores positions to ~1e-8 Å, so the energies agree to about that, not bit for bit.
    np.testing.assert_allclose(written, potential.predict(frames), rtol=1e-6)
