"""Stage 3: turn a finished run folder into a typed RunResult.

Which lines matter, what their groups mean and how phases are computed all
come from the task (its TOML patterns and its `phases` hook); this module only
applies them. Phase times come from the log's own timestamps, never from the
seconds a script prints about itself.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from harness import constants as C
from harness.executors import Outcome, RunSpec
from harness.results import Artifact, RunResult
from harness.tasks import Task
from harness.tasks.base import Event

MAX_LOG_PROBLEMS = 5


def clock_resolution(stamp: str) -> float:
    """Seconds per tick of a log timestamp, read from its text: ',123' is 1 ms, none is 1 s."""
    for sep in (",", "."):
        head, found, frac = stamp.rpartition(sep)
        if found and frac.isdigit():
            return 10.0 ** -len(frac)
    return 1.0


def parse_log(text: str, task: Task) -> tuple[list[Event], list[str]]:
    """Every line a task pattern matches, in log order, and the lines that matched but could not be read."""
    events, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in task.patterns.items():
            if (m := pattern.search(line)) is None:
                continue
            try:
                events.append(_event(kind, m.groupdict(), task))
            except ValueError as exc:
                problems.append(f"unreadable log line {number}: {exc}")
            break
    return events, problems[:MAX_LOG_PROBLEMS]


def _event(kind: str, groups: dict[str, str], task: Task) -> Event:
    ts = datetime.strptime(groups["ts"], task.timestamp_format).timestamp()
    key = int(groups[task.step_key]) if groups.get(task.step_key) is not None else None
    return Event(kind, key, ts, {k: v for k, v in groups.items() if k != "ts" and v is not None})


def metrics(events: list[Event], task: Task) -> list[dict[str, float]]:
    """One point per step from the task's metrics pattern: the step key plus every other group as a float."""
    points = []
    for e in events:
        if e.kind == task.metrics_pattern and e.key is not None:
            values = {k: _float(v) for k, v in e.values.items() if k != task.step_key}
            points.append({task.step_key: float(e.key), **values})
    return points


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_artifacts(run_dir: Path, task: Task) -> list[Artifact]:
    """Regular files matching the task's glob under output/, keyed by step; symlinks are not followed."""
    found: dict[int, Artifact] = {}
    if not task.artifact_glob:
        return []
    for path in sorted((run_dir / C.OUTPUT_DIR).rglob(task.artifact_glob)):
        if path.is_symlink() or not path.is_file():
            continue
        if (m := task.artifact_key.search(path.name)) is not None:
            key = int(m["key"])
            found[key] = Artifact(key=key, path=path.relative_to(run_dir).as_posix(), sha256=sha256_of(path))
    return [found[k] for k in sorted(found)]


def tail(path: Path, lines: int = C.STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def read_log(run_dir: Path) -> str:
    """stderr then stdout: Python's logging writes to stderr, print() to stdout."""
    parts = []
    for name in (C.STDERR_FILE, C.STDOUT_FILE):
        try:
            parts.append((run_dir / name).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return "\n".join(parts)


def status_of(outcome: Outcome, task: Task) -> str:
    """The harness's status, or the task's own word for one of its exit codes (e.g. 'unfinished')."""
    if outcome.status == C.STATUS_CRASHED and outcome.returncode in task.exit_codes:
        return task.exit_codes[outcome.returncode]
    return outcome.status


def outcome_line(events: list[Event], task: Task) -> str:
    """The run's own last word on how it ended ('Reached target at step 42: …'), if the task logs one."""
    found = [e.values["message"] for e in events if e.kind in task.outcome_kinds and "message" in e.values]
    return found[-1] if found else ""


def collect(spec: RunSpec, task: Task, params: dict[str, str], outcome: Outcome) -> RunResult:
    """The result.json content for one run."""
    text = read_log(spec.run_dir)
    events, problems = parse_log(text, task)
    stamp = next((m["ts"] for p in task.patterns.values() if (m := p.search(text)) is not None), None)
    stderr_tail = tail(spec.run_dir / C.STDERR_FILE) if outcome.status != C.STATUS_OK else ""
    return RunResult(
        label=spec.label, name=spec.name, sha=spec.sha, rep=spec.rep, key=spec.key, status=status_of(outcome, task),
        returncode=outcome.returncode, wall_s=outcome.wall_s, cpu_s=outcome.cpu_s,
        peak_rss_mb=outcome.peak_rss_mb, device=spec.device, node=outcome.node,
        clock_s=clock_resolution(stamp) if stamp else None,
        metrics=metrics(events, task), phases=task.hooks.phases(events, params),
        artifacts=find_artifacts(spec.run_dir, task), outcome=outcome_line(events, task),
        stderr_tail="\n".join(filter(None, [stderr_tail, *problems])),
    )
