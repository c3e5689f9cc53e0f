"""The papers' PD-histogram CNN: architecture, shapes, target scaling, determinism, bad input."""

import pytest
import torch
from torch import nn

from topophys.models.pdcnn import PDCNN


def test_paper_architecture_and_flat_size():
    model = PDCNN()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [64, 64, 32]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert len(pools) == 3
    assert len(linears) == 2
    # The letter's Fig. 3e: (128 / 8) · (128 / 8) · 32 = 8192 inputs to the first FC layer.
    assert model.n_flat == 8192 == linears[0].in_features
    assert linears[1].out_features == 1


@pytest.mark.parametrize("shape", [(3, 16, 32), (3, 1, 16, 32)])
def test_output_shape_for_both_input_layouts(shape):
    model = PDCNN((16, 32), channels=(2, 3), hidden=5)
    assert model.n_flat == 3 * 4 * 8
    assert model(torch.randn(*shape)).shape == (3,)


def test_target_scaling_maps_standardized_output_to_units():
    torch.manual_seed(0)
    model = PDCNN((8, 8), channels=(2,), hidden=4)
    x = torch.randn(6, 8, 8)
    raw = model.standardized(x)
    model.set_target_scaling(torch.tensor([-7.0, -6.0, -5.0]))
    assert float(model.target_mean) == pytest.approx(-6.0)
    assert float(model.target_scale) == pytest.approx((2 / 3) ** 0.5)
    torch.testing.assert_close(model(x), raw * model.target_scale - 6.0)
    # The scaling is part of the saved state.
    state = model.state_dict()
    assert float(state["target_mean"]) == pytest.approx(-6.0)
    model.set_target_scaling([2.0, 2.0])  # constant target: shift only, never divide by 0
    assert float(model.target_scale) == 1.0
    with pytest.raises(ValueError, match="finite"):
        model.set_target_scaling([float("nan")])


def test_same_seed_same_model():
    x = torch.randn(2, 16, 16)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(PDCNN((16, 16), channels=(4, 4), hidden=6)(x))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"image_shape": (10, 16)}, ValueError, "divisible"),
        ({"image_shape": (16,)}, ValueError, "pair"),
        ({"channels": ()}, ValueError, "non-empty"),
        ({"channels": (4, 0)}, ValueError, "channels\\[1\\]"),
        ({"kernel_size": 2}, ValueError, "odd"),
        ({"hidden": 1.5}, TypeError, "hidden"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"image_shape": (16, 16), "channels": (2, 2), "hidden": 4, **kwargs}
    with pytest.raises(error, match=match):
        PDCNN(**args)


def test_wrong_input_shape_is_named():
    model = PDCNN((16, 16), channels=(2,), hidden=4)
    with pytest.raises(ValueError, match=r"\(B, 16, 16\)"):
        model(torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="x must have shape"):
        model(torch.zeros(2, 3, 16, 16))
