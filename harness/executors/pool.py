"""Several correctness runs at once on this machine; timed runs still one at a time.

Correctness runs (the equivalence round, `check`) only need each run's outputs,
so they may share the machine; timed runs never do, or the ratios measure the
neighbours. Every run of a compare gets the same thread count (the timed
runs'): the thread variables are part of what a run can see, and a run that
could tell a checked round from a timed one could compute honestly only when
checked. So the pool runs as many at once as the cores hold at that count
(cores // threads, at least one) unless --jobs says otherwise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from harness.environment import usable_cores
from harness.executors import Done, Executor, Outcome, RunSpec

log = logging.getLogger(__name__)


def default_jobs(threads: int, cores: int) -> int:
    """Runs at once when --jobs is 0: as many as fit the cores at the runs' thread count."""
    return max(1, cores // max(1, threads))


class PoolExecutor(Executor):
    """Wraps a one-at-a-time executor: `run` stays serial (timing), `run_many` fans out (correctness)."""

    def __init__(self, inner: Executor, jobs: int = 0, cores: int | None = None, threads: int = 1) -> None:
        self.inner, self.name = inner, inner.name
        self.cores = cores or usable_cores()
        self.jobs = jobs or default_jobs(threads, self.cores)
        if self.jobs * threads > self.cores:
            log.info("--jobs %d × %d threads on %d cores: correctness runs share cores (their times are not used)",
                     self.jobs, threads, self.cores)
        self._timed = threading.Lock()

    def run(self, spec: RunSpec) -> Outcome:
        """A timed run: alone, whoever else calls (never two timed runs at once)."""
        with self._timed:
            return self.inner.run(spec)

    def close(self) -> None:
        """Whatever the inner executor holds for the compare's life (warm-start servers)."""
        self.inner.close()

    def abort(self) -> None:
        """Stop the runs in flight, where the inner executor can (else leaving the pool waits for them)."""
        self.inner.abort()

    def run_many(self, specs: Sequence[RunSpec], done: Done | None = None) -> list[Outcome]:
        """Run every spec, up to `jobs` at once, each in a worker thread through the inner executor's `run`;
        `done` hears of each as it finishes, in the caller's thread (the contract of Executor.run_many)."""
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
                self.abort()
                raise
        return [o for o in outcomes if o is not None]
