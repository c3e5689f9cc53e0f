"""Descriptor-space maps: continuity numbers separate smooth maps from shuffled ones."""

import numpy as np
import pytest

from topophys.evaluate.embedding import descriptor_maps, embed, map_continuity


def _curve(n=120, width=20, seed=0):
    """Points on a smooth 1-D curve embedded in ``width`` dimensions, with its parameter."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 1.0, n))
    freqs = rng.uniform(0.5, 1.5, width)
    phases = rng.uniform(0, 2 * np.pi, width)
    X = np.sin(np.outer(t, freqs) * np.pi + phases) + 1e-3 * rng.normal(size=(n, width))
    return X, t


def test_smooth_curve_gives_high_continuity_and_shuffled_labels_about_zero():
    X, t = _curve()
    rng = np.random.default_rng(1)
    for method in ("pca", "tsne"):
        coords = embed(X, method, perplexity=10.0, seed=0)
        assert coords.shape == (len(t), 2)
        good = map_continuity(coords, t)
        assert good["knn_r2"] > 0.9, (method, good)
        assert good["spearman"] > 0.5, (method, good)
        bad = map_continuity(coords, rng.permutation(t))
        assert bad["knn_r2"] < 0.2, (method, bad)
        assert abs(bad["spearman"]) < 0.1, (method, bad)


def test_islands_in_no_order_score_lower_rank_correlation_than_a_continuous_line():
    # Five uniform islands: kNN R² is perfect, but map distance does not order the property.
    rng = np.random.default_rng(0)
    level = np.repeat(np.arange(5.0), 30)
    centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]], float)[[2, 0, 4, 1, 3]]
    islands = centres[level.astype(int)] + 0.3 * rng.normal(size=(150, 2))
    line = np.c_[level + 0.3 * rng.normal(size=150), rng.normal(size=150) * 0.1]
    i, l_ = map_continuity(islands, level), map_continuity(line, level)
    assert i["knn_r2"] > 0.99 and l_["knn_r2"] > 0.9
    assert l_["spearman"] > i["spearman"] + 0.15  # 0.94 vs 0.73 here


def test_pca_is_deterministic_and_tsne_reproducible_under_a_seed():
    X, _ = _curve(60)
    np.testing.assert_array_equal(embed(X, "pca"), embed(X, "pca"))
    a = embed(X, "tsne", perplexity=10.0, seed=3)
    np.testing.assert_allclose(a, embed(X, "tsne", perplexity=10.0, seed=3))
    # PCA map: the first two principal components of the unit-variance data
    Xc = X - X.mean(0)
    Xc /= np.sqrt((Xc**2).sum() / len(X))
    s = np.linalg.svd(Xc, compute_uv=False)
    np.testing.assert_allclose(embed(X, "pca").var(axis=0), s[:2] ** 2 / len(X), rtol=1e-10)


def test_descriptor_maps_scores_every_map_on_every_property():
    X, t = _curve(40, 8)
    maps, metrics = descriptor_maps(
        {"A": X, "B": X[:, :3]}, {"t": t, "t2": t**2}, perplexities=(10.0, 50.0)
    )
    assert set(maps) == {"A", "B"} and set(maps["A"]) == {"tsne_p10", "pca"}
    assert metrics["skipped"] == ["tsne_p50"]  # 50 ≥ 40 rows
    assert set(metrics["B"]["pca"]) == {"t", "t2"}
    assert metrics["A"]["pca"]["t"]["n"] == 40


def test_bad_input():
    X, t = _curve(20, 4)
    with pytest.raises(ValueError, match="method"):
        embed(X, "umap")
    with pytest.raises(ValueError, match="perplexity must be below"):
        embed(X, "tsne", perplexity=30.0)
    with pytest.raises(ValueError, match="constant"):
        embed(np.ones((5, 3)), "pca")
    with pytest.raises(ValueError, match="finite"):
        embed(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="prop is constant"):
        map_continuity(X[:, :2], np.ones(20))
    with pytest.raises(ValueError, match="one value per row"):
        map_continuity(X[:, :2], t[:5])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        map_continuity(X[:, :3], t)
    with pytest.raises(ValueError, match="folds"):
        map_continuity(X[:, :2], t, folds=1)
    with pytest.raises(ValueError, match="same number of rows"):
        descriptor_maps({"A": X, "B": X[:10]}, {"t": t})
