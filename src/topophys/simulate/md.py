"""Molecular dynamics for judging a potential: NVE with ASE or LAMMPS, NVT sampling with LAMMPS.

- :func:`nve`: velocity Verlet (ASE's ``VelocityVerlet``) with any ASE calculator, e.g. the
  atom-centred persistence potential's
  (:meth:`topophys.models.local_ph.LocalPHPotential.calculator`).
- :func:`lammps_nve`: the same run with a LAMMPS potential (``fix nve``), from the same
  positions and velocities: the reference trajectory and the reference cost per step.
- :func:`lammps_nvt_frames`: labelled frames (energy, forces) sampled from a Nosé–Hoover run
  at a fixed temperature, for training sets near the conditions of the MD.

Both NVE drivers return an :class:`NVEResult`; :mod:`topophys.evaluate.md` turns it into the
energy drift and the structure (radial distribution, sp/sp²/sp³ fractions).
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ase
import numpy as np
import numpy.typing as npt
from ase import units

from .. import _validate
from ._lammps import LammpsBox, Stage, run_stages

__all__ = ["NVEResult", "lammps_nve", "lammps_nvt_frames", "maxwell_boltzmann", "nve"]


@dataclass
class NVEResult:
    """Energies along an NVE run and snapshots of it.

    Attributes
    ----------
    time_ps : numpy.ndarray, shape (k,)
        Times of the records, ps (the first is the start).
    potential, kinetic : numpy.ndarray, shape (k,)
        Energies, eV (total over the atoms).
    frames : list of ase.Atoms
        Snapshots at the records (positions wrapped, no calculator).
    n_atoms : int
    seconds_per_step : float
        Wall time of the run divided by its steps (the force calls included).
    engine : str
        ``"ase"`` or ``"lammps"``.
    info : dict
        What else the driver reports.
    """

    time_ps: np.ndarray
    potential: np.ndarray
    kinetic: np.ndarray
    frames: list[Any]
    n_atoms: int
    seconds_per_step: float
    engine: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> np.ndarray:
        """Total energy ``(k,)``, eV."""
        return self.potential + self.kinetic

    @property
    def temperature(self) -> np.ndarray:
        """Kinetic temperature ``(k,)``, K (3N − 3 degrees of freedom: momentum conserved)."""
        return 2.0 * self.kinetic / ((3 * self.n_atoms - 3) * units.kB)


def maxwell_boltzmann(atoms: ase.Atoms, temperature_K: float, seed: int) -> np.ndarray:
    """Velocities ``(n, 3)`` in ASE units at ``temperature_K``, zero total momentum, scaled to
    the exact kinetic temperature (3N − 3 degrees of freedom)."""
    _validate.positive("temperature_K", temperature_K)
    masses = atoms.get_masses()
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((len(atoms), 3)) * np.sqrt(masses * units.kB * temperature_K)[:, None]
    p -= p.sum(0) / len(atoms)
    v = p / masses[:, None]
    kinetic = 0.5 * np.sum(masses[:, None] * v * v)
    target = 0.5 * (3 * len(atoms) - 3) * units.kB * temperature_K
    return v * np.sqrt(target / kinetic)


def _check_run(atoms: Any, steps: int, timestep_fs: float, interval: int) -> None:
    if not isinstance(atoms, ase.Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    _validate.positive_int("steps", steps)
    _validate.positive("timestep_fs", timestep_fs)
    _validate.positive_int("interval", interval)


def nve(
    atoms: ase.Atoms,
    calculator: Any,
    steps: int,
    *,
    timestep_fs: float = 1.0,
    velocities: np.ndarray | None = None,
    interval: int = 10,
    progress: bool | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_every: int = 100,
    checkpoint_tag: str = "",
) -> NVEResult:
    """Velocity-Verlet NVE with an ASE calculator.

    Parameters
    ----------
    atoms : ase.Atoms
        Start; not modified.
    calculator : ase Calculator
        Gives energy and forces.
    steps : int
        MD steps.
    timestep_fs : float
        fs.
    velocities : array, shape (n, 3), optional
        In ASE units (``atoms.get_velocities()``); default the atoms' own.
    interval : int
        Steps between records (energies and a snapshot).
    progress : bool or None
        A progress bar over the steps, with the temperature and the total energy per atom
        (eV) at the last record; ``None`` shows it on a terminal only.
    checkpoint : path, optional
        A ``.npz`` file the run's state (positions, momenta, records) is written to,
        atomically, every ``checkpoint_every`` steps and at the end. If it exists, the run
        resumes from it, continuing the same trajectory bit for bit (the momenta are stored,
        not the velocities); a run of more steps from the same start extends it. A file of
        another run (atoms, cell, start, time step, interval) is refused.
    checkpoint_every : int
        Steps between checkpoints; with a ``checkpoint``, a multiple of ``interval``.
    checkpoint_tag : str
        What else the trajectory depends on that the atoms do not show, e.g. a hash of the
        potential's weights; a checkpoint with another tag is refused.

    Returns
    -------
    NVEResult
        ``seconds_per_step`` over the steps this call and earlier ones of the checkpoint ran.

    Raises
    ------
    ValueError
        A bad argument, or a checkpoint of another run or of more steps than ``steps``.
    """
    from ase.md.verlet import VelocityVerlet
    from tqdm.auto import tqdm

    _check_run(atoms, steps, timestep_fs, interval)
    _validate.positive_int("checkpoint_every", checkpoint_every)
    if checkpoint is not None and checkpoint_every % interval:
        raise ValueError(
            f"checkpoint_every must be a multiple of interval={interval}, got {checkpoint_every}"
        )
    run = atoms.copy()
    if velocities is not None:
        run.set_velocities(_velocities(atoms, velocities))
    run.calc = calculator
    start_state = _RunStart(run, timestep_fs, interval, checkpoint_tag)
    records: list[tuple[float, float, float]] = []
    frames: list[Any] = []
    dyn = VelocityVerlet(run, timestep=timestep_fs * units.fs)

    def record() -> None:
        records.append(
            (
                dyn.get_time() / (1000.0 * units.fs),
                run.get_potential_energy(),
                run.get_kinetic_energy(),
            )
        )
        frames.append(_snapshot(run, run.positions))

    done, seconds = 0, 0.0
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        done, seconds = start_state.resume(path, steps, run, dyn, records, frames)
    else:
        record()

    def save() -> None:
        if path is not None:
            start_state.save(path, done, run, records, frames, seconds)

    disable = None if progress is None else not progress
    with tqdm(total=steps, initial=done, desc="NVE", unit="step", disable=disable) as bar:
        while done < steps:
            n = min(interval - done % interval, steps - done)
            began = time.perf_counter()
            dyn.run(n)
            seconds += time.perf_counter() - began
            done += n
            bar.update(n)
            if done % interval == 0:
                record()
                _, e_pot, e_kin = records[-1]
                kelvin = 2.0 * e_kin / ((3 * len(run) - 3) * units.kB)  # as NVEResult
                per_atom = (e_pot + e_kin) / len(run)
                bar.set_postfix(T=f"{kelvin:.0f} K", E=f"{per_atom:.5f} eV/atom")
            if done % checkpoint_every == 0 or done == steps:
                save()
    t, pot, kin = (np.array(c) for c in zip(*records, strict=True))
    return NVEResult(t, pot, kin, frames, len(run), seconds / steps, "ase")


def _snapshot(run: ase.Atoms, positions: np.ndarray) -> ase.Atoms:
    snap = ase.Atoms(run.get_chemical_symbols(), positions=positions, cell=run.cell, pbc=run.pbc)
    snap.wrap()
    return snap


class _RunStart:
    """What identifies an NVE run in its checkpoint: atoms, cell, start, integration, tag."""

    def __init__(self, run: ase.Atoms, timestep_fs: float, interval: int, tag: str) -> None:
        self.arrays = {
            "numbers": run.numbers.astype(np.int64),
            "cell": np.asarray(run.cell[:], dtype=np.float64),
            "pbc": np.asarray(run.pbc, dtype=bool),
            "start_positions": run.get_positions(),
            "start_momenta": run.get_momenta(),
            "integration": np.array([timestep_fs, interval], dtype=np.float64),
            "tag": np.array(tag),
        }

    def save(
        self,
        path: Path,
        done: int,
        run: ase.Atoms,
        records: list[tuple[float, float, float]],
        frames: list[Any],
        seconds: float,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(
            tmp,
            allow_pickle=False,
            **self.arrays,
            step=np.array(done),
            seconds=np.array(seconds),
            positions=run.get_positions(),
            momenta=run.get_momenta(),
            records=np.array(records, dtype=np.float64),
            # Snapshots unwrapped as recorded would differ only by lattice vectors; wrapped
            # ones are what the result holds.
            frames=np.array([f.positions for f in frames], dtype=np.float64),
        )
        os.replace(tmp, path)

    def resume(
        self,
        path: Path,
        steps: int,
        run: ase.Atoms,
        dyn: Any,
        records: list[tuple[float, float, float]],
        frames: list[Any],
    ) -> tuple[int, float]:
        with np.load(path, allow_pickle=False) as saved:
            for key, value in self.arrays.items():
                if key not in saved or not np.array_equal(saved[key], value):
                    raise ValueError(
                        f"checkpoint {path} holds another run (its {key} differs from this "
                        "one's); delete it or pass another path"
                    )
            done = int(saved["step"])
            if done > steps:
                raise ValueError(
                    f"checkpoint {path} has run {done} steps, more than steps={steps}; "
                    "ask for at least as many, or pass another path"
                )
            run.set_positions(saved["positions"])
            run.set_momenta(saved["momenta"], apply_constraint=False)
            records.extend((float(t), float(pot), float(kin)) for t, pot, kin in saved["records"])
            frames.extend(_snapshot(run, p) for p in saved["frames"])
            seconds = float(saved["seconds"])
        dyn.nsteps = done
        return done, seconds


def lammps_nve(
    atoms: ase.Atoms,
    steps: int,
    *,
    potential: str = "tersoff",
    timestep_fs: float = 1.0,
    velocities: np.ndarray | None = None,
    interval: int = 10,
) -> NVEResult:
    """The same NVE run as :func:`nve`, with a LAMMPS potential (``fix nve``, velocity Verlet).

    ``seconds_per_step`` is the time of the runs between records (LAMMPS's own integration
    and force calls), without the records themselves. Needs the ``md`` extra.
    """
    _check_run(atoms, steps, timestep_fs, interval)
    velocities = atoms.get_velocities() if velocities is None else _velocities(atoms, velocities)
    box = LammpsBox(atoms, potential)
    lmp = box.lmp
    records: list[tuple[float, float, float]] = []
    frames: list[Any] = []
    seconds = 0.0
    try:
        # ASE velocities are Å per ASE time unit; LAMMPS metal units are Å/ps.
        v = (velocities * (1000.0 * units.fs)) @ box.rotation
        flat = np.ascontiguousarray(v).ravel()
        lmp.scatter_atoms("v", 1, 3, (ctypes.c_double * flat.size)(*flat))
        lmp.commands_string(f"timestep {timestep_fs / 1000.0!r}\nfix integrate all nve")
        lmp.command("run 0")
        done = 0
        while True:
            positions, energy, _ = box.frame()
            kinetic = float(lmp.get_thermo("ke"))
            records.append((done * timestep_fs / 1000.0, energy, kinetic))
            snap = ase.Atoms(
                atoms.get_chemical_symbols(), positions=positions, cell=box.cell, pbc=True
            )
            snap.wrap()
            frames.append(snap)
            if done >= steps:
                break
            chunk = min(interval, steps - done)
            start = time.perf_counter()
            lmp.command(f"run {chunk} pre no post no")
            seconds += time.perf_counter() - start
            done += chunk
    finally:
        box.close()
    t, pot, kin = (np.array(c) for c in zip(*records, strict=True))
    return NVEResult(
        t, pot, kin, frames, len(atoms), seconds / steps, "lammps", {"potential": potential}
    )


def lammps_nvt_frames(
    atoms: ase.Atoms,
    temperature_K: float,
    steps: int,
    snapshots: int,
    *,
    potential: str = "tersoff",
    timestep_fs: float = 1.0,
    damping_fs: float = 100.0,
    seed: int = 1,
    info: dict[str, Any] | None = None,
) -> list[ase.Atoms]:
    """Labelled frames (energy, forces, ``info``) from a Nosé–Hoover run at ``temperature_K``.

    Velocities start from a Gaussian at ``temperature_K`` (LAMMPS ``velocity create`` with
    ``seed`` ≥ 1); ``snapshots`` frames evenly spaced, the last on the last step; ``info``
    gets ``process = "nvt"``, ``temperature`` and ``step``.
    """
    _validate.positive("temperature_K", temperature_K)
    _validate.positive_int("steps", steps)
    _validate.positive_int("snapshots", snapshots)
    _validate.positive_int("seed", seed)
    if snapshots > steps:
        raise ValueError(f"snapshots ({snapshots}) cannot exceed steps ({steps})")
    box = LammpsBox(atoms, potential)
    try:
        box.lmp.commands_string(
            f"timestep {timestep_fs / 1000.0!r}\n"
            f"velocity all create {temperature_K!r} {seed} mom yes rot no dist gaussian "
            "loop geom"
        )
        stage = Stage("nvt", temperature_K, temperature_K, steps, snapshots)
        meta = {**(info or {}), "temperature": temperature_K, "potential": potential}
        return run_stages(box, [stage], damping_fs / 1000.0, meta)
    finally:
        box.close()


def _velocities(atoms: ase.Atoms, velocities: npt.ArrayLike) -> np.ndarray:
    """``velocities`` as an ``(n, 3)`` float array matching ``atoms``, or a ValueError."""
    v = np.asarray(velocities, dtype=np.float64)
    if v.shape != (len(atoms), 3) or not np.isfinite(v).all():
        raise ValueError(f"velocities must be finite with shape ({len(atoms)}, 3), got {v.shape}")
    return v
