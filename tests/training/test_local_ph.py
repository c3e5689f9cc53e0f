"""Training the local PH potential: it learns, its training forces are its MD forces, it resumes."""

import json
import warnings

import numpy as np
import pytest
from ase.calculators.morse import MorsePotential
from ase.calculators.singlepoint import SinglePointCalculator

from topophys.training._forces import errors
from topophys.training.local_ph import (
    LINEAR_RIDGES,
    LocalPHFitConfig,
    fit_local_ph,
    force_labels,
    force_subset,
    linear_start,
    ph_samples,
)

from ..descriptors.test_local_ph import SMALL, amorphous


def labelled(n_frames=8):
    """Disordered boxes labelled by a Morse potential (energies and forces)."""
    frames = []
    for seed in range(n_frames):
        atoms = amorphous(n=44 + 2 * (seed % 3), seed=seed)
        atoms.calc = MorsePotential(epsilon=1.0, r0=1.5, rho0=4.0, rcut1=2.6, rcut2=3.0)
        e, f = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=e, forces=f)
        frames.append(atoms)
    return frames


FAST = LocalPHFitConfig(
    hidden=(16,), epochs=40, batch_size=4, lr=5e-3, milestones=(30,), validation_fraction=0.0
)


def test_fit_reduces_energy_and_force_errors_and_matches_inference_forces():
    frames = labelled()
    samples = ph_samples(frames, SMALL)
    model, history = fit_local_ph(frames, SMALL, FAST, samples=samples)
    potential = model.potential
    first, last = history["train_loss"][0], history["train_loss"][-1]
    assert last < 0.5 * first
    scores = errors(potential.network, samples)
    assert scores["force_rmse_meV"] < history["train_force_rmse_meV"][0]
    # The training path (precomputed values, closed-form image derivatives) gives the forces
    # the calculator gives.
    out = potential.compute(frames[0])
    energy, forces = samples[0].predict(potential.network, False)
    assert float(energy.detach()) == pytest.approx(out["energy"], abs=1e-4)
    np.testing.assert_allclose(forces.detach().numpy(), out["forces"], atol=1e-4)


def test_force_subsets_and_energy_only_samples():
    frames = labelled(2)
    subset = ph_samples(frames, SMALL, force_atoms=5, seed=3)
    assert [len(s.force_index) for s in subset] == [5, 5]
    np.testing.assert_array_equal(subset[1].force_index, force_subset(len(frames[1]), 5, 3, 1))
    np.testing.assert_allclose(subset[0].forces, force_labels(frames[0])[subset[0].force_index])
    bare = frames[0].copy()
    bare.calc = SinglePointCalculator(bare, energy=-5.0)
    (only_energy,) = ph_samples([bare], SMALL)
    assert len(only_energy.force_index) == 0 and only_energy.energy == -5.0


@pytest.mark.parametrize("centre", ["kept", "both"])
def test_force_jacobian_is_the_forces_of_a_linear_per_atom_energy(centre):

    config = SMALL.replace(centre=centre)
    frames = labelled(2)
    (sample,) = ph_samples(frames[1:], config, force_atoms=7, seed=2)
    check_force_jacobian(sample, config.n_features)


def check_force_jacobian(sample, n_features):
    """``sample.force_jacobian() @ w`` equals the forces a linear per-atom energy ``w · x``
    predicts through ``sample.predict`` (a network without hidden layers, rescaled inputs)."""
    import torch

    from topophys.models.local_ph import AtomicNetwork

    torch.manual_seed(0)
    net = AtomicNetwork(n_features, hidden=()).double()
    with torch.no_grad():
        net.input_scale.uniform_(0.5, 2.0)
        net.energy_scale.fill_(1.7)
    _, forces = sample.predict(net, False)
    w = net.nets[0][0].weight.detach()[0] * net.energy_scale / net.input_scale
    jacobian = sample.force_jacobian()
    assert jacobian.shape == (3 * len(sample.force_index), n_features)
    assert float(forces.abs().max()) > 1e-3  # not trivially zero
    np.testing.assert_allclose(
        (jacobian @ w).numpy(), forces.detach().reshape(-1).numpy(), atol=1e-9
    )


def test_linear_start_is_the_minimum_of_the_loss_and_training_goes_on_from_it(tmp_path):
    import torch

    from topophys.models.local_ph import AtomicNetwork
    from topophys.potentials import OutOfRangeWarning, load_energy_model
    from topophys.training._forces import label_scales
    from topophys.training.local_ph import _fit_scaling

    frames = labelled()
    samples = ph_samples(frames, SMALL, force_atoms=6, seed=1)
    torch.manual_seed(0)
    net = AtomicNetwork(SMALL.n_features, hidden=(8,), linear=True).double()
    _fit_scaling(net, samples, 0.1)
    ridge, weight = 1e-4, 0.3
    found = linear_start(net, samples, (), weight, ridges=(ridge,))
    assert found["ridge"] == ridge and found["holdout_score"] is None and found["scores"] == []
    # At the solution the gradient of loss + ridge with respect to the linear term vanishes;
    # a sign or a scale wrong anywhere in the rows would leave it far from zero.
    sigma_e, sigma_f = label_scales(samples)
    last = net.nets[0][-1]
    w = net.linear_weight.clone().requires_grad_(True)
    b = last.bias.detach().clone().requires_grad_(True)

    def loss(w, b):
        with torch.no_grad():
            net.linear_weight.copy_(w.detach())
        total = ridge * len(samples) * (w * w).sum()
        for s in samples:
            x = (s.features.double() - net.input_mean) / net.input_scale
            e = (x @ w[0] + b[0]) * net.energy_scale + net.energy_shift[0]
            de = (e.sum() - s.energy) / s.n_atoms / sigma_e
            f = (s.force_jacobian() * (net.energy_scale / net.input_scale)) @ w[0]
            df = (f - s.forces.reshape(-1).double()) / sigma_f
            total = total + de * de + weight * (df * df).mean()
        return total

    value = loss(w, b)
    gw, gb = torch.autograd.grad(value, (w, b))
    scale = float(value.detach())
    assert float(gw.abs().max()) < 1e-6 * scale and abs(float(gb[0])) < 1e-6 * scale
    # The networks start at zero: the model's predictions are the linear term's.
    assert float(last.weight.detach().abs().max()) == 0.0
    energy, _ = samples[0].predict(net, False)
    x = (samples[0].features.double() - net.input_mean) / net.input_scale
    expected = ((x @ w[0] + b[0]) * net.energy_scale + net.energy_shift[0]).sum()
    assert float(energy.detach()) == pytest.approx(float(expected.detach()), rel=1e-10)
    # Moving off the solution raises the loss.
    assert float(loss(w * 1.01, b).detach()) > scale
    # With held-out structures every ridge is scored by the loss on them (no ridge term),
    # and the one kept is the lowest: the model's own held-out loss equals its score.
    found = linear_start(net, samples[:-2], samples[-2:], weight, ridges=(1e-8, 1e-2, 10.0))
    assert [lam for lam, _ in found["scores"]] == [1e-8, 1e-2, 10.0]
    assert found["holdout_score"] == min(score for _, score in found["scores"])
    assert len({score for _, score in found["scores"]}) == 3
    sigma_e, sigma_f = label_scales(samples[:-2])
    held = 0.0
    for s in samples[-2:]:
        e, f = s.predict(net, True)
        de = (float(e.detach()) - s.energy) / s.n_atoms / sigma_e
        df = (f.detach().reshape(-1) - s.forces.reshape(-1).double()) / sigma_f
        held += de * de + weight * float((df * df).mean())
    assert held / 2 == pytest.approx(found["holdout_score"], rel=1e-9)
    # A fit from it keeps the linear term, lowers its own loss, and saves and loads it.
    config = LocalPHFitConfig(
        hidden=(8,), epochs=6, batch_size=4, lr=2e-3, milestones=(5,), validation_fraction=0.25,
        linear_start=True, force_weight=weight, force_atoms=6, seed=1,
    )  # fmt: skip
    model, history = fit_local_ph(frames, SMALL, config, tmp_path / "fit", samples=samples)
    assert model.potential.network.linear
    start = history["linear_start"]  # every ridge's held-out loss, the kept one the lowest
    assert [lam for lam, _ in start["scores"]] == list(config.linear_ridges)
    assert config.linear_ridges == LINEAR_RIDGES
    assert start["holdout_score"] == min(score for _, score in start["scores"])
    assert json.loads((tmp_path / "fit" / "history.json").read_text())["linear_start"] == start
    assert history["train_loss"][-1] < history["train_loss"][0]
    loaded = load_energy_model(tmp_path / "fit" / "model")
    assert loaded.potential.network.linear
    with warnings.catch_warnings():  # a held-out frame may lie outside the training domain
        warnings.simplefilter("ignore", OutOfRangeWarning)
        np.testing.assert_allclose(loaded.predict(frames), model.predict(frames), rtol=1e-12)
    with pytest.raises(ValueError, match=r"linear_start .* one species"):
        fit_local_ph(frames, SMALL.replace(species=("C", "H")), config)
    with pytest.raises(ValueError, match="linear=True"):
        linear_start(AtomicNetwork(SMALL.n_features).double(), samples)
    for bad in ((), (1e-3, -1.0), (float("nan"),)):
        with pytest.raises(ValueError, match="linear_ridges must be finite non-negative"):
            LocalPHFitConfig(linear_ridges=bad)
        with pytest.raises(ValueError, match="ridges must be finite non-negative"):
            linear_start(net, samples, ridges=bad)
    for bad in ("1e-3", (True,), ("a",), 1e-3):
        with pytest.raises(TypeError, match="ridges"):
            linear_start(net, samples, ridges=bad)
    found = linear_start(net, samples, ridges=(np.float32(1e-4), 1))  # any real numbers
    assert found["ridge"] == pytest.approx(1e-4)


def test_run_identity_omits_later_settings_at_their_earlier_behaviour():
    """A run directory recorded before a setting existed keeps its identity while the setting
    does what the code did then, and not otherwise."""
    from topophys.training.local_ph import _identity

    frames = labelled(2)
    plain = _identity(SMALL, LocalPHFitConfig(), frames)
    for key in ("graph_cycles", "image_axes"):
        assert key not in plain["descriptor"]
    for key in ("linear_start", "linear_ridges", "epochs", "device"):
        assert key not in plain["config"]
    assert plain["config"]["lr"] == LocalPHFitConfig().lr
    root = _identity(SMALL.replace(image_axes="root"), LocalPHFitConfig(), frames)
    assert root["descriptor"]["image_axes"] == "root"
    first = _identity(
        SMALL, LocalPHFitConfig(linear_start=True, linear_ridges=(1e-6, 1e-4, 1e-2, 1.0)), frames
    )
    assert first["config"]["linear_start"] is True and "linear_ridges" not in first["config"]
    now = _identity(SMALL, LocalPHFitConfig(linear_start=True), frames)
    assert now["config"]["linear_ridges"] == list(LINEAR_RIDGES)
    # Without a linear start the ridges change nothing, so they are not part of it.
    assert _identity(SMALL, LocalPHFitConfig(linear_ridges=(1.0,)), frames) == plain


def test_run_dir_reloads_a_finished_fit_and_refuses_another(tmp_path):
    frames = labelled(4)
    config = FAST.replace(epochs=3, milestones=[2])
    first, _ = fit_local_ph(frames, SMALL, config, tmp_path / "fit")
    assert (tmp_path / "fit" / "model" / "weights.pt").exists()
    assert first.training["frames"] == 4 and first.energy_range[0] < first.energy_range[1]
    again, history = fit_local_ph(frames, SMALL, config, tmp_path / "fit")
    assert len(history["epoch"]) == 3
    np.testing.assert_array_equal(again.predict(frames), first.predict(frames))
    with pytest.raises(ValueError, match="another config"):
        fit_local_ph(frames, SMALL, config.replace(lr=1e-3), tmp_path / "fit")


def test_an_unfinished_fit_resumes_from_its_checkpoint(tmp_path):
    import shutil

    frames = labelled(4)
    config = FAST.replace(epochs=2, milestones=[1])
    fit_local_ph(frames, SMALL, config, tmp_path / "fit")
    # As if killed after its last checkpoint: no saved model yet.
    shutil.rmtree(tmp_path / "fit" / "model")
    (tmp_path / "fit" / "history.json").unlink()
    _, history = fit_local_ph(frames, SMALL, config.replace(epochs=3), tmp_path / "fit")
    assert history["epoch"] == [1, 2, 3]


def test_bad_settings_name_the_field():
    with pytest.raises(ValueError, match="activation"):
        LocalPHFitConfig(activation="relu")
    with pytest.raises(ValueError, match="force_weight"):
        LocalPHFitConfig(force_weight=-1.0)
    with pytest.raises(ValueError, match="milestones"):
        LocalPHFitConfig(milestones=(5, 3))
    with pytest.raises(ValueError, match="validation_fraction"):
        LocalPHFitConfig(patience=3, validation_fraction=0.0)
    with pytest.raises(TypeError, match="descriptor"):
        fit_local_ph(labelled(1), {"r_cut": 3.0})
    with pytest.raises(ValueError, match="at least one"):
        fit_local_ph([], SMALL)
