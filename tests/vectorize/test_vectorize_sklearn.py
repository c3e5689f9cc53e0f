"""The vectorizers follow scikit-learn conventions and compose with Pipeline and CV tools.

sklearn's ``check_estimator`` does not apply: it feeds 2-D numeric arrays, and these
transformers take persistence diagrams. The conventions it would check are tested here.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from topophys.diagrams import Diagrams
from topophys.vectorize import BettiCurve, EulerCurve, PersistenceHistogram, PersistenceImage

INF = np.inf

ESTIMATORS = [
    PersistenceHistogram(bins=(6, 5), birth_range=(0.0, 2.0), death_range=(0.0, 4.0)),
    PersistenceHistogram(bins=4, standardize="minmax", outside="clip", essential="clip"),
    PersistenceImage(resolution=(5, 4), birth_range=(0.0, 2.0), persistence_range=(0.0, 2.0)),
    PersistenceImage(weight=np.sqrt, essential="clip"),
    BettiCurve(dim=1, grid=7),
    BettiCurve(dim=0, grid=np.linspace(0.0, 3.0, 5)),
    EulerCurve(grid=9),
]
IDS = [f"{type(e).__name__}-{i}" for i, e in enumerate(ESTIMATORS)]


def random_diagrams(n: int, seed: int = 0) -> tuple[Diagrams, np.ndarray]:
    """Random H0/H1 diagrams, and a target that depends on them (count of long H1 loops)."""
    rng = np.random.default_rng(seed)
    out, y = [], []
    for _ in range(n):
        k = rng.integers(0, 25)
        b = rng.uniform(0.0, 2.0, k)
        d = b + rng.exponential(0.5, k)
        dims = rng.integers(0, 2, k)
        d[(dims == 0) & (rng.uniform(size=k) < 0.1)] = INF
        out.append(np.column_stack([dims, b, d]))
        y.append(np.sum((dims == 1) & (d - b > 0.5)))
    return Diagrams.from_list(out), np.asarray(y, dtype=float)


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_init_stores_arguments_and_clone_round_trips(est) -> None:
    params = est.get_params()
    twin = clone(est)
    assert type(twin) is type(est)
    for key, value in twin.get_params().items():
        assert value is params[key] or np.array_equal(value, params[key])
    twin.set_params(**params)
    assert twin.get_params().keys() == params.keys()
    # Nothing is fitted at construction; nothing but parameters is set by __init__.
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(est)


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_fit_returns_self_and_transform_is_consistent(est) -> None:
    X, _ = random_diagrams(12)
    est = clone(est)
    assert est.fit(X) is est
    check_is_fitted(est)
    out = est.transform(X)
    assert out.dtype == np.float64
    assert out.shape == (12, est.n_features_out_)
    assert np.isfinite(out).all()
    names = est.get_feature_names_out()
    assert len(names) == out.shape[1]
    assert len(set(names)) == len(names)
    np.testing.assert_array_equal(est.fit_transform(X), out)
    # A list of (k, 3) arrays is the same input as the Diagrams holding them.
    np.testing.assert_array_equal(est.transform(X.to_list()), out)
    # Each diagram is vectorized on its own: the batch is the stack of single rows.
    for i in (0, 5, 11):
        np.testing.assert_array_equal(est.transform(X[i : i + 1]), out[i : i + 1])


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_set_params_changes_the_fit(est) -> None:
    X, _ = random_diagrams(6)
    est = clone(est)
    if isinstance(est, EulerCurve):
        est.set_params(grid=4)
    elif isinstance(est, BettiCurve):
        est.set_params(grid=np.array([0.0, 1.0, 2.0, 3.0]))
    elif isinstance(est, PersistenceImage):
        est.set_params(resolution=(2, 2))
    else:
        est.set_params(bins=2)
    assert est.fit_transform(X).shape == (6, 4)


def test_pipeline_with_ridge_equals_the_steps_done_by_hand() -> None:
    X, y = random_diagrams(40)
    pipe = Pipeline(
        [
            ("hist", PersistenceHistogram(bins=8, birth_range=(0.0, 2.0), death_range=(0.0, 5.0))),
            ("ridge", Ridge(alpha=1.0)),
        ]
    ).fit(X[:30], y[:30])
    hist = PersistenceHistogram(bins=8, birth_range=(0.0, 2.0), death_range=(0.0, 5.0))
    ridge = Ridge(alpha=1.0).fit(hist.fit_transform(X[:30]), y[:30])
    np.testing.assert_allclose(pipe.predict(X[30:]), ridge.predict(hist.transform(X[30:])))
    assert pipe.get_feature_names_out  # the pipeline exposes names through its last step


def test_feature_union_cross_validation_and_grid_search() -> None:
    X, y = random_diagrams(40, seed=1)
    union = FeatureUnion(
        [
            ("h0", PersistenceHistogram(bins=4, dim=0, birth_range=(0, 2), death_range=(0, 5))),
            ("img", PersistenceImage(resolution=4, birth_range=(0, 2), persistence_range=(0, 3))),
            ("betti", BettiCurve(dim=1, grid=np.linspace(0, 4, 6))),
        ]
    )
    names = union.fit(X).get_feature_names_out()
    assert len(names) == 16 + 16 + 6
    assert names[0] == "h0__h0_b0_d0"
    pipe = Pipeline([("features", union), ("ridge", Ridge())])
    scores = cross_val_score(pipe, X, y, cv=3)  # sklearn indexes X as a list of (k, 3) arrays
    assert np.isfinite(scores).all()
    search = GridSearchCV(
        Pipeline([("img", PersistenceImage(persistence_range=(0, 3))), ("ridge", Ridge())]),
        {"img__bandwidth": [0.05, 0.2], "img__resolution": [3, 6]},
        cv=2,
    ).fit(X, y)
    assert set(search.best_params_) == {"img__bandwidth", "img__resolution"}


def test_long_loops_are_learnable_from_the_image() -> None:
    """A property that could fail: the image of H1 carries the count of long loops."""
    X, y = random_diagrams(120, seed=2)
    pipe = Pipeline(
        [
            (
                "img",
                # One birth pixel spanning all births, persistence pixels with an edge at 0.5
                # and a narrow kernel: the features are nearly counts per persistence band.
                PersistenceImage(
                    resolution=(1, 24),
                    birth_range=(-1.0, 3.0),
                    persistence_range=(0.0, 12.0),
                    bandwidth=0.02,
                    weight="constant",
                ),
            ),
            ("ridge", Ridge(alpha=1e-3)),
        ]
    )
    score = pipe.fit(X[:90], y[:90]).score(X[90:], y[90:])
    assert score > 0.9
