"""Grad-CAM of the PD-CNN: shape, sign, and it points at the region the output depends on."""

import numpy as np
import pytest
import torch

from topophys.evaluate.gradcam import attention_statistics, grad_cam
from topophys.models.pdcnn import PDCNN


def _region_model(cell=(1, 2)):
    """A 32 × 32 PD-CNN whose output reads only one cell of its last (4 × 4) pooled map, with
    identity-like positive convolutions so activations follow the input."""
    torch.manual_seed(0)
    model = PDCNN((32, 32), channels=(2, 2, 2), hidden=1)
    with torch.no_grad():
        for conv in (m for m in model.features if isinstance(m, torch.nn.Conv2d)):
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = 1.0  # every channel: the sum of the input channels
            conv.bias.zero_()
        lin1, lin2 = model.head[1], model.head[3]
        lin1.weight.zero_()
        lin1.bias.zero_()
        flat = torch.zeros(2, 4, 4)
        flat[:, cell[0], cell[1]] = 1.0
        lin1.weight[0] = flat.reshape(-1)
        lin2.weight.fill_(1.0)
        lin2.bias.zero_()
    return model.eval()


def test_map_has_the_image_shape_is_nonnegative_and_normalized():
    torch.manual_seed(1)
    model = PDCNN((32, 32), channels=(3, 3, 2), hidden=5)
    img = torch.randn(32, 32)
    for method in ("gradcam", "hires"):
        for sign in (1, -1):
            cam = grad_cam(model, img, method=method, sign=sign)
            assert cam.shape == (32, 32) and cam.dtype == np.float64
            assert cam.min() >= 0.0 and cam.max() <= 1.0
    # deterministic, and the model's state is left as it was
    model.train()
    np.testing.assert_array_equal(grad_cam(model, img), grad_cam(model, img))
    assert model.training and all(p.grad is None for p in model.parameters())


def test_hires_highlights_only_the_region_the_output_depends_on():
    model = _region_model(cell=(1, 2))  # pooled cell (1, 2) ↔ image rows 8–15, cols 16–23
    img = torch.zeros(32, 32)
    img[10:14, 18:22] = 1.0  # inside the read region
    img[24:28, 2:6] = 1.0  # outside it: the model ignores this bump
    cam = grad_cam(model, img, method="hires")
    inside = np.zeros((32, 32), bool)
    inside[6:18, 14:26] = True  # the region, with the bilinear upsampling's 2-pixel fringe
    assert cam.max() == 1.0 and cam[inside].max() == 1.0
    assert cam[~inside].max() < 1e-6
    # Grad-CAM with the letter's channel averages: still peaks inside for a single bump there
    img2 = torch.zeros(32, 32)
    img2[10:14, 18:22] = 1.0
    cam2 = grad_cam(model, img2)
    assert np.unravel_index(np.argmax(cam2), cam2.shape)[0] in range(8, 16)
    assert cam2[24:32, 0:8].max() < 1e-6
    # sign=-1: nothing in this model lowers the output
    assert grad_cam(model, img, method="hires", sign=-1).max() == 0.0


def test_bad_input():
    model = PDCNN((16, 16), channels=(2, 2), hidden=4)
    with pytest.raises(ValueError, match=r"shape \(nb, nd\)"):
        grad_cam(model, np.zeros((1, 16, 16)))
    with pytest.raises(ValueError, match="sign"):
        grad_cam(model, np.zeros((16, 16)), sign=0)
    with pytest.raises(ValueError, match="method"):
        grad_cam(model, np.zeros((16, 16)), method="cam")
    with pytest.raises(TypeError, match="features"):
        grad_cam(torch.nn.Linear(2, 1), np.zeros((16, 16)))
    with pytest.raises(ValueError, match="finite"):
        grad_cam(model, np.full((16, 16), np.nan))


def test_attention_statistics_weighted_means():
    points = np.zeros((4, 4))
    points[0, 1] = points[2, 3] = 1.0  # (b, d) centres (0.5, 1.5) and (2.5, 3.5)
    points[1, 1] = 2.0  # on the diagonal
    cam = np.zeros((4, 4))
    cam[0, 1], cam[2, 3] = 1.0, 3.0
    cam[3, 0] = 5.0  # below the diagonal, no point there: ignored
    s = attention_statistics(cam, points, (0, 4), (0, 4))
    assert s["attention_mean_birth_A2"] == pytest.approx((0.5 + 3 * 2.5) / 4)
    assert s["attention_mean_persistence_A2"] == pytest.approx(1.0)
    assert s["points_mean_persistence_A2"] == pytest.approx(0.5)
    assert s["points_mean_birth_A2"] == pytest.approx((0.5 + 2.5 + 2 * 1.5) / 4)
    no_attention = attention_statistics(np.zeros((4, 4)), points, (0, 4), (0, 4))
    assert no_attention["attention_mean_birth_A2"] is None
