"""Several correctness runs at once on this machine; timed runs still one at a time.

Correctness runs (the equivalence round, `check`) only need each run's outputs,
so they may share the machine; timed runs never do, or the ratios measure the
neighbours. The cores are split so that jobs × threads ≤ cores: each parallel
run gets OMP/MKL threads = cores // jobs (the thread count is part of the run
key and the child environment, so a parallel run is recognised as what it was).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from harness.environment import usable_cores
from harness.executors import Executor, Outcome, RunSpec

log = logging.getLogger(__name__)

#: Called in the caller's thread as each run finishes: (index into specs, its outcome).
Done = Callable[[int, Outcome], None]


def split_cores(jobs: int, threads: int, cores: int) -> tuple[int, int]:
    """(runs at once, threads per run) with runs × threads ≤ cores, as close to what was asked as fits."""
    jobs = max(1, min(jobs, cores))
    return jobs, max(1, min(threads, cores // jobs))


class PoolExecutor:
    """Wraps a one-at-a-time executor: `run` stays serial (timing), `run_many` fans out (correctness)."""

    def __init__(self, inner: Executor, jobs: int = 0, cores: int | None = None) -> None:
        self.inner, self.name = inner, inner.name
        self.cores = cores or usable_cores()
        self.jobs = split_cores(jobs or self.cores, 1, self.cores)[0]
        if self.jobs < jobs:
            log.info("--jobs %d on %d cores: running %d at a time", jobs, self.cores, self.jobs)
        self._timed = threading.Lock()

    def run(self, spec: RunSpec) -> Outcome:
        """A timed run: alone, whoever else calls (never two timed runs at once)."""
        with self._timed:
            return self.inner.run(spec)

    def close(self) -> None:
        """Whatever the inner executor holds for the compare's life (warm-start servers)."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def run_threads(self, threads: int) -> int:
        """The thread count each of `run_many`'s runs gets: jobs × threads ≤ cores (one job: as asked)."""
        return threads if self.jobs == 1 else split_cores(self.jobs, threads, self.cores)[1]

    def _abort_running(self) -> None:
        """Stop the runs in flight, where the inner executor can (else leaving the pool waits for them)."""
        abort = getattr(self.inner, "abort", None)
        if abort is not None:
            abort()

    def run_many(self, specs: Sequence[RunSpec], done: Done | None = None) -> list[Outcome]:
        """Run every spec, up to `jobs` at once; `done` hears of each as it finishes, in the caller's thread."""
        outcomes: list[Outcome | None] = [None] * len(specs)
        with self._timed, ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="evalharness-run") as pool:
            futures = {pool.submit(self.inner.run, spec): i for i, spec in enumerate(specs)}
            try:
                for future in as_completed(futures):
                    i = futures[future]
                    outcomes[i] = future.result()
                    if done is not None:
                        done(i, outcomes[i])
            except BaseException:
                for future in futures:  # an infrastructure failure (or ^C): start nothing more
                    future.cancel()
                self._abort_running()
                raise
        return [o for o in outcomes if o is not None]
