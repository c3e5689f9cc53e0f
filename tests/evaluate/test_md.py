"""MD metrics: drift of a known line, g(r) of crystals, sp/sp²/sp³ shares."""

import numpy as np
import pytest
from ase.build import bulk, graphene

from topophys.evaluate.md import coordination_fractions, energy_drift, radial_distribution


def test_energy_drift_recovers_a_line_and_its_noise():
    t = np.linspace(0.0, 10.0, 101)
    noise = 0.01 * np.sin(37.0 * t)
    out = energy_drift(t, -500.0 + 0.2 * t + noise, 100)
    assert out["drift_meV_per_atom_per_ps"] == pytest.approx(2.0, abs=1e-3)
    assert out["fluctuation_meV_per_atom"] == pytest.approx(
        1000 * 0.01 / 100 / np.sqrt(2), rel=0.05
    )
    assert out["duration_ps"] == 10.0
    with pytest.raises(ValueError, match="k ≥ 2"):
        energy_drift([0.0], [1.0], 10)
    with pytest.raises(ValueError, match="finite"):
        energy_drift([0.0, 1.0], [1.0, np.nan], 10)


def test_radial_distribution_of_diamond_peaks_at_the_bond_length():
    diamond = bulk("C", "diamond", a=3.567, cubic=True).repeat(3)
    diamond.rattle(0.02, seed=0)
    r, g = radial_distribution([diamond], r_max=4.0, bins=80)
    first = r < 1.85
    assert abs(r[first][np.argmax(g[first])] - 3.567 * np.sqrt(3) / 4) < 0.06
    assert g[r < 1.2].sum() == 0.0
    # Integrated over the first shell, g gives the four neighbours of diamond.
    density = len(diamond) / diamond.get_volume()
    assert np.sum(4 * np.pi * r[first] ** 2 * density * g[first] * (r[1] - r[0])) == pytest.approx(
        4.0, rel=0.05
    )
    with pytest.raises(ValueError, match="frames"):
        radial_distribution([])


def test_coordination_fractions_of_diamond_and_graphene():
    assert coordination_fractions([bulk("C", "diamond", a=3.567, cubic=True)])["sp3"] == 1.0
    sheet = graphene(vacuum=5.0)
    sheet.pbc = True
    shares = coordination_fractions([sheet.repeat((3, 3, 1))])
    assert shares["sp2"] == 1.0 and abs(shares["other"]) < 1e-12
    with pytest.raises(ValueError, match="cutoff"):
        coordination_fractions([sheet], cutoff=-1.0)
