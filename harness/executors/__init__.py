"""Stage 2's seam: one interface for "run this spec, return what happened".

Everything that decides *what* to run (rounds, resume, keys) is elsewhere; an
executor only runs one spec and reports the harness's own observations of it
(hyperfine's Executor). `LocalExecutor` runs a real subprocess; `FakeExecutor`
plays a scripted run for tests, so verdict logic is tested with scripted
timings instead of sleeps; a parallel pool or a remote engine is one more
class with the same `run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


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


@dataclass(frozen=True)
class Outcome:
    """What the harness itself observed about the child process."""

    status: str
    returncode: int | None
    wall_s: float
    peak_rss_mb: float
    cpu_s: float | None = None
    node: str | None = None


class Executor(Protocol):
    """Runs one spec to completion: the child's stdout/stderr land in its run folder."""

    name: str

    def run(self, spec: RunSpec) -> Outcome:
        """Run the spec's argv in its cwd; write stdout/stderr files into spec.run_dir."""
        ...


def make_executor(name: str) -> Executor:
    """The executor named on the command line."""
    from harness.errors import UsageProblem
    from harness.executors.local import LocalExecutor

    executors: dict[str, type] = {"local": LocalExecutor}
    if name not in executors:
        raise UsageProblem(f"--executor {name!r}: unknown (known: {', '.join(executors)})")
    return executors[name]()
