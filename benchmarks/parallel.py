"""Does a second worker pay? Cubical batches on threads, process pools (ours, loky) and Dask.

Prints JSON with:

``ceiling``
    The speedup of two pure-CPU tasks (a numba loop that releases the GIL) run on two threads
    over running them one after the other, measured before every batch: the most any second
    worker can give on this machine at that moment (about 2 on two idle cores, about 1 when
    other jobs take a core). Efficiencies are speedup / ceiling.
``start``
    One-off costs, each in a fresh interpreter: starting Python, importing
    ``topophys.homology`` (what a spawned worker imports to unpickle the cubical job), starting
    ``topophys.parallel``'s pool of 2 spawned workers (``warm_up``), that pool when the main
    script imports torch at the top (spawned workers re-import the main module), and joblib's
    loky pool of 2 workers.
``transfer``
    Pickling one 256² field and a chunk of 8, against computing their diagrams.
``batches``
    ``n`` smooth 256² fields, open and periodic top-cell construction, sublevel: wall and
    process CPU seconds of a serial loop, ``CubicalPersistence(n_jobs=2)``, the same chunks
    on ``topophys.parallel.pmap`` processes (fields pickled), on joblib (loky processes, with
    its automatic memory-mapping of large arrays, and threads), and on a Dask
    ``distributed.LocalCluster`` of 1 and 2 single-threaded worker processes
    (``CubicalPersistence(scheduler=client)``). Pools are started before timing; each backend's
    runs alternate with serial ones (``--repeats`` each, best of each kept) so both see the same
    load. Diagrams are checked equal to the serial ones.
``store``
    ``compute_field_diagrams`` of a field store of 8 runs × 16 periodic snapshots of 256²:
    serial, ``workers=2`` (the snapshots of each run on 2 threads) and the same on 2 worker
    processes that read their runs themselves (a transformer that hides its class forces that
    route).
``alpha``
    16 rattled diamond-carbon cells of 216 atoms: ``AlphaPersistence`` serial, on 2 local worker
    processes (``n_jobs=2``) and on Dask clusters of 1 and 2 workers, timed the same way.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/parallel.py [--fields 256] [--out FILE]``
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pickle
import platform
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numba
import numpy as np
from scipy.ndimage import gaussian_filter

from topophys.homology import CubicalPersistence, cubical_diagram
from topophys.parallel import pmap, warm_up


@numba.njit(nogil=True, cache=True)
def _spin(n: int) -> float:
    total = 0.0
    for i in range(n):
        total += (i % 7) * 0.5
    return total


def ceiling(pool: ThreadPoolExecutor, n: int = 30_000_000) -> float:
    """Speedup of 2 GIL-free CPU tasks on 2 threads over one after the other (best of 3)."""
    _spin(10)
    ratios = []
    for _ in range(3):
        t0 = time.perf_counter()
        _spin(n)
        _spin(n)
        serial = time.perf_counter() - t0
        t0 = time.perf_counter()
        list(pool.map(_spin, [n, n]))
        ratios.append(serial / (time.perf_counter() - t0))
    return round(max(ratios), 2)


def fields(n: int, size: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.stack(
        [gaussian_filter(rng.standard_normal((size, size)), 4.0, mode="wrap") for _ in range(n)]
    )


def chunk_diagrams(chunk: np.ndarray, periodic: bool) -> list[np.ndarray]:
    """The job every backend runs: the diagrams of a chunk of fields (module level: picklable)."""
    return [cubical_diagram(f, periodic=periodic) for f in chunk]


def best(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return {"wall": round(min(wall), 4), "cpu_this_process": round(min(cpu), 4)}


def fresh(code: str) -> float:
    """Wall seconds of ``code`` in a fresh interpreter (its own measurement, printed)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return round(float(done.stdout.strip().splitlines()[-1]), 3)


def start_costs() -> dict[str, float]:
    timer = "import time; t0 = time.perf_counter()\n"
    report = "\nprint(time.perf_counter() - t0)"
    return {
        "python_start_and_numpy_import": fresh(timer + "import numpy" + report),
        "import_topophys_homology": fresh(
            "import numpy, time; t0 = time.perf_counter()\nimport topophys.homology" + report
        ),
        "import_torch": fresh("import time; t0 = time.perf_counter()\nimport torch" + report),
        "topophys_pool_2_workers": fresh(
            "from topophys.parallel import warm_up\n" + timer + "warm_up(2)" + report
        ),
        # A script that imports torch at the top: each spawned worker imports it again.
        "topophys_pool_2_workers_main_imports_torch": fresh(
            "import sys, time\n"
            "import torch\nfrom topophys.parallel import warm_up\n"
            "open('/tmp/bench_main.py', 'w').write('import torch\\n')\n"
            "sys.modules['__main__'].__file__ = '/tmp/bench_main.py'\n"
            + timer
            + "warm_up(2)"
            + report
        ),
        "joblib_loky_pool_2_workers": fresh(
            "from joblib import Parallel, delayed\n"
            + timer
            + "Parallel(n_jobs=2)(delayed(abs)(i) for i in range(4))"
            + report
        ),
    }


def transfer(batch: np.ndarray) -> dict[str, float]:
    f = batch[0]
    t0 = time.perf_counter()
    for _ in range(20):
        pickle.loads(pickle.dumps(f, protocol=5))
    one = (time.perf_counter() - t0) / 20
    t0 = time.perf_counter()
    for _ in range(5):
        cubical_diagram(f)
    compute = (time.perf_counter() - t0) / 5
    return {
        "field_bytes": int(f.nbytes),
        "pickle_round_trip_ms_per_field": round(1e3 * one, 3),
        "open_diagram_ms_per_field": round(1e3 * compute, 3),
        "periodic_diagram_ms_per_field": round(
            1e3 * best(lambda: cubical_diagram(f, periodic=True), 5)["wall"], 3
        ),
    }


def batches(batch: np.ndarray, periodic: bool, repeats: int, threads: ThreadPoolExecutor) -> dict:
    from joblib import Parallel, delayed

    n = len(batch)
    chunks = [batch[i : i + max(1, n // 8)] for i in range(0, n, max(1, n // 8))]
    job = functools.partial(chunk_diagrams, periodic=periodic)
    reference = [d for c in chunks for d in job(c)]

    def joblib_run(backend: str) -> list:
        out = Parallel(n_jobs=2, backend=backend)(delayed(job)(c) for c in chunks)
        return [d for c in out for d in c]

    runs: dict[str, Callable[[], Any]] = {
        "serial": lambda: [d for c in chunks for d in job(c)],
        "CubicalPersistence(n_jobs=2)": lambda: list(
            CubicalPersistence(periodic=periodic, n_jobs=2, progress=False).transform(batch)
        ),
        "topophys.parallel.pmap, 2 processes, fields pickled": lambda: [
            d for c in pmap(job, chunks, workers=2, progress=False) for d in c
        ],
        "joblib loky, 2 processes": lambda: joblib_run("loky"),
        "joblib threading, 2 threads": lambda: joblib_run("threading"),
    }
    out: dict = {"fields": f"{n} x 256x256", "periodic": periodic, "runs": {}}
    warm_up(2)
    serial = runs.pop("serial")
    for name, fn in runs.items():
        got = fn()  # warm: pools started, kernels loaded
        same = all(np.array_equal(a, b) for a, b in zip(got, reference, strict=True))
        out["runs"][name] = interleaved(serial, fn, repeats, threads) | {"same_diagrams": same}
    out["runs"] |= dask_runs(batch, periodic, reference, repeats, threads, serial)
    return out


def interleaved(
    serial: Callable[[], Any], fn: Callable[[], Any], repeats: int, threads: ThreadPoolExecutor
) -> dict:
    """Serial and parallel runs alternated, so that both see the same load; the ceiling just
    before. Speedup = best serial / best parallel."""
    room = ceiling(threads)
    a, b = [], []
    for _ in range(repeats):
        a.append(best(serial, 1))
        b.append(best(fn, 1))
    s = min(x["wall"] for x in a)
    p = min(x["wall"] for x in b)
    return {
        "serial_wall": s,
        "wall": p,
        "cpu_this_process": min(x["cpu_this_process"] for x in b),
        "ceiling_before": room,
        "speedup_vs_serial": round(s / p, 2),
        "efficiency_vs_ceiling": round(s / p / room, 2),
    }


def dask_runs(
    batch: np.ndarray,
    periodic: bool,
    reference: list,
    repeats: int,
    threads: ThreadPoolExecutor,
    serial: Callable[[], Any],
) -> dict:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return {}
    out = {}
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
        ):
            cp = CubicalPersistence(periodic=periodic, scheduler=client, progress=False)
            got = list(cp.transform(batch))
            same = all(np.array_equal(a, b) for a, b in zip(got, reference, strict=True))
            timing = interleaved(serial, lambda cp=cp: cp.transform(batch), repeats, threads)
            out[f"dask LocalCluster, {workers} worker(s)"] = timing | {"same_diagrams": same}
    return out


class Opaque:
    """A CubicalPersistence the diagram store does not recognize: it takes the process route."""

    def __init__(self, **params: Any) -> None:
        self.inner = CubicalPersistence(**params)

    def get_params(self, deep: bool = True) -> dict:
        return self.inner.get_params(deep)

    def set_params(self, **params: Any) -> Opaque:
        self.inner.set_params(**params)
        return self

    def transform(self, X: Any) -> Any:
        return self.inner.transform(X)


def store_batch(batch: np.ndarray, repeats: int, threads: ThreadPoolExecutor) -> dict:
    """A field store's diagrams: serial, on 2 threads, on 2 processes."""
    import shutil
    import tempfile

    from topophys.data import FieldStore
    from topophys.data.diagram_store import compute_field_diagrams

    tmp = Path(tempfile.mkdtemp(prefix="topophys-bench-"))
    try:
        fields = batch[:128].reshape(8, 16, 256, 256)
        FieldStore.create(
            tmp / "fields.zarr",
            alpha=np.arange(8.0),
            seed=np.zeros(8, dtype=int),
            t=np.arange(16.0),
            h=np.zeros(16),
            shape=(256, 256),
        ).write_runs(list(range(8)), fields, np.zeros(8))
        count = iter(range(10**6))

        def run(transformer: Any, workers: int) -> Any:
            out = tmp / f"d{next(count)}.zarr"
            try:
                return compute_field_diagrams(
                    tmp / "fields.zarr", out, transformer, workers=workers, progress=False
                )
            finally:
                shutil.rmtree(out, ignore_errors=True)

        plain = CubicalPersistence(periodic=True)
        reference = run(plain, 1)
        warm_up(2)
        out: dict = {"store": "8 runs x 16 periodic snapshots of 256x256 (float32)", "runs": {}}
        for name, transformer in (
            ("workers=2: threads", plain),
            ("workers=2: processes reading their runs", Opaque(periodic=True)),
        ):
            same = run(transformer, 2) == reference
            out["runs"][name] = interleaved(
                lambda: run(plain, 1), lambda t=transformer: run(t, 2), repeats, threads
            ) | {"same_diagrams": same}
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def alpha_batch(repeats: int, threads: ThreadPoolExecutor) -> dict:
    """Periodic alpha diagrams of 16 structures: serial, 2 processes, Dask 1 and 2 workers."""
    from ase.build import bulk

    from topophys.homology import AlphaPersistence

    frames = []
    for seed in range(16):
        atoms = bulk("C", "diamond", a=3.567, cubic=True).repeat(3)
        atoms.rattle(0.15, seed=seed)
        frames.append(atoms)
    reference = AlphaPersistence().transform(frames)

    def serial() -> Any:
        return AlphaPersistence().transform(frames)

    out: dict = {"structures": "16 x 216 atoms, rattled diamond carbon", "runs": {}}
    local = AlphaPersistence(n_jobs=2)
    warm_up(2)
    same = local.transform(frames) == reference
    out["runs"]["AlphaPersistence(n_jobs=2), 2 processes"] = interleaved(
        serial, lambda: local.transform(frames), repeats, threads
    ) | {"same_diagrams": same}
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return out
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            ) as cluster,
            Client(cluster) as client,
        ):
            est = AlphaPersistence(scheduler=client)
            same = est.transform(frames) == reference
            out["runs"][f"dask LocalCluster, {workers} worker(s)"] = interleaved(
                serial, lambda est=est: est.transform(frames), repeats, threads
            ) | {"same_diagrams": same}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="also write the JSON to this file")
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    batch = fields(args.fields)
    with ThreadPoolExecutor(2) as threads:
        report = {
            "benchmark": "parallel",
            "cpus": os.cpu_count(),
            "machine": {
                "cpus": os.cpu_count(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "python": platform.python_version(),
                "numpy": np.__version__,
            },
            "start": start_costs(),
            "transfer": transfer(batch),
            "batches": [
                batches(batch, periodic, args.repeats, threads) for periodic in (False, True)
            ],
            "store": store_batch(batch, args.repeats, threads),
            "alpha": alpha_batch(args.repeats, threads),
        }
    report["load_average"] = {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]}
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
