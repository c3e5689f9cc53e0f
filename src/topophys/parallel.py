"""Map a function over items on local worker processes or on a Dask distributed cluster.

Parallelism comes from processes, never from threads inside one process: every local worker
pins BLAS, OpenMP, numba and torch to a single thread (on a 2-core machine oversubscription made
steps 10–90× slower). Results arrive as they complete, so a caller can persist each one at once
and lose no finished work if the job is killed.

Local pools are persistent: the first call with ``workers=n`` starts ``n`` spawned processes
(seconds: each imports numpy and torch) and later calls with the same ``n`` reuse them. A pool
whose worker died (killed, out of memory, crashed) is replaced on the next call. Pools are shut
down when the interpreter exits, or at once by :func:`shutdown`. A worker whose parent process
dies (killed with SIGTERM or SIGKILL, which no exit handler sees) exits within
:data:`ORPHAN_POLL_SECONDS` instead of finishing its task for nobody: Lightning, which the
training tasks run, handles SIGTERM itself, so the workers used to outlive a killed run and hold
the CPUs for hours.

Small items are sent to the workers in chunks so that pickling and scheduling, about a
millisecond per task, do not dominate: by default the chunk size adapts to the time the items
take, aiming at about :data:`TARGET_CHUNK_SECONDS` per chunk.

Examples
--------
>>> from topophys.parallel import pmap
>>> pmap(abs, [-1, -2, 3])
[1, 2, 3]
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from multiprocessing.connection import wait as _ready
from typing import Any, TypeVar

from tqdm.auto import tqdm

from . import _validate

__all__ = [
    "CONNECT_TIMEOUT",
    "TARGET_CHUNK_SECONDS",
    "as_completed",
    "connect",
    "pin_threads",
    "pmap",
    "shutdown",
    "warm_up",
]

T = TypeVar("T")
R = TypeVar("R")

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")

#: Wall time (seconds) an automatically sized chunk aims at: long enough that the ~1 ms cost of a
#: task is a few per cent, short enough that results still stream and the last chunks balance.
TARGET_CHUNK_SECONDS = 0.05

#: Seconds :func:`connect` waits for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT = 8.0

# A scheduler address: [protocol://]host:port, host a name, IPv4 or [IPv6]. Without a port a
# Dask client would resolve and retry a bare word (e.g. a typo) for minutes.
_ADDRESS = re.compile(
    r"^(?:(?P<protocol>tcp|tls|ws|wss|ucx)://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\])"
    r":(?P<port>\d{1,5})$"
)

# Chunks kept in flight per worker: one running and one queued, so a worker never waits for the
# parent to send its next chunk.
_IN_FLIGHT_PER_WORKER = 2

_pools: dict[int, ProcessPoolExecutor] = {}
_pools_owner = os.getpid()
_pools_lock = threading.Lock()


def pin_threads() -> None:
    """Restrict BLAS, OpenMP, numba and torch in this process to one thread."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:
        # Reaches thread pools of libraries already loaded, which no longer read the variables.
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    else:
        threadpool_limits(limits=1)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.set_num_threads(1)
    # Interop threads can be set only once per process; a second call raises.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


ORPHAN_POLL_SECONDS = 1.0
"""How often a local worker checks that the process that started it is still its parent."""


def _exit_when_orphaned(parent: int, poll: float) -> None:
    """Body of the workers' watchdog thread: end the process once ``parent`` is gone."""
    while os.getppid() == parent:
        time.sleep(poll)
    # os._exit, not sys.exit: the main thread is busy in a task, and nobody awaits its result.
    os._exit(1)


def _pin_worker(parent: int | None = None) -> None:
    """Initializer of local workers: pin like :func:`pin_threads`, without importing torch,
    and start the watchdog that ends the worker when ``parent`` (the pid of the process that
    started the pool; its own parent if None) is no longer its parent.

    The workers are spawned with the thread variables set to 1 (see :func:`_pool`), which torch
    reads when it is first imported; importing it here only to pin it would add seconds to the
    start of every worker that never uses it.
    """
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    if "torch" in sys.modules:
        pin_threads()
    threading.Thread(
        target=_exit_when_orphaned,
        # The parent's pid comes from the parent: one killed while this worker was still
        # importing has already handed it to init, and os.getppid() would watch init.
        args=(os.getppid() if parent is None else parent, ORPHAN_POLL_SECONDS),
        name="topophys-orphan-watchdog",
        daemon=True,
    ).start()


def _call_pinned(fn: Callable[[T], R], item: T) -> R:
    pin_threads()
    return fn(item)


def connect(scheduler: Any, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` of the Dask scheduler at ``scheduler``, or a clear error.

    Parameters
    ----------
    scheduler
        An address ``"tcp://HOST:PORT"`` (``tls://``, ``ws://``, ``wss://``, ``ucx://`` too; the
        protocol may be left out) or a ``distributed.Client``, returned as it is.
    timeout
        Seconds to wait for the scheduler to answer (default :data:`CONNECT_TIMEOUT`).

    Raises
    ------
    ValueError
        If ``scheduler`` is not an address of that form (checked before any network access).
    ConnectionError
        If no scheduler answers at the address within ``timeout`` seconds.
    ImportError
        If Dask distributed is not installed.
    """
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scheduler= needs Dask distributed: pip install 'topophys[dist]'"
        ) from err
    if isinstance(scheduler, Client):
        return scheduler
    if not isinstance(scheduler, str):
        raise TypeError(
            "scheduler must be an address like 'tcp://HOST:PORT' or a distributed.Client, "
            f"got {type(scheduler).__name__}"
        )
    timeout = _validate.positive("timeout", CONNECT_TIMEOUT if timeout is None else timeout)
    match = _ADDRESS.match(scheduler.strip())
    if match is None or not 0 < int(match["port"]) < 65536:
        raise ValueError(
            f"scheduler {scheduler!r} is not a Dask scheduler address; expected "
            "tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786), as printed by `dask scheduler`"
        )
    address = scheduler.strip() if match["protocol"] else f"tcp://{scheduler.strip()}"
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ConnectionError(
            f"scheduler: no Dask scheduler answered at {address} within {timeout:g} s "
            f"({' '.join(str(err).split())[:200]}); start one with `dask scheduler`, or check "
            "the address and the network"
        ) from None


def as_completed(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    scheduler: Any = None,
    chunksize: int | None = None,
    desc: str | None = None,
    progress: bool | None = None,
) -> Iterator[tuple[int, R]]:
    """Apply ``fn`` to each item and yield ``(index, result)`` as each one finishes.

    Parameters
    ----------
    fn
        A picklable function of one argument (module-level, or a ``functools.partial`` of one).
    items
        The inputs; their positions are the indices yielded back.
    workers
        Number of local worker processes. ``1`` runs in this process, in order, without pickling.
        Ignored when ``scheduler`` is given. The pool of ``workers`` processes is started on
        first use and kept for later calls.
    scheduler
        A Dask distributed scheduler address (``"tcp://HOST:PORT"``) or a
        ``distributed.Client``. Work then runs on that cluster's workers, one task per item.
    chunksize
        Items sent to a local worker per task. ``None`` (default) adapts it: the first items go
        one by one, then chunks are sized from the measured time per item to take about
        :data:`TARGET_CHUNK_SECONDS`, never so large that fewer than two chunks per worker
        remain. Results of a chunk are yielded when the whole chunk is done.
    desc
        Label of the progress bar.
    progress
        ``True`` always shows a progress bar, ``False`` never, ``None`` only on a terminal.

    Yields
    ------
    tuple of (int, result)
        The item's position in ``items`` and ``fn(item)``.

    Raises
    ------
    Exception
        The first exception raised by ``fn``, with a note naming the failing item's index;
        pending work is cancelled (items already running on a worker finish in the background).
    concurrent.futures.process.BrokenProcessPool
        If a local worker process died; the next call starts a fresh pool.
    """
    items = list(items)
    workers = _check_workers(workers)
    if chunksize is not None:
        chunksize = _validate.positive_int("chunksize", chunksize)
    disable = None if progress is None else not progress
    with tqdm(total=len(items), desc=desc, disable=disable, leave=False) as bar:
        if scheduler is not None:
            source = _dask_as_completed(fn, items, scheduler)
        elif workers == 1 or len(items) <= 1:
            source = _serial(fn, items)
        else:
            source = _processes(fn, items, workers, chunksize)
        for index, result in source:
            bar.update(1)
            yield index, result


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    scheduler: Any = None,
    chunksize: int | None = None,
    desc: str | None = None,
    progress: bool | None = None,
) -> list[R]:
    """Like :func:`as_completed` but return the results as a list in the order of ``items``."""
    items = list(items)
    out: list[Any] = [None] * len(items)
    for index, result in as_completed(
        fn,
        items,
        workers=workers,
        scheduler=scheduler,
        chunksize=chunksize,
        desc=desc,
        progress=progress,
    ):
        out[index] = result
    return out


def warm_up(workers: int, timeout: float = 120.0) -> list[int]:
    """Start (or reuse) the local pool of ``workers`` processes and wait until all are ready.

    Useful before timing work, so the seconds it takes to start the processes are not counted.

    Parameters
    ----------
    workers
        Pool size, as the ``workers`` argument of :func:`pmap`.
    timeout
        Seconds to wait for every worker to answer.

    Returns
    -------
    list of int
        The process ids of the pool's workers, sorted.

    Raises
    ------
    TimeoutError
        If not every worker answered within ``timeout`` seconds.
    """
    workers = _check_workers(workers)
    timeout = _validate.positive("timeout", timeout)
    pool = _pool(workers)
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    replaced = False
    # A task that sleeps a little is not picked up twice by the same idle worker while the others
    # are starting, so every worker ends up answering once it is ready.
    while len(seen) < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(seen)} of {workers} workers answered in {timeout} s")
        try:
            futures = [pool.submit(_sleepy_pid, 0.02) for _ in range(2 * workers)]
            pids = [f.result(timeout=max(deadline - time.monotonic(), 0.001)) for f in futures]
        except (BrokenProcessPool, RuntimeError):
            if replaced:
                raise
            # A worker of the reused pool died and the pool's own thread had already reaped it,
            # so it looked healthy: start a fresh pool, once.
            replaced = True
            _discard(pool)
            pool = _pool(workers, replace=True)
            seen.clear()
            continue
        seen.update(pids)
    return sorted(seen)


def shutdown() -> None:
    """Stop every local worker pool (a later call starts new ones).

    Waits for tasks already running; queued ones are cancelled. Registered to run at exit.
    """
    with _pools_lock:
        pools = list(_pools.values()) if os.getpid() == _pools_owner else []
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown)


def _check_workers(workers: Any) -> int:
    return _validate.workers("workers", workers)


def _sleepy_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@contextlib.contextmanager
def _pinned_environ() -> Iterator[None]:
    """Set the thread variables to 1 for the duration, so spawned children inherit them before
    they import numpy or torch (libraries read them once, when loaded)."""
    previous = {var: os.environ.get(var) for var in _THREAD_VARS}
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:
        yield
    finally:
        for var, value in previous.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def _usable(pool: ProcessPoolExecutor) -> bool:
    # ProcessPoolExecutor has no public health check. Its manager thread marks the pool broken
    # soon after a worker dies; looking at the processes themselves also catches a death it has
    # not noticed yet. Both attributes exist in CPython 3.9-3.13; if they go away, a broken pool
    # is still caught when submit() raises.
    if getattr(pool, "_broken", False) or getattr(pool, "_shutdown_thread", False):
        return False
    processes = list((getattr(pool, "_processes", None) or {}).values())
    # A process's sentinel becomes ready when it exits. is_alive() is not enough: once the
    # pool's own thread has reaped a killed worker, is_alive() reports it alive again.
    try:
        return not _ready([p.sentinel for p in processes], timeout=0)
    except (AttributeError, ValueError, OSError):
        return False


def _pool(workers: int, *, replace: bool = False) -> ProcessPoolExecutor:
    """The persistent pool of ``workers`` processes, started or replaced as needed."""
    global _pools_owner
    stale: ProcessPoolExecutor | None = None
    with _pools_lock:
        if os.getpid() != _pools_owner:
            # A forked child inherited its parent's pools, whose workers are not its children.
            _pools.clear()
            _pools_owner = os.getpid()
        pool = _pools.get(workers)
        if pool is not None and (replace or not _usable(pool)):
            stale, pool = pool, None
            del _pools[workers]
        if pool is None:
            with _pinned_environ():
                # spawn, not fork: forking a process whose OpenMP/torch threads run can deadlock.
                pool = ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=get_context("spawn"),
                    initializer=_pin_worker,
                    initargs=(os.getpid(),),
                )
                # Spawned pools start workers on demand, one per submit while none is idle:
                # start them all now, while the variables above are set.
                for _ in range(workers):
                    pool.submit(os.getpid)
            _pools[workers] = pool
    if stale is not None:
        stale.shutdown(wait=False, cancel_futures=True)
    return pool


def _discard(pool: ProcessPoolExecutor) -> None:
    """Forget ``pool`` if it is still the registered one, so the next call starts a fresh one."""
    with _pools_lock:
        for key, value in list(_pools.items()):
            if value is pool:
                del _pools[key]
    pool.shutdown(wait=False, cancel_futures=True)


def _run_chunk(fn: Callable[[T], R], start: int, items: Sequence[T]) -> tuple[list[R], float]:
    """In a worker: ``fn`` of each item (indices from ``start``) and the seconds it all took."""
    t0 = time.perf_counter()
    out = []
    for offset, item in enumerate(items):
        try:
            out.append(fn(item))
        except Exception as err:
            # Annotated here, where the index is known; the note travels back with the pickle.
            _annotate(err, start + offset)
            raise
    return out, time.perf_counter() - t0


def _serial(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    for index, item in enumerate(items):
        try:
            result = fn(item)
        except Exception as err:
            _annotate(err, index)
            raise
        yield index, result


@dataclass
class _Schedule:
    """What :func:`_processes` has sent out and got back so far."""

    next: int = 0  # the first item not yet submitted
    seconds: float = 0.0  # worker seconds spent on the items done
    done: int = 0  # items whose results came back


def _processes(
    fn: Callable[[T], R], items: Sequence[T], workers: int, chunksize: int | None
) -> Iterator[tuple[int, R]]:
    n = len(items)
    pool = _pool(workers)
    futures: dict[Future[tuple[list[R], float]], int] = {}
    state = _Schedule()

    def next_size() -> int:
        if chunksize is not None:
            return chunksize
        if state.done == 0:
            return 1  # nothing measured yet
        per_item = max(state.seconds / state.done, 1e-9)
        remaining = n - state.next
        balanced = math.ceil(remaining / (_IN_FLIGHT_PER_WORKER * workers))
        return max(1, min(int(TARGET_CHUNK_SECONDS / per_item), balanced))

    def submit_more() -> None:
        nonlocal pool
        while state.next < n and len(futures) < _IN_FLIGHT_PER_WORKER * workers:
            start = state.next
            stop = min(n, start + next_size())
            try:
                future = pool.submit(_run_chunk, fn, start, items[start:stop])
            except (BrokenProcessPool, RuntimeError):
                if futures or start:
                    raise
                # The pool broke or was shut down before this call sent anything: replace it.
                pool = _pool(workers, replace=True)
                future = pool.submit(_run_chunk, fn, start, items[start:stop])
            futures[future] = start
            state.next = stop

    retried = False
    try:
        submit_more()
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                start = futures.pop(future)
                err = future.exception()
                if isinstance(err, BrokenProcessPool) and not retried and state.done == 0:
                    # A worker of the reused pool died before this call got any result (e.g.
                    # killed between calls, before the pool noticed): start a fresh pool and
                    # send everything again, once. A second death is the call's own fault.
                    retried = True
                    for other in futures:
                        other.cancel()
                    futures.clear()
                    _discard(pool)
                    pool = _pool(workers, replace=True)
                    state.next = 0
                    submit_more()
                    break
                if isinstance(err, BrokenProcessPool):
                    _discard(pool)
                    if hasattr(err, "add_note"):
                        err.add_note(
                            f"(a worker process died while items from {start} on were being "
                            "processed; the next call starts a fresh pool)"
                        )
                        if state.done == 0 and _main_is_a_script():
                            err.add_note(_GUARD_NOTE)
                    raise err
                if err is not None:
                    raise err
                results, seconds = future.result()
                state.seconds += seconds
                state.done += len(results)
                for offset, result in enumerate(results):
                    yield start + offset, result
            submit_more()
    finally:
        for future in futures:
            future.cancel()


_GUARD_NOTE = (
    "(every worker died before returning anything. Workers are spawned and import the main "
    "script again: a script that calls topophys with workers > 1 must do so under "
    '`if __name__ == "__main__":`, or each worker starts the work over and dies)'
)


def _main_is_a_script() -> bool:
    """Whether ``__main__`` is a Python file that spawned workers re-import (not ``python -c``,
    a console-script entry point or an interactive session)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return bool(path) and str(path).endswith(".py") and getattr(main, "__spec__", None) is None


# Items at least this large travel to Dask workers once, scattered, not inside the task graph.
_SCATTER_BYTES = 1 << 20


def _dask_as_completed(
    fn: Callable[[T], R], items: Sequence[T], scheduler: Any
) -> Iterator[tuple[int, R]]:
    client = connect(scheduler)
    owned = client is not scheduler
    from distributed import as_completed as dask_as_completed

    try:
        items = [
            client.scatter(item) if getattr(item, "nbytes", 0) >= _SCATTER_BYTES else item
            for item in items
        ]
        futures = client.map(_call_pinned, [fn] * len(items), items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            # distributed.as_completed looks the client up as the current one.
            with client.as_current():
                for future in dask_as_completed(futures):
                    i = index[future.key]
                    try:
                        result = future.result()
                    except Exception as err:
                        _annotate(err, i)
                        raise
                    future.release()
                    yield i, result
        finally:
            client.cancel(futures)
    finally:
        if owned:
            client.close()


def _annotate(err: BaseException, index: int) -> None:
    if hasattr(err, "add_note"):
        err.add_note(f"(raised while processing item {index})")
