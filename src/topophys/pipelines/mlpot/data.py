"""The frames of the ``mlpot`` pipeline: read or generated, grouped in runs, strided, summed up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import _validate
from ...descriptors.ph import DescriptorConfig
from .config import InverseConfig, MLPotConfig

__all__ = [
    "Frames",
    "energies_of",
    "frame_table",
    "load_frames",
    "prepare_frames",
    "read_any",
    "relabel_frames",
    "run_groups",
    "select_run_frames",
    "stride_frames",
    "subset",
    "summary",
]


# Stage order of the melt-quench protocol; a run restarts when it goes backwards.
_STAGE_ORDER = {"heat": 0, "melt": 1, "cool": 2, "anneal": 3, "quench": 4}


def run_groups(
    frames: Sequence[Any], group_key: str | None = "run", stage_key: str = "process"
) -> np.ndarray:
    """The melt-quench run each frame belongs to: ``(n,)`` int64 labels 0, 1, ...

    Frames that carry ``info[group_key]`` (our generator's ``run``) are grouped by (source
    file, density, that value). Otherwise (e.g. the published files, which have no run key),
    frames are taken in order and a new run starts when the source file or the density
    changes, or when the stage (``info[stage_key]``) goes back in the protocol (``quench`` →
    ``melt``). Labels number runs in order of appearance. ``group_key=None`` ignores any run
    key.
    """
    labels = np.empty(len(frames), dtype=np.int64)
    keys: dict[Any, int] = {}
    previous: tuple[Any, Any, int | None] | None = None
    current = -1
    for i, atoms in enumerate(frames):
        info = atoms.info
        source, density = info.get("source"), info.get("density")
        if group_key is not None and group_key in info:
            key = ("run", source, density, info[group_key])
            if key not in keys:
                keys[key] = len(keys)
            labels[i] = keys[key]
            previous = None
            continue
        stage = _STAGE_ORDER.get(info.get(stage_key))
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


def read_any(path: Path, energy_key: str, include_crystal: bool = False) -> list[Any]:
    """Frames of a published-layout root, an extxyz folder or an extxyz file.

    A folder with ``<N>atom_amorphous`` subfolders (and ``<N>atom_crystal`` ones with
    ``include_crystal``) is read as the published set; any other folder or file through
    :func:`~topophys.data.structures.read_structures`. ``energy_key`` names the total energy
    (eV) in the frames.
    """
    from ...data.structures import read_structures

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


def load_frames(
    config: MLPotConfig, run_dir: Path, workers: int, scheduler: Any, progress: bool | None
) -> tuple[list[Any], list[Any]]:
    """Training-size frames and transfer frames (all of them, before striding).

    Generated into ``run_dir/data/`` with ``config.generate`` and ``config.transfer`` (resuming
    finished runs), or read from ``config.data``: its smallest structures form the training
    set, the larger ones the transfer set, to which ``config.transfer_data`` adds.
    """
    from ...data.structures import read_structures
    from ...simulate.amorphous import run_melt_quench

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
        frames = read_any(Path(config.data), config.energy_key, config.include_crystal)
        if not frames:
            raise ValueError(f"data {config.data} holds no frames")
        sizes = np.array([len(a) for a in frames])
        small = int(sizes.min())
        train = [a for a, s in zip(frames, sizes, strict=True) if s == small]
        transfer = [a for a, s in zip(frames, sizes, strict=True) if s != small]
    if config.transfer_data is not None:
        transfer = transfer + read_any(
            Path(config.transfer_data), config.energy_key, config.include_crystal
        )
    return train, transfer


def frame_table(
    frames: Sequence[Any],
    energy_key: str = "energy",
    group_key: str | None = "run",
    stage_key: str = "process",
) -> dict[str, np.ndarray]:
    """Per frame: ``energy`` (eV/atom), ``group`` (:func:`run_groups`), ``density`` (g/cm³,
    NaN when unknown), ``process`` (the stage, ``info[stage_key]``; ``""`` when unknown) and
    ``n_atoms``; each ``(n,)``."""
    from ...data.structures import energies_per_atom

    return {
        "energy": energies_per_atom(frames, energy_key),
        "group": run_groups(frames, group_key, stage_key),
        "density": np.array([float(a.info.get("density", np.nan)) for a in frames]),
        "process": np.array([str(a.info.get(stage_key, "")) for a in frames]),
        "n_atoms": np.array([len(a) for a in frames], dtype=np.int64),
    }


def subset(table: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The rows ``idx`` of every column of a :func:`frame_table`."""
    return {k: v[idx] for k, v in table.items()}


def summary(
    config: MLPotConfig, frames: Frames, splits: dict[str, np.ndarray], diagrams: Any
) -> dict[str, Any]:
    """The data section of ``metrics.json``: sizes, runs, densities, split sizes, H1 points per
    frame and the share of them inside the descriptor's window, the energy range."""
    table, t_table = frames.table, frames.t_table
    density = table["density"]
    h1 = diagrams.select(config.descriptor.homology_dim).finite()
    grouped = splits["grouped"]
    out: dict[str, Any] = {
        "source": config.data or "generated",
        "train_atoms": sorted({int(s) for s in table["n_atoms"]}),
        "frames": len(frames.train),
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
        out["transfer_frames"] = len(frames.transfer)
        out["transfer_runs"] = len(np.unique(t_table["group"]))
    return out


def _share_in_window(h1: Any, d: DescriptorConfig) -> float:
    """Share of the points of ``h1`` inside the descriptor's birth–death window."""
    pts = np.asarray(h1.data)
    if not len(pts):
        return 0.0
    (b0, b1), (d0, d1) = d.birth_range, d.death_range
    inside = (pts[:, 1] >= b0) & (pts[:, 1] <= b1) & (pts[:, 2] >= d0) & (pts[:, 2] <= d1)
    return float(inside.mean())


def select_run_frames(
    frames: Sequence[Any],
    config: InverseConfig,
    group_key: str | None = "run",
    stage_key: str = "process",
) -> tuple[list[Any], dict[str, Any]]:
    """The frames :func:`~.sections.inverse_section` analyses: the last ``config.frames``
    frames of stage ``config.process`` (``info[stage_key]``) of run ``config.run`` at the
    density nearest ``config.density``.

    Returns the frames and a description (``density``, ``run``, ``process``, ``frames``).

    Raises
    ------
    ValueError
        If no frame carries ``info[stage_key]`` while ``config.process`` asks for a stage (the
        message names the key and the keys the frames have), or the run or stage is missing.
    """
    if not frames:
        raise ValueError("frames must hold at least one structure")
    if config.process is not None and not any(stage_key in a.info for a in frames):
        present = sorted({k for a in frames[:50] for k in a.info})
        raise ValueError(
            f"the inverse analysis takes frames of stage {config.process!r} from "
            f"atoms.info[{stage_key!r}], which no frame has (they have {present}); set "
            "stage_key to the key that names the melt-quench stage, or inverse.process to null "
            "for the last frames of a run whatever their stage"
        )
    groups = run_groups(frames, group_key, stage_key)
    density = np.array([float(a.info.get("density", np.nan)) for a in frames])
    runs = list(dict.fromkeys(groups.tolist()))
    run_density = np.array([density[groups == g][0] for g in runs])
    if np.isfinite(run_density).all():
        target = float(np.median(run_density)) if config.density is None else config.density
        nearest = run_density[np.argmin(np.abs(run_density - target))]
        candidates = [g for g, d in zip(runs, run_density, strict=True) if d == nearest]
    else:
        nearest, candidates = float("nan"), runs
    if config.run >= len(candidates):
        raise ValueError(
            f"inverse.run={config.run} but there are {len(candidates)} runs at density "
            f"{nearest:g} g/cm³"
        )
    where = np.flatnonzero(groups == candidates[config.run])
    if config.process is not None:
        where = np.array([i for i in where if frames[i].info.get(stage_key) == config.process])
        if not len(where):
            raise ValueError(
                f"the chosen run (density {nearest:g} g/cm³) has no frame with "
                f"info[{stage_key!r}] == inverse.process={config.process!r}; set process to "
                "null for any stage"
            )
    where = where[-config.frames :]
    chosen = [frames[i] for i in where]
    return chosen, {
        "density": float(nearest),
        "run": int(config.run),
        "process": config.process,
        "frames": len(chosen),
        "source": str(chosen[0].info.get("source", "")),
    }


@dataclass
class Frames:
    """The pipeline's structures.

    Attributes
    ----------
    all_train : list of ase.Atoms
        Every training-size frame, before striding (the inverse analysis reads consecutive
        frames of one run).
    train : list of ase.Atoms, length n
        The kept training-size frames.
    table : dict of str to numpy.ndarray, each (n,)
        Their :func:`frame_table`.
    transfer : list of ase.Atoms, length m
        The kept larger-size frames (possibly none).
    t_table : dict of str to numpy.ndarray or None
        Their table, or None without transfer frames.
    """

    all_train: list[Any]
    train: list[Any]
    table: dict[str, np.ndarray]
    transfer: list[Any]
    t_table: dict[str, np.ndarray] | None


def prepare_frames(
    config: MLPotConfig,
    run_dir: Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> Frames:
    """Read or generate the frames (:func:`load_frames`), keep every ``config.frame_stride``-th
    frame of each run, relabel the kept ones with ``config.relabel`` (:func:`relabel_frames`)
    and tabulate them.

    Raises
    ------
    ValueError
        If there is no training frame.
    """
    train, transfer = load_frames(config, run_dir, workers, scheduler, progress)
    if not train:
        raise ValueError("the training set is empty: no frames were generated or found")
    keys = (config.energy_key, config.group_key, config.stage_key)
    table = frame_table(train, *keys)
    keep = stride_frames(table["group"], config.frame_stride)
    kept = [train[i] for i in keep]
    table = subset(table, keep)
    t_table = None
    if transfer:
        t_table = frame_table(transfer, *keys)
        t_keep = stride_frames(t_table["group"], config.frame_stride)
        transfer = [transfer[i] for i in t_keep]
        t_table = subset(t_table, t_keep)
    if config.relabel is not None:
        folder = run_dir / "labels"
        kw = {"workers": workers, "scheduler": scheduler, "progress": progress}
        kept = relabel_frames(kept, config.relabel, folder / "train", **kw)
        table["energy"] = energies_of(kept)
        if transfer:
            transfer = relabel_frames(transfer, config.relabel, folder / "transfer", **kw)
            assert t_table is not None
            t_table["energy"] = energies_of(transfer)
    return Frames(train, kept, table, transfer, t_table)


def energies_of(frames: Sequence[Any]) -> np.ndarray:
    """Energy per atom (eV) of relabelled frames (their calculator's ``energy``)."""
    from ...data.structures import energies_per_atom

    return energies_per_atom(frames, "energy")


_LABEL_CHUNK = 32


def _label_chunk(job: tuple[Sequence[Any], str]) -> tuple[np.ndarray, np.ndarray]:
    from ...simulate.amorphous import label_frames

    frames, potential = job
    out = label_frames(frames, potential)
    return (
        np.array([a.get_potential_energy() for a in out]),
        np.stack([a.get_forces() for a in out]),
    )


def relabel_frames(
    frames: Sequence[Any],
    potential: str,
    folder: Path,
    *,
    workers: int = 1,
    scheduler: Any = None,
    progress: bool | None = None,
) -> list[Any]:
    """Copies of ``frames`` labelled by ``potential`` (LAMMPS), resumable.

    Energies and forces are computed in chunks of 32 frames and kept in
    ``folder/<potential>_<k>.npz`` (written atomically, with a digest of the chunk's positions
    and cells, so a chunk of other frames is recomputed). Each copy's calculator holds the new
    ``energy``/``free_energy`` (eV, total) and ``forces`` (eV/Å); ``info["potential"]`` names
    the new labels and ``info["trajectory_energy"]`` keeps the old total energy when there was
    one.
    """
    from ase.calculators.singlepoint import SinglePointCalculator

    from ...parallel import as_completed
    from ...simulate.amorphous import POTENTIALS

    _validate.choice("relabel", potential, POTENTIALS)
    frames = list(frames)
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [frames[i : i + _LABEL_CHUNK] for i in range(0, len(frames), _LABEL_CHUNK)]
    paths = [folder / f"{potential}_{k:05d}.npz" for k in range(len(chunks))]
    keys = [_positions_digest(c) for c in chunks]
    todo = [k for k, path in enumerate(paths) if _stored_key(path) != keys[k]]
    jobs = [(chunks[k], potential) for k in todo]
    for j, (energy, forces) in as_completed(
        _label_chunk, jobs, workers=workers, scheduler=scheduler, chunksize=1,
        desc=f"{potential} labels", progress=progress,
    ):  # fmt: skip
        k = todo[j]
        tmp = paths[k].with_name(paths[k].stem + ".tmp.npz")
        np.savez(tmp, energy=energy, forces=forces, key=np.array(keys[k]))
        tmp.replace(paths[k])
    out = []
    for chunk, path in zip(chunks, paths, strict=True):
        with np.load(path) as stored:
            energy, forces = stored["energy"], stored["forces"]
        for atoms, e, f in zip(chunk, energy, forces, strict=True):
            copy = atoms.copy()
            results = getattr(atoms.calc, "results", None) or {}
            if "energy" in results:
                copy.info["trajectory_energy"] = float(results["energy"])
            copy.info["potential"] = potential
            copy.calc = SinglePointCalculator(copy, energy=float(e), free_energy=float(e), forces=f)
            out.append(copy)
    return out


def _positions_digest(frames: Sequence[Any]) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for a in frames:
        h.update(np.ascontiguousarray(a.positions, dtype=np.float64).tobytes())
        h.update(np.ascontiguousarray(a.cell.array, dtype=np.float64).tobytes())
    return h.hexdigest()


def _stored_key(path: Path) -> str | None:
    if not path.exists():
        return None
    with np.load(path) as stored:
        return str(stored["key"])
