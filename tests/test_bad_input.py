"""Bad input at every public entry point of homology, diagrams, vectorize, simulate, observables
and data: each call gives a finite, well-formed result or a ValueError/TypeError whose message
names the argument, within a time bound. Never a hang, a NaN, another exception or a crash.

Each entry point has a small valid call; hypothesis replaces one argument with a value from a
mix of generic bad values (None, strings, NaN, inf, huge numbers, complex, wrong shapes and
dtypes) and mutations of the valid value (one NaN, a huge scale, a complex cast, another shape).
A missing path may also raise FileNotFoundError (an OSError, as ``open`` does), and an index
out of range IndexError, as for any sequence; an error about a path may name it by its value.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import math
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Seconds a single call may take (a bad input must be refused long before).
CALL_SECONDS = 10.0
#: Examples per entry point. The default run is derandomized (the same examples every time,
#: so the suite cannot fail by chance); TOPOPHYS_FUZZ=N draws N fresh ones per entry point.
FUZZ = int(os.environ.get("TOPOPHYS_FUZZ", "0"))
EXAMPLES = FUZZ or 12


class CallTimeout(BaseException):
    """A call ran past its bound (BaseException: library code must not swallow it)."""


@contextlib.contextmanager
def time_bound(seconds: float) -> Iterator[None]:
    """Raise CallTimeout in Python code after ``seconds``; a call stuck in C code past three
    times that kills the process with a traceback instead of hanging the suite."""

    def alarm(signum: int, frame: Any) -> None:
        raise CallTimeout(f"call ran past {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    faulthandler.dump_traceback_later(3 * seconds, exit=True)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


# --------------------------------------------------------------------------------------------
# bad values

_SPECIAL = [
    None, "", "nonsense", b"\x00", True, False, 0, -1, 1, 7, 2**63, -(2**63), 10**30,
    0.0, -1.0, 1e-320, 1e308, -1e308, math.nan, math.inf, -math.inf, 1j, 1 + 1j, [], [[]], (),
    {}, object(), np.float32("nan"), np.array(math.nan), np.array([]), np.zeros((0, 0)),
    np.full(3, math.nan), np.array([1 + 1j, 2]), np.array(["a", "b"]), np.ones((2, 3, 4, 5)),
    np.array([[1e308, -1e308, 1e308]]), [1, "a"], [[1, 2], [3]],
]  # fmt: skip

_ELEMENTS = {
    np.dtype(np.float64): st.floats(allow_nan=True, allow_infinity=True),
    np.dtype(np.float32): st.floats(allow_nan=True, allow_infinity=True, width=32),
    np.dtype(np.int64): st.integers(-(2**62), 2**62),
    np.dtype(np.complex128): st.complex_numbers(max_magnitude=1e300),
    np.dtype(np.bool_): st.booleans(),
}


@st.composite
def _array(draw: Any) -> np.ndarray:
    dtype = draw(st.sampled_from(list(_ELEMENTS)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5))
    return draw(hnp.arrays(dtype, shape, elements=_ELEMENTS[dtype]))


def _mutations(value: Any) -> st.SearchStrategy:
    """Near-valid variants of a valid value: they probe the checks beyond the type."""
    options: list[Any] = []
    if isinstance(value, bool):
        return st.sampled_from([not value, "yes", 2])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        options += [-value, value * 10**6, value * 1e300, -abs(value) - 1, value + 0.5j]
        options += [math.nan, float(value) + 0.5, 0]
    if isinstance(value, np.ndarray) and value.dtype != object and value.size:
        with np.errstate(all="ignore"):
            nan = value.astype(np.float64).copy()
            nan.flat[value.size // 2] = math.nan
            options += [nan, value.astype(np.float64) * 1e300, value.astype(np.complex128) + 1j]
            options += [value.reshape(-1), value[..., :1], value[None], value.T.copy()]
            options += [value.astype(np.int64), value[:0], -value.astype(np.float64)]
    if isinstance(value, (tuple, list)) and value:
        options += [list(value)[:1], [*value, value[0]], [math.nan] * len(value), [], value[::-1]]
        options += [[str(v) for v in value], [[v] for v in value]]
    if isinstance(value, str):
        options += [value.upper(), value + "x", " " + value, value[:1]]
    if isinstance(value, Path):
        options += [value / "missing", value.parent / "nothing-here.zarr", Path("/proc/x.zarr")]
    if isinstance(value, torch.Tensor) and value.numel():
        options += [value * math.nan, value.to(torch.complex128), value.reshape(-1), value[..., :1]]
    return st.sampled_from(options) if options else st.nothing()


def _bad(value: Any) -> st.SearchStrategy:
    generic = [st.sampled_from(_SPECIAL), _array(), st.floats(), st.text(max_size=4)]
    return st.one_of(_mutations(value), *generic)


# --------------------------------------------------------------------------------------------
# checking a result


def _well_formed(value: Any, allow_inf: bool, seen: int = 0, nan_ok: tuple[str, ...] = ()) -> None:
    """Every number in ``value`` is finite (+inf allowed where ``allow_inf``), nothing NaN
    (except in the documented fields ``nan_ok``, e.g. T_init = NaN: no nucleation)."""
    from topophys.diagrams import Diagrams

    if seen > 4 or value is None or isinstance(value, (str, bytes, Path, bool)):
        return
    if isinstance(value, Diagrams):
        assert not np.isnan(value.data).any()
        assert np.isfinite(value.data[:, :2]).all()
        return
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, np.generic, float, int, complex)):
        arr = np.asarray(value)
        if arr.dtype.kind in "fc":
            assert not np.isnan(arr).any(), "NaN in the result"
            if not allow_inf:
                assert np.isfinite(arr).all(), "inf in the result"
        return
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            if f.name not in nan_ok:
                _well_formed(getattr(value, f.name), allow_inf, seen + 1)
        return
    if isinstance(value, dict):
        for v in value.values():
            _well_formed(v, allow_inf, seen + 1)
        return
    if isinstance(value, (list, tuple)):
        for v in value[:50]:
            _well_formed(v, allow_inf, seen + 1)


# --------------------------------------------------------------------------------------------
# the entry points


@dataclasses.dataclass
class Entry:
    name: str
    call: Callable[..., Any]
    args: Callable[[Path], dict[str, Any]]  # the valid call's arguments (may use a directory)
    allow_inf: bool = False  # essential classes have death = +inf
    examples: int = EXAMPLES
    # Arguments not corrupted: a valid worker count starts that many processes (seconds each);
    # worker counts are checked in test_reliability_cases.py.
    skip: tuple[str, ...] = ()
    index_args: tuple[str, ...] = ()  # out of range: IndexError, as for any sequence
    path_args: tuple[str, ...] = ()  # besides Path values: may name a missing file or group
    nan_ok: tuple[str, ...] = ()  # result fields where NaN is documented


def _fields(n=2, size=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, size, size))


def _diagrams():
    return [
        np.array([[0, 0.0, 0.5], [0, 0.1, np.inf], [1, 0.2, 0.6]]),
        np.array([[1, 0.3, 0.9], [0, 0.0, 0.2]]),
    ]


def _si():
    from ase.build import bulk

    atoms = bulk("Si", cubic=True).repeat(2)
    atoms.rattle(0.02, seed=0)
    return atoms


def _tdgl_config(**kw):
    from topophys.simulate.tdgl import TDGLConfig

    return TDGLConfig(**{"size": 8, "dt": 0.5, "t_end": 2.0, "n_snapshots": 3, **kw})


def _xy_config(**kw):
    from topophys.simulate.xy import XYConfig

    base = {"L": 4, "samples": 8, "n_replicas": 2, "equilibration_sweeps": 2,
            "decorrelation_sweeps": 1}  # fmt: skip
    return XYConfig(**{**base, **kw})


def _field_store(tmp: Path) -> Path:
    from topophys.data import FieldStore

    path = tmp / "f.zarr"
    if not path.exists():
        store = FieldStore.create(
            path, alpha=[1.0, 2.0], seed=[0, 1], t=np.arange(2.0), h=np.zeros(2), shape=(6, 6)
        )
        store.write_runs([0, 1], np.random.default_rng(0).random((2, 2, 6, 6)), np.zeros(2))
    return path


def _atoms_file(tmp: Path) -> Path:
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    path = tmp / "s.extxyz"
    if not path.exists():
        atoms = _si()
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0)
        ase.io.write(path, [atoms])
    return path


def _entries() -> list[Entry]:
    from topophys import diagrams as dg
    from topophys import homology as ho
    from topophys import vectorize as ve
    from topophys.data import diagram_store as dst
    from topophys.data import fields as fi
    from topophys.data import spins as sp
    from topophys.data import structures as stc
    from topophys.observables import charge as ch
    from topophys.observables import morphology as mo
    from topophys.observables import spins as os_
    from topophys.simulate import amorphous as am
    from topophys.simulate import cyclooctane as cy
    from topophys.simulate import graphene as gr
    from topophys.simulate import sweep as sw
    from topophys.simulate import tdgl as td
    from topophys.simulate import xy

    def transform(cls: type) -> Callable[..., Any]:
        def call(X: Any, **params: Any) -> Any:
            return cls(**params).fit_transform(X)

        return call

    theta = np.random.default_rng(1).uniform(-np.pi, np.pi, (3, 4, 4))
    cubical = {"construction": "top", "filtration": "sublevel", "periodic": False}
    return [
        # homology
        Entry(
            "CubicalPersistence",
            transform(ho.CubicalPersistence),
            lambda _: {"X": _fields(), **cubical, "homology_dimensions": (0, 1)},
            allow_inf=True,
        ),
        Entry(
            "cubical_diagram",
            ho.cubical_diagram,
            lambda _: {"field": _fields(1)[0], **cubical, "homology_dimensions": (0, 1)},
            allow_inf=True,
        ),
        Entry(
            "AlphaPersistence",
            transform(ho.AlphaPersistence),
            lambda _: {
                "X": [_si()],
                "periodic": "auto",
                "dimension": 3,
                "max_dim": 1,
                "zero_tolerance": 1e-10,
            },
            allow_inf=True,
        ),
        Entry(
            "alpha_diagram",
            ho.alpha_diagram,
            lambda _: {"points": np.random.default_rng(0).random((10, 2)), "max_dim": 1},
            allow_inf=True,
        ),
        Entry(
            "periodic_alpha_diagram",
            ho.periodic_alpha_diagram,
            lambda _: {
                "points": np.random.default_rng(0).random((40, 2)),
                "cell": np.eye(2),
                "max_dim": 1,
                "margin": None,
                "zero_tolerance": 1e-10,
            },
            allow_inf=True,
        ),
        Entry(
            "h1_cycles",
            ho.h1_cycles,
            lambda _: {
                "points": np.random.default_rng(0).random((40, 2)),
                "cell": np.eye(2),
                "margin": None,
                "zero_tolerance": 1e-10,
                "max_length": None,
            },
            allow_inf=True,
        ),
        Entry(
            "atoms_h1_cycles",
            ho.atoms_h1_cycles,
            lambda _: {"atoms": _si(), "dimension": 3},
            allow_inf=True,
        ),
        # diagrams
        Entry(
            "Diagrams",
            dg.Diagrams,
            lambda _: {"data": np.concatenate(_diagrams()), "offsets": np.array([0, 3, 5])},
            allow_inf=True,
        ),
        Entry(
            "Diagrams.from_list",
            lambda diagrams: dg.Diagrams.from_list(diagrams),
            lambda _: {"diagrams": _diagrams()},
            allow_inf=True,
        ),
        Entry(
            "Diagrams.from_gudhi",
            lambda persistences: dg.Diagrams.from_gudhi(persistences),
            lambda _: {"persistences": [[(0, (0.0, 1.0)), (1, (0.5, np.inf))]]},
            allow_inf=True,
        ),
        Entry("Diagrams.empty", lambda n: dg.Diagrams.empty(n), lambda _: {"n": 3}),
        Entry(
            "Diagrams.select",
            lambda dim: dg.Diagrams.from_list(_diagrams()).select(dim),
            lambda _: {"dim": 1},
            allow_inf=True,
        ),
        Entry(
            "Diagrams.pairs",
            lambda i, dim: dg.Diagrams.from_list(_diagrams()).pairs(i, dim),
            lambda _: {"i": 0, "dim": 1},
            allow_inf=True,
            index_args=("i",),
        ),
        Entry(
            "Diagrams.allclose",
            lambda other, atol, rtol: dg.Diagrams.from_list(_diagrams()).allclose(
                other, atol, rtol
            ),
            lambda _: {"other": dg.Diagrams.from_list(_diagrams()), "atol": 1e-8, "rtol": 0.0},
        ),
        Entry(
            "Diagrams.save",
            lambda group_or_path, name: dg.Diagrams.from_list(_diagrams()).save(
                group_or_path, name, overwrite=True
            ),
            lambda tmp: {"group_or_path": tmp / "d.zarr", "name": "diagrams"},
        ),
        Entry(
            "Diagrams.load",
            dg.Diagrams.load,
            lambda tmp: {"group_or_path": _saved(tmp), "name": "diagrams"},
            allow_inf=True,
            path_args=("name",),
        ),
        Entry(
            "Diagrams.to_torch",
            lambda i, dtype: dg.Diagrams.from_list(_diagrams()).to_torch(i, dtype=dtype),
            lambda _: {"i": 1, "dtype": torch.float32},
            allow_inf=True,
            index_args=("i",),
        ),
        Entry(
            "as_diagrams", dg.as_diagrams, lambda _: {"X": _diagrams(), "name": "X"}, allow_inf=True
        ),
        # vectorize
        Entry(
            "PersistenceHistogram",
            transform(ve.PersistenceHistogram),
            lambda _: {
                "X": _diagrams(),
                "bins": 4,
                "birth_range": (0.0, 1.0),
                "death_range": (0.0, 1.0),
                "dim": 1,
                "normalize": "probability",
                "standardize": "zscore",
                "outside": "drop",
                "essential": "drop",
            },
        ),
        Entry(
            "PersistenceImage",
            transform(ve.PersistenceImage),
            lambda _: {
                "X": _diagrams(),
                "resolution": (4, 4),
                "birth_range": (0.0, 1.0),
                "persistence_range": (0.0, 1.0),
                "bandwidth": 0.1,
                "weight": "linear",
                "dim": 1,
                "essential": "drop",
            },
        ),
        Entry(
            "BettiCurve",
            transform(ve.BettiCurve),
            lambda _: {"X": _diagrams(), "dim": 1, "grid": 5},
        ),
        Entry("EulerCurve", transform(ve.EulerCurve), lambda _: {"X": _diagrams(), "grid": 5}),
        Entry(
            "persistence_image_torch",
            ve.persistence_image_torch,
            lambda _: {
                "birth": torch.tensor([0.1, 0.5]),
                "persistence": torch.tensor([0.2, 0.3]),
                "weight": None,
                "resolution": (3, 3),
                "birth_range": (0.0, 1.0),
                "persistence_range": (0.0, 1.0),
                "bandwidth": 0.1,
                "mask": None,
            },
        ),
        Entry(
            "bin_index",
            ve.histogram.bin_index,
            lambda _: {"x": np.array([0.1, 0.5, 1.0]), "low": 0.0, "high": 1.0, "n": 4},
        ),
        Entry(
            "gaussian_pixel_factors",
            ve.image.gaussian_pixel_factors,
            lambda _: {
                "centers": np.array([0.1, 0.5]),
                "edges": np.linspace(0, 1, 5),
                "sigma": 0.1,
            },
        ),
        # simulate: TDGL
        Entry(
            "TDGLConfig",
            td.TDGLConfig,
            lambda _: (
                _tdgl_config().to_dict() | {"size": 8, "dt": 0.5, "t_end": 2.0, "n_snapshots": 3}
            ),
        ),
        Entry(
            "simulate",
            td.simulate,
            lambda _: {
                "config": _tdgl_config(),
                "alpha": [1.0, 2.0],
                "seed": [0, 1],
                "device": "cpu",
            },
            nan_ok=("t_init",),
        ),
        Entry("disorder_field", td.disorder_field, lambda _: {"seed": 0, "size": 8, "std": 0.3}),
        Entry("field_at", td.field_at, lambda _: {"config": _tdgl_config(), "t": np.arange(3.0)}),
        Entry("snapshot_steps", td.snapshot_steps, lambda _: {"config": _tdgl_config()}),
        Entry("dipolar_symbol", td.dipolar_symbol, lambda _: {"config": _tdgl_config()}),
        Entry(
            "TDGLModel",
            td.TDGLModel,
            lambda _: {
                "config": _tdgl_config(),
                "alpha": [1.0],
                "disorder": np.zeros((1, 8, 8)),
                "device": "cpu",
            },
        ),
        Entry(
            "TDGLSweepConfig",
            sw.TDGLSweepConfig,
            lambda _: {"tdgl": _tdgl_config(), "alphas": (1.0,), "seeds": (0,), "batch_size": 2},
        ),
        Entry(
            "run_tdgl_sweep",
            sw.run_tdgl_sweep,
            lambda tmp: {
                "config": sw.TDGLSweepConfig(tdgl=_tdgl_config(), alphas=(1.0,)),
                "store": _fresh(tmp, "sweep.zarr"),
                "workers": 1,
                "device": "cpu",
            },
            examples=6,
            skip=("workers",),
        ),
        # simulate: XY
        Entry("XYConfig", xy.XYConfig, lambda _: _xy_config().to_dict()),
        Entry("pair_displacement", xy.pair_displacement, lambda _: {"d": 1.41, "tol": 0.01}),
        Entry("pair_charge_map", xy.pair_charge_map, lambda _: {"L": 8, "d": 2.0}),
        Entry(
            "defect_field",
            xy.defect_field,
            lambda _: {"charges": xy.pair_charge_map(8, 2.0), "angle": 0.3},
        ),
        Entry(
            "integrated_autocorrelation_time",
            xy.integrated_autocorrelation_time,
            lambda _: {"series": np.random.default_rng(0).standard_normal(64), "c": 5.0},
        ),
        Entry(
            "XYSampler",
            xy.XYSampler,
            lambda _: {
                "theta": np.zeros((2, 4, 4)),
                "temperature": 0.5,
                "J": 1.0,
                "constrained": False,
                "step_size": None,
                "seed": 0,
                "device": "cpu",
            },
        ),
        Entry(
            "simulate_condition",
            xy.simulate_condition,
            lambda _: {"config": _xy_config(), "T": 0.5, "d": 1.0, "device": "cpu"},
            examples=8,
        ),
        Entry(
            "write_dataset",
            xy.write_dataset,
            lambda tmp: {"config": _xy_config(), "path": tmp / "xy.zarr", "device": "cpu"},
            examples=6,
        ),
        # simulate: atoms
        Entry(
            "MeltQuenchConfig",
            am.MeltQuenchConfig,
            lambda _: {
                "n_atoms": 8,
                "densities": (2.5,),
                "runs": 1,
                "engine": "ase",
                "time_scale": 0.0025,
                "snapshots": (0, 1, 0, 0, 1),
                "stage_ps": (2.0, 3.0, 2.0, 2.0, 2.0),
            },
        ),
        Entry(
            "melt_quench",
            am.melt_quench,
            lambda _: {
                "config": am.MeltQuenchConfig(
                    n_atoms=8,
                    engine="ase",
                    time_scale=0.0025,
                    snapshots=(0, 1, 0, 0, 1),
                    stage_ps=(2.0, 3.0, 2.0, 2.0, 2.0),
                ),
                "density": 2.5,
                "run": 0,
            },
            examples=4,
        ),
        Entry("box_length", am.box_length, lambda _: {"n_atoms": 216, "density": 2.5}),
        Entry("sp3_fraction", am.sp3_fraction, lambda _: {"atoms": _si(), "cutoff": 2.5}),
        Entry("GrapheneConfig", gr.GrapheneConfig, lambda _: {"n_atoms": 20, "vacuum": 10.0}),
        Entry(
            "planar_start",
            gr.planar_start,
            lambda _: {"config": gr.GrapheneConfig(n_atoms=20), "seed": 0},
        ),
        Entry(
            "cyclooctane_conformers",
            cy.cyclooctane_conformers,
            lambda _: {
                "n": 2,
                "seed": 0,
                "bond_length": 1.52,
                "bond_angle": 115.0,
                "noise": 0.5,
                "tol": 1e-8,
                "max_attempts": None,
            },
        ),
        Entry(
            "ring_residuals",
            cy.ring_residuals,
            lambda _: {
                "coords": cy.cyclooctane_conformers(1, seed=0)[0],
                "bond_length": 1.52,
                "bond_angle": 115.0,
            },
        ),
        # observables
        Entry("plaquette_charge", ch.plaquette_charge, lambda _: {"theta": theta}),
        Entry("total_charge", ch.total_charge, lambda _: {"charges": ch.plaquette_charge(theta)}),
        Entry("vorticity", ch.vorticity, lambda _: {"theta": theta}),
        Entry("soft_charge", ch.soft_charge, lambda _: {"spins": ch.angles_to_spins(theta)}),
        Entry("angles_to_spins", ch.angles_to_spins, lambda _: {"theta": theta}),
        Entry(
            "spins_to_angles", ch.spins_to_angles, lambda _: {"spins": ch.angles_to_spins(theta)}
        ),
        Entry("wrap_angle", ch.wrap_angle, lambda _: {"x": theta}),
        Entry("bond_sums", os_.bond_sums, lambda _: {"theta": theta, "J": 1.0}),
        Entry("correlation", os_.correlation, lambda _: {"theta": theta, "per_sample": False}),
        Entry("energy", os_.energy, lambda _: {"theta": theta, "J": 1.0}),
        Entry("helicity", os_.helicity, lambda _: {"theta": theta, "J": 1.0}),
        Entry(
            "helicity_modulus", os_.helicity_modulus, lambda _: {"theta": theta, "T": 0.5, "J": 1.0}
        ),
        Entry("magnetization", os_.magnetization, lambda _: {"theta": theta}),
        Entry("specific_heat", os_.specific_heat, lambda _: {"theta": theta, "T": 0.5, "J": 1.0}),
        Entry(
            "susceptibility",
            os_.susceptibility,
            lambda _: {"theta": theta, "T": 0.5, "connected": True},
        ),
        Entry(
            "jackknife",
            os_.jackknife,
            lambda _: {
                "estimator": os_.specific_heat,
                "theta": np.concatenate([theta] * 2),
                "n_blocks": 3,
                "T": 0.5,
            },
        ),
        Entry("edge_weights", mo.edge_weights, lambda _: {"theta": theta}),
        Entry(
            "morphology_curves", mo.morphology_curves, lambda _: {"theta": theta, "thresholds": 5}
        ),
        # data
        Entry(
            "FieldStore.create",
            fi.FieldStore.create,
            lambda tmp: {
                "path": _fresh(tmp, "c.zarr"),
                "alpha": [1.0],
                "seed": [0],
                "t": np.arange(2.0),
                "h": np.zeros(2),
                "shape": (4, 4),
                "dtype": "float32",
                "attrs": None,
            },
        ),
        Entry(
            "FieldStore.open",
            fi.FieldStore.open,
            lambda tmp: {"path": _field_store(tmp), "mode": "r"},
        ),
        Entry("open_fields", fi.open_fields, lambda tmp: {"path": _field_store(tmp)}),
        Entry(
            "SpinStore.create",
            sp.SpinStore.create,
            lambda tmp: {
                "path": _fresh(tmp, "s.zarr"),
                "L": 4,
                "conditions": [(0.5, 0.0)],
                "samples": 2,
                "config_yaml": "",
                "chunk": 8,
            },
        ),
        Entry("open_spins", sp.open_spins, lambda tmp: {"path": _spin_store(tmp)}),
        Entry(
            "DiagramStore.open", dst.DiagramStore.open, lambda tmp: {"path": _diagram_store(tmp)}
        ),
        Entry(
            "compute_field_diagrams",
            dst.compute_field_diagrams,
            lambda tmp: {
                "fields": _field_store(tmp),
                "out": _fresh(tmp, "fd.zarr"),
                "transformer": None,
                "workers": 1,
            },
            allow_inf=True,
            skip=("workers",),
        ),
        Entry(
            "compute_atoms_diagrams",
            dst.compute_atoms_diagrams,
            lambda tmp: {
                "structures": [_si()],
                "out": _fresh(tmp, "ad.zarr"),
                "transformer": None,
                "chunk_size": 1,
                "workers": 1,
            },
            allow_inf=True,
            path_args=("structures",),
            skip=("workers",),
        ),
        Entry(
            "default_diagrams_path",
            dst.default_diagrams_path,
            lambda _: {"source": "runs/fields.zarr"},
        ),
        Entry(
            "read_structures",
            stc.read_structures,
            lambda tmp: {"path_or_dir": _atoms_file(tmp), "energy_key": "energy", "index": ":"},
        ),
        Entry(
            "write_structures",
            stc.write_structures,
            lambda tmp: {"atoms_list": [_si()], "path": _fresh(tmp, "w.extxyz")},
        ),
        Entry(
            "energies_per_atom",
            stc.energies_per_atom,
            lambda tmp: {
                "atoms_list": stc.read_structures(_atoms_file(tmp)),
                "energy_key": "energy",
            },
        ),
        Entry(
            "frame_energy",
            stc.frame_energy,
            lambda tmp: {"atoms": stc.read_structures(_atoms_file(tmp))[0], "energy_key": "energy"},
        ),
        Entry(
            "load_published_dataset",
            stc.load_published_dataset,
            lambda tmp: {"root": _published(tmp), "energy_key": "energy"},
        ),
    ]


def _fresh(tmp: Path, name: str) -> Path:
    import shutil

    path = tmp / name
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path


def _published(tmp: Path) -> Path:
    import shutil

    root = tmp / "published"
    if not root.exists():
        (root / "64atom_amorphous").mkdir(parents=True)
        shutil.copy(_atoms_file(tmp), root / "64atom_amorphous" / "rho2.000_run000.xyz")
    return root


def _saved(tmp: Path) -> Path:
    from topophys.diagrams import Diagrams

    path = tmp / "saved.zarr"
    if not path.exists():
        Diagrams.from_list(_diagrams()).save(path)
    return path


def _spin_store(tmp: Path) -> Path:
    from topophys.data import SpinStore

    path = tmp / "spins.zarr"
    if not path.exists():
        SpinStore.create(path, L=4, conditions=[(0.5, 0.0)], samples=2)
    return path


def _diagram_store(tmp: Path) -> Path:
    from topophys.data import compute_field_diagrams

    path = tmp / "f.diagrams.zarr"
    if not path.exists():
        compute_field_diagrams(_field_store(tmp), path)
    return path


ENTRIES = {e.name: e for e in _entries()}


def _run(entry: Entry, kwargs: dict[str, Any]) -> tuple[Any, BaseException | None]:
    """``(result, None)`` or ``(None, the exception)`` of one bounded call."""
    try:
        with time_bound(CALL_SECONDS), np.errstate(all="ignore"):
            return entry.call(**kwargs), None
    except (Exception, CallTimeout) as err:
        return None, err


_ALLOWED = (ValueError, TypeError)
_PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bad_input")


@pytest.mark.parametrize("name", list(ENTRIES))
def test_bad_input_is_refused_by_name_or_gives_a_finite_result(
    name: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workdir)  # bad relative paths are created there, not in the checkout
    entry = ENTRIES[name]
    valid = entry.args(workdir)
    keys = [k for k in valid if k not in entry.skip]

    @settings(
        max_examples=FUZZ or entry.examples,
        derandomize=not FUZZ,
        deadline=None,  # the call's own time bound applies
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(keys), label="argument")
        base = entry.args(workdir)
        bad = data.draw(_bad(base[key]), label=key)
        kwargs = {**base, key: bad}
        call = f"{name}({key}={bad!r:.200})"
        result, error = _run(entry, kwargs)
        if error is None:
            _well_formed(result, entry.allow_inf, nan_ok=entry.nan_ok)
        elif isinstance(error, CallTimeout):
            pytest.fail(f"{call} ran past {CALL_SECONDS} s")
        elif isinstance(error, _ALLOWED):
            # A path may be named by its value (the file), other arguments by their name.
            named = key in str(error) or (isinstance(bad, (str, Path)) and str(bad) in str(error))
            assert named, f"{call} raised without naming {key}: {error!r}"
        elif isinstance(error, _PATH_ERRORS):
            path_like = isinstance(base[key], Path) or key in entry.path_args
            assert path_like, f"{call} raised {error!r}"
        elif isinstance(error, IndexError):
            assert key in entry.index_args, f"{call} raised {error!r}"
        else:
            pytest.fail(f"{call} raised {type(error).__name__}: {error}")

    check()
