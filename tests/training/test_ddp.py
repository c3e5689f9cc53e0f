"""Lightning DDP on CPU (gloo, 2 processes): the NRP and the cWGAN train end to end.

Each fit runs in a fresh interpreter from a script (Lightning's DDP launcher starts the second
rank by running the same command again), so the test suite's own process is left alone.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

pytest.importorskip("lightning")

if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

_NRP_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import torch
    from topophys.training.nrp import NRPConfig, Trajectories, build_model, fit_nrp

    def data():
        rng = np.random.default_rng(0)
        t = np.linspace(0.0, 1.0, 6)
        a = rng.uniform(0.5, 1.5, 8)
        u0 = rng.uniform(-1.0, 1.0, (8, 1))
        u = u0[:, :, None] * np.exp(-a[:, None, None] * t[None, None, :])  # du/dt = -a u
        w = np.random.default_rng(1).standard_normal((1, 8))
        x = np.tanh(np.einsum("rkt,kf->rtf", u, w))
        cond = np.repeat(a[:, None, None], 6, axis=1)
        return Trajectories(x, np.tile(t, (8, 1)), cond, ("a",))

    if __name__ == "__main__":
        out, devices = sys.argv[1], int(sys.argv[2])
        # 40 windows, one full batch: each of 2 ranks takes 20 and DDP averages the gradients,
        # so the steps are those of one process on all 40 (up to rounding). Plain "ddp" stops
        # at the first step: the model has parameters that the loss does not use.
        strategy = "ddp_find_unused_parameters_true" if devices > 1 else "auto"
        config = NRPConfig(
            epochs=4, batch_size=64, hidden=(16,), potential_hidden=(16,), lr=1e-2,
            devices=devices, strategy=strategy,
        )
        model = build_model("mlp", (8,), config, 1)
        history = fit_nrp(model, data(), config, out, resume=False, progress=False)
        rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.save(model.state_dict(), os.path.join(out, f"rank{rank}.pt"))
        torch.save(history, os.path.join(out, f"history{rank}.pt"))
    """
)


def _run(script, tmp_path, *args, timeout=600):
    path = tmp_path / "fit.py"
    path.write_text(script)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(path), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _state(path):
    return torch.load(path, weights_only=True)


def test_nrp_trains_under_ddp_like_one_process(tmp_path):
    (tmp_path / "ddp").mkdir()
    (tmp_path / "one").mkdir()
    _run(_NRP_SCRIPT, tmp_path, tmp_path / "ddp", 2)
    _run(_NRP_SCRIPT, tmp_path, tmp_path / "one", 1)
    rank0, rank1 = _state(tmp_path / "ddp" / "rank0.pt"), _state(tmp_path / "ddp" / "rank1.pt")
    single = _state(tmp_path / "one" / "rank0.pt")
    saved = _state(tmp_path / "ddp" / "model.pt")  # written once, by rank 0
    for key, value in rank0.items():
        torch.testing.assert_close(rank1[key], value, rtol=0, atol=0)  # ranks in sync
        torch.testing.assert_close(saved[key], value, rtol=0, atol=0)
        torch.testing.assert_close(value, single[key], rtol=1e-4, atol=1e-5)
    history = torch.load(tmp_path / "ddp" / "history0.pt", weights_only=False)
    assert len(history["train_loss"]) == 4 and np.isfinite(history["train_loss"]).all()


# The cWGAN's trainer (topophys.training.wgan.train_cwgan) takes one device; this builds the
# same module, data and sampler and fits them on two CPU processes.
_WGAN_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import torch
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset
    from topophys.observables.charge import plaquette_charge
    from topophys.training.wgan import (
        CWGANConfig, CWGANModule, EpochBatchSampler, _calibrate, _make_monitor, _training_arrays,
    )

    if __name__ == "__main__":
        out, devices = sys.argv[1], int(sys.argv[2])
        rng = np.random.default_rng(0)
        theta = (rng.normal(0.0, 0.3, (16, 16, 16)) + rng.uniform(-3, 3, (16, 1, 1)))
        theta = theta.astype(np.float32)
        temps = np.where(np.arange(16) % 2 == 0, 0.1, 0.5)
        config = CWGANConfig(
            width=0.125, critic_width=0.125, noise_channels=2, epochs=2, batch_size=4,
            n_critic=2, physics_start_epoch=1, physics_target="calibrated", monitor_samples=16,
            accelerator="cpu",
        )
        th, q, t = _training_arrays(theta, plaquette_charge(theta), temps, 16)
        torch.manual_seed(config.seed)
        module = CWGANModule(
            config, charge_scale=_calibrate(th, q), monitor=_make_monitor(th, q, t, 16, 0)
        )
        sampler = EpochBatchSampler(th.shape[0], config.batch_size, config.seed, drop_last=True)
        loader = DataLoader(TensorDataset(th, q, t), batch_size=None, sampler=sampler)
        strategy = "ddp_find_unused_parameters_true" if devices > 1 else "auto"
        trainer = L.Trainer(
            max_epochs=config.epochs, accelerator="cpu", devices=devices, strategy=strategy,
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=out,
        )
        trainer.fit(module, loader)
        rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.save(module.final_generator.state_dict(), os.path.join(out, f"rank{rank}.pt"))
        torch.save(module.history, os.path.join(out, f"history{rank}.pt"))
    """
)


def test_cwgan_trains_under_ddp(tmp_path):
    _run(_WGAN_SCRIPT, tmp_path, tmp_path, 2)
    rank0, rank1 = _state(tmp_path / "rank0.pt"), _state(tmp_path / "rank1.pt")
    for key, value in rank0.items():
        torch.testing.assert_close(rank1[key], value, rtol=0, atol=0)  # ranks in sync
    history = torch.load(tmp_path / "history0.pt", weights_only=False)
    assert len(history) == 2
    assert all(np.isfinite(v) for row in history for v in row.values() if isinstance(v, float))
