"""Time the diagram vectorizers against reference implementations measured in the same run.

Prints one JSON object: median seconds per call of our PersistenceImage (numpy and torch) on
one 2,000-point H1 diagram at 128 x 128 pixels, of persim's PersistenceImager (the same exact
pixel integral; skipped with the reason when persim cannot be imported) and of GUDHI's
``representations.PersistenceImage`` (which samples the Gaussian density at grid points
rather than integrating it), their ratios to ours, and the time of PersistenceHistogram on
the same diagram (the 128 x 128 descriptor over [0, 8]^2 of the amorphous-carbon papers).
Persistence landscapes (5 layers) and silhouettes on a batch of 100 diagrams of 200 points at
100 grid values: ours against GUDHI's ``representations.Landscape`` / ``Silhouette`` (same
values times √2) and persim's ``PersLandscapeApprox`` (one diagram at a time). Each time is
the median wall and CPU seconds; the load average is printed at the start and the end.

Run with ``OMP_NUM_THREADS=1 python benchmarks/vectorize.py [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from topophys.diagrams import Diagrams
from topophys.vectorize import (
    PersistenceHistogram,
    PersistenceImage,
    PersistenceLandscape,
    PersistenceSilhouette,
    persistence_image_torch,
)

N_POINTS = 2000
RES = 128
RANGE = (0.0, 8.0)
SIGMA = 0.1


_CPU: dict[int, float] = {}  # median CPU seconds of the last median_time call, by id of fn


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``repeats`` calls (the CPU time's median goes to ``_CPU``)."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(repeats):
        start, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - start)
    _CPU[id(fn)] = float(np.median(cpu))
    return float(np.median(times))


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    wall = median_time(fn, repeats)
    return {"wall": round(wall, 5), "cpu": round(_CPU[id(fn)], 5)}


def landscapes() -> dict[str, Any]:
    """Landscapes and silhouettes of 100 diagrams of 200 points: ours, GUDHI, persim."""
    from gudhi.representations import Landscape, Silhouette

    rng = np.random.default_rng(1)
    diagrams = []
    for _ in range(100):
        birth = rng.uniform(0.0, 4.0, 200)
        diagrams.append(np.column_stack([np.ones(200), birth, birth + rng.exponential(0.5, 200)]))
    X = Diagrams.from_list(diagrams)
    pairs = [d[:, 1:] for d in diagrams]
    grid = np.linspace(0.0, 6.0, 100)
    ours_l = PersistenceLandscape(n_layers=5, grid=grid).fit(X)
    ours_s = PersistenceSilhouette(power=1.0, grid=grid).fit(X)
    gudhi_l = Landscape(num_landscapes=5, resolution=100, sample_range=[0.0, 6.0]).fit(pairs)
    gudhi_s = Silhouette(weight=lambda p: p[1] - p[0], resolution=100, sample_range=[0.0, 6.0]).fit(
        pairs
    )
    out: dict[str, Any] = {"diagrams": 100, "points_each": 200, "grid": 100, "layers": 5}
    for name, ours, ref in (
        ("landscape", ours_l, gudhi_l),
        ("silhouette", ours_s, gudhi_s),
    ):
        t_ours = timed(lambda est=ours: est.transform(X), 9)
        t_ref = timed(lambda est=ref: est.transform(pairs), 5)
        diff = float(np.abs(ours.transform(X) * np.sqrt(2) - ref.transform(pairs)).max())
        out[name] = {
            "ours_seconds": t_ours,
            "gudhi_seconds": t_ref,
            "speedup_vs_gudhi": round(t_ref["cpu"] / t_ours["cpu"], 2),
            "max_abs_difference_vs_gudhi_over_sqrt2": diff,
        }
    try:
        from persim.landscapes import PersLandscapeApprox
    except ImportError as exc:
        out["landscape"]["persim_note"] = f"persim unavailable: {exc}"
        return out

    def persim_all() -> list:
        return [
            PersLandscapeApprox(start=0.0, stop=6.0, num_steps=100, dgms=[p], hom_deg=0)
            for p in pairs
        ]

    t_persim = timed(persim_all, 3)
    values = persim_all()[0].values[:5]
    ours0 = ours_l.transform(X[:1]).reshape(5, 100)[: len(values)]
    out["landscape"] |= {
        "persim_seconds": t_persim,
        "speedup_vs_persim": round(t_persim["cpu"] / out["landscape"]["ours_seconds"]["cpu"], 2),
        "max_abs_difference_vs_persim_first_diagram": float(np.abs(values - ours0).max()),
    }
    return out


def import_persim_imager() -> tuple[Any, str | None]:
    """persim's PersistenceImager, or None, and a note on how it was (not) imported.

    persim 0.4 needs the ``deprecated`` package only to decorate its legacy ``PersImage``
    class; when persim was installed without its dependencies, a no-op stand-in for that
    decorator lets ``PersistenceImager`` (which does not use it) be timed.
    """
    try:
        from persim import PersistenceImager
    except ModuleNotFoundError as exc:
        if exc.name != "deprecated":
            return None, f"persim unavailable: {exc}"
    else:
        return PersistenceImager, None
    import sys
    import types

    package, sphinx = types.ModuleType("deprecated"), types.ModuleType("deprecated.sphinx")
    sphinx.deprecated = lambda *args, **kwargs: lambda obj: obj  # type: ignore[attr-defined]
    package.sphinx = sphinx  # type: ignore[attr-defined]
    sys.modules.setdefault("deprecated", package)
    sys.modules.setdefault("deprecated.sphinx", sphinx)
    try:
        from persim import PersistenceImager
    except ImportError as exc:
        return None, f"persim unavailable: {exc}"
    return PersistenceImager, "package 'deprecated' missing: persim imported with a no-op stand-in"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    rng = np.random.default_rng(0)
    birth = rng.uniform(0.0, 6.0, N_POINTS)
    death = birth + rng.exponential(1.0, N_POINTS)
    rows = np.column_stack([np.ones(N_POINTS), birth, death])
    X = Diagrams.from_list([rows])
    result: dict[str, Any] = {
        "benchmark": "vectorize",
        "cpus": os.cpu_count(),
        "points": N_POINTS,
        "pixels": [RES, RES],
        "bandwidth": SIGMA,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "arch": platform.machine(),
        "python": platform.python_version(),
    }

    image = PersistenceImage(
        resolution=RES, birth_range=RANGE, persistence_range=RANGE, bandwidth=SIGMA
    ).fit(X)
    ours = image.transform(X)[0].reshape(RES, RES)
    ours_fn = lambda: image.transform(X)  # noqa: E731
    t_ours = median_time(ours_fn, repeats=15)
    result["image_ours_s"] = t_ours
    result["image_ours_cpu_s"] = _CPU[id(ours_fn)]

    import torch

    tb = torch.tensor(birth)
    tp = torch.tensor(death - birth)
    kw = {"resolution": RES, "birth_range": RANGE, "persistence_range": RANGE}
    t_torch = median_time(
        lambda: persistence_image_torch(tb, tp, bandwidth=SIGMA, **kw), repeats=15
    )
    torch_img = persistence_image_torch(tb, tp, bandwidth=SIGMA, **kw).numpy()
    result["image_torch_cpu_s"] = t_torch
    result["image_torch_max_abs_diff"] = float(np.abs(torch_img - ours).max())

    PersistenceImager, note = import_persim_imager()
    if note:
        result["persim_note"] = note
    if PersistenceImager is None:
        result["image_persim_s"] = None
    else:
        pimgr = PersistenceImager(
            birth_range=RANGE,
            pers_range=RANGE,
            pixel_size=(RANGE[1] - RANGE[0]) / RES,
            weight="persistence",
            weight_params={"n": 1.0},
            kernel="gaussian",
            kernel_params={"sigma": SIGMA**2},  # a variance in persim
        )
        pairs = rows[:, 1:]
        persim_fn = lambda: pimgr.transform(pairs, skew=True)  # noqa: E731
        t_persim = median_time(persim_fn, repeats=3)
        result["image_persim_s"] = t_persim
        result["image_persim_cpu_s"] = _CPU[id(persim_fn)]
        result["image_persim_over_ours"] = t_persim / t_ours
        result["image_persim_over_ours_cpu"] = _CPU[id(persim_fn)] / _CPU[id(ours_fn)]
        result["image_persim_max_abs_diff"] = float(
            np.abs(pimgr.transform(pairs, skew=True) - ours).max()
        )

    from gudhi.representations import PersistenceImage as GudhiImage

    gudhi_image = GudhiImage(
        bandwidth=SIGMA,
        weight=lambda p: p[1],
        resolution=[RES, RES],
        im_range=[*RANGE, *RANGE],
    ).fit([rows[:, 1:]])
    t_gudhi = median_time(lambda: gudhi_image.transform([rows[:, 1:]]), repeats=3)
    result["image_gudhi_s"] = t_gudhi
    result["image_gudhi_over_ours"] = t_gudhi / t_ours

    hist = PersistenceHistogram(bins=RES, birth_range=RANGE, death_range=RANGE).fit(X)
    result["histogram_s"] = median_time(lambda: hist.transform(X), repeats=200, warmup=5)
    reference = PersistenceHistogram(bins=RES, standardize="none", normalize="none").fit(X)
    counts, _, _ = np.histogram2d(birth, death, bins=RES, range=[RANGE, RANGE])
    result["histogram_numpy_histogram2d_s"] = median_time(
        lambda: np.histogram2d(birth, death, bins=RES, range=[RANGE, RANGE]), repeats=200
    )
    result["histogram_matches_histogram2d"] = bool(
        np.array_equal(reference.transform(X)[0], counts.ravel())
    )
    result["landscapes"] = landscapes()
    result["load_average"] = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
