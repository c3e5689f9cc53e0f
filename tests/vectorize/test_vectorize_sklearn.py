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
from topophys.testing import diagram_transformer_checks, example_diagrams
from topophys.vectorize import (
    BettiCurve,
    EulerCurve,
    PersistenceHistogram,
    PersistenceImage,
    PersistenceLandscape,
    PersistenceSilhouette,
)
from topophys.vectorize._base import DiagramTransformer

ESTIMATORS = [
    PersistenceHistogram(bins=(6, 5), birth_range=(0.0, 2.0), death_range=(0.0, 4.0)),
    PersistenceHistogram(bins=4, standardize="minmax", outside="clip", essential="clip"),
    PersistenceImage(resolution=(5, 4), birth_range=(0.0, 2.0), persistence_range=(0.0, 2.0)),
    PersistenceImage(weight=np.sqrt, essential="clip"),
    BettiCurve(dim=1, grid=7),
    BettiCurve(dim=0, grid=np.linspace(0.0, 3.0, 5)),
    EulerCurve(grid=9),
    PersistenceLandscape(n_layers=3, grid=8),
    PersistenceLandscape(dim=0, grid=np.linspace(0.0, 3.0, 6), essential="clip"),
    PersistenceSilhouette(grid=7),
    PersistenceSilhouette(dim=0, power=0.0, grid=5, essential="clip"),
]
IDS = [f"{type(e).__name__}-{i}" for i, e in enumerate(ESTIMATORS)]


def random_diagrams(n: int, seed: int = 0) -> tuple[Diagrams, np.ndarray]:
    """Random H0/H1 diagrams, and a target that depends on them (count of long H1 loops)."""
    return example_diagrams(n, seed)


CHECKS = [
    pytest.param(est, name, id=f"{est_id}-{name}")
    for est, est_id in zip(ESTIMATORS, IDS, strict=True)
    for name, _ in diagram_transformer_checks(est)
]


@pytest.mark.parametrize(("est", "check"), CHECKS)
def test_diagram_transformer_conventions(est, check) -> None:
    """topophys.testing's check suite (clone, params, fit/transform, pickle, Pipeline,
    GridSearchCV, set_output) on every vectorizer."""
    dict(diagram_transformer_checks(est))[check]()


def test_every_vectorizer_is_checked() -> None:
    import topophys.vectorize as vectorize

    classes = {
        getattr(vectorize, name)
        for name in vectorize.__all__
        if isinstance(getattr(vectorize, name), type)
        and issubclass(getattr(vectorize, name), DiagramTransformer)
    }
    assert classes == {type(e) for e in ESTIMATORS}


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_init_sets_no_fitted_state_and_is_unfitted(est) -> None:
    assert not [k for k in vars(est) if k.endswith("_")]
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(est)


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
    elif isinstance(est, PersistenceLandscape):
        est.set_params(n_layers=2, grid=2)
    elif isinstance(est, PersistenceSilhouette):
        est.set_params(grid=4)
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
