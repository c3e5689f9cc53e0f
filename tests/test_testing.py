"""topophys.testing: the diagram comparison finds what differs and accepts what does not; the
transformer checks catch estimators that break scikit-learn's conventions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin

from topophys.diagrams import Diagrams
from topophys.testing import (
    assert_diagrams_equal,
    check_diagram_transformer,
    diagram_transformer_checks,
    example_diagrams,
)

INF = np.inf


def test_equal_as_multisets_per_dimension_whatever_the_order() -> None:
    a = [np.array([[0, 0.0, 1.0], [0, 0.0, 1.0], [1, 0.2, 0.9], [0, 0.0, INF]]), np.empty((0, 3))]
    b = [np.array([[1, 0.2, 0.9], [0, 0.0, INF], [0, 0.0, 1.0], [0, 0.0, 1.0]]), np.empty((0, 3))]
    assert_diagrams_equal(a, b)
    assert_diagrams_equal(Diagrams.from_list(a), Diagrams.from_list(b))


def test_tolerance_absolute_and_relative() -> None:
    a = [np.array([[0, 100.0, 200.0]])]
    b = [np.array([[0, 100.0, 200.1]])]
    with pytest.raises(AssertionError):
        assert_diagrams_equal(a, b)
    assert_diagrams_equal(a, b, atol=0.2)
    assert_diagrams_equal(a, b, rtol=1e-3)
    with pytest.raises(AssertionError):
        assert_diagrams_equal(a, b, atol=0.01, rtol=1e-5)


def test_matching_is_a_perfect_one_not_greedy() -> None:
    # Greedy nearest partners would pair (0, 1.0) with (0, 1.05) and leave (0, 1.1) alone;
    # within 0.1 both can be paired: (0, 1.0)-(0, 1.05)... (0, 1.05)-(0, 1.1)... a matching.
    a = [np.array([[0, 0.0, 1.0], [0, 0.0, 1.09]])]
    b = [np.array([[0, 0.0, 1.05], [0, 0.0, 0.95]])]
    assert_diagrams_equal(a, b, atol=0.1)


def test_failure_messages_name_diagram_dimension_and_points() -> None:
    a = [np.empty((0, 3)), np.array([[1, 0.5, 2.0], [1, 0.1, 0.2]])]
    b = [np.empty((0, 3)), np.array([[1, 0.5, 2.0], [1, 0.1, 0.3]])]
    with pytest.raises(AssertionError, match=r"diagram 1, H1, finite points: 1 of 2") as err:
        assert_diagrams_equal(a, b, err_msg="cubical")
    assert "actual only: [(0.1, 0.2)]" in str(err.value)
    assert "desired only: [(0.1, 0.3)]" in str(err.value)
    assert str(err.value).startswith("cubical: ")
    with pytest.raises(AssertionError, match="H0, finite points: 1 points in actual, 0"):
        assert_diagrams_equal([np.array([[0, 0.0, 1.0]])], [np.empty((0, 3))])
    with pytest.raises(AssertionError, match="2 diagrams in actual, 1 in desired"):
        assert_diagrams_equal([np.empty((0, 3))] * 2, [np.empty((0, 3))])


def test_essential_classes_match_by_birth_only_and_never_a_finite_point() -> None:
    with pytest.raises(AssertionError, match="H1, finite points: 0 points in actual, 1"):
        assert_diagrams_equal([np.array([[1, 0.5, INF]])], [np.array([[1, 0.5, 1e300]])])
    with pytest.raises(AssertionError, match="essential classes"):
        assert_diagrams_equal([np.array([[1, 0.5, INF]])], [np.array([[1, 0.6, INF]])])
    assert_diagrams_equal([np.array([[1, 0.5, INF]])], [np.array([[1, 0.6, INF]])], atol=0.2)


class _Counts(TransformerMixin, BaseEstimator):
    """A minimal diagram transformer: points per dimension."""

    def __init__(self, dims=(0, 1)):
        self.dims = dims

    def fit(self, X, y=None):
        self.n_features_out_ = len(self.dims)
        return self

    def transform(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        X = Diagrams.from_list(list(X)) if not isinstance(X, Diagrams) else X
        return np.array([[np.sum(d[:, 0] == k) for k in self.dims] for d in X], dtype=float)


class _FitReturnsNone(_Counts):
    def fit(self, X, y=None):
        self.n_features_out_ = len(self.dims)


class _ChangesItsParameter(_Counts):
    def __init__(self, dims=(0, 1)):
        self.dims = (*dims, 2)


class _Unpicklable(_Counts):
    def fit(self, X, y=None):
        super().fit(X, y)
        self.hook_ = lambda x: x  # a lambda does not pickle
        return self


class _Stateful(_Counts):
    """Transforms depend on how often it was called: not repeatable."""

    def transform(self, X):
        out = super().transform(X)
        self.calls_ = getattr(self, "calls_", 0) + 1
        return out + self.calls_


def test_check_suite_passes_a_conforming_transformer() -> None:
    check_diagram_transformer(_Counts())
    X, y = example_diagrams(8, seed=3)
    check_diagram_transformer(_Counts(dims=(1,)), X, y)
    names = [name for name, _ in diagram_transformer_checks(_Counts())]
    assert names == [
        "clone_and_params", "fit_transform", "pickle", "pipeline", "grid_search", "set_output",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("est", "check"),
    [
        (_FitReturnsNone(), "fit_transform"),
        (_ChangesItsParameter(), "clone_and_params"),
        (_Unpicklable(), "pickle"),
        (_Stateful(), "fit_transform"),
    ],
)
def test_check_suite_catches_broken_transformers(est, check) -> None:
    with pytest.raises(AssertionError, match=f"check '{check}' failed"):
        check_diagram_transformer(est)


def test_check_suite_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 4 diagrams"):
        list(diagram_transformer_checks(_Counts(), [np.empty((0, 3))] * 3))
    with pytest.raises(ValueError, match="one value per diagram"):
        list(diagram_transformer_checks(_Counts(), [np.empty((0, 3))] * 4, [1.0]))
