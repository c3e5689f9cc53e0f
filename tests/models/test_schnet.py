"""SchNet: paper settings, invariances of the energy, periodic neighbour lists, determinism."""

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from topophys.models.schnet import SchNet, collate, neighbor_graph

CUT = 3.0


def _box(n=10, side=4.5, seed=0):
    rng = np.random.default_rng(seed)
    return Atoms(f"C{n}", positions=rng.uniform(0, side, (n, 3)), cell=[side] * 3, pbc=True)


def _model(seed=0):
    torch.manual_seed(seed)
    return SchNet(n_features=12, n_interactions=2, n_gaussians=10, cutoff=CUT).double()


def _energy(model, frames):
    batch = collate([neighbor_graph(a, CUT) for a in frames])
    batch["d"] = batch["d"].double()
    with torch.no_grad():
        return model(batch).numpy()


def test_paper_settings():
    model = SchNet()
    assert model.centers.shape == (60,)
    assert float(model.centers[0]) == 0.0 and float(model.centers[-1]) == pytest.approx(5.0)
    assert model.gamma == 0.1 and model.n_features == 100
    assert model.embedding.embedding_dim == 100


def test_energy_invariant_under_symmetries_and_wrapping():
    model = _model()
    atoms = _box()
    rotated = atoms.copy()
    rotated.rotate(71.0, (0.3, -1.0, 2.0), rotate_cell=True)
    moved = atoms.copy()
    moved.translate([2.1, -7.3, 0.4])
    moved.wrap()
    unwrapped = atoms.copy()
    unwrapped.positions += np.array([1, -2, 3]) * 4.5  # whole cells away: the same crystal
    permuted = atoms[np.random.default_rng(2).permutation(len(atoms))]
    e = _energy(model, [atoms, rotated, moved, unwrapped, permuted, _box(seed=9)])
    np.testing.assert_allclose(e[1:5], e[0], rtol=0, atol=1e-10)
    assert abs(e[5] - e[0]) > 1e-6  # another structure differs


def test_periodic_neighbours_and_supercell_energy_per_atom():
    diamond = bulk("C", "diamond", a=3.567, cubic=True)
    g = neighbor_graph(diamond, 1.6)
    assert np.bincount(g["i"], minlength=8).tolist() == [4] * 8  # four bonds through the walls
    np.testing.assert_allclose(g["d"], 3.567 * np.sqrt(3) / 4, rtol=1e-5)
    model = _model()
    # Energy per atom is intensive: a 2×1×1 supercell gives the same value.
    e = _energy(model, [diamond, diamond.repeat((2, 1, 1))])
    np.testing.assert_allclose(e[1], e[0], atol=1e-10)


def test_batching_matches_single_structures():
    model = _model()
    frames = [_box(seed=s, n=8 + s) for s in range(3)]
    together = _energy(model, frames)
    alone = np.concatenate([_energy(model, [a]) for a in frames])
    np.testing.assert_allclose(together, alone, atol=1e-10)


def test_same_seed_same_weights():
    a, b, c = _model(3), _model(3), _model(4)
    frames = [_box()]
    assert _energy(a, frames) == _energy(b, frames)
    assert _energy(a, frames) != _energy(c, frames)


def test_bad_input():
    with pytest.raises(ValueError, match="n_features"):
        SchNet(n_features=0)
    with pytest.raises(ValueError, match="cutoff"):
        SchNet(cutoff=-1.0)
    with pytest.raises(ValueError, match="at least one graph"):
        collate([])
    with pytest.raises(TypeError, match=r"ase\.Atoms"):
        neighbor_graph(np.zeros((2, 3)), 2.0)
    with pytest.raises(ValueError, match="cutoff"):
        neighbor_graph(_box(), 0.0)
    with pytest.raises(ValueError, match="finite"):
        SchNet().set_target_scaling([np.nan])
