"""Time the diagram vectorizers against reference implementations measured in the same run.

Prints one JSON object: median seconds per call of our PersistenceImage (numpy and torch) on
one 2,000-point H1 diagram at 128 x 128 pixels, of persim's PersistenceImager (the same exact
pixel integral; skipped with the reason when persim cannot be imported) and of GUDHI's
``representations.PersistenceImage`` (which samples the Gaussian density at grid points
rather than integrating it), their ratios to ours, and the time of PersistenceHistogram on
the same diagram (the 128 x 128 descriptor over [0, 8]^2 of the amorphous-carbon papers).

Run with ``OMP_NUM_THREADS=1 python benchmarks/vectorize.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from topophys.diagrams import Diagrams
from topophys.vectorize import PersistenceHistogram, PersistenceImage, persistence_image_torch

N_POINTS = 2000
RES = 128
RANGE = (0.0, 8.0)
SIGMA = 0.1


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


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
    rng = np.random.default_rng(0)
    birth = rng.uniform(0.0, 6.0, N_POINTS)
    death = birth + rng.exponential(1.0, N_POINTS)
    rows = np.column_stack([np.ones(N_POINTS), birth, death])
    X = Diagrams.from_list([rows])
    result: dict[str, Any] = {
        "points": N_POINTS,
        "pixels": [RES, RES],
        "bandwidth": SIGMA,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }

    image = PersistenceImage(
        resolution=RES, birth_range=RANGE, persistence_range=RANGE, bandwidth=SIGMA
    ).fit(X)
    ours = image.transform(X)[0].reshape(RES, RES)
    t_ours = median_time(lambda: image.transform(X), repeats=15)
    result["image_ours_s"] = t_ours

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
        t_persim = median_time(lambda: pimgr.transform(pairs, skew=True), repeats=3)
        result["image_persim_s"] = t_persim
        result["image_persim_over_ours"] = t_persim / t_ours
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
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
