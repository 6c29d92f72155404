"""A scripted executor for tests: verdict logic without sleeps or subprocesses.

A script is a function of the spec (label, round, ...) returning what the run
"did": its log text, the files it wrote and the harness-side measurements,
including when the harness "saw" each log line (`stamps`; by default every
line at 0 s). Everything downstream (capture, collect, judge, export) runs
for real on that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from harness import constants as C
from harness.executors import Executor, Outcome, RunSpec
from harness.jsonio import write_json


@dataclass(frozen=True)
class ScriptedRun:
    """What one fake run leaves behind and what the harness 'measured'."""

    stdout: str = ""
    stderr: str = ""
    files: dict[str, bytes] = field(default_factory=dict)  # path → bytes, relative to the run's working folder (its
    # tree), or to its output folder when the path starts with "{output_dir}/"
    status: str = C.STATUS_OK
    returncode: int | None = 0
    wall_s: float = 1.0
    peak_rss_mb: float = 100.0
    cpu_s: float | None = None
    stamps: dict[str, list[float]] | None = None  # stream → the harness's arrival time of each line
    detail: str = ""


def _stamps(played: ScriptedRun) -> dict[str, list[float]]:
    if played.stamps is not None:
        return played.stamps
    return {name: [0.0] * len(text.splitlines()) for name, text in (("stdout", played.stdout), ("stderr", played.stderr))}


class FakeExecutor(Executor):
    """Plays `script(spec)` for every run and remembers which specs it was given (correctness runs one by one,
    in order: Executor.run_many's default). Not on the command line: it needs a script."""

    name = "fake"

    def __init__(self, script: Callable[[RunSpec], ScriptedRun]) -> None:
        self.script = script
        self.calls: list[RunSpec] = []

    def run(self, spec: RunSpec) -> Outcome:
        self.calls.append(spec)
        played = self.script(spec)
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        (spec.run_dir / C.STDOUT_FILE).write_text(played.stdout, encoding="utf-8")
        (spec.run_dir / C.STDERR_FILE).write_text(played.stderr, encoding="utf-8")
        write_json(spec.run_dir / C.STAMPS_FILE, _stamps(played))
        for name, data in played.files.items():
            inside, _, rest = name.partition("{output_dir}/")
            target = spec.output_dir / rest if not inside and rest else spec.tree_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        cpu = played.cpu_s if played.cpu_s is not None else played.wall_s
        return Outcome(played.status, played.returncode, played.wall_s, played.peak_rss_mb, cpu, "fake", played.detail)
