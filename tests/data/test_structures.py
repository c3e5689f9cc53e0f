"""Extended XYZ round trips, energy lookup in both of ASE's places, the published layout."""

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from topophys.data import structures
from topophys.data.structures import (
    energies_per_atom,
    frame_energy,
    load_published_dataset,
    read_structures,
    write_structures,
)


def _frames(n_frames=3, n_atoms=5, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        cell = np.diag(rng.uniform(5.0, 7.0, 3))
        atoms = Atoms(f"C{n_atoms}", positions=rng.uniform(0, 5, (n_atoms, 3)), cell=cell, pbc=True)
        energy = -7.0 * n_atoms + rng.normal()
        atoms.calc = SinglePointCalculator(
            atoms, energy=energy, free_energy=energy - 0.01, forces=rng.normal(size=(n_atoms, 3))
        )
        atoms.info.update(density=2.0 + 0.1 * k, process=["melt", "cool", "quench"][k % 3], run=k)
        frames.append(atoms)
    return frames


def test_round_trip_keeps_positions_cell_labels_and_info(tmp_path):
    frames = _frames()
    path = write_structures(frames, tmp_path / "sub" / "run.xyz")
    assert path == tmp_path / "sub" / "run.xyz"
    assert [p.name for p in path.parent.iterdir()] == ["run.xyz"]  # no temporary file left
    back = read_structures(path)
    assert len(back) == len(frames)
    for ours, theirs in zip(frames, back, strict=True):
        np.testing.assert_allclose(theirs.positions, ours.positions, atol=1e-7)
        np.testing.assert_allclose(theirs.cell[:], ours.cell[:], atol=1e-7)
        assert theirs.pbc.all()
        assert theirs.get_potential_energy() == pytest.approx(ours.get_potential_energy(), abs=1e-8)
        assert frame_energy(theirs, "free_energy") == pytest.approx(
            ours.get_potential_energy() - 0.01, abs=1e-8
        )
        np.testing.assert_allclose(theirs.get_forces(), ours.get_forces(), atol=1e-7)
        for key in ("density", "process", "run"):
            assert theirs.info[key] == ours.info[key]
        assert theirs.info["source"] == "run.xyz"
    np.testing.assert_allclose(
        energies_per_atom(back), [a.get_potential_energy() / 5 for a in frames], atol=1e-9
    )


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run.xyz"
    write_structures(_frames(1), path)
    before = path.read_bytes()

    def dies_halfway(file, images, format=None):
        with open(file, "w") as fd:
            fd.write("5\npartial")
        raise KeyboardInterrupt

    monkeypatch.setattr(structures.ase.io, "write", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        write_structures(_frames(2, seed=1), path)
    assert path.read_bytes() == before  # the finished file is untouched


def test_folder_read_in_name_order_ignores_temporary_files(tmp_path):
    a, b = _frames(2, seed=1), _frames(1, seed=2)
    write_structures(b, tmp_path / "b.xyz")
    write_structures(a, tmp_path / "a.xyz")
    (tmp_path / "c.xyz.tmp").write_text("garbage that is not extxyz")
    (tmp_path / "notes.txt").write_text("ignored")
    back = read_structures(tmp_path)
    assert [f.info["source"] for f in back] == ["a.xyz", "a.xyz", "b.xyz"]
    np.testing.assert_allclose(energies_per_atom(back), energies_per_atom([*a, *b]), atol=1e-9)
    assert len(read_structures(tmp_path / "a.xyz", index="-1")) == 1


def test_energy_key_is_found_in_info_too(tmp_path):
    atoms = Atoms("C3", positions=np.eye(3), cell=[4, 4, 4], pbc=True)
    atoms.info["dft_energy"] = -21.0
    ase.io.write(tmp_path / "x.xyz", [atoms], format="extxyz")
    (back,) = read_structures(tmp_path / "x.xyz", energy_key="dft_energy")
    assert back.calc is None  # ASE keeps unknown keys in info
    np.testing.assert_allclose(energies_per_atom([back], "dft_energy"), [-7.0])


def test_missing_energy_is_a_clear_error(tmp_path):
    atoms = Atoms("C2", positions=[[0, 0, 0], [1, 1, 1]], cell=[4, 4, 4], pbc=True)
    atoms.info["density"] = 2.0
    ase.io.write(tmp_path / "bare.xyz", [atoms], format="extxyz")
    with pytest.raises(
        ValueError, match=r"bare\.xyz, frame 0: no energy under energy_key='energy'.*'density'"
    ):
        read_structures(tmp_path / "bare.xyz")
    (unlabelled,) = read_structures(tmp_path / "bare.xyz", energy_key=None)
    with pytest.raises(ValueError, match=r"atoms_list\[0\]: no energy"):
        energies_per_atom([unlabelled])
    unlabelled.info["energy"] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        frame_energy(unlabelled)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="at least one frame"):
        write_structures([], tmp_path / "x.xyz")
    with pytest.raises(TypeError, match=r"atoms_list\[1\] must be an ase.Atoms"):
        write_structures([*_frames(1), "C"], tmp_path / "x.xyz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_structures(tmp_path / "missing.xyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \*\.xyz"):
        read_structures(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="none of the published subsets"):
        load_published_dataset(tmp_path / "empty")


def _published_frame(n_atoms, energy, density, process, rng):
    """One frame as text, written by hand in the published set's key layout (not by ASE)."""
    length = 6.0
    lines = [
        str(n_atoms),
        f'Lattice="{length} 0.0 0.0 0.0 {length} 0.0 0.0 0.0 {length}" '
        "Properties=species:S:1:pos:R:3:forces:R:3 "
        f"energy={energy} free_energy={energy - 0.002} density={density} "
        f'process={process} pbc="T T T"',
    ]
    forces = []
    for _ in range(n_atoms):
        x, f = rng.uniform(0, length, 3), rng.normal(size=3)
        forces.append(f)
        lines.append("C " + " ".join(f"{v:.8f}" for v in (*x, *f)))
    return "\n".join(lines) + "\n", np.array(forces)


def test_load_published_layout(tmp_path):
    rng = np.random.default_rng(3)
    layout = {
        "216atom_amorphous/density2.0_run0.xyz": [
            (4, -30.0, 2.0, "melt"),
            (4, -31.0, 2.0, "quench"),
        ],
        "216atom_amorphous/density3.0_run0.xyz": [(4, -32.0, 3.0, "anneal")],
        "216atom_crystal/diamond.xyz": [(4, -36.0, 3.5, "diamond")],
        "512atom_amorphous/density2.0.xyz": [(6, -45.0, 2.0, "quench")],
        "dataset_train_test_split/train.xyz": [(4, -28.0, 2.4, "cool")] * 3,
        "dataset_train_test_split/test.xyz": [(4, -29.0, 2.6, "cool")],
    }
    expected_forces = {}
    for name, rows in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        texts = [_published_frame(*row, rng) for row in rows]
        path.write_text("".join(t for t, _ in texts))
        expected_forces[name] = [f for _, f in texts]
    (tmp_path / "README.md").write_text("not a subset")

    data = load_published_dataset(tmp_path)
    assert set(data) == {
        "216atom_amorphous",
        "216atom_crystal",
        "512atom_amorphous",
        "train",
        "test",
    }
    amorphous = data["216atom_amorphous"]
    np.testing.assert_allclose(energies_per_atom(amorphous), [-7.5, -7.75, -8.0])
    assert [a.info["process"] for a in amorphous] == ["melt", "quench", "anneal"]
    assert [a.info["density"] for a in amorphous] == [2.0, 2.0, 3.0]
    assert amorphous[0].pbc.all()
    np.testing.assert_allclose(amorphous[0].cell.lengths(), [6.0, 6.0, 6.0])
    np.testing.assert_allclose(
        amorphous[1].get_forces(),
        expected_forces["216atom_amorphous/density2.0_run0.xyz"][1],
        atol=1e-8,
    )
    np.testing.assert_allclose(energies_per_atom(data["512atom_amorphous"]), [-7.5])
    np.testing.assert_allclose(
        energies_per_atom(data["216atom_crystal"], "free_energy"), [(-36.0 - 0.002) / 4]
    )
    assert len(data["train"]) == 3 and len(data["test"]) == 1


@pytest.mark.parametrize("ending", [".extxyz", ".xyz.gz", ".extxyz.bz2", ".xyz.xz"])
def test_extxyz_and_compressed_files_load_alone_in_folders_and_published_layouts(tmp_path, ending):
    import bz2
    import gzip
    import lzma
    import shutil

    frames = _frames()
    plain = write_structures(frames, tmp_path / "plain.xyz")
    root = tmp_path / "root"
    target = root / "216atom_amorphous" / f"rho2.000_run000{ending}"
    target.parent.mkdir(parents=True)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(target.suffix, open)
    with open(plain, "rb") as src, opener(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    for read in (read_structures(target), read_structures(target.parent)):
        assert len(read) == 3 and read[0].info["source"] == target.name
        np.testing.assert_allclose(energies_per_atom(read), energies_per_atom(frames))
    assert len(load_published_dataset(root)["216atom_amorphous"]) == 3
