"""Stage 2's seam: one interface for "run this spec, return what happened".

Everything that decides *what* to run (rounds, resume, keys) is elsewhere; an
executor only runs one spec and reports the harness's own observations of it
(hyperfine's Executor). `LocalExecutor` runs a real subprocess; `FakeExecutor`
plays a scripted run for tests, so verdict logic is tested with scripted
timings instead of sleeps. `PoolExecutor` (pool.py) and `RayExecutor`
(ray.py) add `run_many(specs, done)` for correctness runs that may go at once,
with `run_threads(threads)` saying how many threads each of those runs gets;
`run` stays one timed run at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.executors.sandbox import NONE, Confinement


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to run (and later recognise) one repetition."""

    label: str
    name: str
    sha: str
    rep: int
    cwd: Path
    argv: list[str]
    run_dir: Path
    env: dict[str, str]
    timeout_s: float
    device: str = "cpu"
    key: str = ""  # digest of the run key (plan.Plan.run_key): what the outputs may depend on
    meta: dict[str, Any] = field(default_factory=dict)
    # How the run is confined (filled by harness.isolation.prepare just before it runs):
    sandbox_dir: Path | None = None  # its tree (src/), output/, home/ and tmp/: all it may write, under a random name
    writable: tuple[Path, ...] = ()  # the only folders it may write (under confinement)
    readable: tuple[Path, ...] = ()  # what it may read besides them (when reads are confined)
    confinement: Confinement = NONE  # the level in force (harness.executors.sandbox)
    token: str = ""  # marks every process of this run (reaper)
    max_rss_mb: float | None = None  # peak memory cap, enforced by the executor
    preload: tuple[str, ...] = ()  # modules a warm start imports once for every run (executors/zygote.py); () = cold
    origin: RunSpec | None = None  # the spec before isolation: a rerun is isolated afresh from it

    @property
    def output_dir(self) -> Path:
        """Where `{output_dir}` points: inside the sandbox (the run folder itself before isolation)."""
        return (self.sandbox_dir or self.run_dir) / "output"

    @property
    def tree_dir(self) -> Path:
        """The run's own fresh copy of its commit (its working folder)."""
        return (self.sandbox_dir or self.run_dir) / "src"


@dataclass(frozen=True)
class Outcome:
    """What the harness itself observed about the child process."""

    status: str
    returncode: int | None
    wall_s: float
    peak_rss_mb: float
    cpu_s: float | None = None
    node: str | None = None
    detail: str = ""  # why it ended, in words, when the harness knows more than the status (signal, cap)
    start: str = "cold"  # "warm": forked from a warm-start server (executors/zygote.py), not a fresh interpreter


class Executor(Protocol):
    """Runs one spec to completion: the child's stdout/stderr land in its run folder."""

    name: str

    def run(self, spec: RunSpec) -> Outcome:
        """Run the spec's argv in its cwd; write stdout/stderr (and their arrival stamps) into spec.run_dir."""
        ...


def make_executor(name: str, jobs: int = 0, address: str | None = None, threads: int = 1) -> Executor:
    """The executor named on the command line: `local` (a pool of `jobs` for correctness runs, 0: as many as
    the cores hold at `threads` each) or `ray`."""
    from harness.errors import UsageProblem

    if name == "local":
        if address:
            raise UsageProblem("--address names a Ray cluster: use it with --executor ray")
        from harness.executors.local import LocalExecutor
        from harness.executors.pool import PoolExecutor

        return PoolExecutor(LocalExecutor(), jobs, threads=threads)
    if name == "ray":
        from harness.executors.ray import RayExecutor

        return RayExecutor(address)
    raise UsageProblem(f"--executor {name!r}: unknown (known: local, ray)")
