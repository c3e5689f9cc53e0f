"""Vectorizers of persistence diagrams, as scikit-learn transformers.

Each takes ``X`` as a :class:`topophys.diagrams.Diagrams` (or a sequence of ``(k, 3)`` arrays
``[dim, birth, death]``) and returns a float64 ``(n, n_features)`` array, so they compose with
``Pipeline``, ``FeatureUnion`` and ``GridSearchCV``. ``fit`` validates the parameters (and fits
the standardization of :class:`PersistenceHistogram` and the inferred grids of the curves);
``transform`` requires it.
"""

from topophys.vectorize.curves import BettiCurve, EulerCurve
from topophys.vectorize.histogram import PersistenceHistogram
from topophys.vectorize.image import PersistenceImage, persistence_image_torch
from topophys.vectorize.landscapes import PersistenceLandscape, PersistenceSilhouette

__all__ = [
    "BettiCurve",
    "EulerCurve",
    "PersistenceHistogram",
    "PersistenceImage",
    "PersistenceLandscape",
    "PersistenceSilhouette",
    "persistence_image_torch",
]
