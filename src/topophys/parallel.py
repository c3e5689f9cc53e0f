"""Map a function over items on local worker processes or on a Dask distributed cluster.

Parallelism comes from processes, never from threads inside one process: every local worker
pins BLAS and torch to a single thread (on a 2-core machine oversubscription made steps 10–90×
slower). Results arrive as they complete, so a caller can persist each one at once and lose no
finished work if the job is killed.

Examples
--------
>>> from topophys.parallel import pmap
>>> pmap(abs, [-1, -2, 3])
[1, 2, 3]
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any, TypeVar

from tqdm.auto import tqdm

from . import _validate

T = TypeVar("T")
R = TypeVar("R")

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin_threads() -> None:
    """Restrict BLAS and torch in this process to one thread."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        return
    torch.set_num_threads(1)
    # Interop threads can be set only once per process; a second call raises.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _call_pinned(fn: Callable[[T], R], item: T) -> R:
    pin_threads()
    return fn(item)


def as_completed(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    scheduler: Any = None,
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
        Ignored when ``scheduler`` is given.
    scheduler
        A Dask distributed scheduler address (``"tcp://HOST:PORT"``) or a
        ``distributed.Client``. Work then runs on that cluster's workers.
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
        pending work is cancelled.
    """
    items = list(items)
    workers = _validate.positive_int("workers", workers)
    disable = None if progress is None else not progress
    with tqdm(total=len(items), desc=desc, disable=disable, leave=False) as bar:
        if scheduler is not None:
            source = _dask_as_completed(fn, items, scheduler)
        elif workers == 1 or len(items) <= 1:
            source = _serial(fn, items)
        else:
            source = _processes(fn, items, workers)
        for index, result in source:
            bar.update(1)
            yield index, result


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    scheduler: Any = None,
    desc: str | None = None,
    progress: bool | None = None,
) -> list[R]:
    """Like :func:`as_completed` but return the results as a list in the order of ``items``."""
    items = list(items)
    out: list[Any] = [None] * len(items)
    for index, result in as_completed(
        fn, items, workers=workers, scheduler=scheduler, desc=desc, progress=progress
    ):
        out[index] = result
    return out


def _serial(fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
    for index, item in enumerate(items):
        try:
            result = fn(item)
        except Exception as err:
            _annotate(err, index)
            raise
        yield index, result


def _processes(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[tuple[int, R]]:
    # spawn, not fork: forking a process whose OpenMP/torch threads are running can deadlock.
    previous = {var: os.environ.get(var) for var in _THREAD_VARS}
    for var in _THREAD_VARS:
        os.environ[var] = "1"  # inherited by the spawned workers before they import numpy/torch
    try:
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(items)),
            mp_context=get_context("spawn"),
            initializer=pin_threads,
        )
    finally:
        for var, value in previous.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    futures: dict[Future[R], int] = {}
    try:
        futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=futures.__getitem__):
                err = future.exception()
                if err is not None:
                    _annotate(err, futures[future])
                    raise err
                yield futures[future], future.result()
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _dask_as_completed(
    fn: Callable[[T], R], items: Sequence[T], scheduler: Any
) -> Iterator[tuple[int, R]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_as_completed
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "scheduler= needs Dask distributed: pip install 'topophys[dist]'"
        ) from err
    if isinstance(scheduler, Client):
        client, owned = scheduler, False
    elif isinstance(scheduler, str):
        client, owned = Client(scheduler, set_as_default=False), True
    else:
        raise TypeError(
            f"scheduler must be an address like 'tcp://HOST:PORT' or a distributed.Client, "
            f"got {type(scheduler).__name__}"
        )
    try:
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
