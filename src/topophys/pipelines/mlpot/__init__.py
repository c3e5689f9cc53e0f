r"""PH descriptors for a machine-learning potential of amorphous carbon: data → diagrams → models.

The pipeline of the PH-descriptor papers (Minamitani et al.): the mean energy per atom of
melt-quenched amorphous and liquid carbon regressed on a 128 × 128 histogram of each structure's
periodic H1 alpha persistence diagram, with Ridge and with a CNN.
:func:`~topophys.pipelines.mlpot.pipeline.run` (``config, run_dir``) does, resuming whatever a
previous call on the same directory finished:

1. generate the structures with the papers' melt-quench protocol
   (:func:`topophys.simulate.amorphous.run_melt_quench`, one extxyz per run under ``data/``),
   or read an existing set (``config.data``: a folder laid out like the published set, or
   extxyz files); keep every ``frame_stride``-th frame of each run, ending on its last frame
   (:mod:`~topophys.pipelines.mlpot.data`);
2. periodic alpha persistence (squared radii, Å²) of every frame into resumable Zarr stores
   (``diagrams_train.zarr``, ``diagrams_transfer.zarr``);
3. the descriptor (:class:`~topophys.descriptors.ph.DescriptorConfig`): H1 points binned on
   ``[0, 8]²`` Å², turned into a probability, z-scored with statistics of the training frames
   only — once per split;
4. two splits of the training-size frames: the papers' random 80/20, and a grouped split that
   holds out whole melt-quench runs (spread over densities);
5. per split, Ridge (intercept, α = 200) and the CNN (:mod:`topophys.models.pdcnn`;
   checkpointed, resumable, both splits in parallel with ``workers ≥ 2``), each saved as a
   model directory under ``models/`` (:mod:`topophys.potentials`); steps 2–5 are
   :mod:`~topophys.pipelines.mlpot.core`; with ``learning_curves``, every model on growing
   subsamples of the training frames, between Ridge and the CNN
   (:mod:`~topophys.pipelines.mlpot.curves`);
6. the report's further sections, each when configured (:class:`MLPotConfig`): the baselines
   (SOAP + NN, SchNet, PH + SOAP) with one comparison table and a size-transfer table
   (:mod:`~topophys.pipelines.mlpot.baselines`), t-SNE/PCA maps of the descriptor spaces, the
   inverse analysis of the Ridge coefficients, Grad-CAM of the CNN, cyclo-octane
   (:mod:`~topophys.pipelines.mlpot.sections`), and amorphous graphene
   (:mod:`~topophys.pipelines.mlpot.graphene`);
7. errors in meV/atom on train, test, grouped test and the larger-size transfer set
   (``metrics.json``), ``predictions.npz``, the figures and ``report.html``
   (:mod:`~topophys.pipelines.mlpot.report`).

:data:`~topophys.pipelines.mlpot.config.DEMO_CONFIG` (the command line's default) is a reduced
CPU protocol with every section that runs in minutes on 2 cores;
:data:`~topophys.pipelines.mlpot.config.PAPER_CONFIG` (``topophys run mlpot --scale paper``)
measures the papers' ranking at scale (108 runs, 5,508 frames, learning curves);
:data:`~topophys.pipelines.mlpot.config.FULL_PROTOCOL_CONFIG` is the papers' full protocol.
The modules import one another one way only, each from
those before it in the order ``config``, ``data``, ``core``, ``section``, the sections
(``curves`` among them),
``report``, ``pipeline``.
"""

from ...descriptors.ph import GRAPHENE_DESCRIPTOR, DescriptorConfig, ph_descriptor
from .config import (
    DEMO_CONFIG,
    FULL_PROTOCOL_CONFIG,
    PAPER_CONFIG,
    BaselinesSectionConfig,
    GradCAMConfig,
    GrapheneSectionConfig,
    InverseConfig,
    LearningCurvesConfig,
    MapsConfig,
    MLPotConfig,
)
from .data import run_groups, stride_frames
from .pipeline import run

__all__ = [
    "DEMO_CONFIG",
    "FULL_PROTOCOL_CONFIG",
    "GRAPHENE_DESCRIPTOR",
    "PAPER_CONFIG",
    "BaselinesSectionConfig",
    "DescriptorConfig",
    "GradCAMConfig",
    "GrapheneSectionConfig",
    "InverseConfig",
    "LearningCurvesConfig",
    "MLPotConfig",
    "MapsConfig",
    "ph_descriptor",
    "run",
    "run_groups",
    "stride_frames",
]
