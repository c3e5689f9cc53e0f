"""The cases of the reliability review (issue 16), each as a property of its class: overflowing
windows, sizes that cannot fit, complex input cast to real, helpers that validated nothing,
configs that overflow, and errors that did not name their argument."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from topophys.config import Config
from topophys.diagrams import Diagrams
from topophys.homology import periodic_alpha_diagram
from topophys.observables import charge
from topophys.simulate.sweep import TDGLSweepConfig
from topophys.simulate.tdgl import TDGLConfig, simulate
from topophys.simulate.xy import XYConfig
from topophys.vectorize import BettiCurve, PersistenceHistogram, PersistenceImage

DIAGRAMS = [np.array([[1, 0.5, 1.5], [1, 1.0, 2.0], [0, 0.0, np.inf]])]


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda r: PersistenceImage(resolution=(4, 4), persistence_range=r, dim=1), "persistence"),
        (lambda r: PersistenceImage(resolution=(4, 4), birth_range=r), "birth_range"),
        (lambda r: PersistenceHistogram(bins=4, birth_range=r), "birth_range"),
        (lambda r: PersistenceHistogram(bins=4, death_range=r), "death_range"),
    ],
)
@pytest.mark.parametrize("window", [(-1e308, 1e308), (0.0, 1e-320), (1e16, 1e16 + 4)])
def test_a_window_float64_cannot_step_through_is_refused(make, name, window):
    with pytest.raises(ValueError, match=name):
        make(window).fit(DIAGRAMS)


def test_a_wide_but_finite_window_still_bins_correctly():
    hist = PersistenceHistogram(bins=2, birth_range=(-1e307, 1e307), death_range=(-1e307, 1e307))
    out = hist.set_params(standardize="none").fit_transform([np.array([[1, 1.0, 2.0]])])
    assert out.sum() == 1.0 and np.isfinite(out).all()


@pytest.mark.parametrize(
    ("transformer", "name"),
    [
        (PersistenceHistogram(bins=10**6), "bins"),
        (PersistenceHistogram(bins=(10**9, 10**9)), "bins"),
        (PersistenceImage(resolution=10**7), "resolution"),
        (BettiCurve(grid=10**15), "grid"),
    ],
)
def test_a_size_that_cannot_fit_is_refused_with_the_size(transformer, name):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{name}: .* would need [\d.e+]+ [KMGTPE]iB"):
        transformer.fit_transform(DIAGRAMS)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "call",
    [
        lambda: Diagrams.from_list([np.array([[0, 0.0, 1.0 + 1j]])]),
        lambda: Diagrams(np.array([[0, 0.0, 1.0]], dtype=complex), [0, 1]),
        lambda: periodic_alpha_diagram(np.ones((4, 2)) * (1 + 1j), np.eye(2)),
        lambda: simulate(TDGLConfig(size=8, dt=0.5, t_end=1.0, n_snapshots=2), [1 + 1j], [0]),
        lambda: charge.plaquette_charge(np.zeros((4, 4), dtype=complex)),
        lambda: charge.total_charge(np.zeros((4, 4), dtype=complex)),
    ],
)
def test_complex_input_is_refused_not_cast(call):
    with pytest.raises(TypeError, match=r"real|complex"):
        call()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: charge.total_charge(np.array(3)), ValueError),
        (lambda: charge.total_charge(np.ones(4)), ValueError),
        (lambda: charge.total_charge(np.full((4, 4), np.nan)), ValueError),
        (lambda: charge.spins_to_angles(np.ones((4, 4))), ValueError),
        (lambda: charge.spins_to_angles(np.ones((3, 4, 4))), ValueError),
        (lambda: charge.spins_to_angles("spins"), TypeError),
        (lambda: charge.angles_to_spins(np.ones(4)), ValueError),
        (lambda: charge.wrap_angle(np.array([np.nan])), ValueError),
        (lambda: charge.soft_charge(np.full((2, 4, 4), 1e300)), ValueError),
    ],
)
def test_charge_helpers_validate_their_input(call, error):
    with pytest.raises(error, match=r"charges|spins|theta|x "):
        call()


def test_charge_helpers_still_work_on_tensors_in_a_graph():
    theta = torch.zeros(2, 4, 4, requires_grad=True)
    spins = charge.angles_to_spins(theta)
    charge.soft_charge(spins).sum().backward()
    assert theta.grad is not None
    assert int(charge.total_charge(charge.plaquette_charge(theta.detach())).abs().sum()) == 0


TINY = TDGLConfig(size=8, dt=0.5, t_end=1.0, n_snapshots=2)


@pytest.mark.parametrize(
    ("alpha", "error", "match"),
    [
        (["a", "b"], TypeError, "alpha"),
        ([[1.0, 2.0], [2.0, 3.0]], ValueError, "alpha must be a number or a 1-D"),
        ([np.nan], ValueError, "alpha"),
        ("1.0", TypeError, "alpha"),
    ],
)
def test_simulate_names_a_bad_alpha(alpha, error, match):
    with pytest.raises(error, match=match):
        simulate(TINY, alpha, [0] * max(len(np.atleast_1d(np.asarray(alpha, dtype=object))), 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dt": 1e-300, "t_end": 1e300}, "t_end / dt"),
        ({"dt": 1e-300, "t_end": 1.0}, "t_end / dt"),
        ({"sweep_rate": 1e-300, "t_end": None}, "sweep_rate"),
    ],
)
def test_a_tdgl_run_too_long_to_count_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TDGLConfig(**kwargs)


def test_xy_config_names_the_distance_at_fault():
    with pytest.raises(ValueError, match=r"distances\[1\]"):
        XYConfig(distances=(0.0, -1.0))
    with pytest.raises(ValueError, match=r"distances\[0\].*lattice distance"):
        XYConfig(distances=(1.7,))


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (TDGLSweepConfig, {"alphas": np.array([1.0, 2.0])}, "TDGLSweepConfig.alphas"),
        (TDGLSweepConfig, {"tdgl": "fast"}, "TDGLSweepConfig.tdgl"),
        (TDGLConfig, {"laplacian": np.array([])}, "TDGLConfig.laplacian"),
        (XYConfig, {"constrained": np.array([True])}, "XYConfig.constrained"),
    ],
)
def test_a_config_built_in_python_checks_its_field_types(cls, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        cls(**kwargs)


def test_a_config_normalizes_numpy_scalars_and_lists():
    sweep = TDGLSweepConfig(alphas=[np.float64(1.0)], seeds=[np.int64(3)], batch_size=np.int64(2))
    assert sweep.alphas == (1.0,) and type(sweep.seeds[0]) is int
    assert sweep == TDGLSweepConfig.from_yaml(sweep.to_yaml())
    assert issubclass(TDGLSweepConfig, Config)


def test_too_many_workers_are_refused_before_any_process_starts():
    from topophys.parallel import pmap

    with pytest.raises(ValueError, match="workers=100000"):
        pmap(abs, [1, 2], workers=100_000)


def test_a_malformed_scheduler_address_is_refused_at_once():
    from topophys.parallel import connect

    start = time.perf_counter()
    for address in ("notaurl", "tcp://host", "localhost:99999", "http://x:1/"):
        with pytest.raises(ValueError, match="scheduler"):
            connect(address)
    assert time.perf_counter() - start < 1.0


def test_an_unreachable_scheduler_is_refused_within_the_timeout():
    from topophys.parallel import connect

    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"tcp://127\.0\.0\.1:1 within 1 s"):
        connect("tcp://127.0.0.1:1", timeout=1.0)
    assert time.perf_counter() - start < 5.0
