"""Atomic structures on disk: extended XYZ files and the published amorphous-carbon layout.

Frames are :class:`ase.Atoms`. When ASE reads an extended XYZ file it moves the ``energy``,
``free_energy`` and ``forces`` it finds into a :class:`~ase.calculators.singlepoint.
SinglePointCalculator` attached to the frame (read them with ``atoms.get_potential_energy()``),
and leaves every other key in ``atoms.info`` or ``atoms.arrays``. Readers here therefore take
an explicit ``energy_key`` and look for it in both places, so one loader serves our own
melt-quench output (:mod:`topophys.simulate.amorphous`) and the published DFT set of the
amorphous-carbon papers (Zenodo DOI 10.5281/zenodo.7905585), which uses the keys ``energy``,
``free_energy``, ``forces``, ``density``, ``process``, ``Lattice`` and ``pbc``.

Examples
--------
>>> import tempfile, pathlib
>>> from ase import Atoms
>>> from ase.calculators.singlepoint import SinglePointCalculator
>>> atoms = Atoms("C2", positions=[[0, 0, 0], [1.4, 0, 0]], cell=[4, 4, 4], pbc=True)
>>> atoms.calc = SinglePointCalculator(atoms, energy=-10.0)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "two.xyz"
>>> _ = write_structures([atoms], path)
>>> energies_per_atom(read_structures(path))
array([-5.])
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validate

try:
    import ase
    import ase.io
except ImportError as _err:  # pragma: no cover - depends on the environment
    raise ImportError("topophys.data.structures needs ASE: pip install 'topophys[atoms]'") from _err

__all__ = [
    "PUBLISHED_LAYOUT",
    "STRUCTURE_SUFFIXES",
    "MissingEnergyError",
    "energies_per_atom",
    "frame_energy",
    "is_structure_file",
    "load_published_dataset",
    "read_structures",
    "write_structures",
]

PUBLISHED_LAYOUT: dict[str, str] = {
    "<N>atom_amorphous": "<N>atom_amorphous/*.xyz",
    "<N>atom_crystal": "<N>atom_crystal/*.xyz",
    "train": "dataset_train_test_split/train.xyz",
    "test": "dataset_train_test_split/test.xyz",
}
"""Subsets of the published set and where they lie under its root; ``<N>`` is the number of
atoms per structure (216 and 512 in the published set)."""

_SUBSET_DIR = re.compile(r"^\d+atom_(amorphous|crystal)$")
_SUFFIXES = (".xyz", ".extxyz")
_COMPRESSED = ("", ".gz", ".bz2", ".xz")
STRUCTURE_SUFFIXES = tuple(s + c for s in _SUFFIXES for c in _COMPRESSED)
"""File endings read as extended XYZ: ``.xyz``, ``.extxyz``, each also compressed (``.gz``,
``.bz2``, ``.xz``; ASE decompresses them)."""


def is_structure_file(path: Path) -> bool:
    """Whether ``path`` is a file whose name ends in one of :data:`STRUCTURE_SUFFIXES`."""
    return path.is_file() and path.name.endswith(STRUCTURE_SUFFIXES)


def write_structures(atoms_list: Sequence[ase.Atoms], path: str | Path) -> Path:
    """Write frames to one extended XYZ file, atomically.

    The frames go to ``<path>.tmp`` first and are renamed to ``path`` only once complete, so a
    killed writer never leaves a truncated file under the final name.

    Parameters
    ----------
    atoms_list
        The frames; their ``info``, ``arrays`` and calculator results (``energy``,
        ``free_energy``, ``forces``, in eV and eV/Å) are written.
    path
        Destination file; parent folders are created.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        If an item is not an :class:`ase.Atoms`.
    ValueError
        If ``atoms_list`` is empty.
    """
    frames = _frames("atoms_list", atoms_list)
    if not frames:
        raise ValueError("atoms_list must hold at least one frame, got none")
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, ase.Atoms):
            raise TypeError(f"atoms_list[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
    path = _validate.path("path", path)
    if not path.name or path.name in (".", ".."):
        raise ValueError(f"path must name a file, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ase.io.write(tmp, frames, format="extxyz")
    os.replace(tmp, path)
    return path


def read_structures(
    path_or_dir: str | Path,
    energy_key: str | None = "energy",
    *,
    index: str | int | slice = ":",
) -> list[ase.Atoms]:
    """Read frames from an extended XYZ file, or from every ``*.xyz``/``*.extxyz`` in a folder.

    Parameters
    ----------
    path_or_dir
        A file, or a folder whose extended XYZ files are read in name order (not recursively;
        unfinished ``*.tmp`` files are ignored). Files may be compressed (``.gz``, ``.bz2``,
        ``.xz``; :data:`STRUCTURE_SUFFIXES`).
    energy_key
        Key of the energy label every frame must carry, looked up in the calculator results
        and in ``atoms.info`` (see :func:`frame_energy`). ``None`` accepts unlabelled frames.
    index
        Frames to read from each file, in ASE's syntax (``":"`` all, ``"-1"`` the last, ...).

    Returns
    -------
    list of ase.Atoms
        Each frame's ``info["source"]`` names the file it came from.

    Raises
    ------
    FileNotFoundError
        If the path does not exist or a folder holds no extended XYZ file.
    ValueError
        If a frame lacks ``energy_key``; the message names the file, the frame and the keys
        that are there.
    """
    path = _validate.path("path_or_dir", path_or_dir)
    if energy_key is not None and not isinstance(energy_key, str):
        raise TypeError(f"energy_key must be a string or None, got {type(energy_key).__name__}")
    index = _check_index(index)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if is_structure_file(p))
        if not files:
            raise FileNotFoundError(
                f"no *.xyz or *.extxyz files (plain, .gz, .bz2 or .xz) in folder {path}"
            )
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"path_or_dir {path} does not exist")
    frames: list[ase.Atoms] = []
    for file in files:
        try:
            read = ase.io.read(file, index=index, format="extxyz")
        except (StopIteration, IndexError):  # ASE's way of saying "no such frame"
            raise ValueError(f"index {index!r} selects no frame of {file}") from None
        for i, atoms in enumerate(read if isinstance(read, list) else [read]):
            if energy_key is not None:
                try:
                    frame_energy(atoms, energy_key)
                except KeyError as err:
                    raise ValueError(f"{file}, frame {i}: {err.args[0]}") from None
            atoms.info["source"] = file.name
            frames.append(atoms)
    return frames


class MissingEnergyError(KeyError, ValueError):
    """A frame has no energy under the requested key (a KeyError and a ValueError)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def _frames(name: str, value: Any) -> list[ase.Atoms]:
    """``value`` as a list of ase.Atoms, or an error naming ``name`` and the bad item."""
    if isinstance(value, (str, bytes, ase.Atoms)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of ase.Atoms, got {type(value).__name__}")
    if isinstance(value, np.ndarray) and value.dtype != object:
        raise TypeError(f"{name} must be a sequence of ase.Atoms, got an array")
    frames = list(value)
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, ase.Atoms):
            raise TypeError(f"{name}[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
    return frames


def _check_index(index: Any) -> Any:
    """A frame selection in ASE's syntax: an int, a slice, or a string such as ``":"``."""
    from ase.io.formats import string2index

    if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer, slice, str)):
        raise TypeError(f"index must be an int, a slice or a string like ':', got {index!r:.60}")
    if isinstance(index, str):
        try:
            if not isinstance(string2index(index), (int, slice)):
                raise ValueError
        except (ValueError, TypeError, IndexError):
            raise ValueError(
                f"index {index!r} is not a frame selection like ':', '-1' or '0:10'"
            ) from None
    return index


def frame_energy(atoms: ase.Atoms, energy_key: str = "energy") -> float:
    """The energy label of one frame (eV, total), wherever ASE put it.

    Looks first in the attached calculator's results (where ASE's extended XYZ reader moves
    ``energy`` and ``free_energy``), then in ``atoms.info`` (any other key, e.g.
    ``"dft_energy"``).

    Raises
    ------
    MissingEnergyError
        If neither place holds ``energy_key`` (a KeyError and a ValueError); the message
        lists the keys that are there.
    ValueError
        If the value is not a finite number.
    """
    if not isinstance(atoms, ase.Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    if not isinstance(energy_key, str):
        raise TypeError(f"energy_key must be a string, got {type(energy_key).__name__}")
    results = getattr(atoms.calc, "results", None) or {}
    if energy_key in results:
        value = results[energy_key]
    elif energy_key in atoms.info:
        value = atoms.info[energy_key]
    else:
        present = sorted(set(results) | set(atoms.info))
        raise MissingEnergyError(
            f"no energy under energy_key={energy_key!r}; the frame holds "
            f"{', '.join(map(repr, present)) or 'no keys'}"
        )
    try:
        energy = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise ValueError(
            f"energy_key={energy_key!r} holds {value!r}, expected one number"
        ) from None
    if not np.isfinite(energy):
        raise ValueError(f"energy_key={energy_key!r} holds a non-finite energy {energy}")
    return energy


def energies_per_atom(atoms_list: Iterable[ase.Atoms], energy_key: str = "energy") -> np.ndarray:
    """Energy per atom of each frame: ``(n_frames,)`` float64, eV/atom.

    Raises
    ------
    ValueError
        If a frame has no energy under ``energy_key`` or no atoms; the message names the frame.
    """
    out = []
    for i, atoms in enumerate(_frames("atoms_list", atoms_list)):
        if len(atoms) == 0:
            raise ValueError(f"atoms_list[{i}] has no atoms")
        try:
            out.append(frame_energy(atoms, energy_key) / len(atoms))
        except (KeyError, ValueError) as err:
            raise ValueError(f"atoms_list[{i}]: {err.args[0]}") from None
    return np.asarray(out, dtype=np.float64)


def load_published_dataset(
    root: str | Path, energy_key: str = "energy"
) -> dict[str, list[ase.Atoms]]:
    """Read the amorphous-carbon set laid out as published (or as our generator writes it).

    The layout (see :data:`PUBLISHED_LAYOUT`)::

        root/216atom_amorphous/*.xyz      melt-quench frames, 216 atoms (any ending of
                                      STRUCTURE_SUFFIXES: .extxyz, .xyz.gz, ...)
        root/216atom_crystal/*.xyz        diamond frames, 216 atoms
        root/512atom_amorphous/*.xyz      melt-quench frames, 512 atoms (size transfer)
        root/dataset_train_test_split/train.xyz, test.xyz

    Any ``<N>atom_amorphous`` or ``<N>atom_crystal`` folder is read, so the small sets of tests
    load the same way.

    Parameters
    ----------
    root
        Folder holding some of these subsets (e.g. the unpacked Zenodo archive, or the output
        folder of :func:`topophys.simulate.amorphous.run_melt_quench`).
    energy_key
        Energy label every frame must carry (see :func:`read_structures`).

    Returns
    -------
    dict of str to list of ase.Atoms
        The subsets found, keyed by folder name (``"216atom_amorphous"``, ...) and ``"train"``,
        ``"test"``; frames of a folder's files in file-name order.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder or holds none of the subsets.
    """
    root = _validate.path("root", root)
    if not isinstance(energy_key, str):
        raise TypeError(f"energy_key must be a string, got {type(energy_key).__name__}")
    if not root.is_dir():
        raise FileNotFoundError(f"root {root} is not a folder")
    out: dict[str, list[ase.Atoms]] = {}
    subsets = sorted(d for d in root.iterdir() if d.is_dir() and _SUBSET_DIR.match(d.name))
    for folder in subsets:
        files = sorted(p for p in folder.iterdir() if is_structure_file(p))
        if files:
            out[folder.name] = [a for f in files for a in read_structures(f, energy_key)]
    for name in ("train", "test"):
        split_dir = root / "dataset_train_test_split"
        found = [split_dir / f"{name}{end}" for end in STRUCTURE_SUFFIXES]
        file = next((f for f in found if f.is_file()), None)
        if file is not None:
            out[name] = read_structures(file, energy_key)
    if not out:
        expected = ", ".join(PUBLISHED_LAYOUT.values())
        raise FileNotFoundError(f"{root} holds none of the published subsets; expected {expected}")
    return out
