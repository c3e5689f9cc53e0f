r"""Two-dimensional maps of descriptor spaces and how continuous they are (aC paper, Figs. 4–5).

The amorphous-carbon paper projects the PH, SOAP and SchNet descriptors of every structure to
the plane with t-SNE (perplexity 30; 10 and 50 in its supplement) and with PCA, colours the
maps by density and by energy, and reads them as "continuous" (PH) or "islands" (SOAP). Here
the reading is a number too (:func:`map_continuity`):

- ``knn_r2``: R² of a k-nearest-neighbour regression of the property from the 2-D coordinates,
  cross-validated (each point predicted from neighbours of other folds). 1 when the property is
  a smooth function of map position, about 0 (or below) when it is unrelated to it.
- ``spearman``: Spearman rank correlation, over pairs of structures, between the property
  difference ``|p_i − p_j|`` and the map distance ``‖x_i − x_j‖``. High when map distance
  orders structures by property (one continuous sheet along the property), about 0 for shuffled
  properties; islands placed in no order of the property lower it even when each island is
  uniform (which ``knn_r2`` alone would score as good).

Choices the paper leaves open, ours: descriptors are centred and scaled to unit total variance
before mapping (so maps of different descriptors are comparable); t-SNE starts from the PCA map
(``init="pca"``, deterministic under ``seed``) and, for wide descriptors, runs on their first
``pca_components`` principal components (50 by default; the map barely changes and t-SNE's
distance computations shrink from F to 50 columns).

Examples
--------
>>> import numpy as np
>>> t = np.linspace(0.0, 3.0, 60)
>>> X = np.c_[np.cos(t), np.sin(t), 0.1 * t]  # a smooth curve in 3-D
>>> coords = embed(X, "pca")
>>> m = map_continuity(coords, t)
>>> m["knn_r2"] > 0.95 and m["spearman"] > 0.9
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _validate

__all__ = ["descriptor_maps", "embed", "map_continuity"]


def _matrix(name: str, X: Any, min_rows: int = 2) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"{name} must be a numeric (n, features) array, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[0] < min_rows or X.shape[1] == 0:
        raise ValueError(f"{name} must have shape (n, features) with n ≥ {min_rows}, got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} must be finite (NaN or inf found)")
    return X


def _vector(name: str, v: Any, n: int) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    if v.shape != (n,):
        raise ValueError(f"{name} must hold one value per row ({n}), got {v.size}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} must be finite (NaN or inf found)")
    return v


def embed(
    X: Any,
    method: str = "tsne",
    *,
    perplexity: float = 30.0,
    pca_components: int | None = 50,
    seed: int = 0,
) -> np.ndarray:
    """A 2-D map of descriptor rows by t-SNE or PCA.

    Parameters
    ----------
    X : array_like, shape (n, F)
        Descriptors, one row per structure (e.g. flattened PD histograms, averaged SOAP).
    method : {"tsne", "pca"}
    perplexity : float, default 30
        t-SNE's perplexity (the paper's 30; 10 and 50 in its supplement); must be below n.
    pca_components : int or None, default 50
        t-SNE runs on this many leading principal components when F is larger (None: on X).
    seed : int
        Seed of t-SNE's optimisation (PCA is deterministic).

    Returns
    -------
    numpy.ndarray, shape (n, 2)
        Map coordinates (arbitrary units; PCA: the first two principal components of the
        centred, unit-total-variance descriptors).
    """
    from sklearn.decomposition import PCA

    X = _matrix("X", X, min_rows=3)
    method = _validate.choice("method", method, ("tsne", "pca"))
    seed = _validate.nonnegative_int("seed", seed)
    X = X - X.mean(axis=0)
    total = float(np.sqrt((X**2).sum() / len(X)))
    if total == 0.0:
        raise ValueError("X must not be constant: all rows are identical")
    X = X / total  # unit total variance, so maps of different descriptors compare
    if method == "pca":
        width = min(2, X.shape[1])
        coords = PCA(n_components=width, svd_solver="full").fit_transform(X)
        # Fix the sign of each component so maps are reproducible across LAPACK builds.
        flip = np.sign(coords[np.argmax(np.abs(coords), axis=0), np.arange(width)])
        coords = coords * np.where(flip == 0, 1.0, flip)
        return np.pad(coords, ((0, 0), (0, 2 - width)))
    from sklearn.manifold import TSNE

    perplexity = _validate.positive("perplexity", perplexity)
    if perplexity >= len(X):
        raise ValueError(
            f"perplexity must be below the number of rows ({len(X)}), got {perplexity}"
        )
    if pca_components is not None:
        k = _validate.positive_int("pca_components", pca_components)
        if X.shape[1] > k:
            X = PCA(n_components=min(k, len(X)), svd_solver="full").fit_transform(X)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, n_jobs=1)
    return np.asarray(tsne.fit_transform(X), dtype=np.float64)


def map_continuity(
    coords: Any,
    prop: Any,
    *,
    k: int = 10,
    folds: int = 5,
    max_pairs: int = 200_000,
    seed: int = 0,
) -> dict[str, float]:
    """How continuously a property varies over a 2-D map (see the module notes).

    Parameters
    ----------
    coords : array_like, shape (n, 2)
        Map coordinates (from :func:`embed`).
    prop : array_like, shape (n,)
        The property, e.g. density (g/cm³) or energy (eV/atom); must not be constant.
    k : int, default 10
        Neighbours of the kNN regression (capped at the training-fold size).
    folds : int, default 5
        Cross-validation folds (shuffled under ``seed``); at least 2 and at most n.
    max_pairs : int, default 200 000
        Pairs for the rank correlation: all n(n−1)/2 when fewer, else a seeded random sample.
    seed : int

    Returns
    -------
    dict
        ``knn_r2`` (cross-validated R², ≤ 1), ``spearman`` (in [−1, 1]), ``n``.
    """
    from scipy.stats import spearmanr
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.neighbors import KNeighborsRegressor

    coords = _matrix("coords", coords, min_rows=3)
    if coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    n = len(coords)
    p = _vector("prop", prop, n)
    if np.ptp(p) == 0.0:
        raise ValueError("prop is constant: continuity of a constant property is undefined")
    if np.ptp(coords, axis=0).max() == 0.0:
        raise ValueError("coords are all the same point: the map has no extent")
    k = _validate.positive_int("k", k)
    folds = _validate.positive_int("folds", folds)
    if not 2 <= folds <= n:
        raise ValueError(f"folds must lie in [2, n = {n}], got {folds}")
    max_pairs = _validate.positive_int("max_pairs", max_pairs)
    seed = _validate.nonnegative_int("seed", seed)

    cv = KFold(n_splits=folds, shuffle=True, random_state=seed)
    smallest_train = n - -(-n // folds)
    knn = KNeighborsRegressor(n_neighbors=min(k, smallest_train))
    pred = cross_val_predict(knn, coords, p, cv=cv)
    r2 = 1.0 - float(np.sum((pred - p) ** 2) / np.sum((p - p.mean()) ** 2))

    n_all = n * (n - 1) // 2
    if n_all <= max_pairs:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, size=max_pairs)
        j = (i + rng.integers(1, n, size=max_pairs)) % n  # never i itself
    dist = np.linalg.norm(coords[i] - coords[j], axis=1)
    rho = float(spearmanr(np.abs(p[i] - p[j]), dist).statistic)
    return {"knn_r2": r2, "spearman": rho, "n": n}


def descriptor_maps(
    descriptors: Mapping[str, Any],
    properties: Mapping[str, Any],
    *,
    perplexities: Sequence[float] = (10.0, 30.0, 50.0),
    pca: bool = True,
    seed: int = 0,
    **continuity: Any,
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """t-SNE (each perplexity) and PCA maps of several descriptor spaces, with their continuity.

    Parameters
    ----------
    descriptors : mapping of str to array_like (n, F_name)
        E.g. ``{"PH": histograms, "SOAP": soap}``, rows for the same n structures.
    properties : mapping of str to array_like (n,)
        E.g. ``{"density": rho, "energy": e}``; each map is scored on each property.
    perplexities : sequence of float
        t-SNE perplexities (those ≥ n are skipped, and listed under ``skipped``).
    pca : bool
        Also the PCA map.
    seed : int
    **continuity
        Passed to :func:`map_continuity` (``k``, ``folds``, ...).

    Returns
    -------
    maps : dict
        ``maps[descriptor][method]`` ``(n, 2)`` with method ``"tsne_p30"`` etc. and ``"pca"``.
    metrics : dict
        ``metrics[descriptor][method][property]`` = :func:`map_continuity`'s dict; and
        ``skipped``: the methods left out (perplexity too large for n).
    """
    if not descriptors:
        raise ValueError("descriptors must hold at least one descriptor matrix")
    if not properties:
        raise ValueError("properties must hold at least one property")
    mats = {name: _matrix(f"descriptors[{name!r}]", X, 3) for name, X in descriptors.items()}
    n = {len(X) for X in mats.values()}
    if len(n) != 1:
        raise ValueError(f"descriptors must all have the same number of rows, got {sorted(n)}")
    (n_rows,) = n
    props = {name: _vector(f"properties[{name!r}]", v, n_rows) for name, v in properties.items()}
    methods: list[tuple[str, str, float]] = []
    skipped = []
    for perp in perplexities:
        label = f"tsne_p{float(perp):g}"
        if float(perp) >= n_rows:
            skipped.append(label)
        else:
            methods.append((label, "tsne", float(perp)))
    if pca:
        methods.append(("pca", "pca", 30.0))
    maps: dict[str, dict[str, np.ndarray]] = {}
    metrics: dict[str, Any] = {}
    for name, X in mats.items():
        maps[name], metrics[name] = {}, {}
        for label, method, perp in methods:
            coords = embed(X, method, perplexity=perp, seed=seed)
            maps[name][label] = coords
            metrics[name][label] = {
                p: map_continuity(coords, v, seed=seed, **continuity) for p, v in props.items()
            }
    metrics["skipped"] = skipped
    return maps, metrics
