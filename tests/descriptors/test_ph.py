"""The PH-descriptor papers' descriptor: invariances, size independence, standardization on the
training structures only, the papers' defaults and bad values."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from topophys.descriptors.ph import GRAPHENE_DESCRIPTOR, DescriptorConfig, ph_descriptor


def disordered(n_side: int, spacing: float, amplitude: float, seed: int) -> Atoms:
    """A simple-cubic carbon lattice with Gaussian displacements: a stand-in for aC."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=positions, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    return atoms


# --------------------------------------------------------------------------- the descriptor

SMALL = DescriptorConfig(bins=32, standardize="none")


@pytest.fixture(scope="module")
def structure() -> Atoms:
    return disordered(5, 1.55, 0.12, seed=0)


@pytest.fixture(scope="module")
def reference(structure):
    pipe = ph_descriptor(SMALL).fit([structure])
    return pipe, pipe.transform([structure])[0]


def _rotated(atoms: Atoms) -> Atoms:
    out = atoms.copy()
    out.rotate(37.0, (1.0, 2.0, 3.0), rotate_cell=True)
    return out


def _translated(atoms: Atoms) -> Atoms:
    out = atoms.copy()
    out.translate([0.37, -1.21, 2.9])
    out.wrap()
    return out


def _permuted(atoms: Atoms) -> Atoms:
    return atoms[np.random.default_rng(1).permutation(len(atoms))]


def _unwrapped(atoms: Atoms) -> Atoms:
    # Atoms moved by whole lattice vectors, left outside the cell.
    out = atoms.copy()
    shifts = np.random.default_rng(2).integers(-2, 3, size=(len(out), 3))
    out.positions = out.positions + shifts @ out.cell[:]
    return out


@pytest.mark.parametrize("move", [_rotated, _translated, _permuted, _unwrapped])
def test_descriptor_invariant_under_symmetries(reference, structure, move):
    pipe, x = reference
    moved = move(structure)
    assert not np.allclose(moved.positions, structure.positions)
    y = pipe.transform([moved])[0]
    assert x.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-12)


def test_probability_makes_the_descriptor_size_independent(structure, reference):
    """A 2×2×2 supercell holds 8 copies of every finite H1 pair of the cell, plus a few pairs
    born with the cell's winding loops (3 essential classes of the 3-torus): paths around the
    small period close only around the supercell's. The probability histogram therefore agrees
    up to those extras, a share that falls as 1/N."""
    pipe, x = reference
    supercell = structure.repeat((2, 2, 2))
    counts = ph_descriptor(SMALL.replace(normalize="none")).fit([structure])
    small, big = counts.transform([structure])[0], counts.transform([supercell])[0]
    extra = big - 8 * small
    assert extra.min() >= 0  # every pair of the cell is there 8 times
    assert 0 < extra.sum() <= 3 * (8 - 1)  # at most 7 extra loops per winding direction
    births = ph_descriptor(SMALL).named_steps["diagrams"].transform([structure])[0]
    winding = births[(births[:, 0] == 1) & np.isinf(births[:, 2]), 1]
    birth_bins = np.floor(winding / (8.0 / 32)).astype(int)
    assert set(np.flatnonzero(extra) // 32) <= set(birth_bins)  # born with the winding loops
    y = pipe.transform([supercell])[0]
    assert y.sum() == pytest.approx(1.0)
    assert np.abs(y - x).sum() <= 2 * extra.sum() / big.sum()
    # Without the normalization the histogram scales with the number of atoms.
    assert big.sum() > 7.9 * small.sum()


def test_standardization_uses_the_training_structures_only(structure):
    others = [disordered(5, 1.55, a, seed=3) for a in (0.05, 0.2)]
    pipe = ph_descriptor(DescriptorConfig(bins=32)).fit(others)
    hist = pipe.named_steps["histogram"]
    z = pipe.transform(others)
    occupied = hist.scale_ != 1.0
    np.testing.assert_allclose(z[:, occupied].mean(axis=0), 0.0, atol=1e-12)
    # A structure outside the training set is not centred by construction.
    assert abs(pipe.transform([structure])[0]).max() > 0


def test_paper_descriptor_defaults_and_graphene():
    d = DescriptorConfig()
    assert (d.bins, d.birth_range, d.death_range, d.homology_dim) == (128, (0, 8), (0, 8), 1)
    assert (d.normalize, d.standardize, d.dimension) == ("probability", "zscore", 3)
    g = GRAPHENE_DESCRIPTOR
    assert (g.dimension, g.birth_range, g.standardize) == (2, (0, 4), "minmax")
    # A planar periodic sheet through the 2-D descriptor: min-max scaled into [0, 1].
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(8), np.arange(8)), -1).reshape(-1, 2).astype(float)
    sheets = []
    for k in range(3):
        xy = (grid + rng.normal(scale=0.1 + 0.05 * k, size=grid.shape)) * 1.42
        pos = np.c_[xy, np.zeros(len(xy))]
        sheets.append(Atoms("C64", positions=pos, cell=[8 * 1.42, 8 * 1.42, 10], pbc=[1, 1, 0]))
    x = ph_descriptor(g.replace(bins=16)).fit_transform(sheets)
    assert x.shape == (3, 256) and x.min() >= 0 and x.max() <= 1 and x.max() == 1


def test_descriptor_config_bad_values():
    with pytest.raises(ValueError, match="homology_dim"):
        DescriptorConfig(homology_dim=3)
    with pytest.raises(ValueError, match="birth_range"):
        DescriptorConfig(birth_range=(8.0, 0.0))
    with pytest.raises(ValueError, match="dimension"):
        DescriptorConfig(dimension=4)
    with pytest.raises(TypeError, match="DescriptorConfig"):
        ph_descriptor({"bins": 8})
