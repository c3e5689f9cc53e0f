r"""Descriptor spaces of cyclo-octane conformers: the letter's Fig. 2 as numbers.

The letter (Minamitani & Obayashi, Fig. 2) projects four representations of the same conformers
to three dimensions by PCA: the Cartesian coordinates (a surface with self-intersections), the
SOAP and ACSF descriptors of the eight atoms (similar surfaces), and persistence images of the
conformers' alpha diagrams (a curve). Here each representation is built
(:func:`conformer_features`), projected (:func:`pca_embedding`), and the picture's claim is
measured with the local dimension of every embedding (:func:`local_dimension`): the
conformation space is a 2-dimensional variety, so a surface reads ≈ 2 and a curve ≈ 1.

Representations (choices the letter leaves open are ours, as marked):

``coordinates``
    The 24 Cartesian coordinates after centring and a proper rotation onto the first conformer
    (Kabsch); atoms keep their ring order. The letter does not say how its set was aligned.
``distances``
    The 28 interatomic distances: invariant without any alignment (ours, a check on the above).
``soap``
    DScribe SOAP of each atom, concatenated in ring order: 8 × 252 = 2016 numbers as in the
    letter (n_max 8, l_max 6; r_cut 5 Å and σ 0.5 Å are ours).
``acsf``
    DScribe ACSF of each atom, concatenated: 8 × 44 = 352 as in the letter (1 G1, 7 G2 with
    η = 0.01–8 Å⁻², 36 G4 with η ∈ {0.005, 0.05, 0.5} Å⁻², ζ ∈ {1, …, 32}, λ = ±1, r_cut 5 Å:
    ours).
``persistence``
    Non-periodic alpha diagrams (squared radii, Å²) of the eight atoms, H1 and H2 each as a
    persistence image (linear weight, 32 × 32 pixels on the data's range, σ = 2.5 % of it),
    concatenated. H0 is left out: every H0 death is (b/2)² for all conformers.

SOAP and ACSF need DScribe (``pip install dscribe``); without it they are skipped with a
:class:`~topophys._warnings.TopophysWarning` by :func:`cyclooctane_section`.

Examples
--------
>>> import numpy as np
>>> t = np.random.default_rng(0).uniform(0, 6, 400)  # random: a regular grid biases the MLE
>>> curve = np.stack([np.cos(t), np.sin(t), 0.3 * t], axis=1)  # a helix: 1-D
>>> round(float(local_dimension(curve, k=10).global_), 1)
1.0
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

import numpy as np

from .. import _validate
from .._warnings import TopophysWarning
from ..config import Config
from ..diagrams import Diagrams

__all__ = [
    "REPRESENTATIONS",
    "CycloOctaneConfig",
    "LocalDimension",
    "conformer_diagrams",
    "conformer_features",
    "cyclooctane_section",
    "dscribe_available",
    "kabsch_align",
    "local_dimension",
    "pca_embedding",
]

REPRESENTATIONS = ("coordinates", "distances", "soap", "acsf", "persistence")
"""Names accepted by :func:`conformer_features`."""

Representation = Literal["coordinates", "distances", "soap", "acsf", "persistence"]

_ACSF_G2 = [[eta, 0.0] for eta in (0.01, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0)]
_ACSF_G4 = [
    [eta, zeta, lam]
    for eta in (0.005, 0.05, 0.5)
    for zeta in (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
    for lam in (1.0, -1.0)
]


def dscribe_available() -> bool:
    """Whether DScribe (SOAP, ACSF) can be imported."""
    return importlib.util.find_spec("dscribe") is not None


def _check_rings(coords: Any) -> np.ndarray:
    x = np.asarray(coords)
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"coords must be a numeric (n, atoms, 3) array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 2 or x.shape[2] != 3:
        raise ValueError(f"coords must have shape (n ≥ 1, atoms ≥ 2, 3), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("coords contain NaN or infinite values")
    return x


def kabsch_align(coords: Any, reference: Any = None) -> np.ndarray:
    """Centre every structure and rotate it (proper rotation) onto ``reference``.

    Parameters
    ----------
    coords : array_like, shape (n, m, 3)
        Structures with atoms in corresponding order.
    reference : array_like, shape (m, 3), optional
        Target; default the first structure.

    Returns
    -------
    numpy.ndarray, shape (n, m, 3)
        Centred and rotated copies minimizing the RMSD to the centred reference.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(1, 5, 3))
    >>> c, s = np.cos(0.7), np.sin(0.7)
    >>> turned = x @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) + 4.0
    >>> bool(np.allclose(kabsch_align(turned, x[0]), x[0] - x[0].mean(0)))
    True
    """
    x = _check_rings(coords)
    x = x - x.mean(axis=1, keepdims=True)
    ref = x[0] if reference is None else np.asarray(reference, dtype=np.float64)
    if ref.shape != x.shape[1:]:
        raise ValueError(f"reference must have shape {x.shape[1:]}, got {ref.shape}")
    ref = ref - ref.mean(axis=0)
    h = np.einsum("nai,aj->nij", x, ref)
    u, _, vt = np.linalg.svd(h)
    # Flip the last singular direction where the optimum would be a reflection.
    sign = np.sign(np.linalg.det(u @ vt))
    u[:, :, -1] *= sign[:, None]
    return np.einsum("nai,nij->naj", x, u @ vt)


def conformer_diagrams(coords: Any) -> Diagrams:
    """Non-periodic alpha persistence diagrams (squared radii, Å²) of each structure.

    Parameters
    ----------
    coords : array_like, shape (n, m, 3)

    Returns
    -------
    Diagrams
        ``n`` diagrams with H0, H1 and H2 rows ``[dim, birth, death]``.
    """
    from ..homology.alpha import alpha_diagram

    x = _check_rings(coords)
    return Diagrams.from_list([alpha_diagram(ring, max_dim=2) for ring in x])


def _persistence_images(
    diagrams: Diagrams, resolution: int, bandwidth_fraction: float
) -> np.ndarray:
    from ..vectorize import PersistenceImage

    blocks = []
    for dim in (1, 2):
        rows = np.concatenate([diagrams[i] for i in range(len(diagrams))])
        rows = rows[(rows[:, 0] == dim) & np.isfinite(rows[:, 2])]
        if rows.size == 0:
            continue
        birth_hi = float(rows[:, 1].max())
        pers_hi = float((rows[:, 2] - rows[:, 1]).max())
        birth_lo = float(rows[:, 1].min())
        span = max(birth_hi - birth_lo, pers_hi, 1e-12)
        pad = 3.0 * bandwidth_fraction * span
        image = PersistenceImage(
            resolution=(resolution, resolution),
            birth_range=(birth_lo - pad, birth_hi + pad),
            persistence_range=(0.0, pers_hi + pad),
            bandwidth=bandwidth_fraction * span,
            dim=dim,
        )
        blocks.append(image.fit_transform(diagrams))
    if not blocks:
        raise ValueError("the diagrams hold no finite H1 or H2 points to image")
    return np.concatenate(blocks, axis=1)


def conformer_features(
    coords: Any,
    representation: Representation,
    *,
    resolution: int = 32,
    bandwidth_fraction: float = 0.025,
    r_cut: float = 5.0,
) -> np.ndarray:
    """One representation of each structure as a row (see the module notes for each).

    Parameters
    ----------
    coords : array_like, shape (n, m, 3)
        Carbon structures (Å), atoms in corresponding order (ring order for cyclo-octane).
    representation : str
        One of :data:`REPRESENTATIONS`.
    resolution : int
        Persistence-image pixels per axis (``persistence`` only).
    bandwidth_fraction : float
        Persistence-image σ as a fraction of the data's range (``persistence`` only).
    r_cut : float
        SOAP/ACSF cutoff (Å).

    Returns
    -------
    numpy.ndarray, shape (n, F)
        F = 3m (coordinates), m(m−1)/2 (distances), 252m (SOAP), 44m (ACSF),
        2·resolution² (persistence, fewer if a dimension has no finite point).

    Raises
    ------
    ImportError
        For ``soap``/``acsf`` without DScribe.
    """
    x = _check_rings(coords)
    _validate.choice("representation", representation, REPRESENTATIONS)
    n, m, _ = x.shape
    if representation == "coordinates":
        return kabsch_align(x).reshape(n, 3 * m)
    if representation == "distances":
        i, j = np.triu_indices(m, 1)
        return np.linalg.norm(x[:, i] - x[:, j], axis=-1)
    if representation == "persistence":
        resolution = _validate.positive_int("resolution", resolution)
        bandwidth_fraction = _validate.positive("bandwidth_fraction", bandwidth_fraction)
        return _persistence_images(conformer_diagrams(x), resolution, bandwidth_fraction)
    r_cut = _validate.positive("r_cut (Å)", r_cut)
    if not dscribe_available():
        raise ImportError(f"representation={representation!r} needs DScribe: pip install dscribe")
    import ase
    from dscribe.descriptors import ACSF, SOAP

    if representation == "soap":
        desc: Any = SOAP(species=["C"], r_cut=r_cut, n_max=8, l_max=6, sigma=0.5, periodic=False)
    else:
        desc = ACSF(species=["C"], r_cut=r_cut, g2_params=_ACSF_G2, g4_params=_ACSF_G4)
    rows = [desc.create(ase.Atoms(f"C{m}", positions=ring)).reshape(-1) for ring in x]
    return np.asarray(rows, dtype=np.float64)


def _check_matrix(name: str, X: Any, min_rows: int) -> np.ndarray:
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"{name} must be a numeric (n, F) array, got dtype {X.dtype}")
    X = X.astype(np.float64)
    if X.ndim != 2 or X.shape[0] < min_rows or X.shape[1] < 1:
        raise ValueError(f"{name} must have shape (n ≥ {min_rows}, F ≥ 1), got {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def pca_embedding(X: Any, n_components: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of the rows of ``X`` (centred, not scaled, as in the letter).

    Parameters
    ----------
    X : array_like, shape (n, F)
    n_components : int
        Components kept (≤ min(n, F)).

    Returns
    -------
    embedding : numpy.ndarray, shape (n, n_components)
        Scores, sign fixed so that each component's largest |loading| is positive.
    explained : numpy.ndarray, shape (n_components,)
        Fraction of the total variance each component explains.
    """
    X = _check_matrix("X", X, 2)
    k = _validate.positive_int("n_components", n_components)
    if k > min(X.shape):
        raise ValueError(f"n_components must be ≤ min(n, F) = {min(X.shape)}, got {k}")
    centred = X - X.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    flip = np.sign(vt[np.arange(k), np.abs(vt[:k]).argmax(axis=1)])
    total = float((s**2).sum())
    explained = s[:k] ** 2 / total if total > 0 else np.zeros(k)
    return u[:, :k] * s[:k] * flip, explained


class LocalDimension(NamedTuple):
    """Local intrinsic dimension of a point cloud.

    Attributes
    ----------
    pointwise : numpy.ndarray, shape (n,)
        Estimate at each point.
    global_ : float
        The pooled estimate.
    """

    pointwise: np.ndarray
    global_: float


def local_dimension(
    X: Any, k: int = 12, method: Literal["mle", "pca"] = "mle", threshold: float = 0.9
) -> LocalDimension:
    r"""Intrinsic dimension of the manifold the rows of ``X`` sample, from k-neighbourhoods.

    ``"mle"`` is Levina & Bickel's maximum-likelihood estimate at each point,

    .. math::
        \hat m_k(x) = \Big[\frac{1}{k-1}\sum_{j=1}^{k-1} \log\frac{T_k(x)}{T_j(x)}\Big]^{-1},

    with :math:`T_j` the distance to the j-th neighbour, pooled as MacKay & Ghahramani advise
    (the inverse of the mean of :math:`1/\hat m_k`). ``"pca"`` counts, at each point, the
    principal components of its k neighbours (itself included) needed to explain
    ``threshold`` of their variance; pooled by the median.

    Parameters
    ----------
    X : array_like, shape (n, F)
        Points, n > k; no two identical (their distance ratio is undefined).
    k : int
        Neighbours per point (≥ 3).
    method : {"mle", "pca"}
    threshold : float
        Explained-variance fraction of the ``"pca"`` method, in (0, 1).

    Returns
    -------
    LocalDimension
    """
    from scipy.spatial import cKDTree

    k = _validate.positive_int("k", k)
    if k < 3:
        raise ValueError(f"k must be ≥ 3 neighbours, got {k}")
    X = _check_matrix("X", X, k + 1)
    _validate.choice("method", method, ("mle", "pca"))
    dist, idx = cKDTree(X).query(X, k=k + 1)
    dist, idx = dist[:, 1:], idx[:, 1:]
    if method == "mle":
        if (dist[:, 0] <= 0).any():
            raise ValueError("X holds identical rows; drop duplicates before estimating")
        logs = np.log(dist[:, -1:] / dist[:, :-1]).sum(axis=1) / (k - 1)
        with np.errstate(divide="ignore"):
            pointwise = np.where(logs > 0, 1.0 / logs, np.inf)
        pooled = 1.0 / float(np.mean(logs))
        return LocalDimension(pointwise, pooled)
    threshold = _validate.in_range("threshold", threshold, 0.0, 1.0)
    if threshold in (0.0, 1.0):
        raise ValueError(f"threshold must lie strictly inside (0, 1), got {threshold}")
    hood = np.concatenate([X[:, None], X[idx]], axis=1)
    hood = hood - hood.mean(axis=1, keepdims=True)
    s = np.linalg.svd(hood, compute_uv=False) ** 2
    share = np.cumsum(s, axis=1) / np.maximum(s.sum(axis=1, keepdims=True), 1e-300)
    pointwise = (share < threshold).sum(axis=1) + 1.0
    return LocalDimension(pointwise.astype(np.float64), float(np.median(pointwise)))


# --------------------------------------------------------------------------- the report section


@dataclass(frozen=True)
class CycloOctaneConfig(Config):
    """The cyclo-octane section of the ``mlpot`` report.

    Parameters
    ----------
    n_conformers
        Conformers generated (the letter's set has 6,040; 1,000 shows the same shapes).
    seed
        Seed of the generator.
    representations
        Which of :data:`REPRESENTATIONS` to embed; ``soap``/``acsf`` are skipped without DScribe.
    k
        Neighbours of the local-dimension estimates.
    highlight
        Conformers marked in red in every panel: those at the end of the persistence
        embedding's first component (the letter marks 20).
    resolution, bandwidth_fraction
        Persistence images (see :func:`conformer_features`).
    """

    n_conformers: int = 1000
    seed: int = 0
    representations: tuple[str, ...] = ("coordinates", "soap", "acsf", "persistence")
    k: int = 12
    highlight: int = 20
    resolution: int = 32
    bandwidth_fraction: float = 0.025

    def __post_init__(self) -> None:
        _validate.positive_int("n_conformers", self.n_conformers)
        _validate.nonnegative_int("seed", self.seed)
        if not self.representations:
            raise ValueError("representations must name at least one representation")
        for i, r in enumerate(self.representations):
            _validate.choice(f"representations[{i}]", r, REPRESENTATIONS)
        _validate.positive_int("k", self.k)
        if self.n_conformers <= max(self.k, 3):
            raise ValueError(
                f"n_conformers must exceed k={self.k} for the local dimension, got "
                f"{self.n_conformers}"
            )
        _validate.nonnegative_int("highlight", self.highlight)
        if self.highlight > self.n_conformers:
            raise ValueError(
                f"highlight must be ≤ n_conformers={self.n_conformers}, got {self.highlight}"
            )
        _validate.positive_int("resolution", self.resolution)
        _validate.positive("bandwidth_fraction", self.bandwidth_fraction)


def _spread(embedding: np.ndarray, chosen: np.ndarray) -> float:
    """Mean pairwise distance within ``chosen`` over the mean pairwise distance of all points."""
    from scipy.spatial.distance import pdist

    if chosen.sum() < 2:
        return float("nan")
    every = pdist(embedding[:: max(1, len(embedding) // 500)]).mean()
    return float(pdist(embedding[chosen]).mean() / every)


def cyclooctane_section(
    config: CycloOctaneConfig | None = None,
) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
    """Generate conformers, embed every representation, measure: the letter's Fig. 2.

    Parameters
    ----------
    config : CycloOctaneConfig, optional
        Default :class:`CycloOctaneConfig`.

    Returns
    -------
    metrics : dict
        ``n_conformers``, ``attempts`` and ``convergence_rate`` of the generator,
        ``max_residual_A``, and per representation (``representations`` → name →) ``features``
        (F), ``explained_variance`` (3 PCs), ``local_dimension_3d`` and
        ``local_dimension_full`` (MLE, pooled), ``local_dimension_3d_pca`` (median of local
        PCA, 90 %), ``highlight_spread`` (mean distance among the highlighted conformers over
        the mean distance among all, in that embedding), and ``skipped`` (with the reason).
    figures : list of (matplotlib.figure.Figure, str)
        The two PDs of conformers at the two ends of the persistence embedding (Fig. 2a–b) and
        the 3-D PCA embeddings (Fig. 2c–f), each with its caption.
    """
    from ..plot.cyclooctane import embedding_panels, two_diagrams
    from ..simulate.cyclooctane import cyclooctane_conformers, ring_residuals

    config = CycloOctaneConfig() if config is None else config
    if not isinstance(config, CycloOctaneConfig):
        raise TypeError(f"config must be a CycloOctaneConfig, got {type(config).__name__}")
    coords, attempts = cyclooctane_conformers(
        config.n_conformers, seed=config.seed, return_attempts=True
    )
    metrics: dict[str, Any] = {
        "n_conformers": config.n_conformers,
        "attempts": int(attempts),
        "convergence_rate": config.n_conformers / attempts,
        "max_residual_A": float(np.abs(ring_residuals(coords)).max()),
        "representations": {},
        "skipped": {},
    }
    embeddings: dict[str, np.ndarray] = {}
    for name in config.representations:
        if name in ("soap", "acsf") and not dscribe_available():
            reason = "DScribe is not installed (pip install dscribe)"
            warnings.warn(f"cyclo-octane: {name} skipped: {reason}", TopophysWarning, stacklevel=2)
            metrics["skipped"][name] = reason
            continue
        X = conformer_features(
            coords,
            cast(Representation, name),  # a REPRESENTATIONS entry: CycloOctaneConfig checks it
            resolution=config.resolution,
            bandwidth_fraction=config.bandwidth_fraction,
        )
        emb, explained = pca_embedding(X, 3)
        embeddings[name] = emb
        X_unique = np.unique(X, axis=0)
        metrics["representations"][name] = {
            "features": int(X.shape[1]),
            "explained_variance": explained.tolist(),
            "local_dimension_3d": local_dimension(np.unique(emb, axis=0), config.k).global_,
            "local_dimension_full": local_dimension(X_unique, config.k).global_,
            "local_dimension_3d_pca": local_dimension(emb, config.k, method="pca").global_,
        }
    chosen = np.zeros(len(coords), dtype=bool)
    anchor = "persistence" if "persistence" in embeddings else next(iter(embeddings))
    if config.highlight:
        chosen[np.argsort(embeddings[anchor][:, 0])[-config.highlight :]] = True
    for name, emb in embeddings.items():
        metrics["representations"][name]["highlight_spread"] = _spread(emb, chosen)
    metrics["highlight_anchor"] = anchor

    figures: list[tuple[Any, str]] = []
    order = np.argsort(embeddings[anchor][:, 0])
    pair = (int(order[0]), int(order[-1]))
    diagrams = conformer_diagrams(coords[list(pair)])
    figures.append(
        (
            two_diagrams(diagrams[0], diagrams[1], coords[list(pair)]),
            f"Alpha persistence diagrams (squared radii, Å²) of two cyclo-octane conformers, "
            f"those at the two ends of the first principal component of the {anchor} "
            f"embedding (letter Fig. 2a–b); the rings are drawn beside them.",
        )
    )
    dims = ", ".join(
        f"{n}: {metrics['representations'][n]['local_dimension_3d']:.2f}" for n in embeddings
    )
    figures.append(
        (
            embedding_panels(embeddings, highlight=chosen),
            f"PCA to three dimensions of {len(coords)} cyclo-octane conformers (b = 1.52 Å, "
            f"θ = 115°) in each representation (letter Fig. 2c–f). Red: the {int(chosen.sum())} "
            f"conformers at the end of the {anchor} embedding's first component. Local "
            f"dimension of each 3-D embedding (Levina–Bickel MLE, k = {config.k}): {dims}.",
        )
    )
    return metrics, figures
