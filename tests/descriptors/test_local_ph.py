"""Atom-centred persistence: exact alpha values, invariances, locality, derivatives, bad input."""

import gudhi
import numpy as np
import pytest
import torch
from ase import Atoms
from sklearn.base import clone

from topophys.descriptors.local_ph import (
    LocalPHConfig,
    LocalPHDescriptor,
    entrance,
    local_features,
    local_pairs,
    slot_geometry,
)
from topophys.descriptors.local_ph.config import entrance_torch
from topophys.descriptors.local_ph.images import (
    atom_images,
    image_blocks,
    image_factors,
    value_gradients,
)
from topophys.descriptors.local_ph.pairs import slot_values

# Small enough for a 7.2 Å cell (wider than 2 · r_cut) and fast.
SMALL = LocalPHConfig(
    r_cut=3.2, r_inner=2.4, kappa=0.1, t_max=2.5, resolution=(6, 6), bandwidth=0.2
)

# The complexes with and without the centre, the neighbours' graph valued by the triangles
# with the centre.
LINK = SMALL.replace(centre="both", graph="circumradius")

# The same with the graph's cycles (its H1).
CYCLES = LINK.replace(graph_cycles=True)


def amorphous(n=48, side=7.2, seed=0, min_distance=1.3):
    """Random sequential addition: a dense, disordered periodic carbon box."""
    rng = np.random.default_rng(seed)
    cell = side * np.eye(3)
    points = []
    while len(points) < n:
        p = rng.uniform(0, side, 3)
        d = np.array(points) - p if points else np.zeros((0, 3))
        d -= side * np.round(d / side)
        if not len(d) or np.min(np.linalg.norm(d, axis=1)) > min_distance:
            points.append(p)
    return Atoms(f"C{n}", positions=points, cell=cell, pbc=True)


def features(atoms, config=SMALL):
    return local_features(local_pairs(atoms, config))


def test_values_equal_gudhis_alpha_complex_when_every_atom_enters_at_zero():
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 6, (50, 3))
    config = LocalPHConfig(r_cut=30.0, r_inner=29.0, kappa=0.0, t_max=3.0)
    pairs = local_pairs(Atoms("C50", positions=points), config)
    st = gudhi.AlphaComplex(points=points).create_simplex_tree()
    st.compute_persistence()
    ref = sorted(
        (d, b, min(e, config.t_max))
        for d in range(3)
        for b, e in st.persistence_intervals_in_dimension(d)
        if b < config.t_max and min(e, config.t_max) > b
    )
    for centre in (0, 31):
        at = pairs.centre == centre
        mine = sorted(zip(pairs.dim[at], pairs.birth[at], pairs.death[at], strict=True))
        np.testing.assert_allclose(np.array(mine), np.array(ref), atol=1e-12)


def test_torch_recomputes_the_numpy_values_and_images():
    atoms = amorphous()
    pairs = local_pairs(atoms, SMALL)
    geometry = slot_geometry(pairs, atoms.positions, atoms.cell[:])
    np.testing.assert_allclose(
        geometry.values.numpy(), np.stack([pairs.birth, pairs.death]), atol=1e-12
    )
    assert (pairs.death > pairs.birth).all()
    assert set(np.unique(pairs.dim)) == {0, 1, 2}
    assert features(atoms).shape == (len(atoms), SMALL.n_features)


def test_invariant_under_rotation_translation_wrapping_and_permutation():
    atoms = amorphous()
    ref = features(atoms)
    rotated = atoms.copy()
    rotated.rotate(41.0, (1.0, -2.0, 0.7), rotate_cell=True)
    moved = atoms.copy()
    moved.translate([3.3, -9.1, 15.2])  # outside the cell: other periodic images
    wrapped = moved.copy()
    wrapped.wrap()
    for other in (rotated, moved, wrapped):
        np.testing.assert_allclose(features(other), ref, atol=1e-10)
    order = np.random.default_rng(2).permutation(len(atoms))
    np.testing.assert_allclose(features(atoms[order]), ref[order], atol=1e-10)
    assert not np.allclose(features(amorphous(seed=9)), ref, atol=1e-3)


def test_local_and_extensive_atoms_of_a_supercell_see_what_the_cell_atoms_see():
    atoms = amorphous()
    ref = features(atoms)
    stacked = atoms.repeat((2, 1, 1))
    np.testing.assert_allclose(features(stacked), np.concatenate([ref, ref]), atol=1e-10)


def test_alpha_and_rips_gradients_equal_finite_differences_at_fixed_pairing():
    atoms = amorphous(seed=4)
    rng = np.random.default_rng(0)
    configs = (
        SMALL,
        SMALL.replace(filtration="rips", max_dim=1),
        SMALL.replace(centre="both"),
        SMALL.replace(filtration="rips", max_dim=1, centre="both"),
        LINK,
    )
    for config in configs:
        pairs = local_pairs(atoms, config)
        geometry = slot_geometry(pairs, atoms.positions, atoms.cell[:])
        weights = torch.as_tensor(rng.standard_normal(geometry.values.shape))
        forces = -torch.zeros(len(atoms), 3, dtype=torch.float64).index_add(
            0,
            geometry.atoms.clamp(min=0).reshape(-1),
            (weights[..., None, None] * geometry.grads).reshape(-1, 3),
        )
        for atom, axis in rng.integers(0, [len(atoms), 3], size=(6, 2)):
            step, shifted = 1e-6, []
            for sign in (1, -1):
                x = atoms.positions.copy()
                x[atom, axis] += sign * step
                values = slot_geometry(pairs, x, atoms.cell[:]).values
                shifted.append(float((weights * values).sum()))
            fd = -(shifted[0] - shifted[1]) / (2 * step)
            assert abs(fd - float(forces[atom, axis])) < 1e-6 * max(1.0, abs(fd))


@pytest.mark.parametrize("filtration", ["alpha", "rips"])
@pytest.mark.parametrize("angle", [70.0, 120.0])
def test_without_the_centre_h0_records_the_bond_angle(filtration, angle):
    # Atom 0 with two neighbours at r, bonds meeting at the angle θ. Without the centre the
    # neighbours join where their edge enters, at (d/2)² = r² sin²(θ/2); with the centre they
    # join it first, at (r/2)².
    r, theta = 1.4, np.radians(angle)
    positions = [[0.0, 0.0, 0.0], [r, 0.0, 0.0], [r * np.cos(theta), r * np.sin(theta), 0.0]]
    # A far cluster, out of every ball above, so that the points span 3-D (Delaunay).
    positions += [[10.0, 0.0, 10.0], [11.4, 0.0, 10.0], [10.0, 1.4, 11.0]]
    atoms = Atoms("C6", positions=positions)
    config = LocalPHConfig(filtration=filtration, max_dim=1)
    join = (r * np.sin(theta / 2)) ** 2
    born = config.kappa * r * r
    found = {}
    for centre in ("kept", "removed"):
        pairs = local_pairs(atoms, config.replace(centre=centre))
        at = (pairs.centre == 0) & (pairs.dim == 0)
        found[centre] = sorted(zip(pairs.birth[at], pairs.death[at], strict=True))
    np.testing.assert_allclose(found["removed"], [(born, join), (born, config.t_max)], atol=1e-12)
    np.testing.assert_allclose(
        found["kept"], [(0.0, config.t_max), (born, r * r / 4), (born, r * r / 4)], atol=1e-12
    )


def test_both_is_the_kept_and_the_removed_images_side_by_side():
    atoms = amorphous(seed=5)
    both = SMALL.replace(centre="both")
    pixels = SMALL.resolution[0] * SMALL.resolution[1]
    assert both.n_blocks == SMALL.max_dim + 2 and both.n_features == both.n_blocks * pixels
    assert SMALL.replace(filtration="rips", centre="both").n_blocks == 2 * (SMALL.max_dim + 1)
    kept, removed = features(atoms), features(atoms, SMALL.replace(centre="removed"))
    np.testing.assert_allclose(features(atoms, both), np.hstack([kept, removed]), atol=1e-12)
    assert not np.allclose(kept[:, :pixels], removed, atol=1e-3)  # H0 with and without
    rips = SMALL.replace(filtration="rips", max_dim=1)
    np.testing.assert_allclose(
        features(atoms, rips.replace(centre="both")),
        np.hstack([features(atoms, rips), features(atoms, rips.replace(centre="removed"))]),
        atol=1e-12,
    )
    rotated = atoms.copy()
    rotated.rotate(33.0, (0.3, 1.0, -0.5), rotate_cell=True)
    np.testing.assert_allclose(features(rotated, both), features(atoms, both), atol=1e-10)
    pairs = local_pairs(atoms, both)
    assert set(np.unique(pairs.block)) == set(range(both.n_blocks))
    removed = pairs.block == SMALL.max_dim + 1
    assert (pairs.dim[removed] == 0).all()
    np.testing.assert_array_equal(pairs.block[~removed], pairs.dim[~removed])


@pytest.mark.parametrize(
    ("graph", "cycles"), [("distance", False), ("circumradius", False), ("circumradius", True)]
)
def test_images_without_the_centre_move_continuously_along_a_straight_line(graph, cycles):
    # 100 steps of 1e-3 Å per atom with the default radii: the images change by similar small
    # amounts at every step; a jump (a complex losing a simplex at a finite value) stands out.
    # The subcomplex of the shared Delaunay triangulation without the centre jumped here (the
    # largest change 9.8 times the median); the neighbours' graph does not (1.3), valued by
    # distances or by the triangles with the centre.
    atoms = amorphous(n=80, side=8.6, seed=7)
    v = np.random.default_rng(1).standard_normal(atoms.positions.shape)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    config = LocalPHConfig(
        resolution=(6, 6), bandwidth=0.2, centre="removed", graph=graph, graph_cycles=cycles
    )
    steps = []
    for t in np.linspace(0.0, 0.1, 101):
        moved = atoms.copy()
        moved.positions += t * v
        steps.append(features(moved, config))
    change = np.abs(np.diff(np.array(steps), axis=0)).sum(axis=2).max(axis=1)
    assert change.max() < 3.0 * np.median(change)


@pytest.mark.parametrize(
    ("r1", "r2", "angle"),
    [(1.4, 1.4, 70.0), (1.4, 1.4, 120.0), (1.35, 1.6, 105.0), (1.4, 1.4, 160.0)],
)
def test_circumradius_graph_h0_records_a_bond_length_and_an_angle(r1, r2, angle):
    # Atom 0 with neighbours at r1 and r2, bonds meeting at θ. In the graph valued by the
    # triangles with the centre, neighbour j enters at r_j²/4 and the edge at the squared
    # circumradius of the triangle, R² = d²/(4 sin²θ) (law of sines), r²/(4 cos²(θ/2)) for
    # r1 = r2 = r. At 160° R² exceeds t_max: the edge never enters.
    theta = np.radians(angle)
    positions = [[0.0, 0.0, 0.0], [r1, 0.0, 0.0], [r2 * np.cos(theta), r2 * np.sin(theta), 0.0]]
    positions += [[10.0, 0.0, 10.0], [11.4, 0.0, 10.0], [10.0, 1.4, 11.0]]
    atoms = Atoms("C6", positions=positions)
    config = LocalPHConfig(centre="removed", graph="circumradius")
    d2 = r1 * r1 + r2 * r2 - 2 * r1 * r2 * np.cos(theta)
    circum2 = d2 / (4 * np.sin(theta) ** 2)
    if r1 == r2:
        np.testing.assert_allclose(circum2, r1 * r1 / (4 * np.cos(theta / 2) ** 2))
    near, far = sorted([r1 * r1 / 4, r2 * r2 / 4])
    t = config.t_max
    expected = [(near, t), (far, circum2)] if circum2 < t else [(near, t), (far, t)]
    pairs = local_pairs(atoms, config)
    at = pairs.centre == 0
    assert (pairs.dim[at] == 0).all()
    found = sorted(zip(pairs.birth[at], pairs.death[at], strict=True))
    np.testing.assert_allclose(found, sorted(expected), atol=1e-12)
    geometry = slot_geometry(pairs, atoms.positions)
    np.testing.assert_allclose(
        geometry.values.numpy(), np.stack([pairs.birth, pairs.death]), atol=1e-12
    )


# Atom 0 with three neighbours at distinct distances and angles, and a distant group of four.
THREE_NEIGHBOURS = [[0.0, 0.0, 0.0], [1.40, 0.0, 0.0], [-0.62, 1.25, 0.10], [-0.55, -0.72, 1.15]]
THREE_NEIGHBOURS += [[10.0, 0.0, 10.0], [11.4, 0.0, 10.0], [10.0, 1.4, 11.0], [10.2, 0.3, 8.7]]


def test_graph_cycles_record_the_edges_its_forest_leaves_out():
    # Atom 0 with three neighbours at distinct distances and angles: its graph, valued by the
    # triangles with the centre, has three edges. H0 keeps the two lowest (deaths), H1 the
    # third, born at its value and alive to t_max; together every bond angle at 0.
    atoms = Atoms("C8", positions=THREE_NEIGHBOURS)
    config = LocalPHConfig(centre="removed", graph="circumradius", graph_cycles=True)
    x = atoms.positions
    edges = sorted(
        float(circum2)
        for j, k in ((1, 2), (1, 3), (2, 3))
        for circum2 in [_circumradius2(x[0], x[j], x[k])]
    )
    assert edges[-1] < config.t_max and edges[0] > max(np.sum(x[1:4] ** 2, axis=1)) / 4
    pairs = local_pairs(atoms, config)
    at = pairs.centre == 0
    assert config.n_blocks == 2 and set(pairs.block[at]) == {0, 1}
    h0, h1 = at & (pairs.block == 0), at & (pairs.block == 1)
    np.testing.assert_allclose(np.sort(pairs.death[h0])[:2], edges[:2], atol=1e-12)
    np.testing.assert_allclose(pairs.birth[h1], edges[2:], atol=1e-12)
    np.testing.assert_allclose(pairs.death[h1], config.t_max)
    geometry = slot_geometry(pairs, atoms.positions)
    np.testing.assert_allclose(
        geometry.values.numpy(), np.stack([pairs.birth, pairs.death]), atol=1e-12
    )
    # Without the cycles, the same H0 and nothing else.
    plain = local_pairs(atoms, config.replace(graph_cycles=False))
    assert (plain.dim == 0).all() and np.sum(plain.centre == 0) == np.sum(h0)
    # The centred images come first, unchanged.
    both = features(atoms, config.replace(centre="both"))
    kept = features(atoms, LocalPHConfig())
    np.testing.assert_allclose(both[:, : kept.shape[1]], kept, atol=1e-12)
    assert both.shape[1] == kept.shape[1] + 2 * 256


@pytest.mark.parametrize("centre", ["removed", "both"])
@pytest.mark.parametrize("graph", ["circumradius", "distance"])
def test_graph_simplices_hold_every_vertex_and_edge_and_no_pairing(graph, centre):
    # The same atom 0 with three neighbours: with graph_summary="simplices" its first graph
    # image holds each neighbour (at r²/4 valued by the triangles, at its entrance κr² by
    # distance), its second all three edges (their circumradius with the centre, or (d/2)²),
    # each until t_max.
    x = np.array(THREE_NEIGHBOURS)
    config = LocalPHConfig(centre=centre, graph=graph, graph_cycles=True, graph_summary="simplices")
    pairs = local_pairs(Atoms("C8", positions=x), config)
    at = pairs.centre == 0
    first = config.n_blocks - 2  # the graph's images follow the centred complex's
    vertices, edges = at & (pairs.block == first), at & (pairs.block == first + 1)
    r2 = np.sum(x[1:4] ** 2, axis=1)
    near = r2 / 4 if graph == "circumradius" else config.kappa * r2
    np.testing.assert_allclose(np.sort(pairs.birth[vertices]), np.sort(near), atol=1e-12)
    if graph == "circumradius":
        expected = [_circumradius2(x[0], x[j], x[k]) for j, k in ((1, 2), (1, 3), (2, 3))]
    else:
        expected = [np.sum((x[j] - x[k]) ** 2) / 4 for j, k in ((1, 2), (1, 3), (2, 3))]
    np.testing.assert_allclose(np.sort(pairs.birth[edges]), sorted(expected), atol=1e-12)
    np.testing.assert_allclose(pairs.death[vertices | edges], config.t_max)
    geometry = slot_geometry(pairs, x)
    np.testing.assert_allclose(
        geometry.values.numpy(), np.stack([pairs.birth, pairs.death]), atol=1e-12
    )


@pytest.mark.parametrize(("summary", "jumps"), [("persistence", True), ("simplices", False)])
def test_graph_images_keep_their_slope_where_the_forest_changes(summary, jumps):
    # Moving neighbour 3 along y, the edge (2, 3) overtakes (1, 2): the graph's forest swaps
    # them (a pairing switch). The persistence images' slope jumps there; the simplices'
    # images are functions of the values alone and keep theirs.

    def moved(s):
        y = np.array(THREE_NEIGHBOURS)
        y[3, 1] += s
        return y

    def gap(s):
        y = moved(s)
        return _circumradius2(y[0], y[2], y[3]) - _circumradius2(y[0], y[1], y[2])

    low, high = -0.4, -0.1  # the swap lies between (found by bisection)
    assert gap(low) > 0 > gap(high)
    for _ in range(60):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if gap(mid) > 0 else (low, mid)
    swap = 0.5 * (low + high)
    config = LocalPHConfig(
        centre="removed",
        graph="circumradius",
        graph_cycles=True,
        graph_summary=summary,
        resolution=(8, 8),
        bandwidth=0.2,
    )

    def images(s):
        return local_features(local_pairs(Atoms("C8", positions=moved(s)), config))[0]

    step = 1e-5
    left = (images(swap - step) - images(swap - 2 * step)) / step
    right = (images(swap + 2 * step) - images(swap + step)) / step
    change = np.abs(right - left).max() / np.abs(left).max()
    assert (change > 0.3) if jumps else (change < 1e-2)


def _circumradius2(a, b, c):
    """Squared circumradius of the triangle (a, b, c) from its sides: (abc / 4 area)²."""
    ab, bc, ca = (np.linalg.norm(b - a), np.linalg.norm(c - b), np.linalg.norm(a - c))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a))
    return (ab * bc * ca / (4.0 * area)) ** 2


def test_circumradius_graph_is_invariant_local_and_beside_the_centred_images():
    atoms = amorphous(seed=6)
    ref = features(atoms, LINK)
    kept = SMALL.max_dim + 1
    pixels = SMALL.resolution[0] * SMALL.resolution[1]
    assert LINK.n_blocks == kept + 1 and ref.shape == (len(atoms), LINK.n_features)
    np.testing.assert_allclose(ref[:, : kept * pixels], features(atoms), atol=1e-12)
    removed = features(atoms, SMALL.replace(centre="removed"))
    assert not np.allclose(ref[:, kept * pixels :], removed, atol=1e-3)
    rotated = atoms.copy()
    rotated.rotate(41.0, (1.0, -2.0, 0.7), rotate_cell=True)
    moved = atoms.copy()
    moved.translate([3.3, -9.1, 15.2])
    wrapped = moved.copy()
    wrapped.wrap()
    for other in (rotated, moved, wrapped):
        np.testing.assert_allclose(features(other, LINK), ref, atol=1e-10)
    order = np.random.default_rng(2).permutation(len(atoms))
    np.testing.assert_allclose(features(atoms[order], LINK), ref[order], atol=1e-10)
    stacked = atoms.repeat((2, 1, 1))
    np.testing.assert_allclose(features(stacked, LINK), np.concatenate([ref, ref]), atol=1e-10)
    pairs = local_pairs(atoms, LINK)
    geometry = slot_geometry(pairs, atoms.positions, atoms.cell[:])
    np.testing.assert_allclose(
        geometry.values.numpy(), np.stack([pairs.birth, pairs.death]), atol=1e-12
    )
    graph = pairs.block == kept
    assert (pairs.dim[graph] == 0).all() and graph.any()
    # Births are edges (i, j) through the centre, deaths triangles (i, j, k) or t_max.
    sizes = (pairs.giver[:, graph] >= 0).sum(-1)
    assert set(np.unique(sizes[0])) <= {0, 2} and set(np.unique(sizes[1])) <= {0, 3}


def test_numpy_and_torch_entrance_agree_and_reach_t_max_smoothly():
    r = np.linspace(0.0, 4.0, 81)
    h = entrance(r, SMALL)
    np.testing.assert_allclose(entrance_torch(torch.as_tensor(r), SMALL).numpy(), h)
    assert np.all(np.diff(h) >= -1e-12) and h[-1] == SMALL.t_max
    near = np.array([SMALL.r_cut - 1e-4, SMALL.r_cut])
    assert abs(np.diff(entrance(near, SMALL))[0]) < 1e-9  # zero slope at r_cut
    np.testing.assert_allclose(entrance(np.array([1.5]), SMALL), SMALL.kappa * 1.5**2)


@pytest.mark.parametrize(
    "config", [SMALL, LINK, CYCLES], ids=["kept", "both_circumradius", "cycles"]
)
def test_diagram_is_continuous_when_an_atom_crosses_the_cutoff(config):
    atoms = amorphous(seed=1)
    d = atoms.get_all_distances(mic=True)[0]
    j = int(np.argmin(np.abs(d - SMALL.r_cut)))  # the neighbour closest to atom 0's cutoff
    direction = atoms.get_distance(0, j, mic=True, vector=True) / d[j]
    rows = []
    for target in (SMALL.r_cut - 1e-7, SMALL.r_cut + 1e-7):
        moved = atoms.copy()
        moved.positions[j] += direction * (target - d[j])
        rows.append(features(moved, config)[0])
    assert np.abs(rows[0] - rows[1]).max() < 1e-5


def test_closed_form_image_derivatives_equal_autograd():
    rng = np.random.default_rng(5)
    # The first pair is born at exactly 0, as the centre is: the root axes' slope is 0 there.
    birth = torch.as_tensor(np.r_[0.0, rng.uniform(0, 1.5, 19)]).requires_grad_(True)
    death = (birth.detach() + torch.as_tensor(rng.uniform(0.01, 1.0, 20))).requires_grad_(True)
    block, d_birth, d_death = image_blocks(birth, death, SMALL)
    w = torch.as_tensor(rng.standard_normal(block.shape))
    gb, gd = torch.autograd.grad((block * w).sum(), (birth, death))
    np.testing.assert_allclose((d_birth * w).sum(1).detach(), gb, atol=1e-12)
    np.testing.assert_allclose((d_death * w).sum(1).detach(), gd, atol=1e-12)
    # value_gradients (from the separable factors): the same through per-atom images, for
    # either weight; the factors' blocks are the dense ones.
    centre = torch.as_tensor(rng.integers(0, 4, 20))
    dim = torch.as_tensor(rng.integers(0, 3, 20))
    for weight, axes in (("quadratic", "squared"), ("linear", "squared"), ("quadratic", "root")):
        config = SMALL.replace(weight=weight, image_axes=axes)
        block, d_birth, d_death = image_blocks(birth, death, config)
        gb, gd = torch.autograd.grad((block * w).sum(), (birth, death))
        np.testing.assert_allclose((d_birth * w).sum(1).detach(), gb, atol=1e-12)
        np.testing.assert_allclose((d_death * w).sum(1).detach(), gd, atol=1e-12)
        images = atom_images(centre, dim, birth, death, 4, config)
        g = torch.as_tensor(rng.standard_normal(images.shape))
        gb, gd = torch.autograd.grad((images * g).sum(), (birth, death))
        factors = image_factors(birth.detach(), death.detach(), config)
        dv = value_gradients(g, centre, dim, factors, config)
        np.testing.assert_allclose(dv[0], gb, atol=1e-12)
        np.testing.assert_allclose(dv[1], gd, atol=1e-12)
        dense = image_blocks(birth.detach(), death.detach(), config, derivatives=False)[0]
        np.testing.assert_allclose(factors.blocks(), dense, atol=1e-14)
    plain = image_factors(birth.detach(), death.detach(), SMALL, derivatives=False)
    with pytest.raises(ValueError, match="derivatives=True"):
        value_gradients(g, centre, dim, plain, SMALL)


def test_root_axes_image_the_values_square_roots():
    """``image_axes="root"`` is the squared axes' image of the roots on ``[0, √t_max]``; a
    value of exactly 0 (the centre's birth) gets slope 0, finite, not the root's infinite."""
    rng = np.random.default_rng(3)
    birth = torch.as_tensor(np.r_[0.0, rng.uniform(0.05, 1.5, 19)])
    death = birth + torch.as_tensor(rng.uniform(0.01, 1.0, 20))
    root = SMALL.replace(image_axes="root")
    assert root.image_extent == pytest.approx(np.sqrt(SMALL.t_max))
    # The same image from the roots on squared axes of that extent (here t_max only sets
    # the images' extent).
    plain = SMALL.replace(t_max=root.image_extent)
    block, d_birth, d_death = image_blocks(birth, death, root)
    expected = image_blocks(birth.sqrt(), death.sqrt(), plain, derivatives=False)[0]
    np.testing.assert_allclose(block, expected, atol=1e-14)
    assert float(expected.abs().max()) > 0.0
    assert torch.isfinite(d_birth).all() and torch.isfinite(d_death).all()
    assert float(d_birth[0].abs().max()) == 0.0  # the zero birth does not move
    with pytest.raises(ValueError, match="image_axes"):
        LocalPHConfig(image_axes="log")


def test_slot_values_match_pairs_for_a_non_periodic_cluster():
    cluster = amorphous()
    cluster.pbc = False
    pairs = local_pairs(cluster, SMALL)
    assert (pairs.image_shift == 0).all()
    geometry = slot_geometry(pairs, cluster.positions)
    np.testing.assert_allclose(geometry.values.numpy()[1], pairs.death, atol=1e-12)
    xyz = cluster.positions[pairs.image_atom]
    values = slot_values(xyz, pairs.giver, pairs.far, pairs.origin, SMALL)
    np.testing.assert_allclose(values[0], pairs.birth, atol=1e-12)


def test_transformer_rows_diagrams_and_sklearn_conventions():
    frames = [amorphous(seed=0), amorphous(n=40, seed=1)]
    descriptor = LocalPHDescriptor(
        r_cut=3.2, r_inner=2.4, t_max=2.5, resolution=(6, 6), bandwidth=0.2
    )
    X = descriptor.fit_transform(frames)
    assert X.shape == (88, descriptor.n_features_out_)
    np.testing.assert_allclose(X[:48], features(frames[0]), atol=1e-12)
    dgms = descriptor.diagrams(frames)
    assert len(dgms) == 88
    assert clone(descriptor).get_params()["r_cut"] == 3.2
    with pytest.raises(ValueError, match=r"X\[1\]"):
        descriptor.transform(
            [frames[0], Atoms("C2", positions=[[0, 0, 0], [1, 0, 0]], cell=[4] * 3, pbc=True)]
        )


def test_bad_input_is_refused_with_the_argument_named():
    small_cell = Atoms("C2", positions=[[0, 0, 0], [1.4, 0, 0]], cell=[5.0] * 3, pbc=True)
    with pytest.raises(ValueError, match="r_cut"):
        local_pairs(small_cell, SMALL)
    lonely = Atoms("C2", positions=[[0, 0, 0], [5.0, 0, 0]])
    with pytest.raises(ValueError, match="no neighbour within r_cut"):
        local_pairs(lonely, SMALL)
    with pytest.raises(ValueError, match="species"):
        local_pairs(Atoms("CH", positions=[[0, 0, 0], [1.0, 0, 0]]), SMALL)
    with pytest.raises(ValueError, match="coincides"):
        local_pairs(Atoms("C3", positions=[[0, 0, 0], [0, 0, 0], [1.2, 0, 0]]), SMALL)
    with pytest.raises(ValueError, match="mixed periodicity"):
        local_pairs(Atoms("C2", positions=[[0, 0, 0], [1, 0, 0]], cell=[9] * 3, pbc=[1, 1, 0]))
    with pytest.raises(TypeError, match=r"ase\.Atoms"):
        local_pairs(np.zeros((3, 3)), SMALL)
    with pytest.raises(TypeError, match="LocalPHConfig"):
        local_pairs(lonely, {"r_cut": 3.0})
    with pytest.raises(ValueError, match="kappa"):
        LocalPHConfig(kappa=1.0)
    with pytest.raises(ValueError, match="r_inner"):
        LocalPHConfig(r_inner=5.0)
    with pytest.raises(ValueError, match="max_dim"):
        LocalPHConfig(max_dim=3)
    with pytest.raises(ValueError, match="filtration"):
        LocalPHConfig(filtration="cech")
    with pytest.raises(ValueError, match="centre"):
        LocalPHConfig(centre="none")
    with pytest.raises(ValueError, match="graph"):
        LocalPHConfig(centre="both", graph="triangles")
    for bad in ({"centre": "kept"}, {"centre": "both", "filtration": "rips"}):
        with pytest.raises(ValueError, match="graph='circumradius'"):
            LocalPHConfig(graph="circumradius", **bad)
    for bad in ({"centre": "kept"}, {"centre": "both", "filtration": "rips"}):
        with pytest.raises(ValueError, match="graph_cycles"):
            LocalPHConfig(graph_cycles=True, **bad)
    with pytest.raises(ValueError, match="graph_summary"):
        LocalPHConfig(centre="both", graph_summary="euler")
    with pytest.raises(ValueError, match="needs graph_cycles=True"):
        LocalPHConfig(centre="both", graph_summary="simplices")
    with pytest.raises(TypeError, match="graph_cycles must be true or false"):
        LocalPHConfig(centre="both", graph_cycles=1)
    # A configuration saved before the options existed reads as the centre kept.
    saved = LocalPHConfig().to_dict()
    del saved["centre"], saved["graph"], saved["graph_cycles"]
    assert LocalPHConfig.from_dict(saved) == LocalPHConfig()
    with pytest.raises(ValueError, match="graph"):
        LocalPHDescriptor(graph="circumradius").fit([])
    flat = Atoms("C4", positions=[[0, 0, 0], [1.4, 0, 0], [0, 1.4, 0], [1.4, 1.4, 0]])
    with pytest.raises(ValueError, match="one plane; use filtration='rips'"):
        local_pairs(flat, SMALL)
    assert len(local_pairs(flat, SMALL.replace(filtration="rips", max_dim=1)))
    pairs = local_pairs(amorphous(), SMALL)
    with pytest.raises(ValueError, match="positions must have shape"):
        slot_geometry(pairs, np.zeros((3, 3)), np.eye(3))
    with pytest.raises(ValueError, match="cell is needed"):
        slot_geometry(pairs, amorphous().positions)


def test_recipe_changes_are_none_for_a_rigid_move_and_some_for_a_large_one():
    from topophys.descriptors.local_ph import recipe_changes

    atoms = amorphous(seed=6)
    pairs = local_pairs(atoms, SMALL)
    moved = atoms.copy()
    moved.translate([0.31, -0.2, 0.05])
    assert not recipe_changes(pairs, local_pairs(moved, SMALL)).any()
    shaken = atoms.copy()
    shaken.rattle(0.1, seed=2)
    changed = recipe_changes(pairs, local_pairs(shaken, SMALL))
    assert 0 < changed.sum() <= len(atoms)
    with pytest.raises(ValueError, match="differ in size"):
        recipe_changes(pairs, local_pairs(amorphous(n=40), SMALL))


def test_quadratic_weight_adds_pairs_with_zero_slope_linear_with_a_jump():
    birth = torch.tensor([0.5], dtype=torch.float64)
    death = torch.tensor([0.5], dtype=torch.float64)
    for weight, slope_is_zero in (("quadratic", True), ("linear", False)):
        config = SMALL.replace(weight=weight)
        block, _, d_death = image_blocks(birth, death, config)
        assert float(block.abs().max()) == 0.0
        assert (float(d_death.abs().max()) == 0.0) == slope_is_zero
    with pytest.raises(ValueError, match="weight"):
        LocalPHConfig(weight="cubic")


def test_two_workers_give_the_rows_of_one():
    frames = [amorphous(seed=0), amorphous(n=40, seed=1)]
    one = LocalPHDescriptor(r_cut=3.2, r_inner=2.4, t_max=2.5, resolution=(6, 6), bandwidth=0.2)
    two = clone(one).set_params(n_jobs=2)
    np.testing.assert_array_equal(two.fit_transform(frames), one.fit_transform(frames))


def test_a_dask_scheduler_gives_the_rows_of_one_worker():
    distributed = pytest.importorskip("distributed")
    frames = [amorphous(seed=0), amorphous(n=40, seed=1)]
    one = LocalPHDescriptor(r_cut=3.2, r_inner=2.4, t_max=2.5, resolution=(6, 6), bandwidth=0.2)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        dask = clone(one).set_params(scheduler=client)
        with distributed.get_task_stream(client) as tasks:
            rows = dask.fit_transform(frames)
        assert len(tasks.data) >= len(frames)  # the structures ran on the cluster
    np.testing.assert_array_equal(rows, one.fit_transform(frames))
