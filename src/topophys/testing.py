"""Test helpers for code that makes or consumes persistence diagrams.

- :func:`assert_diagrams_equal`: two batches of diagrams hold the same points, per diagram and
  homology dimension, as multisets, within a tolerance; essential classes (``death = inf``) are
  matched by their births alone. The failure message names the diagram, the dimension and the
  points that found no partner.
- :func:`check_diagram_transformer` and :func:`diagram_transformer_checks`: the scikit-learn
  conventions a diagram vectorizer must keep (``sklearn.utils.estimator_checks`` feeds 2-D
  numeric arrays, which these estimators do not take): ``clone``, ``get_params``/``set_params``,
  ``fit`` returning ``self`` and fitted attributes ending in ``_``, ``fit_transform`` equal to
  ``fit`` then ``transform``, each diagram vectorized on its own, a pickle round trip, a
  ``Pipeline`` with a regressor, ``GridSearchCV`` (which clones inside the folds) and
  ``set_output(transform="pandas")`` where the estimator names its features.

Examples
--------
>>> import numpy as np
>>> from topophys.diagrams import Diagrams
>>> a = Diagrams.from_list([np.array([[0, 0.0, 1.0], [1, 0.5, np.inf]])])
>>> b = Diagrams.from_list([np.array([[1, 0.5, np.inf], [0, 0.0, 1.0 + 1e-12]])])
>>> assert_diagrams_equal(a, b, atol=1e-9)
>>> from topophys.vectorize import BettiCurve
>>> check_diagram_transformer(BettiCurve(dim=0, grid=5))
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ._validate import nonnegative
from .diagrams import Diagrams, as_diagrams

__all__ = [
    "assert_diagrams_equal",
    "check_diagram_transformer",
    "diagram_transformer_checks",
    "example_diagrams",
]

_SHOWN = 5  # points listed per mismatch in a failure message


# --------------------------------------------------------------------------- equality


def _perfect_matching(a: np.ndarray, b: np.ndarray, close: Callable[..., np.ndarray]) -> np.ndarray:
    """For ``a (k, m)`` and ``b (k, m)``, a partner in ``b`` of each row of ``a`` such that all
    pairs are ``close``, or -1 where no such assignment covers the row (maximum matching)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    ok = close(a[:, None, :], b[None, :, :]).all(axis=-1)
    return maximum_bipartite_matching(csr_matrix(ok.astype(np.int8)), perm_type="column")


def _describe(points: np.ndarray) -> str:
    shown = ", ".join(f"({p[0]:.6g}, {p[1]:.6g})" for p in points[:_SHOWN])
    more = f" and {len(points) - _SHOWN} more" if len(points) > _SHOWN else ""
    return f"[{shown}{more}]"


def _compare_points(
    a: np.ndarray, b: np.ndarray, close: Callable[..., np.ndarray], what: str
) -> str | None:
    """None when the multisets of rows ``a``, ``b`` ``(k, m)`` match within ``close``, else why."""
    if len(a) != len(b):
        return f"{what}: {len(a)} points in actual, {len(b)} in desired"
    if not len(a):
        return None
    match = _perfect_matching(a, b, close)
    if (match >= 0).all():
        return None
    lonely_a = a[match < 0]
    used = np.zeros(len(b), dtype=bool)
    used[match[match >= 0]] = True
    lonely_b = b[~used]
    return (
        f"{what}: {int((match < 0).sum())} of {len(a)} points have no partner within tolerance; "
        f"actual only: {_describe(lonely_a)}; desired only: {_describe(lonely_b)}"
    )


def assert_diagrams_equal(
    actual: Any,
    desired: Any,
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    err_msg: str = "",
) -> None:
    """Assert that two batches of persistence diagrams hold the same points.

    Each diagram is compared with the diagram at the same position, one homology dimension at
    a time, as a multiset: row order does not matter. Finite points ``(birth, death)`` match
    when both coordinates are within ``atol + rtol * |desired|`` (as :func:`numpy.isclose`);
    essential classes (``death = inf``) match by their births alone, never with a finite
    point.

    Parameters
    ----------
    actual, desired : Diagrams or sequence of array_like (k, 3)
        Rows ``[dim, birth, death]``.
    atol, rtol : float, default 0
        Absolute and relative tolerance, in filtration units.
    err_msg : str
        Prepended to the failure message.

    Raises
    ------
    AssertionError
        Naming the first diagram and dimension that differ: counts, or the points on either
        side that found no partner.

    Examples
    --------
    >>> import numpy as np
    >>> a = [np.array([[0, 0.0, 1.0]])]
    >>> assert_diagrams_equal(a, [np.array([[0, 0.0, 1.5]])])
    Traceback (most recent call last):
    ...
    AssertionError: diagram 0, H0, finite points: 1 of 1 points have no partner within \
tolerance; actual only: [(0, 1)]; desired only: [(0, 1.5)]
    """
    atol, rtol = nonnegative("atol", atol), nonnegative("rtol", rtol)
    a, b = as_diagrams(actual, "actual"), as_diagrams(desired, "desired")
    prefix = f"{err_msg}: " if err_msg else ""
    if len(a) != len(b):
        raise AssertionError(f"{prefix}{len(a)} diagrams in actual, {len(b)} in desired")

    def close(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.isclose(x, y, atol=atol, rtol=rtol)

    for i in range(len(a)):
        da, db = a[i], b[i]
        for dim in sorted(set(da[:, 0].tolist()) | set(db[:, 0].tolist())):
            pa, pb = da[da[:, 0] == dim, 1:], db[db[:, 0] == dim, 1:]
            ea, eb = np.isinf(pa[:, 1]), np.isinf(pb[:, 1])
            where = f"diagram {i}, H{int(dim)}"
            problem = _compare_points(pa[~ea], pb[~eb], close, f"{where}, finite points")
            problem = problem or _compare_points(
                np.column_stack([pa[ea, 0], pa[ea, 0]]), np.column_stack([pb[eb, 0], pb[eb, 0]]),
                close, f"{where}, essential classes (births)",
            )  # fmt: skip
            if problem:
                raise AssertionError(prefix + problem)


# --------------------------------------------------------------------------- transformer checks


def example_diagrams(n: int = 24, seed: int = 0) -> tuple[Diagrams, np.ndarray]:
    """Random H0/H1 diagrams with essential classes, and a target that depends on them.

    Births in ``[0, 2]``, persistence exponential (mean 0.5), a tenth of the H0 points
    essential; the target is the number of H1 points persisting longer than 0.5.

    Returns
    -------
    X : Diagrams
        ``n`` diagrams (some may be empty).
    y : numpy.ndarray, shape (n,)
    """
    rng = np.random.default_rng(seed)
    out, y = [], []
    for _ in range(n):
        k = int(rng.integers(0, 25))
        b = rng.uniform(0.0, 2.0, k)
        d = b + rng.exponential(0.5, k)
        dims = rng.integers(0, 2, k)
        d[(dims == 0) & (rng.uniform(size=k) < 0.1)] = np.inf
        out.append(np.column_stack([dims, b, d]))
        y.append(np.sum((dims == 1) & (d - b > 0.5)))
    return Diagrams.from_list(out), np.asarray(y, dtype=float)


def _same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if a.keys() != b.keys():
        return False
    return all(a[k] is b[k] or _equal(a[k], b[k]) for k in a)


def _equal(x: Any, y: Any) -> bool:
    try:
        return bool(np.array_equal(x, y))
    except (TypeError, ValueError):
        return x == y


def _check_clone_and_params(est: Any, X: Diagrams, y: np.ndarray) -> None:
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    params = est.get_params()
    twin = clone(est)
    assert type(twin) is type(est), "clone changed the type"
    assert _same_params(twin.get_params(), params), "clone changed the parameters"
    assert twin.set_params(**params) is twin, "set_params must return self"
    fitted = [k for k in vars(twin) if k.endswith("_") and not k.startswith("_")]
    assert not fitted, f"__init__ set attributes ending in '_' (fitted state): {fitted}"
    try:
        twin.transform(X)
    except NotFittedError:
        pass
    else:
        raise AssertionError("transform before fit must raise sklearn's NotFittedError")


def _check_fit_transform(est: Any, X: Diagrams, y: np.ndarray) -> None:
    from sklearn.base import clone
    from sklearn.utils.validation import check_is_fitted

    est = clone(est)
    assert est.fit(X, y) is est, "fit must return self"
    check_is_fitted(est)
    out = est.transform(X)
    assert isinstance(out, np.ndarray) and out.ndim == 2 and out.shape[0] == len(X), (
        f"transform must return an (n, n_features) array, got {getattr(out, 'shape', out)}"
    )
    assert np.isfinite(out).all(), "transform returned NaN or inf"
    np.testing.assert_allclose(clone(est).fit_transform(X, y), out, err_msg="fit_transform")
    np.testing.assert_array_equal(est.transform(X), out, err_msg="transform is not repeatable")
    np.testing.assert_array_equal(
        est.transform(X.to_list()), out, err_msg="a list of (k, 3) arrays differs from Diagrams"
    )
    for i in (0, len(X) - 1):
        np.testing.assert_allclose(
            est.transform(X[i : i + 1]), out[i : i + 1],
            err_msg=f"diagram {i} alone differs from it in the batch",
        )  # fmt: skip
    before = X.data.copy()
    est.transform(X)
    np.testing.assert_array_equal(X.data, before, err_msg="transform modified its input")


def _check_pickle(est: Any, X: Diagrams, y: np.ndarray) -> None:
    from sklearn.base import clone

    fitted = clone(est).fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        again.transform(X), fitted.transform(X), err_msg="pickle round trip"
    )
    assert _same_params(again.get_params(), fitted.get_params()), "pickle changed parameters"


def _check_pipeline(est: Any, X: Diagrams, y: np.ndarray) -> None:
    from sklearn.base import clone
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline

    half = len(X) // 2
    pipe = Pipeline([("vec", clone(est)), ("ridge", Ridge(alpha=1.0))]).fit(X[:half], y[:half])
    vec = clone(est).fit(X[:half], y[:half])
    ridge = Ridge(alpha=1.0).fit(vec.transform(X[:half]), y[:half])
    np.testing.assert_allclose(
        pipe.predict(X[half:]), ridge.predict(vec.transform(X[half:])), rtol=1e-10,
        err_msg="Pipeline differs from its steps done by hand",
    )  # fmt: skip


def _check_grid_search(est: Any, X: Diagrams, y: np.ndarray) -> None:
    from sklearn.base import clone
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    params = {f"vec__{k}": [v] for k, v in clone(est).get_params(deep=False).items()}
    params["ridge__alpha"] = [0.1, 10.0]
    pipe = Pipeline([("vec", clone(est)), ("ridge", Ridge())])
    search = GridSearchCV(pipe, params, cv=2).fit(X, y)
    assert search.best_params_["ridge__alpha"] in (0.1, 10.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all(), "GridSearchCV scores"


def _check_set_output(est: Any, X: Diagrams, y: np.ndarray) -> None:
    from sklearn.base import clone

    if not (hasattr(est, "set_output") and hasattr(est, "get_feature_names_out")):
        return  # the estimator does not name its features: nothing to check
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with xarray
        return
    fitted = clone(est).set_output(transform="pandas").fit(X, y)
    frame = fitted.transform(X)
    assert isinstance(frame, pd.DataFrame), f"set_output('pandas') gave {type(frame).__name__}"
    assert list(frame.columns) == list(fitted.get_feature_names_out()), "column names"
    plain = clone(est).fit(X, y).transform(X)
    np.testing.assert_array_equal(frame.to_numpy(), plain, err_msg="set_output changed values")


_CHECKS: dict[str, Callable[[Any, Diagrams, np.ndarray], None]] = {
    "clone_and_params": _check_clone_and_params,
    "fit_transform": _check_fit_transform,
    "pickle": _check_pickle,
    "pipeline": _check_pipeline,
    "grid_search": _check_grid_search,
    "set_output": _check_set_output,
}


def diagram_transformer_checks(
    estimator: Any, X: Any = None, y: Any = None
) -> Iterator[tuple[str, Callable[[], None]]]:
    """The checks of :func:`check_diagram_transformer` one by one, for ``pytest.parametrize``.

    Yields
    ------
    (name, check)
        ``check()`` runs one check on ``estimator`` (an unfitted instance; it is cloned, not
        modified) and raises ``AssertionError`` when it fails. Names: ``clone_and_params``,
        ``fit_transform``, ``pickle``, ``pipeline``, ``grid_search``, ``set_output``.
    """
    if X is None:
        X, default_y = example_diagrams()
        y = default_y if y is None else y
    X = as_diagrams(X)
    if len(X) < 4:
        raise ValueError(f"X must hold at least 4 diagrams for the checks, got {len(X)}")
    y = np.arange(len(X), dtype=float) if y is None else np.asarray(y, dtype=float)
    if y.shape != (len(X),):
        raise ValueError(f"y must have one value per diagram ({len(X)}), got shape {y.shape}")
    for name, check in _CHECKS.items():
        yield name, functools.partial(check, estimator, X, y)


def check_diagram_transformer(estimator: Any, X: Any = None, y: Any = None) -> None:
    """Run every check of :func:`diagram_transformer_checks` on ``estimator``.

    Parameters
    ----------
    estimator : scikit-learn transformer
        Takes a batch of diagrams (:class:`~topophys.diagrams.Diagrams` or a list of ``(k, 3)``
        arrays) and returns an ``(n, n_features)`` array; an unfitted instance.
    X : Diagrams or sequence of (k, 3) arrays, optional
        At least 4 diagrams the estimator can fit (default: :func:`example_diagrams`).
    y : array_like, shape (n,), optional
        Targets for the pipeline checks (default: those of :func:`example_diagrams`, or
        ``arange(n)`` with one's own ``X``).

    Raises
    ------
    AssertionError
        Naming the check that failed and why (also when the estimator raised another error
        there, e.g. ``clone`` refusing an ``__init__`` that changes its arguments).
    """
    for name, check in diagram_transformer_checks(estimator, X, y):
        try:
            check()
        except Exception as err:  # an error in a check is a failed convention, named as such
            what = str(err) if isinstance(err, AssertionError) else f"{type(err).__name__}: {err}"
            raise AssertionError(
                f"{type(estimator).__name__}: check {name!r} failed: {what}"
            ) from err
