"""Per-atom SOAP + NN and SchNet with forces: their forces are derivatives of their energies."""

import numpy as np
import pytest
import torch

from topophys.descriptors.soap import SOAPConfig
from topophys.models.local_ph import AtomicNetwork
from topophys.training.force_baselines import (
    AtomicSchNet,
    SchNetForceConfig,
    fit_force_model,
    schnet_samples,
    soap_derivatives,
    soap_samples,
)
from topophys.training.local_ph import LocalPHFitConfig

from .test_local_ph import check_force_jacobian, labelled

pytest.importorskip("dscribe")

SOAP = SOAPConfig(r_cut=3.0, n_max=3, l_max=3, sigma=0.3)
SCHNET = SchNetForceConfig(n_features=8, n_interactions=1, n_gaussians=10, cutoff=3.0)
TWO_EPOCHS = LocalPHFitConfig(
    hidden=(8,), epochs=2, batch_size=2, milestones=(1,), validation_fraction=0.0
)


def test_soap_derivatives_equal_finite_differences_and_dscribes_off_the_centre():
    atoms = labelled(1)[0]
    soap = SOAP.build(average=False)
    _, blocks = soap_derivatives(atoms, SOAP, np.array([3, 17]))
    # DScribe's numerical derivatives leave out a centre's dependence on its own position.
    reference, _ = soap.derivatives(atoms, include=[3, 17], method="numerical")
    for k, (atom, (centres, d)) in enumerate(zip((3, 17), blocks, strict=True)):
        full = np.zeros((len(atoms), 3, SOAP.n_features))
        full[centres] = d
        others = np.arange(len(atoms)) != atom
        np.testing.assert_allclose(full[others], reference[others, k], atol=1e-6)
        moved = atoms.copy()
        moved.positions[atom, 1] += 1e-5
        plus = soap.create(moved)
        moved.positions[atom, 1] -= 2e-5
        fd = (plus - soap.create(moved)) / 2e-5
        np.testing.assert_allclose(full[:, 1], fd, atol=1e-6)


def _fd_forces(energy_of, atoms, picks, step=1e-5):
    out = []
    for atom, axis in picks:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, axis] += sign * step
            e.append(energy_of(moved))
        out.append(-(e[0] - e[1]) / (2 * step))
    return np.array(out)


def test_soap_and_schnet_forces_are_minus_the_energy_gradient():
    frames = labelled(1)
    atoms = frames[0]
    torch.manual_seed(0)
    network = AtomicNetwork(SOAP.n_features, hidden=(8,)).double()
    network.input_scale.fill_(0.1)
    schnet = AtomicSchNet(SCHNET).double()
    picks = [(2, 0), (11, 2), (30, 1)]
    for model, make in (
        (network, lambda fs, k: soap_samples(fs, SOAP, force_atoms=k)),
        (schnet, lambda fs, k: schnet_samples(fs, SCHNET, force_atoms=k)),
    ):
        (sample,) = make(frames, 0)
        _, forces = sample.predict(model, False)

        def energy_of(moved, model=model, make=make):
            moved.calc = atoms.calc
            return float(make([moved], 0)[0].predict(model, False)[0].detach())

        fd = _fd_forces(energy_of, atoms, picks)
        got = np.array([forces[a, c].item() for a, c in picks])
        np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-7)


def test_fit_force_model_trains_both_and_refuses_others():
    frames = labelled(4)
    torch.manual_seed(0)
    soap = soap_samples(frames, SOAP, force_atoms=4)
    model, history = fit_force_model(AtomicNetwork(SOAP.n_features, hidden=(8,)), soap, TWO_EPOCHS)
    assert len(history["epoch"]) == 2 and model.input_mean.dtype == torch.float64
    schnet = schnet_samples(frames, SCHNET, force_atoms=4)
    model, history = fit_force_model(AtomicSchNet(SCHNET), schnet, TWO_EPOCHS)
    assert np.isfinite(history["train_loss"]).all()
    with pytest.raises(TypeError, match="AtomicNetwork or AtomicSchNet"):
        fit_force_model(torch.nn.Linear(2, 1), schnet, TWO_EPOCHS)


def test_soap_force_jacobian_is_the_forces_of_a_linear_per_atom_energy():
    (sample,) = soap_samples(labelled(1), SOAP, force_atoms=5, seed=2)
    assert len(sample.force_index) == 5
    check_force_jacobian(sample, SOAP.n_features)


def test_fit_force_model_starts_soap_from_the_exact_linear_fit():
    frames = labelled(4)
    soap = soap_samples(frames, SOAP, force_atoms=4)
    config = TWO_EPOCHS.replace(
        validation_fraction=0.25, linear_start=True, force_weight=0.3, linear_ridges=(1e-6, 1e-2)
    )
    torch.manual_seed(0)
    model, history = fit_force_model(
        AtomicNetwork(SOAP.n_features, hidden=(8,), linear=True), soap, config
    )
    start = history["linear_start"]
    assert [lam for lam, _ in start["scores"]] == [1e-6, 1e-2]
    assert start["holdout_score"] == min(score for _, score in start["scores"])
    assert float(model.linear_weight.abs().max()) > 0.0  # the fixed term was set
    with pytest.raises(ValueError, match="linear=True"):
        fit_force_model(AtomicNetwork(SOAP.n_features, hidden=(8,)), soap, config)
    with pytest.raises(ValueError, match="linear_start"):
        fit_force_model(AtomicNetwork(SOAP.n_features, hidden=(8,), linear=True), soap, TWO_EPOCHS)
    schnet = schnet_samples(frames, SCHNET, force_atoms=4)
    with pytest.raises(ValueError, match="AtomicNetwork, not AtomicSchNet"):
        fit_force_model(AtomicSchNet(SCHNET), schnet, config)
