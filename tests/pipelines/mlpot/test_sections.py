"""The maps, inverse-analysis, Grad-CAM and cyclo-octane sections on toy data."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from topophys.evaluate.cyclooctane import CycloOctaneConfig
from topophys.pipelines.mlpot import DescriptorConfig, GradCAMConfig, InverseConfig, MapsConfig
from topophys.pipelines.mlpot.sections import (
    cyclooctane_report,
    gradcam_section,
    inverse_section,
    maps_section,
)


def _frame(info=None, n_side=3, spacing=1.55, amplitude=0.1, seed=0):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = (grid + rng.normal(scale=amplitude, size=grid.shape)) * spacing
    atoms = Atoms(f"C{len(grid)}", positions=pos, cell=[n_side * spacing] * 3, pbc=True)
    atoms.wrap()
    atoms.info.update(info or {})
    return atoms


def test_maps_section_leaves_out_constant_properties():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 3, 40)
    X = np.c_[np.cos(t), np.sin(t), 0.1 * t]
    section = maps_section(
        MapsConfig(perplexities=(5.0, 100.0), k=5),
        {"curve": X},
        {"density": np.full(40, 2.0), "energy": t},
    )
    m = section.metrics
    assert m["properties_left_out"] == ["density"] and m["skipped"] == ["tsne_p100"]
    assert m["curve"]["pca"]["energy"]["knn_r2"] > 0.9  # a smooth curve: continuous
    assert [name for name, _, _ in section.figures] == ["maps_tsne_p5", "maps_pca"]
    with pytest.raises(ValueError, match="varies"):
        maps_section(MapsConfig(), {"x": X}, {"density": np.full(40, 1.0)})


def test_inverse_section_birth_limit_keeps_chemical_rings(tmp_path):
    """With regions limited to births below b_max, every ring bond is shorter than 2·√b_max: a
    ring is born when its last edge enters, and an edge of length r enters at (r/2)² or later."""
    frames = [_frame({"density": 2.5, "run": 0, "process": "anneal"}, n_side=4, amplitude=0.2,
                     seed=s) for s in range(2)]  # fmt: skip
    descriptor = DescriptorConfig(bins=16)
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(16, 16))
    free = inverse_section(InverseConfig(quantile=0.2), frames, coef, descriptor).metrics
    limited = inverse_section(InverseConfig(quantile=0.2, max_birth=1.0), frames, coef, descriptor)
    m = limited.metrics
    assert m["max_birth_A2"] == 1.0 and m["frames"]["frames"] == 2
    assert m["high"]["bins"] + m["low"]["bins"] <= free["high"]["bins"] + free["low"]["bins"]
    assert m["high"]["rings"] + m["low"]["rings"] > 0
    # Bins of width 0.5 Å²: only the first two birth columns may be in a region.
    assert m["high"]["bins"] <= 2 * 16 and m["low"]["bins"] <= 2 * 16
    for region in ("high", "low"):
        if m[region]["bonds"]:
            assert m[region]["bond_length_max_A"] <= 2.0 * np.sqrt(1.0) + 1e-9
    # Without the limit, longer bonds close rings in this loose structure.
    assert max(free[r].get("bond_length_max_A", 0) for r in ("high", "low")) > 2.0
    assert [name for name, _, _ in limited.figures] == ["inverse_regions", "inverse_rings"]
    with pytest.raises(ValueError, match="leaves no bin"):
        inverse_section(
            InverseConfig(max_birth=0.1), frames, np.zeros((16, 16)) + np.eye(16)[::-1],
            descriptor,
        )  # fmt: skip


def test_gradcam_section_explains_the_extreme_frames():
    import torch

    from topophys.models.pdcnn import PDCNN

    torch.manual_seed(0)
    model = PDCNN((16, 16), channels=(2, 2), hidden=4)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, 16, 16)).astype(np.float32)
    probabilities = np.abs(images) / np.abs(images).sum(axis=(1, 2), keepdims=True)
    y = np.array([-7.0, -6.0, -7.5, -6.5, -6.8])
    section = gradcam_section(
        GradCAMConfig(method="hires"), model, images, probabilities, y, y + 0.01,
        DescriptorConfig(bins=16),
    )  # fmt: skip
    m = section.metrics
    assert (m["high"]["frame"], m["low"]["frame"]) == (1, 2)
    assert m["method"] == "hires" and m["high"]["predicted_eV"] == pytest.approx(-5.99)
    assert 0 < m["high"]["points_mean_persistence_A2"] < 8
    assert [name for name, _, _ in section.figures] == ["gradcam"]


def test_cyclooctane_report_tiny():
    section = cyclooctane_report(
        CycloOctaneConfig(
            n_conformers=40, representations=("coordinates", "persistence"), k=5, highlight=4,
            resolution=8,
        )
    )  # fmt: skip
    m = section.metrics
    assert m["n_conformers"] == 40 and m["max_residual_A"] < 1e-6
    rows, _ = section.tables[0]
    assert [r["representation"] for r in rows] == ["coordinates", "persistence"]
    assert all(r["local dim. (3-D PCA, MLE)"] > 0 for r in rows)
    names = [name for name, _, _ in section.figures]
    assert names == ["cyclooctane_diagrams", "cyclooctane_embeddings"]
