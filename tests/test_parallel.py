"""Local process pools and Dask clusters give the same results as a plain loop."""

import math
import operator
import os
import signal
import time
from functools import partial

import numpy as np
import pytest

from topophys import parallel
from topophys.parallel import as_completed, pmap, warm_up


@pytest.mark.parametrize("workers", [1, 2])
def test_pmap_keeps_order(workers):
    items = list(range(-5, 6))
    assert pmap(operator.neg, items, workers=workers, progress=False) == [-i for i in items]


def test_as_completed_yields_every_index_once():
    got = dict(as_completed(math.sqrt, [1.0, 4.0, 9.0, 16.0], workers=2, progress=False))
    assert got == {0: 1.0, 1: 2.0, 2: 3.0, 3: 4.0}


@pytest.mark.parametrize("workers", [1, 2])
def test_errors_propagate_with_the_item_index(workers):
    with pytest.raises(ValueError, match="math domain error") as info:
        pmap(math.sqrt, [1.0, -1.0, 4.0], workers=workers, progress=False)
    assert any("item 1" in note for note in getattr(info.value, "__notes__", []))


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers"):
        pmap(abs, [1], workers=0)


def test_chunksize_must_be_positive():
    with pytest.raises(ValueError, match="chunksize"):
        pmap(abs, [1, 2], workers=2, chunksize=0)


@pytest.mark.parametrize("chunksize", [None, 1, 3, 50])
def test_chunks_keep_order_and_name_the_failing_item(chunksize):
    items = [float(i) for i in range(40)]
    assert pmap(math.sqrt, items, workers=2, chunksize=chunksize, progress=False) == [
        math.sqrt(x) for x in items
    ]
    items[29] = -1.0
    with pytest.raises(ValueError, match="math domain error") as info:
        pmap(math.sqrt, items, workers=2, chunksize=chunksize, progress=False)
    assert "(raised while processing item 29)" in getattr(info.value, "__notes__", [])


_pid = partial(eval, "__import__('os').getpid()")


def test_pool_is_reused_across_calls():
    pids = warm_up(2)
    assert len(pids) == 2 and os.getpid() not in pids
    first = set(pmap(_pid, [None] * 8, workers=2, progress=False))
    second = set(pmap(_pid, [None] * 8, workers=2, progress=False))
    assert first | second <= set(pids)  # no new process was started
    assert warm_up(2) == pids


def test_a_killed_worker_is_replaced_on_the_next_call():
    victim, survivor = warm_up(2)
    os.kill(victim, signal.SIGKILL)
    _wait_until_dead(victim)
    assert pmap(operator.neg, range(10), workers=2, progress=False) == [-i for i in range(10)]
    fresh = warm_up(2)
    assert victim not in fresh and survivor not in fresh  # the whole broken pool was replaced


def test_warm_up_replaces_a_pool_that_looked_healthy_but_lost_a_worker(monkeypatch):
    victim, survivor = warm_up(2)
    os.kill(victim, signal.SIGKILL)
    _wait_until_dead(victim)
    # As when the pool's thread has reaped the dead worker before anyone looked: reused as is.
    monkeypatch.setattr(parallel, "_usable", lambda pool: True)
    fresh = warm_up(2, timeout=60)
    assert len(fresh) == 2 and victim not in fresh and survivor not in fresh


_thread_settings = partial(
    eval,
    "(__import__('os').environ['NUMBA_NUM_THREADS'], __import__('torch').get_num_threads())",
)


def test_shutdown_stops_the_workers_and_new_ones_are_pinned(monkeypatch):
    pids = warm_up(2)
    parallel.shutdown()
    for pid in pids:
        _wait_until_dead(pid)
    # The new workers are pinned whatever this process asks for itself.
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    assert pmap(operator.neg, [1, 2, 3], workers=2, progress=False) == [-1, -2, -3]
    assert os.environ["OMP_NUM_THREADS"] == "2"  # and this process is left as it was
    assert set(warm_up(2)).isdisjoint(pids)
    assert pmap(_thread_settings, [None] * 4, workers=2, progress=False) == [("1", 1)] * 4


def _wait_until_dead(pid, timeout=30.0):
    """Wait until ``pid`` is gone or a zombie (Linux /proc); elsewhere, a short sleep."""
    status = f"/proc/{pid}/status"
    if not os.path.exists("/proc/self/status"):  # pragma: no cover - not Linux
        time.sleep(1.0)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(status) as f:
                state = next(line for line in f if line.startswith("State:"))
        except (FileNotFoundError, ProcessLookupError):
            return
        if "Z" in state.split()[1]:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} still alive after {timeout} s")


# A picklable function the spawned workers can import: nothing from this test module.
_torch_threads = partial(eval, "__import__('torch').get_num_threads()")


def test_local_workers_run_single_threaded():
    assert pmap(_torch_threads, [None, None], workers=2, progress=False) == [1, 1]


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        processes=True,
    ) as cluster:
        yield cluster


def test_dask_cluster_by_address(cluster):
    assert pmap(operator.neg, range(6), scheduler=cluster.scheduler_address) == [
        0,
        -1,
        -2,
        -3,
        -4,
        -5,
    ]


def test_dask_cluster_runs_a_tdgl_sweep_like_local_workers(cluster, tmp_path):
    from topophys.data import open_fields
    from topophys.simulate.sweep import TDGLSweepConfig, run_tdgl_sweep
    from topophys.simulate.tdgl import TDGLConfig

    config = TDGLSweepConfig(
        tdgl=TDGLConfig(size=16, dt=0.05, t_end=10.0, n_snapshots=4),
        alphas=(1.0, 2.0, 3.0),
        seeds=(0,),
        batch_size=1,
    )
    run_tdgl_sweep(
        config, tmp_path / "dask.zarr", scheduler=cluster.scheduler_address, progress=False
    )
    run_tdgl_sweep(config, tmp_path / "local.zarr", workers=1, progress=False)
    dask_ds, local_ds = open_fields(tmp_path / "dask.zarr"), open_fields(tmp_path / "local.zarr")
    assert dask_ds["done"].values.all()
    np.testing.assert_array_equal(dask_ds["phi"].values, local_ds["phi"].values)


def test_bad_scheduler_type():
    pytest.importorskip("distributed")
    with pytest.raises(TypeError, match="scheduler"):
        pmap(abs, [1, 2], scheduler=42)


def test_dask_cluster_computes_a_diagram_batch_like_local_runs(cluster, tmp_path):
    from topophys.data import FieldStore
    from topophys.data.diagram_store import compute_field_diagrams
    from topophys.homology import CubicalPersistence

    rng = np.random.default_rng(0)
    fields = rng.standard_normal((3, 2, 12, 12))
    local = CubicalPersistence(periodic=True).transform(fields.reshape(6, 12, 12))
    on_dask = CubicalPersistence(periodic=True, scheduler=cluster.scheduler_address)
    assert on_dask.transform(fields.reshape(6, 12, 12)) == local
    # the resumable store: each run's snapshots read and computed by a Dask worker
    store = FieldStore.create(
        tmp_path / "fields.zarr",
        alpha=np.arange(3.0),
        seed=np.zeros(3, dtype=int),
        t=np.arange(2.0),
        h=np.zeros(2),
        shape=(12, 12),
    )
    store.write_runs([0, 1, 2], fields, np.zeros(3))
    stored = compute_field_diagrams(
        tmp_path / "fields.zarr",
        tmp_path / "d.zarr",
        CubicalPersistence(periodic=True),
        scheduler=cluster.scheduler_address,
        progress=False,
    )
    serial = compute_field_diagrams(
        tmp_path / "fields.zarr",
        tmp_path / "serial.zarr",
        CubicalPersistence(periodic=True),
        progress=False,
    )
    assert stored == serial


def test_dask_cluster_computes_the_atomic_descriptor_batch_like_local_runs(cluster, tmp_path):
    pytest.importorskip("ase")
    from ase.build import bulk

    from topophys.data.diagram_store import compute_atoms_diagrams
    from topophys.descriptors.ph import DescriptorConfig, ph_descriptor
    from topophys.homology import AlphaPersistence

    frames = []
    for seed in range(4):
        atoms = bulk("C", "diamond", a=3.567, cubic=True).repeat(2)
        atoms.rattle(0.1, seed=seed)
        frames.append(atoms)
    local = AlphaPersistence().transform(frames)
    assert AlphaPersistence(scheduler=cluster.scheduler_address).transform(frames) == local
    stored = compute_atoms_diagrams(
        frames, tmp_path / "a.zarr", chunk_size=2, scheduler=cluster.scheduler_address
    )
    assert stored == local
    config = DescriptorConfig(bins=16)
    x_local = ph_descriptor(config).fit_transform(frames)
    pipe = ph_descriptor(config)
    pipe.set_params(diagrams__scheduler=cluster.scheduler_address)
    np.testing.assert_array_equal(pipe.fit_transform(frames), x_local)


def test_dask_cluster_generates_mlpot_frames_like_local_runs(cluster, tmp_path):
    from topophys.data.structures import read_structures
    from topophys.simulate.amorphous import MeltQuenchConfig, run_melt_quench

    # the pure-Python engine's tiny protocol (about a second per run): what the mlpot pipeline
    # runs to generate its frames, one run per task
    config = MeltQuenchConfig(
        n_atoms=8,
        densities=(2.5, 3.0),
        runs=1,
        time_scale=0.0025,
        snapshots=(0, 2, 2, 1, 2),
        engine="ase",
    )
    dask_paths = run_melt_quench(
        config, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False
    )
    local_paths = run_melt_quench(config, tmp_path / "local", progress=False)
    assert len(dask_paths) == len(local_paths) == 2
    for a, b in zip(dask_paths, local_paths, strict=True):
        fa, fb = read_structures(a), read_structures(b)
        assert len(fa) == len(fb) == config.frames_per_run
        for x, y in zip(fa, fb, strict=True):
            np.testing.assert_array_equal(x.get_positions(), y.get_positions())
            assert x.get_potential_energy() == y.get_potential_energy()


def test_field_diagram_store_spreads_snapshots_over_threads(tmp_path):
    from topophys.data import FieldStore
    from topophys.data.diagram_store import compute_field_diagrams
    from topophys.homology import CubicalPersistence

    fields = np.random.default_rng(1).standard_normal((3, 4, 10, 10))
    FieldStore.create(
        tmp_path / "fields.zarr",
        alpha=np.arange(3.0),
        seed=np.zeros(3, dtype=int),
        t=np.arange(4.0),
        h=np.zeros(4),
        shape=(10, 10),
    ).write_runs([0, 1, 2], fields, np.zeros(3))
    parallel.shutdown()
    transformer = CubicalPersistence(periodic=True)
    two = compute_field_diagrams(
        tmp_path / "fields.zarr", tmp_path / "two.zarr", transformer, workers=2, progress=False
    )
    assert not parallel._pools  # threads, no process pool
    one = compute_field_diagrams(
        tmp_path / "fields.zarr", tmp_path / "one.zarr", transformer, progress=False
    )
    stored = fields.astype(np.float32).reshape(12, 10, 10)  # the store keeps float32
    assert two == one == transformer.transform(stored)


def test_an_unguarded_script_is_told_about_the_main_guard(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from topophys.parallel import pmap\n"
        "print(pmap(abs, [-1, -2, -3], workers=2))\n"  # no `if __name__ == "__main__":`
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert 'if __name__ == "__main__":' in out.stderr


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """A run killed with SIGKILL (no exit handler runs) leaves no worker computing for nobody."""
    import subprocess
    import sys

    pids = tmp_path / "pids.txt"
    script = tmp_path / "killed_parent.py"
    script.write_text(
        "import os, time\n"
        "from topophys import parallel\n"
        "if __name__ == '__main__':\n"
        "    pool = parallel._pool(2)\n"
        "    futures = [pool.submit(parallel._sleepy_pid, 600) for _ in range(2)]\n"
        "    workers = [p.pid for p in pool._processes.values()]\n"
        f"    open({str(pids)!r}, 'w').write(' '.join(map(str, workers)))\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text().strip()):
            assert time.monotonic() < deadline, "the pool did not start"
            assert parent.poll() is None, "the script failed"
            time.sleep(0.2)
        workers = [int(p) for p in pids.read_text().split()]
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, 0)  # alive while the parent lives
    finally:
        parent.kill()
        parent.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie has exited; it lingers only until init reaps it.
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 10 * parallel.ORPHAN_POLL_SECONDS + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in workers if alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
