"""Files planted in a shared run directory must not run code when topophys reads them.

Every loader is given a file whose unpickling would create a sentinel file; the load must fail
(or ignore it) and the sentinel must not appear. Covered: the cWGAN generator and its Lightning
checkpoint on resume (also with torch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set: the trainer asks
for a safe load explicitly), the NRP model weights and checkpoint, YAML configs (``safe_load``)
and Zarr stores whose metadata asks for a pickle codec. (The energy models'
``training/regression.py`` is covered by its own tests.)
"""

from __future__ import annotations

import json
import pathlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch


class _Planted:
    """Unpickling it touches ``path``: the mark of code that ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


def _plant(path: Path, sentinel: Path, *, checkpoint: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"state_dict": {}, "init_kwargs": _Planted(sentinel)}
    if checkpoint:  # what Lightning reads first from a checkpoint
        payload = {"epoch": 0, "global_step": 0, "pytorch-lightning_version": "2.6.0",
                   "state_dict": {}, "loops": _Planted(sentinel)}  # fmt: skip
    torch.save(payload, path)


def test_a_planted_pickle_really_runs_code_when_loaded_unsafely(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    _plant(tmp_path / "x.pt", sentinel)
    torch.load(tmp_path / "x.pt", weights_only=False)  # the danger the other tests rule out
    assert sentinel.exists()


def test_the_generator_loader_refuses_a_planted_file(tmp_path: Path) -> None:
    from topophys.models.unet import load_generator

    sentinel = tmp_path / "ran"
    _plant(tmp_path / "generator.pt", sentinel)
    with pytest.raises(pickle.UnpicklingError):
        load_generator(tmp_path / "generator.pt")
    assert not sentinel.exists()


def test_the_nrp_weights_loader_refuses_a_planted_file(tmp_path: Path) -> None:
    from topophys.training.nrp import NRPConfig, load_model

    sentinel = tmp_path / "ran"
    _plant(tmp_path / "model.pt", sentinel)
    with pytest.raises(pickle.UnpicklingError):
        load_model(
            "mlp", (6,), NRPConfig(hidden=(8,), potential_hidden=(8,)), 1, tmp_path / "model.pt"
        )
    assert not sentinel.exists()


@pytest.mark.parametrize("force_unsafe", [False, True])
def test_wgan_resume_refuses_a_planted_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force_unsafe: bool
) -> None:
    from topophys.training.wgan import CWGANConfig, train_cwgan

    if force_unsafe:  # a user's environment asking torch for unsafe loads everywhere
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    config = CWGANConfig(
        width=0.125, critic_width=0.125, noise_channels=2, epochs=1, batch_size=4,
        monitor_samples=4, accelerator="cpu",
    )  # fmt: skip
    run_dir = tmp_path / "gan"
    config.to_yaml(run_dir / "config.yaml")
    sentinel = tmp_path / "ran"
    _plant(run_dir / "checkpoints" / "last.ckpt", sentinel, checkpoint=True)
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, (8, 16, 16)).astype(np.float32)
    from topophys.observables.charge import plaquette_charge

    with pytest.raises(pickle.UnpicklingError):
        train_cwgan(
            config, theta, plaquette_charge(theta), np.full(8, 0.5), run_dir, progress=False
        )
    assert not sentinel.exists()


def test_nrp_resume_refuses_a_planted_checkpoint(tmp_path: Path) -> None:
    from topophys.training.nrp import NRPConfig, Trajectories, build_model, fit_nrp

    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.1, 0.5, (4, 5)), axis=1)
    data = Trajectories(rng.standard_normal((4, 5, 6)), t, rng.standard_normal((4, 5, 1)))
    config = NRPConfig(epochs=1, batch_size=4, hidden=(8,), potential_hidden=(8,))
    sentinel = tmp_path / "ran"
    _plant(tmp_path / "run" / "checkpoints" / "last.ckpt", sentinel, checkpoint=True)
    model = build_model("mlp", data.shape, config, 1)
    # Refused with a message naming the file; the unpickler's error is its cause.
    with pytest.raises(ValueError, match=r"last\.ckpt.*refusing") as info:
        fit_nrp(model, data, config, tmp_path / "run", progress=False)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    assert not sentinel.exists()


def test_a_yaml_config_cannot_construct_objects(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from topophys.cli import app
    from topophys.simulate.sweep import TDGLSweepConfig

    sentinel = tmp_path / "ran"
    config = tmp_path / "c.yaml"
    path = f"!!python/object/apply:pathlib.Path ['{sentinel}']"
    config.write_text(f"tdgl: !!python/object/apply:pathlib.Path.touch [{path}]\n")
    import yaml

    with pytest.raises(yaml.YAMLError, match="python/object"):
        TDGLSweepConfig.from_yaml(config)
    result = CliRunner().invoke(app, ["simulate", "tdgl", "x.zarr", "--config", str(config)])
    assert result.exit_code == 2 and "--config" in result.stderr
    assert not sentinel.exists()


def test_a_zarr_store_asking_for_a_pickle_codec_is_refused(tmp_path: Path) -> None:
    import zarr

    from topophys.diagrams import Diagrams

    sentinel = tmp_path / "ran"
    root = tmp_path / "planted.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2)
    group = root / "diagrams"
    zarr.open_group(str(group), mode="w", zarr_format=2).attrs.update(
        {"format": "topophys.diagrams", "version": 1, "complete": True, "n_points": 1,
         "n_diagrams": 1}
    )  # fmt: skip
    for name in ("data", "offsets"):
        (group / name).mkdir()
        meta = {"zarr_format": 2, "shape": [1], "chunks": [1], "dtype": "<f8",
                "compressor": {"id": "pickle"}, "fill_value": 0.0, "order": "C",
                "filters": None}  # fmt: skip
        (group / name / ".zarray").write_text(json.dumps(meta))
        (group / name / "0").write_bytes(pickle.dumps(_Planted(sentinel)))
    with pytest.raises((ValueError, TypeError)):
        Diagrams.load(root)
    assert not sentinel.exists()
