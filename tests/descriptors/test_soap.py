"""SOAP descriptor: the paper's size, averaging, invariances, bad input, missing DScribe."""

import sys

import numpy as np
import pytest
from ase import Atoms

from topophys.descriptors.soap import SOAPConfig, soap_descriptor

pytest.importorskip("dscribe")

SMALL = SOAPConfig(r_cut=3.0, n_max=3, l_max=3, sigma=0.3)


def _box(n=12, side=5.0, seed=0):
    rng = np.random.default_rng(seed)
    return Atoms(f"C{n}", positions=rng.uniform(0, side, (n, 3)), cell=[side] * 3, pbc=True)


def test_paper_settings_give_360_features():
    config = SOAPConfig()
    # One species: 8·9/2 = 36 radial pairs n ≤ n' times l = 0..9 → 360.
    assert config.n_features == 360 == config.build().get_number_of_features()
    assert soap_descriptor([_box()], config).shape == (1, 360)


def test_outer_average_is_mean_of_per_atom_rows():
    frames = [_box(seed=0), _box(n=10, seed=1)]
    averaged = soap_descriptor(frames, SOAPConfig())
    per_atom = soap_descriptor(frames, SOAPConfig(), average=False)
    assert [p.shape for p in per_atom] == [(12, 360), (10, 360)]
    for row, atoms in zip(averaged, per_atom, strict=True):
        np.testing.assert_allclose(row, atoms.mean(axis=0), rtol=1e-10, atol=1e-12)


def test_invariant_under_rotation_translation_permutation_and_wrapping():
    atoms = _box()
    ref = soap_descriptor([atoms], SMALL)[0]
    rotated = atoms.copy()
    rotated.rotate(37.0, (1.0, 2.0, 0.5), rotate_cell=True)
    moved = atoms.copy()
    moved.translate([1.3, -2.2, 7.9])  # out of the cell: periodic images make it the same
    wrapped = moved.copy()
    wrapped.wrap()
    permuted = atoms[np.random.default_rng(1).permutation(len(atoms))]
    for other in (rotated, moved, wrapped, permuted):
        np.testing.assert_allclose(soap_descriptor([other], SMALL)[0], ref, rtol=1e-6, atol=1e-8)
    # A real change of structure changes the vector.
    assert not np.allclose(soap_descriptor([_box(seed=5)], SMALL)[0], ref, rtol=1e-3)


def test_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        soap_descriptor([], SMALL)
    with pytest.raises(ValueError, match=r"outside config\.species"):
        soap_descriptor([Atoms("CH", positions=[[0, 0, 0], [1, 0, 0]], cell=[5] * 3, pbc=True)])
    with pytest.raises(ValueError, match="no 3-D cell"):
        soap_descriptor([Atoms("C2", positions=[[0, 0, 0], [1, 0, 0]])], SMALL)
    with pytest.raises(TypeError, match=r"ase\.Atoms"):
        soap_descriptor([np.zeros((3, 3))], SMALL)
    with pytest.raises(ValueError, match="r_cut"):
        SOAPConfig(r_cut=0.5)
    with pytest.raises(ValueError, match="n_max"):
        SOAPConfig(n_max=0)
    with pytest.raises(TypeError, match="config"):
        soap_descriptor([_box()], {"r_cut": 4.1})


def test_missing_dscribe_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dscribe.descriptors", None)
    with pytest.raises(ImportError, match=r"topophys\[baselines\]"):
        soap_descriptor([_box()], SMALL)
