"""Stage 2's seam: one interface for "run this spec, return what happened".

Everything that decides *what* to run (rounds, resume, keys) is elsewhere; an
executor only runs specs and reports the harness's own observations of them
(hyperfine's Executor). `Executor` below is the whole contract the driver
relies on — `run`, `run_many`, `close`, `abort` — so no caller asks an
executor what it can do. `LocalExecutor` runs a real subprocess;
`PoolExecutor` (pool.py) runs several of a local executor's correctness runs
at once; `RayExecutor` (ray.py) spreads them over a cluster, shipping run
folders with remote.py; `FakeExecutor` plays a scripted run for tests, so
verdict logic is tested with scripted timings instead of sleeps.

An executor offered on the command line (`--executor NAME`) says so by
defining `from_options`; registry.py finds it there, with the options it adds.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

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
    # How the run is confined (rounds.run_spec, from the plan):
    readable: tuple[Path, ...] = ()  # what it may read besides its sandbox (when reads are confined)
    confinement: Confinement = NONE  # the level in force (harness.executors.sandbox)
    max_rss_mb: float | None = None  # peak memory cap, enforced by the executor
    # Where it runs (harness.isolation.prepare, when its sandbox is made just before it starts):
    sandbox_dir: Path | None = None  # its tree (src/), output/, home/ and tmp/: all it may write, under a random name
    writable: tuple[Path, ...] = ()  # the only folders it may write (under confinement)
    token: str = ""  # marks every process of this run (reaper)
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


#: Told of each correctness run as it finishes: (its index in the specs given to `run_many`, its outcome).
Done = Callable[[int, Outcome], None]


@dataclass(frozen=True)
class Option:
    """A command-line option an executor adds to `compare`, `check` and `sweep` (see registry.py).

    Its value reaches the executor's `from_options` under `dest`; given with another `--executor`, it is a
    usage error (an option that silently does nothing would let a user believe it did)."""

    flag: str  # "--address"
    help: str
    type: Any = str  # a click type or a Python type click knows (int, str, click.IntRange(0))
    default: Any = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        """The parameter's name: "--max-nodes" → "max_nodes"."""
        return self.flag.lstrip("-").replace("-", "_")


class Executor(abc.ABC):
    """Runs specs to completion: each run's stdout/stderr (and their arrival stamps) land in its run folder,
    its outputs in its sandbox, exactly where a local run leaves them, so the store and the judge never
    know which executor ran it.

    Two kinds of run, two methods: a *timed* run goes through `run`, one at a time, alone; *correctness* runs
    (the equivalence round, held-out variants, `check`), whose times are never used, go through `run_many`,
    which may run them at once or elsewhere. A failed run is an Outcome (crashed, timeout, memory); only
    the executor itself failing raises (InfraError).

    Use an executor as a context manager, or call `close` once when done with it.
    """

    #: What it is called in logs (and, for executors on the command line, the --executor value).
    name: str = ""
    #: A few words for --executor's help (executors on the command line).
    summary: ClassVar[str] = ""
    #: The options it adds to the commands that run things (executors on the command line).
    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def from_options(cls, settings: Mapping[str, Any], threads: int) -> Executor:
        """Build the executor `--executor NAME` names from its own options' values (`settings`, by
        `Option.dest`, defaults filled in) and the runs' thread count. Defining it puts the executor on
        the command line (registry.py); the base class's refuses."""
        raise TypeError(f"{cls.__name__} is not an executor of the command line (it defines no from_options)")

    @abc.abstractmethod
    def run(self, spec: RunSpec) -> Outcome:
        """One timed run: start the spec's argv in its cwd with its env and confinement, wait for its end (exit,
        timeout, memory cap), and return what the harness observed. The driver calls it one run at a time and
        never beside `run_many`: nothing else of the compare runs meanwhile, or the times would measure the
        neighbours. (A PoolExecutor calls its inner executor's `run` from several threads at once for
        correctness runs: an executor it wraps must allow that.)"""

    def run_many(self, specs: Sequence[RunSpec], done: Done | None = None) -> list[Outcome]:
        """Correctness runs only: run every spec, as many at once and wherever the executor can (this default:
        one by one, in order), and return their outcomes in the order of `specs`.

        `done(i, outcome)` hears of each run as it finishes, in completion order, once per spec, always in the
        caller's thread (it may write files and log without locks, but must start no run through this executor: a pool
        holds its timed-run lock meanwhile). If `done` raises or the caller is interrupted, no further run
        starts, the runs in flight are stopped where the executor can (`abort`), and the exception propagates.
        """
        outcomes = []
        for i, spec in enumerate(specs):
            outcomes.append(self.run(spec))
            if done is not None:
                done(i, outcomes[-1])
        return outcomes

    def abort(self) -> None:
        """Kill every run in flight now, called from another thread than the runs' (only the main thread hears
        an interrupt; worker threads would wait for their runs to end). Each run still ends through its own
        code (reaped, swept, its outcome returned). This default has nothing to do: a run in the caller's
        thread is ended by the interrupt itself."""

    def close(self) -> None:
        """Release what the executor holds for its life (warm-start servers, a Ray connection it opened).
        Called once, by whoever made the executor, after its last run."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
