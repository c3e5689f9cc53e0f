"""What ``topophys run mlpot`` does, as YAML-round-trippable configs: the core and each section."""

from __future__ import annotations

from dataclasses import dataclass, field

from ... import _validate
from ...config import Config
from ...descriptors.ph import GRAPHENE_DESCRIPTOR, DescriptorConfig
from ...descriptors.soap import SOAPConfig
from ...evaluate.cyclooctane import CycloOctaneConfig
from ...simulate.amorphous import POTENTIALS, MeltQuenchConfig
from ...simulate.graphene import GrapheneConfig
from ...training.baselines import PAPER_BASELINES, BaselinesConfig, MLPConfig, SchNetConfig
from ...training.regression import CNNConfig

__all__ = [
    "DEMO_CONFIG",
    "FULL_PROTOCOL_CONFIG",
    "PAPER_CONFIG",
    "RANKING_DENSITIES",
    "SPLITS",
    "BaselinesSectionConfig",
    "GradCAMConfig",
    "GrapheneSectionConfig",
    "InverseConfig",
    "LearningCurvesConfig",
    "MLPotConfig",
    "MapsConfig",
]

SPLITS = ("random", "grouped")
"""The two splits of the training-size frames: the papers' random one and one by run."""

CURVE_MODELS = ("ridge", "soap_nn", "cnn", "ph_soap", "schnet")
"""The models of the learning curves, in the order they are fitted (cheapest first)."""


@dataclass(frozen=True)
class LearningCurvesConfig(Config):
    """Test RMSE against the number of training frames, for every model, on both splits.

    For each split, nested seeded subsamples of its training frames (each size's frames
    contain the smaller sizes'); every model is fitted on each, its descriptor standardization
    fitted on those frames alone, and scored on the split's whole test set and on every
    transfer frame. Ridge uses the pipeline's ``ridge_alpha`` and the CNN its ``cnn`` (at the
    full size, the pipeline's own CNN fit); PH + SOAP reads the CNN of the same frames.
    Each point is saved as it finishes (``curves/<split>/n<frames>/<model>/``: the model
    directory and ``scores.json``), so a killed run resumes at the next point.

    Parameters
    ----------
    sizes
        Training frames per point; ``0`` (or any size beyond the split's training set) means
        all of them.
    models
        Any of ``ridge``, ``soap_nn``, ``cnn``, ``ph_soap`` (needs ``cnn``), ``schnet``.
    soap
        SOAP settings of SOAP + NN and PH + SOAP.
    mlp
        The MLP training of SOAP + NN and PH + SOAP (default: the paper's schedule, 2000
        epochs, stopped early on 10 % of the training frames).
    schnet
        SchNet (default: the paper's architecture and γ = 0.1 Å⁻², trained until 30 epochs
        bring no improvement on 10 % of the training frames, at most 2000).
    seed
        Seed of the subsamples.
    """

    sizes: tuple[int, ...] = (100, 300, 1000, 3000, 0)
    models: tuple[str, ...] = CURVE_MODELS
    soap: SOAPConfig = field(default_factory=SOAPConfig)
    mlp: MLPConfig = field(default_factory=lambda: MLPConfig(validation_fraction=0.1, patience=100))
    schnet: SchNetConfig = field(
        default_factory=lambda: SchNetConfig(
            max_train_frames=0, epochs=2000, validation_fraction=0.1, patience=30
        )
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.sizes:
            raise ValueError("sizes must hold at least one training-set size")
        for i, n in enumerate(self.sizes):
            _validate.nonnegative_int(f"sizes[{i}]", n)
            if 0 < n < 10:
                raise ValueError(f"sizes[{i}] must be 0 (all) or at least 10, got {n}")
        if not self.models:
            raise ValueError("models must name at least one model")
        for i, m in enumerate(self.models):
            _validate.choice(f"models[{i}]", m, CURVE_MODELS)
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models must not repeat, got {self.models}")
        if "ph_soap" in self.models and "cnn" not in self.models:
            raise ValueError("models: ph_soap reads the CNN of the same frames; add 'cnn'")
        _validate.nonnegative_int("seed", self.seed)


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
        _validate.choice("split", self.split, SPLITS)


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
        _validate.choice("split", self.split, SPLITS)


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
        The PD histogram (default :data:`~topophys.descriptors.ph.GRAPHENE_DESCRIPTOR`; planar).
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
    group_key
        ``atoms.info`` key naming the melt-quench run of a frame (ours: ``run``); frames
        without it are grouped by file, density and stage order
        (:func:`~topophys.pipelines.mlpot.data.run_groups`). ``None``: ignore any run key.
    stage_key
        ``atoms.info`` key naming the protocol stage (``melt``, ``cool``, ``anneal``,
        ``quench``; ours and the published set's: ``process``), read by the grouping and the
        inverse analysis.
    frame_stride
        Keep every k-th frame of each run, counted back from its last frame.
    relabel
        Label the kept frames (training and transfer) with this LAMMPS potential instead of
        their own energies, e.g. ``"snap"``: the DFT-trained carbon SNAP shipped with LAMMPS
        (``C_SNAP_2021.10.15``); cached and resumable under ``labels/``. ``None``: keep the
        frames' labels (``energy_key``).
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
    learning_curves
        Test RMSE against training-set size for every model on both splits
        (:class:`LearningCurvesConfig`); fitted right after Ridge, before the CNN on all
        frames, so a long run reports its cheaper points first. ``None``: none.
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
    group_key: str | None = "run"
    stage_key: str = "process"
    frame_stride: int = 5
    relabel: str | None = None
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
    learning_curves: LearningCurvesConfig | None = None
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
        for name in ("energy_key", "stage_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        if self.group_key is not None and (
            not isinstance(self.group_key, str) or not self.group_key
        ):
            raise ValueError(
                f"group_key must be a non-empty string or null, got {self.group_key!r}"
            )
        _validate.positive_int("frame_stride", self.frame_stride)
        if self.relabel is not None:
            _validate.choice("relabel", self.relabel, POTENTIALS)
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


RANKING_DENSITIES = (2.0, 2.2, 2.4, 2.6, 2.8, 3.0, 3.2, 3.4, 3.5)
"""The papers' densities (g/cm³) within 2.0–3.5, those of the letter's DFT set (2.0–3.4)."""

PAPER_CONFIG = MLPotConfig(
    generate=MeltQuenchConfig(densities=RANKING_DENSITIES, runs=12),
    transfer=MeltQuenchConfig(n_atoms=512, densities=RANKING_DENSITIES, runs=1),
    frame_stride=5,
    cnn=CNNConfig(validation_fraction=0.1, patience=50),
    chunk_size=102,
    learning_curves=LearningCurvesConfig(),
    maps=MapsConfig(perplexities=(10.0, 30.0, 50.0)),
    inverse=InverseConfig(),
    gradcam=GradCAMConfig(),
    cyclooctane=CycloOctaneConfig(n_conformers=6040),
)
"""The papers' ranking at a scale that can answer it (``--scale paper``): 9 densities over
2.0–3.5 g/cm³ × 12 melt-quench runs of 216 atoms (108 runs, the full 11 ps protocol), every
5th frame (5,508 frames), one 512-atom run per density (459 frames); the papers' CNN
(64, 64, 32 channels, their SGD schedule, at most 1600 epochs) stopped early on 10 % of the
training frames (patience 50); learning curves of Ridge, the CNN, SOAP + NN, PH + SOAP and
SchNet (the paper's hyperparameters) from 100 frames to all, on both splits, with 216 → 512
transfer; the maps (PH), the inverse analysis, Grad-CAM and 6,040 cyclo-octane conformers.
The learning curves replace the baselines section (the same models at every size). On 2 CPU
cores the data and diagrams take about an hour; the CNN (≈ 83 ms per frame and epoch on one
core) and SchNet (≈ 0.5 s) are GPU-sized (set ``cnn.device`` and
``learning_curves.schnet.device`` to ``cuda``)."""


FULL_PROTOCOL_CONFIG = MLPotConfig(
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
"""The papers' full protocol: 11 densities × 6 runs of 216 atoms (16 830 frames),
one 512-atom run per density (2 805 frames), every frame, the papers' CNN for 1600 epochs
(set ``cnn.device`` to ``cuda`` on a GPU); every section at full size: the baselines on every
frame with the paper's MLP schedule and SchNet, t-SNE at perplexities 10, 30 and 50, 6,040
cyclo-octane conformers (the letter's count), and 105 graphene quenches of 680 atoms at 50–1000
K/ps (1,890 frames; the letter has 1,830) with 5 quenches of 2,720 atoms for size transfer."""
