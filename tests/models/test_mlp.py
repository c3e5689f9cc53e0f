"""The SOAP + NN MLP: the paper's layers, scaling buffers, bad input."""

import pytest
import torch
from torch import nn

from topophys.models.mlp import MLP


def test_paper_architecture():
    model = MLP(360)
    linears = [m for m in model.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(360, 40), (40, 40), (40, 1)]
    assert model(torch.randn(3, 360)).shape == (3,)


def test_scaling_standardizes_inputs_and_maps_outputs():
    torch.manual_seed(0)
    model = MLP(3, hidden=(4,))
    X = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0]])
    raw = model.net(torch.zeros(1, 3)).squeeze(1)
    model.fit_scaling(X, torch.tensor([-7.0, -5.0]))
    torch.testing.assert_close(model.input_mean, torch.tensor([2.0, 5.0, 3.0]))
    # The constant column keeps scale 1 (no division by zero).
    torch.testing.assert_close(model.input_scale, torch.tensor([1.0, 1.0, 1.0]))
    # The mean row maps to the standardized origin, and the output back to eV.
    torch.testing.assert_close(model(X.mean(0, keepdim=True)), raw * 1.0 - 6.0)
    assert set(model.state_dict()) >= {"input_mean", "input_scale", "target_mean"}


def test_bad_input():
    with pytest.raises(ValueError, match="n_inputs"):
        MLP(0)
    with pytest.raises(ValueError, match=r"hidden\[1\]"):
        MLP(3, hidden=(4, 0))
    with pytest.raises(TypeError, match="hidden"):
        MLP(3, hidden="40")
    model = MLP(3)
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        model(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="finite"):
        model.fit_scaling(torch.tensor([[float("nan"), 0.0, 0.0]]), torch.tensor([1.0]))
    with pytest.raises(ValueError, match="shape"):
        model.fit_scaling(torch.zeros(2, 3), torch.zeros(3))
