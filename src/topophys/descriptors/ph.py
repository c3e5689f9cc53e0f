"""The PH-descriptor papers' descriptor: a histogram of each structure's alpha persistence diagram.

Minamitani et al. bin the periodic H1 alpha diagram of a structure (squared radii, Å²) on a
128 × 128 grid over ``[0, 8]²`` Å², turn it into a probability and z-score every bin with
statistics of the training structures; the letter does the same for amorphous graphene in the
plane on ``[0, 4]²`` Å² with min–max scaling (:data:`GRAPHENE_DESCRIPTOR`).
:class:`DescriptorConfig` holds these choices; :func:`ph_descriptor` turns them into one
scikit-learn ``Pipeline`` from ``ase.Atoms`` to descriptor rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .. import _validate
from ..config import Config

__all__ = ["GRAPHENE_DESCRIPTOR", "DescriptorConfig", "ph_descriptor"]


@dataclass(frozen=True)
class DescriptorConfig(Config):
    """The papers' PD-histogram descriptor (defaults: amorphous carbon).

    Parameters
    ----------
    dimension
        3 for bulk structures (aC); 2 for planar ones (amorphous graphene: x, y only).
    homology_dim
        Homology dimension binned (the papers': 1, rings).
    bins
        Bins per axis (the papers': 128).
    birth_range, death_range
        Window in squared radii, Å² (aC: [0, 8]²; graphene: [0, 4]²).
    normalize
        ``"probability"`` (the papers': each histogram sums to 1, so the descriptor does not
        depend on system size) or ``"none"``.
    standardize
        Per-bin scaling fitted on the training frames: ``"zscore"`` (aC), ``"minmax"``
        (graphene) or ``"none"``.
    """

    dimension: int = 3
    homology_dim: int = 1
    bins: int = 128
    birth_range: tuple[float, ...] = (0.0, 8.0)
    death_range: tuple[float, ...] = (0.0, 8.0)
    normalize: Literal["probability", "none"] = "probability"
    standardize: Literal["zscore", "minmax", "none"] = "zscore"

    def __post_init__(self) -> None:
        if self.dimension not in (2, 3):
            raise ValueError(f"dimension must be 2 or 3, got {self.dimension!r}")
        _validate.nonnegative_int("homology_dim", self.homology_dim)
        if self.homology_dim >= self.dimension:
            raise ValueError(
                f"homology_dim must be below dimension={self.dimension}, got {self.homology_dim}"
            )
        _validate.positive_int("bins", self.bins)
        for name in ("birth_range", "death_range"):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
                raise ValueError(f"{name} must be (low, high) with low < high, got {lo_hi}")

    def histogram(self) -> Any:
        """An unfitted :class:`~topophys.vectorize.PersistenceHistogram` with these settings."""
        from ..vectorize import PersistenceHistogram

        return PersistenceHistogram(
            bins=self.bins,
            # (low, high), checked in __post_init__
            birth_range=(float(self.birth_range[0]), float(self.birth_range[1])),
            death_range=(float(self.death_range[0]), float(self.death_range[1])),
            dim=self.homology_dim,
            normalize=self.normalize,
            standardize=self.standardize,
        )

    def persistence(self, **kwargs: Any) -> Any:
        """An :class:`~topophys.homology.AlphaPersistence` computing what the histogram bins.

        Periodic when a structure's ``pbc`` is; only dimensions up to ``homology_dim``.
        """
        from ..homology import AlphaPersistence

        return AlphaPersistence(dimension=self.dimension, max_dim=self.homology_dim, **kwargs)


GRAPHENE_DESCRIPTOR = DescriptorConfig(
    dimension=2, birth_range=(0.0, 4.0), death_range=(0.0, 4.0), standardize="minmax"
)
"""The letter's amorphous-graphene descriptor: planar, [0, 4]² Å², min–max standardized."""


def ph_descriptor(config: DescriptorConfig | None = None, *, n_jobs: int = 1) -> Any:
    """Structures → descriptor as one scikit-learn ``Pipeline`` (alpha persistence, histogram).

    ``fit`` learns the standardization from the structures it is given (the training set);
    ``transform`` returns ``(n, bins²)`` float64 rows, birth-major (reshape to ``(n, bins,
    bins)`` for images with birth along axis 1).

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("C", "diamond", cubic=True).repeat(2)
    >>> pipe = ph_descriptor(DescriptorConfig(bins=16, standardize="none"))
    >>> x = pipe.fit_transform([atoms])
    >>> x.shape, round(float(x.sum()), 12)
    ((1, 256), 1.0)
    """
    from sklearn.pipeline import Pipeline

    config = DescriptorConfig() if config is None else config
    if not isinstance(config, DescriptorConfig):
        raise TypeError(f"config must be a DescriptorConfig, got {type(config).__name__}")
    return Pipeline(
        [("diagrams", config.persistence(n_jobs=n_jobs)), ("histogram", config.histogram())]
    )
