"""Representative H1 cycles: on structures with known rings, the cycle found is that ring."""

import numpy as np
import pytest

from topophys.homology import periodic_alpha_diagram
from topophys.homology.cycles import atoms_h1_cycles, h1_cycles

A = 1.42  # C–C bond, Å


def _honeycomb(nx, ny, noise=0.02, seed=0):
    """A periodic graphene-like sheet (2-D): positions (n, 2) and cell (2, 2)."""
    a1, a2 = np.array([1.5 * A, np.sqrt(3) / 2 * A]), np.array([1.5 * A, -np.sqrt(3) / 2 * A])
    basis = np.array([[0.0, 0.0], [A, 0.0]])
    pos = np.array([i * a1 + j * a2 + b for i in range(nx) for j in range(ny) for b in basis])
    cell = np.array([nx * a1, ny * a2])
    rng = np.random.default_rng(seed)
    return pos + noise * rng.normal(size=pos.shape), cell


def _min_image(vec, cell):
    frac = np.linalg.solve(cell.T, vec.T).T
    return (frac - np.round(frac)) @ cell


def test_one_known_ring_is_found():
    # Shrink one hexagon of a noisy honeycomb: its bonds enter first and it fills first, so
    # its pair is the only one dying before 1.8 Å², and its cycle must be that hexagon.
    pos, cell = _honeycomb(4, 4)
    centre = np.array([2 * A, 0.0])  # a hexagon centre of the lattice
    off = _min_image(pos - centre, cell)
    ring = np.flatnonzero(np.linalg.norm(off, axis=1) < A + 0.1)
    assert len(ring) == 6
    pos[ring] = centre + 0.9 * off[ring]
    (c,) = h1_cycles(pos, cell, select=lambda b, d: (d < 1.8) & (d - b > 0.5))
    assert sorted(c.atoms.tolist()) == sorted(ring.tolist())
    np.testing.assert_allclose(c.bond_lengths(), 0.9 * A, atol=0.1)
    np.testing.assert_allclose(c.bond_angles(), 120.0, atol=6.0)
    np.testing.assert_allclose(c.positions.mean(0), centre, atol=0.05)  # contiguous images
    np.testing.assert_allclose(_min_image(c.positions - pos[c.atoms], cell), 0, atol=1e-9)
    assert np.all(c.winding == 0)


def test_honeycomb_cycles_are_closed_rings_of_bonds():
    pos, cell = _honeycomb(4, 4)
    cycles = h1_cycles(pos, cell, select=lambda b, d: d - b > 0.5)
    # 16 hexagons on the torus bound 15 independent finite classes (their sum is a boundary)
    assert len(cycles) == 15
    for c in cycles:
        m = len(c.atoms)
        assert m >= 6 and m % 2 == 0 and len(set(c.atoms.tolist())) == m  # bipartite, simple
        # closed in space, or (a class that dies when the annulus between two parallel
        # winding loops fills) one of those loops, with its winding reported
        assert np.all(c.winding == 0) or m <= 2 * 8
        assert np.all(np.abs(c.bond_lengths() - A) < 0.15)  # the closing bond too
        assert np.all(c.bond_lengths() <= 2 * np.sqrt(c.birth) * (1 + 1e-9))  # present at b
    hexagons = {frozenset(c.atoms.tolist()) for c in cycles if len(c.atoms) == 6}
    assert len(hexagons) >= 8  # most pairs are single hexagons; the rest unions of two
    assert all(np.all(c.winding == 0) for c in cycles if len(c.atoms) == 6)


def test_pairs_are_those_of_the_periodic_alpha_diagram():
    pos, cell = _honeycomb(3, 4, noise=0.1, seed=3)
    dgm = periodic_alpha_diagram(pos, cell)
    h1 = dgm[(dgm[:, 0] == 1) & np.isfinite(dgm[:, 2]), 1:]
    cycles = h1_cycles(pos, cell)
    got = np.array([[c.birth, c.death] for c in cycles])
    np.testing.assert_allclose(got, h1[np.lexsort((h1[:, 1], h1[:, 0]))], rtol=1e-12)
    for c in cycles:  # every bond of the ring is in the complex at birth: length ≤ 2 √b
        assert np.all(c.bond_lengths() <= 2 * np.sqrt(c.birth) * (1 + 1e-9))


def test_in_plane_rings_of_a_stacked_3d_structure_and_ase_atoms():
    from ase import Atoms

    layers = []
    for k in range(3):
        p, cell2 = _honeycomb(4, 4, noise=0.03, seed=k)
        layers.append(np.c_[p, np.full(len(p), 3.35 * k)])
    pos = np.vstack(layers)
    pos[:, 2] += 0.03 * np.random.default_rng(5).normal(size=len(pos))
    cell = np.zeros((3, 3))
    cell[:2, :2], cell[2, 2] = cell2, 3 * 3.35
    atoms = Atoms("C" * len(pos), positions=pos, cell=cell, pbc=True)
    rings = atoms_h1_cycles(atoms, select=lambda b, d: (b < 1.0) & (d - b > 0.5))
    # per layer 15 hexagon classes and 2 in-plane winding loops; 2 of those 6 stay essential
    assert len(rings) == 3 * 17 - 2
    for c in rings:
        assert np.ptp(c.positions[:, 2]) < 0.3  # within one layer
        assert np.all(np.abs(c.bond_lengths() - A) < 0.2)
    assert sum(len(c.atoms) == 6 for c in rings) >= 24
    # the vertical 4-rings (bond × interlayer rectangles) are born at (3.35 / 2)² ≈ 2.8 Å²
    tall = atoms_h1_cycles(atoms, select=lambda b, d: (b > 2.5) & (b < 3.5) & (d - b > 0.1))
    assert sum(len(c.atoms) == 4 for c in tall) > 0.7 * len(tall) > 0
    assert all(np.ptp(c.positions[:, 2]) > 3.0 for c in tall)  # across two layers


def test_non_periodic_ring_and_selection():
    angles = np.arange(8) * np.pi / 4
    ring = 1.5 * np.c_[np.cos(angles), np.sin(angles), 0.05 * np.sin(3 * angles)]
    cloud = np.vstack([ring, [[0.0, 0.0, 3.0], [0.0, 0.0, -3.0]]])
    (c,) = h1_cycles(cloud, select=lambda b, d: d - b > 0.5)
    assert sorted(c.atoms.tolist()) == list(range(8))
    assert np.all(np.abs(np.diff(np.sort(c.atoms))) == 1)
    np.testing.assert_allclose(c.bond_angles().mean(), 135.0, atol=1.0)  # regular octagon
    assert h1_cycles(cloud, select=lambda b, d: b > 100.0) == []


def test_bad_input():
    pos, cell = _honeycomb(3, 3)
    with pytest.raises(ValueError, match="one bool per pair"):
        h1_cycles(pos, cell, select=lambda b, d: np.array([True]))
    with pytest.raises(ValueError, match="cell must have shape"):
        h1_cycles(pos, np.eye(3))
    with pytest.raises(TypeError, match=r"ase\.Atoms"):
        atoms_h1_cycles(pos)
