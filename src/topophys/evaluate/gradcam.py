r"""Grad-CAM of the PD-histogram CNN: where on the birth–death plane a prediction comes from.

The letter (Fig. 4e–f, Supporting Information 4.3) maps the attention of its CNN from "the
outputs and gradients of the final convolution layer" (Grad-CAM, Selvaraju et al.): with
``A_k`` the k-th channel of the last convolution's output for one image and ``y`` the predicted
energy,

.. math:: w_k = \operatorname{mean}_{ij} \partial y / \partial A_{k,ij}, \qquad
          L = \operatorname{ReLU}\Big(\sum_k w_k A_k\Big),

upsampled (bilinear) to the image's ``(nb, nd)`` and divided by its maximum (an all-zero map
stays zero). For a high-energy liquid-like structure the letter finds attention near the
diagonal, for a low-energy amorphous one away from it.

``method="hires"`` (HiResCAM, Draelos & Carin) uses ``L = ReLU(Σ_k ∂y/∂A_k ⊙ A_k)`` instead:
the gradient is kept per position, so the map shows only regions the output actually depends
on (Grad-CAM's channel averages can light up any region where a channel is active).
``sign=-1`` explains what lowers the prediction (e.g. for a low-energy structure).

Examples
--------
>>> import torch
>>> from topophys.models.pdcnn import PDCNN
>>> _ = torch.manual_seed(0)
>>> model = PDCNN((16, 16), channels=(2, 2), hidden=4)
>>> cam = grad_cam(model, torch.rand(16, 16))
>>> cam.shape, bool((cam >= 0).all()), bool(cam.max() <= 1.0)
((16, 16), True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _validate

__all__ = ["attention_statistics", "grad_cam"]


def grad_cam(
    model: Any,
    image: Any,
    *,
    method: str = "gradcam",
    sign: int = 1,
    normalize: bool = True,
) -> np.ndarray:
    """Class-activation map of one descriptor image for a :class:`~topophys.models.pdcnn.PDCNN`.

    Parameters
    ----------
    model : PDCNN
        A trained model (any module with a ``features`` ``nn.Sequential`` holding
        ``nn.Conv2d`` layers, called as ``model(x (1, nb, nd)) -> (1,)``).
    image : array_like or torch.Tensor, shape (nb, nd)
        One standardized histogram, birth along axis 0.
    method : {"gradcam", "hires"}
        Channel-averaged gradients (Grad-CAM, the letter's) or per-position ones (HiResCAM).
    sign : {1, -1}
        1: what raises the predicted energy; −1: what lowers it.
    normalize : bool
        Divide by the map's maximum so it lies in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (nb, nd)
        Non-negative map, birth along axis 0 (the image's layout).

    Notes
    -----
    The model is evaluated in eval mode (its mode is restored) and its parameter gradients
    are cleared afterwards.
    """
    import torch
    from torch import nn

    method = _validate.choice("method", method, ("gradcam", "hires"))
    if sign not in (1, -1):
        raise ValueError(f"sign must be 1 or -1, got {sign!r}")
    convs = [m for m in getattr(model, "features", []) if isinstance(m, nn.Conv2d)]
    if not convs:
        raise TypeError(
            f"model must have a 'features' sequence with convolutions, got {type(model).__name__}"
        )
    x = torch.as_tensor(np.asarray(image, dtype=np.float32) if not torch.is_tensor(image)
                        else image.float())  # fmt: skip
    if x.ndim != 2:
        raise ValueError(f"image must have shape (nb, nd), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("image must be finite (NaN or inf found)")
    device = next(model.parameters()).device
    x = x.to(device)[None]

    store: dict[str, Any] = {}

    def keep(_module: Any, _inputs: Any, output: Any) -> None:
        output.retain_grad()
        store["A"] = output

    handle = convs[-1].register_forward_hook(keep)
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            y = model(x).reshape(-1)[0]
            (sign * y).backward()
    finally:
        handle.remove()
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    A = store["A"].detach()[0]  # (K, h, w)
    grad = store["A"].grad[0]
    if method == "gradcam":
        cam = torch.relu((grad.mean(dim=(1, 2))[:, None, None] * A).sum(0))
    else:
        cam = torch.relu((grad * A).sum(0))
    cam = torch.nn.functional.interpolate(
        cam[None, None], size=tuple(x.shape[1:]), mode="bilinear", align_corners=False
    )[0, 0]
    out = cam.cpu().double().numpy()
    top = out.max()
    if normalize and top > 0:
        out = out / top
    return out


def attention_statistics(
    cam: Any, weights: Any, birth_range: Sequence[float], death_range: Sequence[float]
) -> dict[str, float | None]:
    """Mean birth and persistence (death − birth, Å²) of a frame's PD points, weighted by the
    attention they get and, for comparison, by their own share.

    ``cam`` and ``weights`` are ``(nb, nd)`` non-negative maps (birth along axis 0): the
    attention of :func:`~topophys.evaluate.gradcam.grad_cam` and the frame's probability
    histogram. The attention counts on occupied bins only (a CAM is upsampled and spreads over
    empty bins and below the diagonal, where no point can be); ``None`` where no occupied bin
    gets attention.

    Examples
    --------
    >>> w = np.zeros((4, 4)); w[0, 3] = 1.0  # one bin: birth 0.5, death 3.5
    >>> s = attention_statistics(w, w, (0, 4), (0, 4))
    >>> s["attention_mean_birth_A2"], s["attention_mean_persistence_A2"]
    (0.5, 3.0)
    """
    cam = np.asarray(cam, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    nb, nd = cam.shape
    b_edges = np.linspace(float(birth_range[0]), float(birth_range[1]), nb + 1)
    d_edges = np.linspace(float(death_range[0]), float(death_range[1]), nd + 1)
    b = 0.5 * (b_edges[1:] + b_edges[:-1])
    d = 0.5 * (d_edges[1:] + d_edges[:-1])
    persistence = d[None, :] - b[:, None]
    births = np.broadcast_to(b[:, None], cam.shape)
    out: dict[str, float | None] = {}
    for name, w in (("attention", cam * (weights > 0)), ("points", weights)):
        total = w.sum()
        out[f"{name}_mean_birth_A2"] = float((w * births).sum() / total) if total else None
        out[f"{name}_mean_persistence_A2"] = (
            float((w * persistence).sum() / total) if total else None
        )
    return out
