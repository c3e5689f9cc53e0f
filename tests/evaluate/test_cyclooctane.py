"""Cyclo-octane descriptor spaces: estimators on known manifolds, invariances, the section."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from topophys.evaluate.cyclooctane import (
    CycloOctaneConfig,
    conformer_diagrams,
    conformer_features,
    cyclooctane_section,
    dscribe_available,
    kabsch_align,
    local_dimension,
    pca_embedding,
)
from topophys.simulate.cyclooctane import BOND_LENGTH, cyclooctane_conformers

needs_dscribe = pytest.mark.skipif(not dscribe_available(), reason="needs DScribe")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def rings():
    return cyclooctane_conformers(40, seed=0)


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _embed(points: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    padded = np.zeros((len(points), dim))
    padded[:, : points.shape[1]] = points
    return padded @ q


def test_local_dimension_of_a_curved_surface_in_10d_is_2():
    rng = np.random.default_rng(1)
    u, v = rng.uniform(0, 3, size=(2, 1500))
    surface = np.stack([u, v, np.sin(u), np.cos(v), u * v / 3], axis=1)
    X = _embed(surface, 10)
    assert abs(local_dimension(X, k=12).global_ - 2.0) < 0.2
    assert local_dimension(X, k=12, method="pca").global_ == 2.0


def test_local_dimension_of_a_curve_in_10d_is_1():
    t = np.random.default_rng(2).uniform(0, 8, 800)
    curve = np.stack([np.cos(t), np.sin(t), 0.2 * t, np.sin(2 * t)], axis=1)
    X = _embed(curve, 10, seed=3)
    assert abs(local_dimension(X, k=12).global_ - 1.0) < 0.1
    assert local_dimension(X, k=12, method="pca").global_ == 1.0


def test_local_dimension_of_a_3d_ball_is_about_3():
    X = np.random.default_rng(4).uniform(-1, 1, size=(3000, 3))
    assert abs(local_dimension(X, k=15).global_ - 3.0) < 0.35


def test_local_dimension_rejects_bad_input():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="identical rows"):
        local_dimension(np.vstack([X, X[:1]]), k=5)
    with pytest.raises(ValueError, match="k must be ≥ 3"):
        local_dimension(X, k=2)
    with pytest.raises(ValueError, match=r"X must have shape \(n ≥ 21"):
        local_dimension(X, k=20)
    with pytest.raises(ValueError, match="method"):
        local_dimension(X, k=5, method="twonn")
    with pytest.raises(ValueError, match="threshold"):
        local_dimension(X, k=5, method="pca", threshold=1.0)
    with pytest.raises(ValueError, match="NaN"):
        local_dimension(np.full((20, 3), np.nan), k=5)


def test_kabsch_undoes_rotations_and_translations(rings):
    turned = rings @ _rotation(5).T + np.array([1.0, -2.0, 3.0])
    aligned = kabsch_align(turned, rings[0])
    np.testing.assert_allclose(aligned, kabsch_align(rings, rings[0]), atol=1e-10)
    np.testing.assert_allclose(aligned[0], rings[0] - rings[0].mean(0), atol=1e-10)
    # Proper rotations only: a mirror image is not mapped onto the original.
    mirrored = rings[:1] * np.array([1.0, 1.0, -1.0])
    assert not np.allclose(kabsch_align(mirrored, rings[0])[0], rings[0], atol=1e-3)
    with pytest.raises(ValueError, match="reference must have shape"):
        kabsch_align(rings, rings[0, :4])


def test_h0_deaths_are_the_half_bond_squared_and_diagrams_are_invariant(rings):
    d = conformer_diagrams(rings[:10])
    turned = conformer_diagrams(np.roll(rings[:10], 3, axis=1) @ _rotation(1).T + 5.0)
    for i in range(10):
        h0 = d[i][d[i][:, 0] == 0]
        finite = h0[np.isfinite(h0[:, 2])]
        assert len(finite) == 7 and np.isinf(h0[:, 2]).sum() == 1
        np.testing.assert_allclose(finite[:, 2], (BOND_LENGTH / 2) ** 2, rtol=1e-9)
        assert (d[i][:, 0] == 1).sum() >= 1  # the ring itself
        a = d[i][np.lexsort(d[i].T[::-1])]
        b = turned[i][np.lexsort(turned[i].T[::-1])]
        np.testing.assert_allclose(a, b, atol=1e-9)


@pytest.mark.parametrize(
    ("name", "width"),
    [
        ("coordinates", 24),
        ("distances", 28),
        ("persistence", 2 * 16**2),
        pytest.param("soap", 2016, marks=needs_dscribe),
        pytest.param("acsf", 352, marks=needs_dscribe),
    ],
)
def test_feature_widths_and_rigid_invariance(rings, name, width):
    X = conformer_features(rings[:12], name, resolution=16)
    assert X.shape == (12, width) and np.isfinite(X).all()
    moved = conformer_features(rings[:12] @ _rotation(2).T - 3.0, name, resolution=16)
    if name == "coordinates":
        # Aligned onto the (moved) first conformer: the same set up to one global rotation.
        np.testing.assert_allclose(moved @ moved.T, X @ X.T, atol=1e-8)
    else:
        np.testing.assert_allclose(moved, X, atol=1e-8)
    assert np.ptp(X, axis=0).max() > 0  # the conformers differ in this representation


def test_conformer_features_rejects_bad_input(rings):
    with pytest.raises(ValueError, match="representation must be one of"):
        conformer_features(rings, "mbtr")
    with pytest.raises(ValueError, match=r"coords must have shape"):
        conformer_features(rings[0], "distances")
    with pytest.raises(TypeError, match="coords must be a numeric"):
        conformer_features(np.array([["a"]]), "distances")


def test_pca_embedding_matches_sklearn():
    from sklearn.decomposition import PCA

    X = np.random.default_rng(0).normal(size=(50, 6)) * [5, 3, 2, 1, 0.5, 0.1]
    emb, explained = pca_embedding(X, 3)
    ref = PCA(3).fit(X)
    np.testing.assert_allclose(explained, ref.explained_variance_ratio_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(emb), np.abs(ref.transform(X)), atol=1e-10)
    with pytest.raises(ValueError, match="n_components must be ≤"):
        pca_embedding(X[:2], 3)


def test_section_reports_every_representation_and_two_captioned_figures():
    reps = ("coordinates", "persistence") + (("soap",) if dscribe_available() else ())
    config = CycloOctaneConfig(n_conformers=80, k=8, highlight=5, representations=reps)
    metrics, figures = cyclooctane_section(config)
    assert metrics["convergence_rate"] > 0.9 and metrics["max_residual_A"] < 1e-6
    assert set(metrics["representations"]) == set(reps)
    for values in metrics["representations"].values():
        assert 0.5 < values["local_dimension_3d"] < 3.5
        assert sum(values["explained_variance"]) <= 1.0 + 1e-12
        assert values["highlight_spread"] >= 0
    # The highlighted conformers are picked at one end of the persistence embedding.
    assert metrics["representations"]["persistence"]["highlight_spread"] < 1.0
    assert len(figures) == 2
    for fig, caption in figures:
        assert isinstance(fig, matplotlib.figure.Figure) and caption.endswith(".")
    assert len(figures[1][0].axes) == len(reps)


def test_config_is_checked():
    with pytest.raises(ValueError, match="representations\\[0\\] must be one of"):
        CycloOctaneConfig(representations=("mbtr",))
    with pytest.raises(ValueError, match="n_conformers must exceed k"):
        CycloOctaneConfig(n_conformers=10, k=12)
    with pytest.raises(TypeError, match="config must be a CycloOctaneConfig"):
        cyclooctane_section({"n_conformers": 10})


@pytest.mark.slow
def test_persistence_embedding_is_a_curve_and_coordinates_a_surface():
    config = CycloOctaneConfig(n_conformers=1000, representations=("coordinates", "persistence"))
    metrics, _ = cyclooctane_section(config)
    reps = metrics["representations"]
    assert reps["persistence"]["local_dimension_3d"] < 1.4
    assert reps["coordinates"]["local_dimension_3d"] > 1.8
