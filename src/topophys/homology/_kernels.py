"""Compiled kernels of the periodic cubical sweep (internal to :mod:`topophys.homology.cubical`).

Plain Python here, compiled by numba on first use (see :func:`kernels`) so that importing topophys
imports no numba and compiles nothing. With ``NUMBA_DISABLE_JIT`` set they run as Python: same
results, about 1000x slower.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np

__all__ = ["cycle_kernels", "elder_sweep_kernel", "kernels", "work_arrays"]


# The kernels' two work arrays of one int64 per pixel, kept between the calls of a thread:
# fresh memory costs a page fault every 4 KiB (or the zeroing of 2 MiB with transparent huge
# pages), which took about as long as the sweep itself. Fields above this many pixels get
# fresh ones, so as not to hold on to more than 64 MiB per thread.
_REUSE_MAX_PIXELS = 1 << 22


_WORK = threading.local()


def work_arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two int64 work arrays of ``n`` or more entries each."""
    if n > _REUSE_MAX_PIXELS:
        return np.empty(n, np.int64), np.empty(n, np.int64)
    arrays = getattr(_WORK, "arrays", None)
    if arrays is None or arrays.shape[1] < n:
        arrays = _WORK.arrays = np.empty((2, max(n, 1024)), np.int64)
    return arrays[0], arrays[1]


# Displacements (dy, dx) on the unwrapped plane are packed into one integer, dy * 2**32 + dx:
# packing is linear, so packed displacements add and compare like the vectors, at half the
# memory traffic. Exact while no displacement reaches 2**31 pixels; none exceeds the number of
# pixels of the field.
_PACK = 1 << 32


# Neighbour slot k of a pixel is the step (_STEP_Y[k], _STEP_X[k]); slots 0-3 are the
# 4-neighbours.
_STEP_Y = np.array([0, 1, 0, -1, 1, 1, -1, -1], np.int64)


_STEP_X = np.array([1, 0, -1, 0, 1, -1, -1, 1], np.int64)


# Slots of the direct-mapped table that merges repeated edges (a power of 2).
_EDGE_TABLE = 4096


def _make_basin_graph(eight: bool, dual: bool) -> Any:
    """The basin-graph kernel for 8- (``eight``) or 4-connectivity, of ``f`` or (``dual``) ``-f``.

    The flags are closure constants, so numba compiles one kernel per combination with the
    other branches removed: choosing the neighbour list at run time made the kernel three
    times slower. The dual sweep, of ``-f``, is the one that needs windings.

    The kernel is one long function on purpose: its three passes share work arrays and loop
    state that numba keeps in registers only within one compiled function, and calls between
    compiled helpers on every pixel cost measurable time in the sweep.
    """
    step_y = _STEP_Y
    step_x = _STEP_X
    table_mask = _EDGE_TABLE - 1
    pack = _PACK
    sign = -1.0 if dual else 1.0  # an exact negation
    winding = dual

    def basin_graph(
        f: np.ndarray, down: np.ndarray, path: np.ndarray, capacity: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Contract the pixel graph of ``g`` on the torus to its basins of steepest descent.

        ``g = sign * f`` with ``f`` of shape (H, W); ``down`` and ``path`` are work arrays of
        at least H W entries; ``capacity`` is the room for edges (0: a guess). Pixels are
        totally ordered by (value, flat index). Joining each pixel, as it enters, to its
        lowest neighbour creates only zero-persistence pairs, so H0 is that of the graph
        whose nodes are the basins (numbered 0, 1, ...) and whose edges are the pixel edges
        between two basins.

        Returns ``basin_min``, ``basin_value`` (B,): the flat index and value of each basin's
        minimum; ``head``, ``tail`` (m,), the basins of each edge, ``level`` (m,) its value
        and, with windings, ``gain`` (m,): the displacement (packed) from the minimum of
        ``head`` down the descent path to the edge, across it and up to the minimum of
        ``tail``, on the unwrapped plane. With windings, edges inside one basin whose cycle
        winds around the torus (nonzero gain) are kept too. Edges with the same basins and
        gain are parallel (the cycle they close does not wind), so only the lowest matters;
        most repeats are merged as they come. Last, the number of edges, which is more than
        were stored if ``capacity`` was too small. (Long on purpose: see
        :func:`_make_basin_graph`.)
        """
        height, width = f.shape
        n = height * width
        values = f.ravel()
        # Packed displacement added by a step that wraps, by wrap code 3 (wy + 1) + (wx + 1).
        wrap_shift = np.empty(9, np.int64)
        for code in range(9):
            wrap_shift[code] = (code // 3 - 1) * height * pack + (code % 3 - 1) * width

        # down[p] = 16 q + c: q is the lowest of p and its neighbours (q = p at a local
        # minimum) and c the wrap code of the step. Selects rather than branches: which
        # neighbour is lowest is unpredictable.
        n_minima = 0
        for i in range(height):
            up_ = i - 1 if i > 0 else height - 1
            dn = i + 1 if i < height - 1 else 0
            for j in range(width):
                lf = j - 1 if j > 0 else width - 1
                rt = j + 1 if j < width - 1 else 0
                neighbours: tuple[tuple[int, int, int], ...]  # (row, column, direction)
                if eight:
                    neighbours = (
                        (i, rt, 0), (dn, j, 1), (i, lf, 2), (up_, j, 3),
                        (dn, rt, 4), (dn, lf, 5), (up_, lf, 6), (up_, rt, 7),
                    )  # fmt: skip
                else:
                    neighbours = ((i, rt, 0), (dn, j, 1), (i, lf, 2), (up_, j, 3))
                best = (i * width + j) * 8 + 7
                best_value = sign * f[i, j]
                for a, b, k in neighbours:
                    v = sign * f[a, b]
                    key = (a * width + b) * 8 + k
                    lower = (v < best_value) | ((v == best_value) & (key < best))
                    best = key if lower else best
                    best_value = v if lower else best_value
                code = 4  # 3 (wy + 1) + (wx + 1) for a step that wraps by (wy, wx) periods
                if winding:
                    k = best & 7
                    if i == height - 1 and step_y[k] == 1:
                        code += 3
                    elif i == 0 and step_y[k] == -1:
                        code -= 3
                    if j == width - 1 and step_x[k] == 1:
                        code += 1
                    elif j == 0 and step_x[k] == -1:
                        code -= 1
                down[i * width + j] = (best >> 3) * 16 + code
                if best >> 3 == i * width + j:
                    n_minima += 1

        # Then down[p] becomes ~c (= -1 - c, negative) for the class c of pixel p: its basin b
        # (c = b) and, with windings, where p sees the minimum of b on the unwrapped plane.
        # That is b's own place unless the descent from p wraps around the torus on the way:
        # then c >= n names the pair (b, shift) of the basin and the packed displacement of
        # that copy of the minimum (sheet_basin[c - n], sheet_shift[c - n]). Two neighbours of
        # one class are in one basin and their edge closes no cycle around the torus. Walk
        # down to a pixel already done, then fill in the path on the way back.
        basin = down  # one array for both: half the memory traffic
        # Arrays sized by what they hold, not by the pixels: with transparent huge pages, the
        # first touch of a large fresh array can cost the zeroing of 2 MiB.
        basin_min = np.empty(n_minima, np.int64)
        basin_place = np.empty(n_minima if winding else 0, np.int64)  # packed (row, column)
        # Only a step from the first or last row or column wraps, so few sheets.
        max_sheets = 2 * (height + width) + 8 if winding else 0
        sheet_basin = np.empty(max_sheets, np.int64)
        sheet_shift = np.empty(max_sheets, np.int64)
        sheet_table = np.full(_EDGE_TABLE if winding else 0, -1, np.int64)
        n_sheets = 0
        n_basins = 0
        for p in range(n):
            x = p
            top = 0
            while down[x] >= 0:
                q = down[x] >> 4
                if q == x:
                    basin[x] = ~n_basins
                    basin_min[n_basins] = x
                    if winding:
                        basin_place[n_basins] = (x // width) * pack + x % width
                    n_basins += 1
                    break
                path[top] = x
                top += 1
                x = q
            c = ~basin[x]
            while top > 0:
                top -= 1
                y = path[top]
                if winding and down[y] & 15 != 4:  # the step from y wraps
                    if c >= n:
                        owner = sheet_basin[c - n]
                        shift = sheet_shift[c - n] + wrap_shift[down[y] & 15]
                    else:
                        owner = c
                        shift = wrap_shift[down[y] & 15]
                    if shift == 0:
                        c = owner
                    else:
                        # (a repeated sheet would only cost time: equal classes stay exact)
                        slot = (
                            owner * 40503 + (shift >> 32) * 7919 + (shift & 0xFFFFFFFF) * 6151
                        ) & table_mask
                        k = sheet_table[slot]
                        if k < 0 or sheet_basin[k] != owner or sheet_shift[k] != shift:
                            k = n_sheets
                            sheet_basin[k] = owner
                            sheet_shift[k] = shift
                            sheet_table[slot] = k
                            n_sheets += 1
                        c = n + k
                basin[y] = ~c
        basin_value = np.empty(n_basins, np.float64)
        for b in range(n_basins):
            basin_value[b] = sign * values[basin_min[b]]

        # Room for the edges: if they do not fit, the rest are counted, not stored, and the
        # caller runs the kernel again with room for the count (no growing here: resizing
        # arrays inside the loop slowed it down by a third).
        if capacity <= 0:
            capacity = 4 * n_basins + 64
        head = np.empty(capacity, np.int64)
        tail = np.empty(capacity, np.int64)
        level = np.empty(capacity, np.float64)
        gain = np.empty(capacity if winding else 0, np.int64)
        table = np.full(_EDGE_TABLE, -1, np.int64)  # slot -> an edge with that hash
        m = 0
        for i in range(height):
            dn = i + 1 if i < height - 1 else 0
            shift_dn = height * pack if i == height - 1 else 0
            for j in range(width):
                p = i * width + j
                # Most pixels lie inside a basin: when no forward edge wraps and every forward
                # neighbour shares the pixel's class, there is nothing to add. Testing that first,
                # with plain offsets, halved the time of this pass.
                if i < height - 1 and 0 < j < width - 1:
                    c = basin[p]
                    below = p + width
                    if eight:
                        if (
                            basin[p + 1] == c
                            and basin[below] == c
                            and basin[below + 1] == c
                            and basin[below - 1] == c
                        ):
                            continue
                    elif basin[p + 1] == c and basin[below] == c:
                        continue
                lf = j - 1 if j > 0 else width - 1
                rt = j + 1 if j < width - 1 else 0
                shift_rt = width if j == width - 1 else 0
                shift_lf = -width if j == 0 else 0
                forward: tuple[tuple[int, int, int], ...]  # (row, column, packed shift)
                if eight:
                    forward = (
                        (i, rt, shift_rt),
                        (dn, j, shift_dn),
                        (dn, rt, shift_dn + shift_rt),
                        (dn, lf, shift_dn + shift_lf),
                    )
                else:
                    forward = ((i, rt, shift_rt), (dn, j, shift_dn))
                for a, b, shift in forward:
                    q = a * width + b
                    if basin[p] == basin[q] and (shift == 0 or not winding):
                        continue
                    u = ~basin[p]
                    w = ~basin[q]
                    d = 0
                    if winding:
                        # min(p) -> p -> q -> min(q): nonzero also for one basin around the torus
                        d = shift
                        if u >= n:
                            d -= sheet_shift[u - n]
                            u = sheet_basin[u - n]
                        if w >= n:
                            d += sheet_shift[w - n]
                            w = sheet_basin[w - n]
                        d += basin_place[w] - basin_place[u]
                        if d == 0:
                            continue
                    if u > w or (u == w and d < 0):  # one orientation per edge class
                        u, w, d = w, u, -d
                    v = max(sign * values[p], sign * values[q])
                    # (small factors: no overflow, also when run as Python)
                    slot = (
                        u * 40503 + w * 30011 + (d >> 32) * 7919 + (d & 0xFFFFFFFF) * 6151
                    ) & table_mask
                    e = table[slot]
                    if e >= 0 and head[e] == u and tail[e] == w and (not winding or gain[e] == d):
                        if v < level[e]:
                            level[e] = v
                        continue
                    if m < capacity:
                        table[slot] = m
                        head[m] = u
                        tail[m] = w
                        level[m] = v
                        if winding:
                            gain[m] = d
                    m += 1
        stored = min(m, capacity)
        return (
            basin_min,
            basin_value,
            head[:stored],
            tail[:stored],
            level[:stored],
            gain[: stored if winding else 0],
            m,
        )

    return basin_graph


def _elder_sweep_py(
    basin_min: np.ndarray,
    basin_value: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    level: np.ndarray,
    gain: np.ndarray,
    order: np.ndarray,
    winding: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """H0 pairs and loops of a connected basin graph; see :func:`_torus_sweep`.

    The graph is as returned by the basin-graph kernel; ``order`` sorts its edges by level.
    Kruskal's sweep under the elder rule: an edge joining two components kills the one whose
    minimum comes later in the (value, index) order. Union by rank and path halving; with
    ``winding`` every node also keeps its unwrapped displacement to its parent, so an edge
    that closes a cycle tells how that cycle winds around the torus. The levels where the
    windings seen so far first span one, then two dimensions are the ``loops``.

    One function on purpose, like the basin-graph kernel: the two inlined find loops and the
    union share their state in registers in the compiled code.
    """
    n_basins = basin_min.size
    parent = np.arange(n_basins)
    oldest = np.arange(n_basins)
    rank = np.zeros(n_basins, np.int64)
    offset = np.zeros(n_basins if winding else 0, np.int64)  # packed, node -> parent
    births = np.empty(max(n_basins - 1, 0), np.float64)
    deaths = np.empty(max(n_basins - 1, 0), np.float64)
    loops = np.empty(2, np.float64)
    first_y = 0
    first_x = 0
    n_pairs = 0
    n_loops = 0
    merges = 0
    for e in order:
        if merges == n_basins - 1 and (n_loops == 2 or not winding):
            break
        # The find (path halving, winding offsets carried along) is written out for both ends
        # of the edge rather than called: it is this kernel's hot loop, and the sweep times
        # of docs/performance.md were measured with it inline.
        a = head[e]
        to_a = 0  # packed, head -> root of its component
        while parent[a] != a:
            up = parent[a]
            if parent[up] != up:
                if winding:
                    offset[a] += offset[up]
                parent[a] = parent[up]
            if winding:
                to_a += offset[a]
            a = parent[a]
        b = tail[e]
        to_b = 0
        while parent[b] != b:
            up = parent[b]
            if parent[up] != up:
                if winding:
                    offset[b] += offset[up]
                parent[b] = parent[up]
            if winding:
                to_b += offset[b]
            b = parent[b]
        if a == b:
            if winding and n_loops < 2:
                # root -> head -> tail -> root: whole periods of the torus each way
                turn = gain[e] + to_b - to_a
                turn_x = ((turn + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)
                turn_y = (turn - turn_x) >> 32
                if n_loops == 0 and turn != 0:
                    loops[0] = level[e]
                    first_y = turn_y
                    first_x = turn_x
                    n_loops = 1
                elif n_loops == 1 and first_y * turn_x != first_x * turn_y:
                    loops[1] = level[e]
                    n_loops = 2
            continue
        older = oldest[a]
        younger = oldest[b]
        if basin_value[younger] < basin_value[older] or (
            basin_value[younger] == basin_value[older] and basin_min[younger] < basin_min[older]
        ):
            older, younger = younger, older
        if level[e] > basin_value[younger]:
            births[n_pairs] = basin_value[younger]
            deaths[n_pairs] = level[e]
            n_pairs += 1
        if rank[a] < rank[b]:  # hang a below b: a -> head -> tail -> b
            parent[a] = b
            oldest[b] = older
            if winding:
                offset[a] = gain[e] + to_b - to_a
        else:  # hang b below a: b -> tail -> head -> a
            parent[b] = a
            oldest[a] = older
            if rank[a] == rank[b]:
                rank[a] += 1
            if winding:
                offset[b] = to_a - gain[e] - to_b
        merges += 1
    return births[:n_pairs], deaths[:n_pairs], loops[:n_loops]


@functools.cache
def kernels(connectivity: int, dual: bool) -> tuple[Any, Any]:
    """The compiled kernels of :func:`_torus_sweep` for a connectivity (4 or 8)."""
    kernel = _make_basin_graph(connectivity == 8, dual)
    # numba names its on-disk cache after the qualified name. One name for the four closure
    # variants put them in one cache index, and two processes compiling different variants at
    # once (a pool's workers) could map one variant's key to the other's machine code, which
    # then crashed on return. A name per variant gives each its own index.
    kernel.__qualname__ = f"basin_graph_c{connectivity}_{'dual' if dual else 'primal'}"
    return _jit(kernel), elder_sweep_kernel()


@functools.cache
def elder_sweep_kernel() -> Any:
    return _jit(_elder_sweep_py)


def _jit(py_func: Any) -> Any:
    """``py_func`` compiled by numba, with its machine code cached on disk where possible.

    Compiling takes seconds, so numba caches the machine code beside this module or, where
    that is read-only, in the user's cache directory (or ``NUMBA_CACHE_DIR``). Where no cache
    directory is writable numba refuses ``cache=True`` with a ``RuntimeError``; then compile
    in memory, every process anew.
    """
    import numba

    try:
        return numba.njit(cache=True, nogil=True)(py_func)
    except RuntimeError:
        return numba.njit(cache=False, nogil=True)(py_func)


def _merge_pairs_py(
    order: np.ndarray, height: int, width: int, eight: bool, wrap: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The elder rule's merges of the pixel graph, pixels entering in ``order``.

    Pixels of an ``(height, width)`` grid enter one by one in ``order`` (a permutation of the
    flat indices); each joins its 4- or (``eight``) 8-neighbours that entered before it, wrapped
    around the torus if ``wrap``. When it joins several components, each but the oldest (the
    one whose first pixel entered first) dies there. Returns, per death, the pixel that entered
    (``merge``) and the first pixel of the component that died (``oldest``), both ``(k,)``.
    Plain union-find: the cycles are traced for a few pairs, where speed matters less than in
    the sweep of :func:`_make_basin_graph`.
    """
    n = height * width
    rank = np.empty(n, np.int64)
    for r in range(n):
        rank[order[r]] = r
    parent = np.full(n, -1, np.int64)  # -1: not entered yet
    first = np.arange(n)
    merge = np.empty(n, np.int64)
    oldest = np.empty(n, np.int64)
    k = 0
    dy = np.array([0, 1, 0, -1, 1, 1, -1, -1], np.int64)
    dx = np.array([1, 0, -1, 0, 1, -1, -1, 1], np.int64)
    n_steps = 8 if eight else 4
    roots = np.empty(8, np.int64)
    for r in range(n):
        p = order[r]
        parent[p] = p
        i, j = p // width, p % width
        n_roots = 0
        for s in range(n_steps):
            a, b = i + dy[s], j + dx[s]
            if wrap:
                a, b = a % height, b % width
            elif a < 0 or a >= height or b < 0 or b >= width:
                continue
            q = a * width + b
            if parent[q] < 0:
                continue
            while parent[q] != q:
                parent[q] = parent[parent[q]]
                q = parent[q]
            seen = False
            for t in range(n_roots):
                seen = seen or roots[t] == q
            if not seen:
                roots[n_roots] = q
                n_roots += 1
        if n_roots == 0:
            continue
        elder = roots[0]
        for t in range(1, n_roots):
            if rank[first[roots[t]]] < rank[first[elder]]:
                elder = roots[t]
        for t in range(n_roots):
            root = roots[t]
            if root != elder:
                merge[k] = p
                oldest[k] = first[root]
                k += 1
                parent[root] = elder
        parent[p] = elder
    return merge[:k], oldest[:k]


def _component_py(
    rank: np.ndarray, start: int, limit: int, height: int, width: int, eight: bool, wrap: bool
) -> np.ndarray:
    """Mask ``(height * width,)`` of the pixels of rank below ``limit`` that are 4- or 8-
    (``eight``) connected to ``start`` through such pixels (wrapped if ``wrap``)."""
    n = height * width
    inside = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    dy = np.array([0, 1, 0, -1, 1, 1, -1, -1], np.int64)
    dx = np.array([1, 0, -1, 0, 1, -1, -1, 1], np.int64)
    n_steps = 8 if eight else 4
    inside[start] = True
    stack[0] = start
    top = 1
    while top > 0:
        top -= 1
        p = stack[top]
        i, j = p // width, p % width
        for s in range(n_steps):
            a, b = i + dy[s], j + dx[s]
            if wrap:
                a, b = a % height, b % width
            elif a < 0 or a >= height or b < 0 or b >= width:
                continue
            q = a * width + b
            if not inside[q] and rank[q] < limit:
                inside[q] = True
                stack[top] = q
                top += 1
    return inside


@functools.cache
def cycle_kernels() -> tuple[Any, Any]:
    """The compiled merge and component kernels of :mod:`topophys.homology.cubical_cycles`."""
    return _jit(_merge_pairs_py), _jit(_component_py)
