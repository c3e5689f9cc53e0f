"""PersistenceImage: exact pixel integrals (persim, quadrature), mass, torch counterpart."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from topophys.diagrams import Diagrams
from topophys.vectorize import PersistenceImage, persistence_image_torch

INF = np.inf


def random_diagrams(seed: int, n: int = 3, k: int = 30, dim: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        b = rng.uniform(0.1, 0.9, k)
        out.append(np.column_stack([np.full(k, dim), b, b + rng.uniform(0.0, 0.8, k)]))
    return out


def gauss_legendre_image(points, weights, bedges, pedges, sigma, order=40):
    """Tensor-product Gauss–Legendre quadrature of the weighted Gaussians over each pixel."""
    nodes, w = np.polynomial.legendre.leggauss(order)

    def rule(edges):
        lo, hi = edges[:-1, None], edges[1:, None]
        x = (hi - lo) / 2 * nodes[None, :] + (hi + lo) / 2  # (r, order)
        return x, (hi - lo) / 2 * w[None, :]

    bx, bw = rule(bedges)
    px, pw = rule(pedges)
    img = np.zeros((bedges.size - 1, pedges.size - 1))
    for (b, p), wt in zip(points, weights, strict=True):
        gb = np.exp(-((bx - b) ** 2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
        gp = np.exp(-((px - p) ** 2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
        img += wt * np.einsum("ai,ai,cj,cj->ac", gb, bw, gp, pw)
    return img


def test_matches_independent_quadrature() -> None:
    x = random_diagrams(0, n=1, k=6)
    pi = PersistenceImage(
        resolution=(7, 5), birth_range=(0.0, 1.0), persistence_range=(0.0, 0.8), bandwidth=0.15
    )
    got = pi.fit_transform(x)[0].reshape(7, 5)
    bp = np.column_stack([x[0][:, 1], x[0][:, 2] - x[0][:, 1]])
    want = gauss_legendre_image(bp, bp[:, 1], pi.birth_edges_, pi.persistence_edges_, 0.15)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_matches_persim_persistence_imager() -> None:
    persim = pytest.importorskip("persim")
    x = random_diagrams(1, n=2, k=40)
    sigma = 0.07
    pimgr = persim.PersistenceImager(
        birth_range=(0.0, 1.0),
        pers_range=(0.0, 1.0),
        pixel_size=1 / 16,  # a power of two keeps persim's ranges and ours bit-identical
        weight="persistence",
        weight_params={"n": 1.0},
        kernel="gaussian",
        kernel_params={"sigma": sigma**2},  # persim's sigma is a variance
    )
    ours = PersistenceImage(resolution=16, bandwidth=sigma, weight="linear").fit_transform(x)
    for i, a in enumerate(x):
        theirs = pimgr.transform(a[:, 1:], skew=True)
        assert theirs.shape == (16, 16)
        np.testing.assert_allclose(ours[i].reshape(16, 16), theirs, rtol=0, atol=1e-10)


@given(
    hnp.arrays(np.float64, (5, 2), elements=st.floats(2.0, 4.0)),
    st.floats(0.05, 0.3),
    st.sampled_from(["linear", "constant"]),
)
@settings(max_examples=25, deadline=None)
def test_total_mass_is_total_weight_when_range_covers_it(pts, sigma, weight) -> None:
    # The image spans +-10 sigma around every point, so no Gaussian mass is lost.
    x = [np.column_stack([np.ones(5), pts[:, 0], pts[:, 0] + pts[:, 1]])]
    pi = PersistenceImage(
        resolution=(23, 19),
        birth_range=(2.0 - 10 * sigma, 4.0 + 10 * sigma),
        persistence_range=(2.0 - 10 * sigma, 4.0 + 10 * sigma),
        bandwidth=sigma,
        weight=weight,
    )
    total = pi.fit_transform(x).sum()
    expected = pts[:, 1].sum() if weight == "linear" else 5.0
    np.testing.assert_allclose(total, expected, rtol=1e-12)


def test_point_on_the_border_keeps_half_its_mass_and_outside_points_count() -> None:
    x = [np.array([[1, 0.0, 0.5]])]  # birth exactly on the left edge
    pi = PersistenceImage(resolution=30, bandwidth=0.05, weight="constant").fit(x)
    np.testing.assert_allclose(pi.transform(x).sum(), 0.5, rtol=1e-12)
    outside = [np.array([[1, -0.05, 0.45]])]  # one sigma to the left of the image
    np.testing.assert_allclose(pi.transform(outside).sum(), 1 - 0.8413447460685429, rtol=1e-9)


def test_translation_invariance_along_birth() -> None:
    x = random_diagrams(3, n=2)
    shifted = [a + np.array([0.0, 2.5, 2.5]) for a in x]
    pi = PersistenceImage(resolution=(12, 9), bandwidth=0.08).fit_transform(x)
    pj = PersistenceImage(resolution=(12, 9), bandwidth=0.08, birth_range=(2.5, 3.5))
    np.testing.assert_allclose(pj.fit_transform(shifted), pi, atol=1e-13)


def test_weights_dims_essential_and_empty() -> None:
    x = [
        np.array([[1, 0.2, 0.6], [1, 0.3, INF], [0, 0.1, 0.2]]),
        np.empty((0, 3)),
        np.array([[0, 0.5, 0.9]]),
    ]
    lin = PersistenceImage(resolution=8, bandwidth=0.1).fit_transform(x)
    const = PersistenceImage(resolution=8, bandwidth=0.1, weight="constant").fit_transform(x)
    call = PersistenceImage(
        resolution=8, bandwidth=0.1, weight=lambda b, p: 0.4 * np.ones_like(p)
    ).fit_transform(x)
    # Only the finite H1 point (persistence 0.4) of diagram 0 counts by default.
    np.testing.assert_allclose(lin[0], 0.4 * const[0], atol=1e-15)
    np.testing.assert_allclose(call, lin, atol=1e-15)
    np.testing.assert_array_equal(lin[1:], 0.0)
    clip = PersistenceImage(resolution=8, bandwidth=0.1, essential="clip", weight="constant")
    clipped = clip.fit_transform(x)
    only_ess = clip.fit_transform([np.array([[1, 0.3, 0.3 + 1.0]])])  # persistence = range top
    np.testing.assert_allclose(clipped[0], const[0] + only_ess[0], atol=1e-15)
    dim0 = PersistenceImage(resolution=8, bandwidth=0.1, dim=0).fit_transform(x)
    assert dim0[1].sum() == 0
    assert dim0[2].sum() > 0


def test_torch_matches_numpy_and_is_differentiable() -> None:
    x = random_diagrams(4, n=2, k=7)
    pi = PersistenceImage(resolution=(6, 5), bandwidth=0.1, persistence_range=(0.0, 0.9))
    want = pi.fit_transform(x).reshape(2, 6, 5)
    data = torch.tensor(np.stack(x))
    birth, pers = data[..., 1], data[..., 2] - data[..., 1]
    kw = {"resolution": (6, 5), "persistence_range": (0.0, 0.9)}
    got = persistence_image_torch(birth, pers, bandwidth=0.1, **kw)
    assert tuple(got.shape) == (2, 6, 5)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-13)
    # Padding: the second diagram with 3 junk points masked out gives the same image.
    junk = torch.tensor([[np.nan, np.inf, 5.0]], dtype=torch.float64).T.expand(3, 1).flatten()
    pb, pp = torch.cat([birth[1], junk]), torch.cat([pers[1], junk])
    mask = torch.cat([torch.ones(7, dtype=torch.bool), torch.zeros(3, dtype=torch.bool)])
    padded = persistence_image_torch(pb, pp, mask=mask, bandwidth=0.1, **kw)
    np.testing.assert_allclose(padded.numpy(), want[1], atol=1e-13)

    b = birth[0, :3].clone().requires_grad_(True)
    p = pers[0, :3].clone().requires_grad_(True)
    s = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda b, p, s: persistence_image_torch(b, p, bandwidth=s, resolution=(4, 3)),
        (b, p, s),
    )
    assert torch.autograd.gradcheck(
        lambda w: persistence_image_torch(birth[0, :3], pers[0, :3], w, resolution=3),
        (torch.rand(3, dtype=torch.float64, requires_grad=True),),
    )


def test_torch_input_errors() -> None:
    b = torch.tensor([0.1, 0.2], dtype=torch.float64)
    with pytest.raises(ValueError, match="finite"):
        persistence_image_torch(b, torch.tensor([0.1, np.nan], dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        persistence_image_torch(b, b[:1])
    with pytest.raises(ValueError, match="bandwidth"):
        persistence_image_torch(b, b, bandwidth=0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        persistence_image_torch(b, b, bandwidth=torch.tensor(-1.0))
    with pytest.raises(TypeError, match="floating"):
        persistence_image_torch(torch.tensor([1, 2]), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="mask"):
        persistence_image_torch(b, b, mask=torch.ones(2))


@given(st.lists(st.integers(0, 4), max_size=4))
@settings(max_examples=20, deadline=None)
def test_any_batch_of_sizes_gives_finite_images_of_right_shape(sizes) -> None:
    x = [random_diagrams(k, n=1, k=k)[0] for k in sizes]
    out = PersistenceImage(resolution=(4, 3)).fit_transform(Diagrams.from_list(x))
    assert out.shape == (len(sizes), 12)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[np.array(sizes, dtype=int) == 0], 0.0)


def test_errors_and_feature_names() -> None:
    x = random_diagrams(5, n=1)
    with pytest.raises(NotFittedError):
        PersistenceImage().transform(x)
    cases = [
        ({"bandwidth": 0.0}, ValueError, "bandwidth"),
        ({"bandwidth": np.nan}, ValueError, "bandwidth"),
        ({"resolution": (0, 3)}, ValueError, "resolution"),
        ({"persistence_range": (1.0, 1.0)}, ValueError, "persistence_range"),
        ({"weight": "quadratic"}, ValueError, "weight"),
        ({"essential": "keep"}, ValueError, "essential"),
        ({"dim": 1.5}, TypeError, "dim"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            PersistenceImage(**kwargs).fit(x)
    bad_weight = PersistenceImage(weight=lambda b, p: np.full_like(p, np.nan)).fit(x)
    with pytest.raises(ValueError, match="non-finite"):
        bad_weight.transform(x)
    with pytest.raises(ValueError, match="NaN"):
        PersistenceImage().fit([np.array([[1, np.nan, 1.0]])])
    names = PersistenceImage(resolution=(2, 3)).fit(x).get_feature_names_out()
    assert names.tolist() == [f"pi1_b{i}_p{j}" for i in range(2) for j in range(3)]
