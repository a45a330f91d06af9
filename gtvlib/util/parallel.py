"""Worker processes: one pool helper for CPU-bound work split by patient (cohort generation, recurrence features).

Workers are forked and die with their parent on Linux, so a killed run leaves no worker rendering on.
"""

from __future__ import annotations

import os


def worker_count(workers: int | None, jobs: int, ceiling: int = 8) -> int:
    """Processes to use: ``workers``, or the CPU count when None, at most ``ceiling`` and the number of jobs."""
    return max(1, min(workers or os.cpu_count() or 1, ceiling, jobs))


def process_pool(workers: int):
    """A :class:`concurrent.futures.ProcessPoolExecutor` whose workers end when this process does."""
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent, initargs=(os.getpid(),))


def _die_with_parent(parent_pid: int) -> None:
    """In a pool worker: ask Linux to end this process when its parent dies (a killed generation must not leave
    workers rendering on); elsewhere the pool's own shutdown applies."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before the request took effect
            os._exit(1)


def spawn_pool(workers: int):
    """A :class:`concurrent.futures.ProcessPoolExecutor` of freshly started (spawned) interpreters, for training
    runs: a forked child of a process whose torch thread pools have started can hang in them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` processes sharing this machine's CPUs (at least 1)."""
    return max((os.cpu_count() or 1) // workers, 1)
