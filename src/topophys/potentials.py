r"""Saved energy models: one self-describing directory per model, loaded and applied anywhere.

Every energy model the ``mlpot`` pipeline trains (PH + Ridge, PH + CNN, SOAP + NN, PH + SOAP,
SchNet) is written as a directory that holds everything needed to apply it to new structures::

    model_dir/model.json    the manifest: format and version, the model kind, the package
                            version, the species and periodicity it was trained on, the
                            descriptor and architecture settings, what it was trained on
                            (energy range in eV/atom, frames, sizes, energy key, label
                            potential), the out-of-range tolerance, and the name, shape and
                            SHA-256 of every tensor file
    model_dir/weights.pt    a flat {name: tensor} dict (weights, fitted standardization, the
                            training domain), read with ``torch.load(weights_only=True)``:
                            loading cannot run code

:func:`load_energy_model` reads one and returns an :class:`EnergyModel`:

- ``predict(frames)`` → energy per atom (eV/atom), ``(n,)``, for a list of ``ase.Atoms``;
- ``evaluate(frames)`` → the same with per-frame out-of-range flags (:class:`Prediction`);
- ``calculator()`` → an ASE calculator (total energy in eV; a model with a global descriptor has
  no forces, and asking for them raises ``PropertyNotImplementedError`` naming the kind).

Frames are checked before anything is computed: a species the model was not trained on, or a
cell that is not periodic like the training cells, raises ``ValueError`` naming the frame. A
frame whose descriptor lies outside the training domain (the box spanned by the training
descriptors' leading principal components, widened by ``tolerance`` of its width on each
side), or whose predicted energy lies outside the training energy range (widened likewise), is
predicted anyway, with an :class:`OutOfRangeWarning` that names the frames.

New kinds (e.g. a local, per-atom model with forces: ``local_ph``,
:class:`topophys.models.local_ph.LocalPHModel`) subclass :class:`EnergyModel`, implement
its five hooks and register with :func:`register_model_kind`; they are then saved, loaded and
wrapped as calculators like the built-in ones. A model with forces lists them in
``implemented_properties`` and returns them from ``_calculate``.

Examples
--------
>>> import tempfile
>>> from ase.build import bulk
>>> from topophys.descriptors.soap import SOAPConfig
>>> from topophys.models.mlp import MLP
>>> frames = [bulk("C", "diamond", cubic=True, a=a).repeat(2) for a in (3.5, 3.57, 3.65)]
>>> soap = SOAPConfig(r_cut=3.0, n_max=2, l_max=1)
>>> model = SOAPNNModel(soap, MLP(soap.n_features, (4,)), training={"energy_range": (-1, 1)})
>>> path = model.save(tempfile.mkdtemp() + "/soap_nn")
>>> loaded = load_energy_model(path)
>>> loaded.kind, loaded.predict(frames).shape
('soap_nn', (3,))
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
import shutil
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from . import __version__
from ._warnings import TopophysWarning

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "DescriptorEnergyModel",
    "EnergyModel",
    "OutOfRangeWarning",
    "PHCNNModel",
    "PHFeatures",
    "PHRidgeModel",
    "PHSOAPModel",
    "Prediction",
    "SOAPNNModel",
    "SchNetModel",
    "TrainingDomain",
    "load_energy_model",
    "model_kinds",
    "predict_file",
    "register_model_kind",
]

FORMAT = "topophys.energy_model"
"""The ``format`` field of every manifest."""

FORMAT_VERSION = 1
"""The manifest version this package writes; it reads this one and older."""

_MANIFEST = "model.json"
_WEIGHTS = "weights.pt"


class OutOfRangeWarning(TopophysWarning):
    """A frame's descriptor or predicted energy lies outside what the model was trained on."""


# --------------------------------------------------------------------------- registry

_KINDS: dict[str, str] = {
    "ph_ridge": "topophys.potentials:PHRidgeModel",
    "ph_cnn": "topophys.potentials:PHCNNModel",
    "soap_nn": "topophys.potentials:SOAPNNModel",
    "ph_soap": "topophys.potentials:PHSOAPModel",
    "schnet": "topophys.potentials:SchNetModel",
    "local_ph": "topophys.models.local_ph:LocalPHModel",
}


def register_model_kind(kind: str, target: str | type[EnergyModel]) -> None:
    """Make :func:`load_energy_model` know ``kind``.

    Parameters
    ----------
    kind : str
        The ``kind`` written in the manifest (the class's ``kind`` attribute).
    target : str or type
        The :class:`EnergyModel` subclass, or ``"module:Class"`` to import it only when a
        model of this kind is loaded.
    """
    if not isinstance(kind, str) or not kind.isidentifier():
        raise ValueError(f"kind must be an identifier-like string, got {kind!r}")
    if isinstance(target, type):
        if not issubclass(target, EnergyModel):
            raise TypeError(f"target must subclass EnergyModel, got {target.__name__}")
        target = f"{target.__module__}:{target.__qualname__}"
    if not isinstance(target, str) or target.count(":") != 1:
        raise ValueError(f"target must be 'module:Class' or a class, got {target!r}")
    _KINDS[kind] = target


def model_kinds() -> dict[str, str]:
    """The known kinds and where their classes live (``{kind: "module:Class"}``)."""
    return dict(_KINDS)


def _kind_class(kind: str) -> type[EnergyModel]:
    if kind not in _KINDS:
        raise ValueError(f"unknown model kind {kind!r}; known kinds: {', '.join(sorted(_KINDS))}")
    module, name = _KINDS[kind].split(":")
    cls: Any = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, EnergyModel)):
        raise TypeError(f"model kind {kind!r} names {_KINDS[kind]}, which is not an EnergyModel")
    return cls


# --------------------------------------------------------------------------- training domain


class TrainingDomain:
    """The region of descriptor space a model was trained on: a principal-component box.

    The training rows are centred and projected on their ``k`` leading principal components;
    the box is the range of each projection over the training rows. A row's *excess* is how far
    it lies outside the box, in units of the box's width along the component where it is
    furthest out (0 inside).

    Parameters
    ----------
    mean : array_like, shape (D,)
    components : array_like, shape (k, D)
        Orthonormal rows.
    low, high : array_like, shape (k,)
        The box.
    """

    def __init__(self, mean: Any, components: Any, low: Any, high: Any) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64)
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        k, d = self.components.shape if self.components.ndim == 2 else (-1, -1)
        if self.mean.shape != (d,) or self.low.shape != (k,) or self.high.shape != (k,):
            raise ValueError(
                "a training domain needs mean (D,), components (k, D), low and high (k,); got "
                f"{self.mean.shape}, {self.components.shape}, {self.low.shape}, {self.high.shape}"
            )

    @classmethod
    def fit(cls, rows: Any, components: int = 5, seed: int = 0) -> TrainingDomain:
        """The domain of training rows ``(n, D)`` on ``min(components, n − 1, D)`` components."""
        from sklearn.utils.extmath import randomized_svd

        X = np.asarray(rows, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2 or not np.isfinite(X).all():
            raise ValueError(f"rows must be finite with shape (n ≥ 2, D), got {X.shape}")
        mean = X.mean(axis=0)
        k = max(1, min(int(components), X.shape[0] - 1, X.shape[1]))
        _, _, vt = randomized_svd(X - mean, k, n_iter=5, random_state=seed)
        proj = (X - mean) @ vt.T
        return cls(mean, vt, proj.min(axis=0), proj.max(axis=0))

    @property
    def dimension(self) -> int:
        """D, the length of the rows it judges."""
        return int(self.mean.shape[0])

    def excess(self, rows: Any) -> np.ndarray:
        """How far each row ``(n, D)`` lies outside the box, in box widths: ``(n,)``, ≥ 0."""
        X = np.asarray(rows, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.dimension:
            raise ValueError(f"rows must have shape (n, {self.dimension}), got {X.shape}")
        proj = (X - self.mean) @ self.components.T
        width = np.maximum(self.high - self.low, 1e-12)
        out = np.maximum(proj - self.high, self.low - proj).clip(min=0.0) / width
        return out.max(axis=1) if out.shape[1] else np.zeros(len(X))

    def tensors(self) -> dict[str, torch.Tensor]:
        """The domain as ``domain.*`` tensors for a weights file."""
        arrays = {"mean": self.mean, "components": self.components}
        arrays |= {"low": self.low, "high": self.high}
        return {f"domain.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor]) -> TrainingDomain | None:
        """The domain stored by :meth:`tensors`, or None if there is none."""
        if "domain.mean" not in tensors:
            return None
        return cls(*(tensors[f"domain.{k}"].numpy() for k in ("mean", "components", "low", "high")))


# --------------------------------------------------------------------------- the base class


@dataclass
class Prediction:
    """What :meth:`EnergyModel.evaluate` returns.

    Attributes
    ----------
    energy : numpy.ndarray, shape (n,)
        Predicted energy per atom, eV/atom.
    descriptor_excess : numpy.ndarray, shape (n,)
        How far each frame's descriptor lies outside the training domain, in box widths
        (:meth:`TrainingDomain.excess`; 0 inside, NaN when the model stores no domain).
    out_of_range : numpy.ndarray of bool, shape (n,)
        Descriptor excess above the model's tolerance, or energy outside the training range
        widened by the tolerance.
    """

    energy: np.ndarray
    descriptor_excess: np.ndarray
    out_of_range: np.ndarray


class EnergyModel(ABC):
    """An energy model that can be saved, loaded, applied to frames and used as a calculator.

    Parameters
    ----------
    species : sequence of str, default ("C",)
        Chemical symbols the model knows; frames holding others are refused.
    training : mapping
        What the model was trained on; must hold ``energy_range`` ``(low, high)`` in eV/atom.
        Other keys (``frames``, ``n_atoms``, ``energy_key``, ``label_potential``, ``split``,
        ...) are kept in the manifest as given (JSON-able values).
    pbc : (bool, bool, bool), default (True, True, True)
        Periodicity every frame must have (the training cells'); periodic axes need a cell.
    domain : TrainingDomain, optional
        The training descriptors' domain; without it only the energy range is checked.
    tolerance : float, default 0.25
        Out-of-range margin, as a fraction of the width of the training domain (per
        principal component) and of the training energy range.

    Notes
    -----
    Subclasses set ``kind`` and implement ``_inputs`` (frames → whatever the network reads),
    ``_evaluate`` (inputs → energies per atom and domain rows), ``_settings`` (JSON-able),
    ``_tensors`` and the classmethod ``_restore``; a model with forces also overrides
    ``implemented_properties`` and ``_calculate``.
    """

    kind: ClassVar[str] = ""
    implemented_properties: ClassVar[tuple[str, ...]] = ("energy", "free_energy")

    def __init__(
        self,
        *,
        species: Sequence[str] = ("C",),
        training: Mapping[str, Any],
        pbc: Sequence[bool] = (True, True, True),
        domain: TrainingDomain | None = None,
        tolerance: float = 0.25,
    ) -> None:
        if isinstance(species, str) or not species or not all(isinstance(s, str) for s in species):
            raise ValueError(f"species must be a non-empty sequence of symbols, got {species!r}")
        self.species = tuple(species)
        if not isinstance(training, Mapping) or "energy_range" not in training:
            raise ValueError("training must be a mapping holding energy_range (low, high) eV/atom")
        low, high = (float(v) for v in training["energy_range"])
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"training energy_range must be finite (low ≤ high), got {low, high}")
        self.training = json.loads(json.dumps({**training, "energy_range": [low, high]}))
        if len(pbc) != 3:
            raise ValueError(f"pbc must hold 3 booleans, got {pbc!r}")
        self.pbc = tuple(bool(p) for p in pbc)
        if domain is not None and not isinstance(domain, TrainingDomain):
            raise TypeError(f"domain must be a TrainingDomain, got {type(domain).__name__}")
        self.domain = domain
        self.tolerance = float(tolerance)
        if not self.tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")

    # ---- hooks
    @abstractmethod
    def _inputs(self, frames: list[Any], workers: int, progress: bool | None) -> Any:
        """Frames (checked) → what :meth:`_evaluate` reads."""

    @abstractmethod
    def _evaluate(self, inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Inputs → energies per atom ``(n,)`` float64 and the domain's rows ``(n, D)``."""

    @abstractmethod
    def _settings(self) -> dict[str, Any]:
        """JSON-able settings (descriptor, architecture) that :meth:`_restore` reads back."""

    @abstractmethod
    def _tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor :meth:`_restore` needs (weights, standardization), by name."""

    @classmethod
    @abstractmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> EnergyModel:
        """The model from its settings and tensors; ``common`` goes to ``__init__``."""

    # ---- what users call
    @property
    def energy_range(self) -> tuple[float, float]:
        """The training energies' range, eV/atom."""
        low, high = self.training["energy_range"]
        return float(low), float(high)

    @property
    def label_potential(self) -> str | None:
        """The potential (or method) that labelled the training energies, if recorded."""
        return self.training.get("label_potential")

    def check_frames(self, frames: Any) -> list[Any]:
        """``frames`` as a list of ``ase.Atoms``, or a ``ValueError``/``TypeError`` naming the
        first frame that is not an ``ase.Atoms``, holds no atoms or another species, or is not
        periodic like the training cells."""
        import ase

        if isinstance(frames, ase.Atoms):
            frames = [frames]
        if isinstance(frames, (str, bytes, os.PathLike)):
            raise TypeError("frames must be a list of ase.Atoms; read files with ase.io first")
        frames = list(frames)
        if not frames:
            raise ValueError("frames must hold at least one structure, got none")
        known = set(self.species)
        for i, atoms in enumerate(frames):
            if not isinstance(atoms, ase.Atoms):
                raise TypeError(f"frames[{i}] must be an ase.Atoms, got {type(atoms).__name__}")
            if len(atoms) == 0:
                raise ValueError(f"frames[{i}] holds no atoms")
            extra = sorted(set(atoms.get_chemical_symbols()) - known)
            if extra:
                raise ValueError(
                    f"frames[{i}] holds species {extra}; this {self.kind} model was trained on "
                    f"{list(self.species)} only"
                )
            pbc = tuple(bool(p) for p in atoms.pbc)
            if pbc != self.pbc:
                raise ValueError(
                    f"frames[{i}] has pbc={list(pbc)}; this {self.kind} model was trained on "
                    f"cells with pbc={list(self.pbc)} (its descriptor depends on the periodic "
                    "images)"
                )
            lengths = atoms.cell.lengths()
            if any(p and lengths[k] <= 0 for k, p in enumerate(self.pbc)):
                raise ValueError(f"frames[{i}] is periodic but has no cell vector along an axis")
        return frames

    def evaluate(
        self, frames: Any, *, workers: int = 1, progress: bool | None = None
    ) -> Prediction:
        """Energies per atom and out-of-range flags of ``frames`` (no warning)."""
        from . import _validate

        workers = _validate.positive_int("workers", workers)
        frames = self.check_frames(frames)
        energy, rows = self._evaluate(self._inputs(frames, workers, progress))
        energy = np.asarray(energy, dtype=np.float64).reshape(-1)
        excess = np.full(len(energy), np.nan)
        if self.domain is not None and rows is not None:
            excess = self.domain.excess(rows)
        low, high = self.energy_range
        margin = self.tolerance * (high - low)
        out = (energy < low - margin) | (energy > high + margin)
        out |= np.nan_to_num(excess, nan=0.0) > self.tolerance
        return Prediction(energy, excess, out)

    def predict(self, frames: Any, *, workers: int = 1, progress: bool | None = None) -> np.ndarray:
        """Energy per atom of each frame.

        Parameters
        ----------
        frames : sequence of ase.Atoms (or one)
            Structures of the model's species, periodic like its training cells; any size.
        workers : int, default 1
            Local processes for the descriptor.
        progress : bool or None
            Progress bars (``None``: only on a terminal).

        Returns
        -------
        numpy.ndarray, shape (n,)
            eV/atom.

        Warns
        -----
        OutOfRangeWarning
            If a frame's descriptor or predicted energy lies outside the training range.
        """
        result = self.evaluate(frames, workers=workers, progress=progress)
        self._warn(result)
        return result.energy

    def score(
        self,
        frames: Any,
        energy_key: str = "energy",
        *,
        offset: str = "refuse",
        workers: int = 1,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """RMSE and MAE (meV/atom) of the predictions against the frames' own labels.

        Energies of two potentials (Tersoff and SNAP, or a potential and DFT) differ by a
        reference offset that also varies between structures, so a model is scored on frames
        labelled by another potential (``info["potential"]`` against the model's
        ``label_potential``) only when asked: ``offset="mean"`` subtracts the mean difference
        between predictions and labels first and reports it; the default refuses.

        Parameters
        ----------
        frames : sequence of ase.Atoms
            Labelled frames.
        energy_key : str, default "energy"
            Where each frame's total energy (eV) is (calculator results or ``info``).
        offset : {"refuse", "mean"}
            What to do when the frames' labels come from another potential than the model's.

        Returns
        -------
        dict
            ``rmse_meV``, ``mae_meV``, ``n``, ``offset_eV`` (0 unless removed), the frames'
            ``label_potential`` and the model's, and ``out_of_range`` (frames flagged).

        Raises
        ------
        ValueError
            If the labels come from another potential and ``offset="refuse"``, or a frame has
            no label under ``energy_key``.
        """
        from .data.structures import energies_per_atom
        from .evaluate.regression import regression_metrics

        if offset not in ("refuse", "mean"):
            raise ValueError(f"offset must be 'refuse' or 'mean', got {offset!r}")
        frames = self.check_frames(frames)
        y = energies_per_atom(frames, energy_key)
        theirs, mixed = _label_potentials(self, frames)
        ours = self.label_potential
        if mixed and offset == "refuse":
            raise ValueError(
                f"the frames are labelled by {', '.join(theirs)} but this {self.kind} model "
                f"learned {ours} energies: the two differ by a structure-dependent offset, so "
                "an RMSE between them measures the potentials, not the model; relabel the "
                "frames with the model's potential, or pass offset='mean' to score after "
                "removing the mean difference"
            )
        result = self.evaluate(frames, workers=workers, progress=progress)
        shift = float(np.mean(result.energy - y)) if mixed else 0.0
        return {
            **regression_metrics(y, result.energy - shift),
            "offset_eV": shift,
            "label_potential": theirs[0] if len(theirs) == 1 else (theirs or None),
            "model_label_potential": ours,
            "out_of_range": int(result.out_of_range.sum()),
        }

    def calculator(self) -> Any:
        """An ASE calculator: ``energy`` and ``free_energy`` (total, eV) from :meth:`predict`.

        Properties the model does not give (forces and stress for a global descriptor) raise
        ``ase.calculators.calculator.PropertyNotImplementedError`` naming the model kind.
        """
        return _calculator_class()(self)

    def _calculate(self, atoms: Any, properties: Sequence[str]) -> dict[str, Any]:
        """Results of one structure for the calculator (total energies, eV)."""
        energy = float(self.predict([atoms], progress=False)[0]) * len(atoms)
        return {"energy": energy, "free_energy": energy}

    def _missing(self, name: str) -> str:
        return (
            f"the {self.kind} energy model gives {', '.join(self.implemented_properties)} only, "
            f"not {name!r}: it predicts one energy per structure from a global descriptor, so it "
            "has no per-atom derivatives"
        )

    def _warn(self, result: Prediction) -> None:
        if not result.out_of_range.any():
            return
        low, high = self.energy_range
        margin = self.tolerance * (high - low)
        e = result.energy
        reasons = []
        bad_e = np.flatnonzero((e < low - margin) | (e > high + margin))
        if len(bad_e):
            reasons.append(
                f"predicted energy outside the training range {low:.3f} … {high:.3f} eV/atom "
                f"(widened by {self.tolerance:g} of it) for frames {_listed(bad_e)}"
            )
        excess = np.nan_to_num(result.descriptor_excess, nan=0.0)
        bad_d = np.flatnonzero(excess > self.tolerance)
        if len(bad_d):
            reasons.append(
                f"descriptor outside the training domain by up to {excess.max():.2f} of its "
                f"width (tolerance {self.tolerance:g}) for frames {_listed(bad_d)}"
            )
        n_out = int(result.out_of_range.sum())
        warnings.warn(
            f"{n_out} of {len(e)} frames lie outside what this {self.kind} model was trained "
            f"on: {'; '.join(reasons)}. Their predictions are extrapolations.",
            OutOfRangeWarning,
            stacklevel=3,
        )

    # ---- saving
    def manifest(self) -> dict[str, Any]:
        """The manifest written to ``model.json`` (without the weights' checksums)."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "topophys_version": __version__,
            "species": list(self.species),
            "pbc": list(self.pbc),
            "units": {"energy": "eV/atom", "length": "Å"},
            "training": self.training,
            "range_check": {
                "tolerance": self.tolerance,
                "domain_components": 0 if self.domain is None else len(self.domain.low),
            },
            "settings": self._settings(),
        }

    def save(self, path: str | Path) -> Path:
        """Write the model directory (atomically: a complete directory replaces ``path``).

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._tensors().items()}
        if self.domain is not None:
            tensors |= self.domain.tensors()
        torch.save(tensors, tmp / _WEIGHTS)
        manifest = self.manifest()
        manifest["weights"] = {
            "file": _WEIGHTS,
            "sha256": _sha256(tmp / _WEIGHTS),
            "tensors": {
                k: [str(v.dtype).removeprefix("torch."), list(v.shape)] for k, v in tensors.items()
            },
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        old = path.with_name(f".{path.name}.old{os.getpid()}")
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
        return path

    def __repr__(self) -> str:
        low, high = self.energy_range
        return (
            f"<{type(self).__name__} kind={self.kind!r} species={list(self.species)} "
            f"trained on {low:.3f}…{high:.3f} eV/atom>"
        )


def _listed(indices: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(map(str, indices[:limit].tolist()))
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _calculator_class() -> type:
    from ase.calculators.calculator import (
        Calculator,
        PropertyNotImplementedError,
        all_changes,
    )

    class EnergyModelCalculator(Calculator):
        """ASE calculator of a topophys :class:`EnergyModel` (energies in eV, total)."""

        def __init__(self, model: EnergyModel, **kwargs: Any) -> None:
            self.model = model
            self.implemented_properties = list(model.implemented_properties)
            super().__init__(**kwargs)

        def calculate(
            self,
            atoms: Any = None,
            properties: Any = ("energy",),
            system_changes: Any = all_changes,
        ) -> None:
            super().calculate(atoms, properties, system_changes)
            self.results = self.model._calculate(self.atoms, tuple(properties))

        def get_property(self, name: str, atoms: Any = None, allow_calculation: bool = True) -> Any:
            if name not in self.implemented_properties:
                raise PropertyNotImplementedError(self.model._missing(name))
            return super().get_property(name, atoms, allow_calculation)

    return EnergyModelCalculator


# --------------------------------------------------------------------------- loading


def load_energy_model(path: str | Path, *, tolerance: float | None = None) -> EnergyModel:
    """Read a saved energy model directory.

    Parameters
    ----------
    path : path
        The directory (or its ``model.json``).
    tolerance : float, optional
        Override the saved out-of-range tolerance (fraction of the training ranges).

    Returns
    -------
    EnergyModel
        Of the class registered for the manifest's ``kind``.

    Raises
    ------
    FileNotFoundError
        If the directory, its manifest or its weights are missing.
    ValueError
        If the manifest is not one of this format, is of a newer version, names an unknown
        kind, or the weights do not match it (checksum, tensor names or shapes), or the weights
        file is not a weights-only torch file (a pickle of objects is refused, never run).
    """
    path = Path(path)
    if path.name == _MANIFEST:
        path = path.parent
    file = path / _MANIFEST
    if not file.is_file():
        raise FileNotFoundError(f"{path} is not a saved energy model: no {_MANIFEST} in it")
    try:
        manifest = json.loads(file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{file} is not a topophys energy model manifest (format {FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{file} has format_version {version!r}; this topophys ({__version__}) reads "
            f"versions up to {FORMAT_VERSION}: upgrade topophys"
        )
    cls = _kind_class(str(manifest.get("kind")))
    tensors = _read_tensors(path, manifest)
    common = {
        "species": manifest["species"],
        "training": manifest["training"],
        "pbc": manifest["pbc"],
        "domain": TrainingDomain.from_tensors(tensors),
        "tolerance": manifest["range_check"]["tolerance"] if tolerance is None else tolerance,
    }
    return cls._restore(manifest["settings"], tensors, **common)


def _read_tensors(path: Path, manifest: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    import pickle

    spec = manifest.get("weights") or {}
    weights = path / str(spec.get("file", _WEIGHTS))
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing (named by {path / _MANIFEST})")
    if spec.get("sha256") != _sha256(weights):
        raise ValueError(
            f"{weights} does not match the SHA-256 recorded in {path / _MANIFEST}: the file was "
            "changed or truncated after the model was saved"
        )
    try:
        tensors = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{weights} is not a weights-only torch file; refused ({err})") from None
    expected = spec.get("tensors", {})
    if not isinstance(tensors, dict) or not all(
        isinstance(v, torch.Tensor) for v in tensors.values()
    ):
        raise ValueError(f"{weights} must hold a flat {{name: tensor}} dict")
    shapes = {k: list(v.shape) for k, v in tensors.items()}
    if shapes != {k: v[1] for k, v in expected.items()}:
        raise ValueError(f"{weights} holds tensors {shapes}, the manifest lists {expected}")
    return tensors


def predict_file(
    model: EnergyModel | str | Path,
    source: str | Path,
    out: str | Path,
    *,
    workers: int = 1,
    progress: bool | None = None,
    chunk_size: int = 64,
    energy_key: str = "energy",
) -> dict[str, Any]:
    """Apply a model to every frame of an extended XYZ file (or folder) and write them with
    their predictions.

    Each written frame keeps what it had and gains ``info["energy_pred"]`` (eV, total, the
    convention of ``energy``), ``info["energy_pred_per_atom"]`` (eV/atom) and
    ``info["energy_pred_out_of_range"]`` (bool). Frames are predicted in chunks of
    ``chunk_size`` behind a progress bar; one :class:`OutOfRangeWarning` at the end names the
    frames outside the training range.

    Parameters
    ----------
    model : EnergyModel or path
        A model, or its saved directory.
    source : path
        Extended XYZ file (plain or compressed) or a folder of them; labels are optional.
    out : path
        The extended XYZ file written (atomically).
    workers : int, default 1
        Processes for the descriptor.
    progress : bool or None
        Progress bar (``None``: only on a terminal).
    chunk_size : int, default 64
        Frames per step of the progress bar.
    energy_key : str, default "energy"
        Where labelled frames keep their energy; when every frame has one, the returned
        summary scores the predictions (see :meth:`EnergyModel.score`).

    Returns
    -------
    dict
        ``frames``, ``out``, ``out_of_range`` (count), ``energy_pred_range`` (eV/atom) and,
        for labelled frames, ``score`` (or ``score_refused``: why not).
    """
    from tqdm.auto import tqdm

    from . import _validate
    from .data.structures import frame_energy, read_structures, write_structures

    if not isinstance(model, EnergyModel):
        model = load_energy_model(model)
    chunk_size = _validate.positive_int("chunk_size", chunk_size)
    frames = model.check_frames(read_structures(source, energy_key=None))
    energy, excess, flags = [], [], []
    with tqdm(total=len(frames), desc="predict", unit="frame", disable=_disabled(progress)) as bar:
        for i in range(0, len(frames), chunk_size):
            part = model.evaluate(frames[i : i + chunk_size], workers=workers, progress=False)
            energy.append(part.energy)
            excess.append(part.descriptor_excess)
            flags.append(part.out_of_range)
            bar.update(len(part.energy))
    result = Prediction(*(np.concatenate(x) for x in (energy, excess, flags)))
    for atoms, e, flag in zip(frames, result.energy, result.out_of_range, strict=True):
        atoms.info["energy_pred"] = float(e) * len(atoms)
        atoms.info["energy_pred_per_atom"] = float(e)
        atoms.info["energy_pred_out_of_range"] = bool(flag)
        atoms.info.pop("source", None)
    write_structures(frames, out)
    model._warn(result)
    summary: dict[str, Any] = {
        "frames": len(frames),
        "out": str(out),
        "out_of_range": int(result.out_of_range.sum()),
        "energy_pred_range": [float(result.energy.min()), float(result.energy.max())],
    }
    try:
        labelled = [frame_energy(a, energy_key) for a in frames]
    except KeyError:
        return summary
    y = np.asarray(labelled) / np.array([len(a) for a in frames])
    try:
        summary["score"] = _score_arrays(model, frames, y, result.energy)
    except ValueError as err:
        summary["score_refused"] = str(err)
    return summary


def _disabled(progress: bool | None) -> bool | None:
    return None if progress is None else not progress


def _score_arrays(
    model: EnergyModel, frames: Sequence[Any], y: np.ndarray, pred: np.ndarray
) -> dict:
    """:meth:`EnergyModel.score`'s refusal rule and errors, on predictions already made."""
    from .evaluate.regression import regression_metrics

    theirs, mixed = _label_potentials(model, frames)
    if mixed:
        raise ValueError(
            f"not scored: the frames are labelled by {', '.join(theirs)}, the model learned "
            f"{model.label_potential} energies (EnergyModel.score(frames, offset='mean') "
            "removes the offset)"
        )
    return dict(regression_metrics(y, pred))


def _label_potentials(model: EnergyModel, frames: Sequence[Any]) -> tuple[list[str], bool]:
    """The potentials named by the frames' ``info["potential"]``, and whether they differ
    from the model's."""
    theirs = sorted({str(a.info["potential"]) for a in frames if "potential" in a.info})
    ours = model.label_potential
    return theirs, bool(ours) and bool(theirs) and theirs != [ours]


# --------------------------------------------------------------------------- descriptor models


def _check_rows(X: Any, n_features: int, what: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"descriptors must have shape (n ≥ 1, {n_features}), got {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(
            f"descriptors have {X.shape[1]} features per row; this model's {what} has {n_features}"
        )
    if not np.isfinite(X).all():
        raise ValueError("descriptors must be finite (NaN or inf found)")
    return X


class DescriptorEnergyModel(EnergyModel):
    """A model of a fixed descriptor: frames → rows ``(n, n_features)`` → energies.

    Adds :meth:`descriptors` and :meth:`predict_descriptors`, so a user with descriptors
    computed elsewhere (or the pipeline, which has them) can apply the model to them.
    """

    @property
    @abstractmethod
    def n_features(self) -> int:
        """Length of a descriptor row."""

    @abstractmethod
    def descriptors(
        self, frames: Any, *, workers: int = 1, progress: bool | None = None
    ) -> np.ndarray:
        """The model's descriptor rows ``(n, n_features)`` of (checked) frames."""

    @abstractmethod
    def _from_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Checked rows → energies per atom ``(n,)`` and domain rows."""

    def predict_descriptors(self, X: Any) -> np.ndarray:
        """Energies per atom ``(n,)`` (eV/atom) of descriptor rows ``X (n, n_features)``.

        Raises
        ------
        ValueError
            If ``X`` has another number of features (e.g. a histogram of other bins).
        """
        return self._from_rows(_check_rows(X, self.n_features, "descriptor"))[0]

    def _inputs(self, frames: list[Any], workers: int, progress: bool | None) -> Any:
        return self.descriptors(frames, workers=workers, progress=progress)

    def _evaluate(self, inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        return self._from_rows(_check_rows(inputs, self.n_features, "descriptor"))


class PHFeatures:
    """The PH-descriptor papers' descriptor with a fitted standardization, as a model part.

    Parameters
    ----------
    descriptor : DescriptorConfig
        Alpha persistence and histogram settings (bins, window, normalization).
    offset, scale : array_like, shape (bins²,)
        The fitted standardization: rows are ``(h − offset) / scale`` of the histograms ``h``
        (:class:`~topophys.vectorize.PersistenceHistogram`'s ``offset_``, ``scale_``).
    """

    def __init__(self, descriptor: Any, offset: Any, scale: Any) -> None:
        from .descriptors.ph import DescriptorConfig

        if not isinstance(descriptor, DescriptorConfig):
            raise TypeError(
                f"descriptor must be a DescriptorConfig, got {type(descriptor).__name__}"
            )
        self.descriptor = descriptor
        n = descriptor.bins**2
        self.offset = np.asarray(offset, dtype=np.float64).reshape(-1)
        self.scale = np.asarray(scale, dtype=np.float64).reshape(-1)
        if self.offset.shape != (n,) or self.scale.shape != (n,):
            raise ValueError(
                f"offset and scale must have {n} values (bins={descriptor.bins}), got "
                f"{self.offset.shape[0]} and {self.scale.shape[0]}"
            )

    @classmethod
    def from_histogram(cls, descriptor: Any, histogram: Any) -> PHFeatures:
        """From a fitted :class:`~topophys.vectorize.PersistenceHistogram`."""
        return cls(descriptor, histogram.offset_, histogram.scale_)

    @property
    def n_features(self) -> int:
        """bins²."""
        return int(self.offset.shape[0])

    def diagrams(self, frames: Sequence[Any], workers: int = 1) -> Any:
        """Alpha diagrams of frames (up to the binned dimension)."""
        return self.descriptor.persistence(n_jobs=workers).fit_transform(list(frames))

    def from_diagrams(self, diagrams: Any) -> np.ndarray:
        """Standardized histograms ``(n, bins²)`` float32 of diagrams."""
        hist = self.descriptor.histogram().set_params(standardize="none").fit(diagrams[:1])
        rows = hist.transform(diagrams)
        # The same in-place operations as PersistenceHistogram.transform: bit-identical rows.
        rows -= self.offset
        rows /= self.scale
        return rows.astype(np.float32)

    def __call__(self, frames: Sequence[Any], workers: int = 1) -> np.ndarray:
        """Standardized histograms ``(n, bins²)`` float32 of frames."""
        return self.from_diagrams(self.diagrams(frames, workers))

    def settings(self) -> dict[str, Any]:
        return {"descriptor": self.descriptor.to_dict()}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {
            "ph.offset": torch.from_numpy(self.offset),
            "ph.scale": torch.from_numpy(self.scale),
        }

    @classmethod
    def restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]
    ) -> PHFeatures:
        from .descriptors.ph import DescriptorConfig

        return cls(
            DescriptorConfig.from_dict(settings["descriptor"]),
            tensors["ph.offset"].numpy(),
            tensors["ph.scale"].numpy(),
        )


def _prefixed(prefix: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _unprefixed(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


class PHRidgeModel(DescriptorEnergyModel):
    """The amorphous-carbon paper's Ridge on the z-scored PD histogram.

    Parameters
    ----------
    features : PHFeatures
    coef : array_like, shape (bins²,)
        eV/atom per descriptor unit.
    intercept : float
        eV/atom.
    **common
        See :class:`EnergyModel`.
    """

    kind = "ph_ridge"

    def __init__(self, features: PHFeatures, coef: Any, intercept: float, **common: Any) -> None:
        super().__init__(**common)
        self.features = features
        self.coef = np.asarray(coef, dtype=np.float64).reshape(-1)
        self.intercept = float(intercept)
        if self.coef.shape != (features.n_features,):
            raise ValueError(
                f"coef has {self.coef.shape[0]} values; the descriptor has {features.n_features}"
            )

    @property
    def n_features(self) -> int:
        return self.features.n_features

    def descriptors(
        self, frames: Any, *, workers: int = 1, progress: bool | None = None
    ) -> np.ndarray:
        return self.features(self.check_frames(frames), workers)

    def _from_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Row by row (a reduction along each row), so a frame's energy does not depend on the
        # other frames of its batch, as a BLAS matrix-vector product's may.
        out = np.empty(len(X))
        for i in range(0, len(X), 256):
            block = np.asarray(X[i : i + 256], dtype=np.float64)
            out[i : i + 256] = (block * self.coef).sum(axis=1) + self.intercept
        return out, X

    def _settings(self) -> dict[str, Any]:
        return self.features.settings()

    def _tensors(self) -> dict[str, torch.Tensor]:
        intercept = torch.tensor(self.intercept, dtype=torch.float64)
        return {
            **self.features.tensors(),
            "ridge.coef": torch.from_numpy(self.coef),
            "ridge.intercept": intercept,
        }

    @classmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> PHRidgeModel:
        features = PHFeatures.restore(settings, tensors)
        return cls(
            features, tensors["ridge.coef"].numpy(), float(tensors["ridge.intercept"]), **common
        )


def _cnn_settings(cnn: Any) -> dict[str, Any]:
    return {
        "image_shape": list(cnn.image_shape),
        "channels": list(cnn.channels),
        "hidden": cnn.hidden,
        "kernel_size": cnn.kernel_size,
    }


def _cnn_restore(settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> Any:
    from .models.pdcnn import PDCNN

    a = settings["cnn"]
    cnn = PDCNN(a["image_shape"], a["channels"], a["hidden"], a["kernel_size"])
    cnn.load_state_dict(_unprefixed("cnn", tensors))
    return cnn.eval()


class PHCNNModel(DescriptorEnergyModel):
    """The papers' CNN on the z-scored PD histogram.

    Parameters
    ----------
    features : PHFeatures
    cnn : PDCNN
        Trained; its ``image_shape`` must be ``(bins, bins)``.
    **common
        See :class:`EnergyModel`.
    """

    kind = "ph_cnn"

    def __init__(self, features: PHFeatures, cnn: Any, **common: Any) -> None:
        from .models.pdcnn import PDCNN

        super().__init__(**common)
        if not isinstance(cnn, PDCNN):
            raise TypeError(f"cnn must be a PDCNN, got {type(cnn).__name__}")
        bins = features.descriptor.bins
        if tuple(cnn.image_shape) != (bins, bins):
            raise ValueError(f"the CNN reads {cnn.image_shape} images; the descriptor has {bins}²")
        self.features = features
        self.cnn = cnn.cpu().eval()

    @property
    def n_features(self) -> int:
        return self.features.n_features

    def descriptors(
        self, frames: Any, *, workers: int = 1, progress: bool | None = None
    ) -> np.ndarray:
        return self.features(self.check_frames(frames), workers)

    def _from_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from .training.regression import predict_cnn

        return predict_cnn(self.cnn, X.reshape(len(X), *self.cnn.image_shape)), X

    def _settings(self) -> dict[str, Any]:
        return {**self.features.settings(), "cnn": _cnn_settings(self.cnn)}

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {**self.features.tensors(), **_prefixed("cnn", self.cnn.state_dict())}

    @classmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> PHCNNModel:
        return cls(PHFeatures.restore(settings, tensors), _cnn_restore(settings, tensors), **common)


def _mlp_restore(tensors: Mapping[str, torch.Tensor], hidden: Sequence[int]) -> Any:
    from .models.mlp import MLP

    state = _unprefixed("mlp", tensors)
    mlp = MLP(int(state["input_mean"].shape[0]), tuple(hidden))
    mlp.load_state_dict(state)
    return mlp.eval()


class SOAPNNModel(DescriptorEnergyModel):
    """The amorphous-carbon paper's SOAP + NN: averaged SOAP into a small MLP.

    Parameters
    ----------
    soap : SOAPConfig
    mlp : MLP
        Trained on the averaged SOAP rows (its input standardization inside).
    **common
        See :class:`EnergyModel`; ``species`` defaults to ``soap.species``.
    """

    kind = "soap_nn"

    def __init__(self, soap: Any, mlp: Any, **common: Any) -> None:
        from .descriptors.soap import SOAPConfig
        from .models.mlp import MLP

        common.setdefault("species", soap.species)
        super().__init__(**common)
        if not isinstance(soap, SOAPConfig):
            raise TypeError(f"soap must be a SOAPConfig, got {type(soap).__name__}")
        if not isinstance(mlp, MLP):
            raise TypeError(f"mlp must be an MLP, got {type(mlp).__name__}")
        if mlp.n_inputs != soap.n_features:
            raise ValueError(f"the MLP reads {mlp.n_inputs} features; SOAP gives {soap.n_features}")
        self.soap = soap
        self.mlp = mlp.cpu().eval()

    @property
    def n_features(self) -> int:
        return self.soap.n_features

    def descriptors(
        self, frames: Any, *, workers: int = 1, progress: bool | None = None
    ) -> np.ndarray:
        from .descriptors.soap import soap_descriptor

        return np.asarray(soap_descriptor(self.check_frames(frames), self.soap, n_jobs=workers))

    def _from_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from .training.baselines import predict_mlp

        return predict_mlp(self.mlp, X), X

    def _settings(self) -> dict[str, Any]:
        return {"soap": self.soap.to_dict(), "mlp": {"hidden": list(self.mlp.hidden)}}

    def _tensors(self) -> dict[str, torch.Tensor]:
        return _prefixed("mlp", self.mlp.state_dict())

    @classmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> SOAPNNModel:
        from .descriptors.soap import SOAPConfig

        mlp = _mlp_restore(tensors, settings["mlp"]["hidden"])
        return cls(SOAPConfig.from_dict(settings["soap"]), mlp, **common)


class PHSOAPModel(DescriptorEnergyModel):
    """PH + SOAP (the letter's next step): the CNN's pooled last convolution and averaged SOAP
    into one MLP.

    Its descriptor row is the standardized histogram followed by the averaged SOAP vector,
    ``(n, bins² + n_soap)``; the MLP reads the CNN's pooled channels and the SOAP part.

    Parameters
    ----------
    features : PHFeatures
    cnn : PDCNN
        The trained CNN whose pooled features the MLP reads.
    soap : SOAPConfig
    mlp : MLP
        Trained on ``[pooled CNN features, SOAP]`` rows.
    **common
        See :class:`EnergyModel`.
    """

    kind = "ph_soap"

    def __init__(self, features: PHFeatures, cnn: Any, soap: Any, mlp: Any, **common: Any) -> None:
        from .descriptors.soap import SOAPConfig
        from .models.mlp import MLP
        from .models.pdcnn import PDCNN

        super().__init__(**common)
        if not isinstance(cnn, PDCNN):
            raise TypeError(f"cnn must be a PDCNN, got {type(cnn).__name__}")
        if not isinstance(soap, SOAPConfig):
            raise TypeError(f"soap must be a SOAPConfig, got {type(soap).__name__}")
        if not isinstance(mlp, MLP):
            raise TypeError(f"mlp must be an MLP, got {type(mlp).__name__}")
        bins = features.descriptor.bins
        if tuple(cnn.image_shape) != (bins, bins):
            raise ValueError(f"the CNN reads {cnn.image_shape} images; the descriptor has {bins}²")
        if mlp.n_inputs != cnn.channels[-1] + soap.n_features:
            raise ValueError(
                f"the MLP reads {mlp.n_inputs} features; the CNN pools {cnn.channels[-1]} and "
                f"SOAP gives {soap.n_features}"
            )
        self.features, self.soap = features, soap
        self.cnn, self.mlp = cnn.cpu().eval(), mlp.cpu().eval()

    @property
    def n_features(self) -> int:
        return self.features.n_features + self.soap.n_features

    def descriptors(
        self, frames: Any, *, workers: int = 1, progress: bool | None = None
    ) -> np.ndarray:
        from .descriptors.soap import soap_descriptor

        frames = self.check_frames(frames)
        soap = np.asarray(soap_descriptor(frames, self.soap, n_jobs=workers), dtype=np.float32)
        return np.concatenate([self.features(frames, workers), soap], axis=1)

    def mlp_inputs(self, X: np.ndarray) -> np.ndarray:
        """The MLP's rows ``(n, channels + n_soap)`` of descriptor rows ``X``."""
        from .training.baselines import cnn_pooled_features

        X = _check_rows(X, self.n_features, "descriptor")
        nb = self.features.n_features
        images = np.asarray(X[:, :nb], dtype=np.float32).reshape(len(X), *self.cnn.image_shape)
        return np.concatenate([cnn_pooled_features(self.cnn, images), X[:, nb:]], axis=1)

    def _from_rows(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from .training.baselines import predict_mlp

        rows = self.mlp_inputs(X)
        return predict_mlp(self.mlp, rows), rows

    def _settings(self) -> dict[str, Any]:
        return {
            **self.features.settings(),
            "cnn": _cnn_settings(self.cnn),
            "soap": self.soap.to_dict(),
            "mlp": {"hidden": list(self.mlp.hidden)},
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {
            **self.features.tensors(),
            **_prefixed("cnn", self.cnn.state_dict()),
            **_prefixed("mlp", self.mlp.state_dict()),
        }

    @classmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> PHSOAPModel:
        from .descriptors.soap import SOAPConfig

        return cls(
            PHFeatures.restore(settings, tensors),
            _cnn_restore(settings, tensors),
            SOAPConfig.from_dict(settings["soap"]),
            _mlp_restore(tensors, settings["mlp"]["hidden"]),
            **common,
        )


# --------------------------------------------------------------------------- SchNet


class SchNetModel(EnergyModel):
    """SchNet (our implementation of SchNetPack's architecture) on periodic neighbour graphs.

    Its training domain is judged on its own learned descriptor, the last interaction's
    features averaged over each structure's atoms.

    Parameters
    ----------
    schnet : SchNet
        Trained.
    batch_size : int, default 4
        Structures per forward pass.
    **common
        See :class:`EnergyModel`.
    """

    kind = "schnet"

    def __init__(self, schnet: Any, batch_size: int = 4, **common: Any) -> None:
        from .models.schnet import SchNet

        super().__init__(**common)
        if not isinstance(schnet, SchNet):
            raise TypeError(f"schnet must be a SchNet, got {type(schnet).__name__}")
        self.schnet = schnet.cpu().eval()
        self.batch_size = int(batch_size)

    def _inputs(self, frames: list[Any], workers: int, progress: bool | None) -> Any:
        from .training.baselines import neighbor_graphs

        return neighbor_graphs(frames, self.schnet.cutoff, workers)

    @torch.no_grad()
    def _evaluate(self, inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        from .models.schnet import collate

        energies, rows = [], []
        for i in range(0, len(inputs), self.batch_size):
            energy, mean_features = self.schnet.evaluate(collate(inputs[i : i + self.batch_size]))
            energies.append(energy.double().numpy())
            rows.append(mean_features.double().numpy())
        return np.concatenate(energies), np.concatenate(rows)

    def _settings(self) -> dict[str, Any]:
        s = self.schnet
        return {
            "schnet": {
                "n_features": s.n_features,
                "n_interactions": s.n_interactions,
                "n_gaussians": int(s.centers.shape[0]),
                "cutoff": s.cutoff,
                "gamma": s.gamma,
                "max_z": int(s.embedding.num_embeddings),
            },
            "batch_size": self.batch_size,
        }

    def _tensors(self) -> dict[str, torch.Tensor]:
        return _prefixed("schnet", self.schnet.state_dict())

    @classmethod
    def _restore(
        cls, settings: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], **common: Any
    ) -> SchNetModel:
        from .models.schnet import SchNet

        schnet = SchNet(**settings["schnet"])
        schnet.load_state_dict(_unprefixed("schnet", tensors))
        return cls(schnet, batch_size=settings.get("batch_size", 4), **common)
