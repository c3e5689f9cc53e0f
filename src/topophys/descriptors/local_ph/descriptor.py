"""The atom-centred persistence descriptor as a scikit-learn transformer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ...diagrams import Diagrams
from ...parallel import pmap
from .config import LocalPHConfig
from .pairs import LocalPairs, check_structure, local_pairs

__all__ = ["LocalPHDescriptor", "local_features"]


def local_features(pairs: LocalPairs) -> np.ndarray:
    """The persistence images ``(n_atoms, n_features)`` of one structure's pairs (float64)."""
    import torch

    from .images import atom_images

    t = torch.as_tensor
    with torch.no_grad():
        images = atom_images(
            t(pairs.centre),
            t(pairs.block),
            t(pairs.birth),
            t(pairs.death),
            pairs.n_atoms,
            pairs.config,
        )
    return images.numpy()


class _PairsJob:
    """Picklable per-structure job for :func:`topophys.parallel.pmap`."""

    def __init__(self, config: LocalPHConfig, features: bool) -> None:
        self.config, self.features = config, features

    def __call__(self, atoms: Any) -> Any:
        pairs = local_pairs(atoms, self.config)
        return local_features(pairs) if self.features else pairs


class LocalPHDescriptor(TransformerMixin, BaseEstimator):
    """Atom-centred persistence images of atomic structures (scikit-learn transformer).

    Parameters are those of :class:`~.config.LocalPHConfig` (see there), plus:

    n_jobs : int, default 1
        Local worker processes (one structure each).
    scheduler : str or distributed.Client, optional
        Dask scheduler (see :mod:`topophys.parallel`).

    Attributes
    ----------
    config_ : LocalPHConfig
    n_features_out_ : int

    Examples
    --------
    >>> from ase.build import bulk
    >>> atoms = bulk("C", "diamond", cubic=True).repeat(3)
    >>> atoms.rattle(0.05, seed=0)
    >>> X = LocalPHDescriptor(max_dim=1, resolution=(4, 4)).fit_transform([atoms])
    >>> X.shape  # one row per atom, two 4 × 4 images
    (216, 32)
    """

    def __init__(
        self,
        filtration: Literal["alpha", "rips"] = "alpha",
        r_cut: float = 4.0,
        r_inner: float = 2.5,
        kappa: float = 0.1,
        t_max: float = 4.0,
        max_dim: int = 2,
        resolution: tuple[int, int] = (16, 16),
        bandwidth: float = 0.1,
        image_axes: Literal["squared", "root"] = "squared",
        weight: Literal["quadratic", "linear"] = "quadratic",
        species: tuple[str, ...] = ("C",),
        centre: Literal["kept", "removed", "both"] = "kept",
        graph: Literal["distance", "circumradius"] = "distance",
        graph_cycles: bool = False,
        graph_summary: Literal["persistence", "simplices"] = "persistence",
        n_jobs: int = 1,
        scheduler: Any = None,
    ) -> None:
        self.filtration = filtration
        self.r_cut = r_cut
        self.r_inner = r_inner
        self.kappa = kappa
        self.t_max = t_max
        self.max_dim = max_dim
        self.resolution = resolution
        self.bandwidth = bandwidth
        self.image_axes = image_axes
        self.weight = weight
        self.species = species
        self.centre = centre
        self.graph = graph
        self.graph_cycles = graph_cycles
        self.graph_summary = graph_summary
        self.n_jobs = n_jobs
        self.scheduler = scheduler

    def _config(self) -> LocalPHConfig:
        return LocalPHConfig(
            filtration=self.filtration,
            r_cut=self.r_cut,
            r_inner=self.r_inner,
            kappa=self.kappa,
            t_max=self.t_max,
            max_dim=self.max_dim,
            resolution=tuple(self.resolution),
            bandwidth=self.bandwidth,
            image_axes=self.image_axes,
            weight=self.weight,
            species=tuple(self.species),
            centre=self.centre,
            graph=self.graph,
            graph_cycles=self.graph_cycles,
            graph_summary=self.graph_summary,
        )

    def fit(self, X: Sequence[Any], y: Any = None) -> LocalPHDescriptor:
        """Nothing to learn; validates the parameters."""
        self.config_ = self._config()
        self.n_features_out_ = self.config_.n_features
        return self

    def _run(self, X: Sequence[Any], features: bool) -> list[Any]:
        config = self.config_ if hasattr(self, "config_") else self._config()
        structures = list(X)
        for i, atoms in enumerate(structures):
            check_structure(atoms, config, name=f"X[{i}]")
        return pmap(
            _PairsJob(config, features),
            structures,
            workers=self.n_jobs,
            scheduler=self.scheduler,
            desc="local persistence",
        )

    def transform(self, X: Sequence[Any]) -> np.ndarray:
        """Per-atom features ``(Σ n_atoms, n_features)``: the atoms of ``X[0]``, then ``X[1]``, …"""
        rows = self._run(X, features=True)
        width = self._config().n_features
        return np.concatenate(rows) if rows else np.empty((0, width))

    def transform_pairs(self, X: Sequence[Any]) -> list[LocalPairs]:
        """The pairs of each structure, with the recipes :mod:`.values` differentiates."""
        return self._run(X, features=False)

    def diagrams(self, X: Sequence[Any]) -> Diagrams:
        """Every atom's local diagram, ``[dim, birth, death]`` rows in Å², atoms of ``X[0]``
        first (a :class:`~topophys.diagrams.Diagrams` of ``Σ n_atoms``); with
        ``centre="both"`` the first column is the block (``LocalPairs.block``)."""
        return Diagrams.from_list([d for p in self.transform_pairs(X) for d in p.diagram_rows()])
