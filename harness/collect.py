"""Stage 3: turn a finished, captured run into a typed RunResult.

Which lines matter, what their groups mean and how phases are computed all
come from the task (its TOML patterns and its `phases` hook); this module only
applies them. Every phase is derived from the harness's own arrival stamps of
the log lines, never from the timestamps or seconds a run prints about
itself: the log's timestamps are a cross-check only, and when the two clocks
disagree the run's phases are withdrawn and the disagreement becomes a
problem of that run ("log timestamps disagree with the harness's clock by
N×"). A garbled line is that run's problem too, never an exception.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from harness import constants as C
from harness.executors import Outcome, RunSpec
from harness.results import PrintedText, RunResult
from harness.store import Captured
from harness.tasks import Task, TextSpec
from harness.tasks.base import Event, to_float

MAX_LOG_PROBLEMS = 5
MAX_TAIL_CHARS = 300
STREAMS = ("stderr", "stdout")  # Python's logging writes to stderr, print() to stdout
#: The two clocks disagree when a phase differs by this factor AND by this many seconds
#: (the second guards against scheduling jitter on phases of a few milliseconds).
CLOCK_FACTOR = 2.0
CLOCK_MIN_GAP_S = 0.1


def read_lines(run_dir: Path, stream: str) -> list[str]:
    name = C.STDERR_FILE if stream == "stderr" else C.STDOUT_FILE
    try:
        return (run_dir / name).read_bytes().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def read_stamps(run_dir: Path) -> dict[str, list[float]]:
    """The harness's arrival time of every line, per stream (written by the executor)."""
    try:
        raw = json.loads((run_dir / C.STAMPS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: [float(t) for t in v] for k, v in raw.items() if isinstance(v, list)} if isinstance(raw, dict) else {}


def log_time(text: str, task: Task) -> float:
    """A timestamp as the log wrote it, in seconds; ValueError when it is not a real time."""
    try:
        return datetime.strptime(text, task.timestamp_format).timestamp()
    except (OverflowError, OSError) as exc:
        raise ValueError(f"timestamp {text!r} out of range") from exc


def _event(kind: str, groups: dict[str, str], task: Task, stamp: float) -> Event:
    """One matched line; its own timestamp only when the pattern has a (?P<ts>…) group (a cross-check)."""
    key = int(groups[task.step_key]) if groups.get(task.step_key) is not None else None
    values = {k: v for k, v in groups.items() if k != "ts" and v is not None}
    log_ts = log_time(groups["ts"], task) if groups.get("ts") else None
    return Event(kind, key, stamp, values, log_ts=log_ts)


def parse_stream(lines: list[str], stamps: list[float], stream: str, task: Task) -> tuple[list[Event], list[str]]:
    """Every line a task pattern matches, stamped with its arrival time, and the matched lines that are unreadable."""
    events, problems = [], []
    for number, line in enumerate(lines, start=1):
        stamp = stamps[number - 1] if number <= len(stamps) else (stamps[-1] if stamps else 0.0)
        for kind, pattern in task.patterns.items():
            if (m := pattern.search(line)) is None:
                continue
            try:
                events.append(_event(kind, m.groupdict(), task, stamp))
            except ValueError as exc:
                problems.append(f"unreadable log line {number} ({stream}): {str(exc)[:MAX_TAIL_CHARS]}")
            break
    return events, problems


def parse_log(run_dir: Path, task: Task) -> tuple[list[Event], list[str]]:
    """Both streams' events in the order the harness received them, and the problems found."""
    stamps = read_stamps(run_dir)
    events, problems = [], []
    for stream in STREAMS:
        found, bad = parse_stream(read_lines(run_dir, stream), stamps.get(stream, []), stream, task)
        events += found
        problems += bad
    return sorted(events, key=lambda e: e.ts), problems[:MAX_LOG_PROBLEMS]


def metrics(events: list[Event], task: Task) -> list[dict[str, float]]:
    """One point per step: the step key plus every group of the task's metrics patterns, as floats.

    With one metrics pattern a value keeps its group's name ("train"); with
    several it is named by pattern too ("eval.loss"), so an eval line and a
    train line at the same step never overwrite each other; a pattern matched
    twice at one step gets "#2" on its second values.
    """
    points: dict[int, dict[str, float]] = {}
    seen: dict[tuple[str, int], int] = {}
    several = len(task.metric_patterns) > 1
    for e in events:
        if e.kind not in task.metric_patterns or e.key is None:
            continue
        seen[(e.kind, e.key)] = n = seen.get((e.kind, e.key), 0) + 1
        prefix, suffix = (f"{e.kind}." if several else ""), (f"#{n}" if n > 1 else "")
        point = points.setdefault(e.key, {task.step_key: float(e.key)})
        point.update({f"{prefix}{k}{suffix}": to_float(v) for k, v in e.values.items() if k != task.step_key})
    return [points[k] for k in sorted(points)]


def builtin_phases(events: list[Event], task: Task) -> dict[str, float | None]:
    """What any log with step counters tells without hooks: `span`, the first to the last metric line, and
    `step`, the time per logged step (the gaps between metric lines over the steps they cover)."""
    lines = [e for e in events if e.kind in task.metric_patterns and e.key is not None]
    if len(lines) < 2:
        return {"span": None, "step": None}
    span = lines[-1].ts - lines[0].ts
    steps = lines[-1].key - lines[0].key  # type: ignore[operator]
    return {"span": span, "step": span / steps if steps > 0 else None}


def phases_of(events: list[Event], task: Task, params: dict[str, str]) -> dict[str, float | None]:
    """The built-in phases, and the task's own (its `phases` hook) on top."""
    return {**builtin_phases(events, task), **task.hooks.phases(events, params)}


def _disagreement(by_harness: float | None, by_log: float | None) -> float:
    """How many times apart two measures of one phase are (1.0 when close enough or not both known)."""
    if by_harness is None or by_log is None or abs(by_harness - by_log) <= CLOCK_MIN_GAP_S:
        return 1.0
    if min(by_harness, by_log) <= 0:
        return math.inf
    return max(by_harness / by_log, by_log / by_harness)


def clock_check(events: list[Event], task: Task, params: dict[str, str],
                phases: dict[str, float | None]) -> str | None:
    """The log's own clock against the harness's: a problem when a judged phase differs by CLOCK_FACTOR or more."""
    as_logged = [replace(e, ts=e.log_ts) for e in events if e.log_ts is not None]
    if len(as_logged) != len(events) or len(events) < 2:
        return None
    by_log = phases_of(sorted(as_logged, key=lambda e: e.ts), task, params)
    worst = max((_disagreement(phases.get(p), by_log.get(p)) for p in task.judging.phases), default=1.0)
    if worst < CLOCK_FACTOR:
        return None
    size = "more than 1000" if worst > 1000 else f"{worst:.1f}"
    return f"log timestamps disagree with the harness's clock by {size}× (phase times withdrawn)"


def clock_resolution(events: list[Event], run_dir: Path, task: Task) -> float | None:
    """Seconds per tick of the log's own timestamps, read from their text: ',123' is 1 ms, none is 1 s.

    Phases come from the harness's stamps, but the log's clock is their
    cross-check: a phase of a few ticks cannot be checked, so it is not judged.
    """
    for stream in STREAMS:
        for line in read_lines(run_dir, stream):
            for pattern in task.patterns.values():
                if (m := pattern.search(line)) is not None and m.groupdict().get("ts"):
                    return _tick(m["ts"])
    return None


def _tick(stamp: str) -> float:
    for sep in (",", "."):
        _, found, frac = stamp.rpartition(sep)
        if found and frac.isdigit():
            return 10.0 ** -len(frac)
    return 1.0


def status_of(outcome: Outcome, task: Task) -> str:
    """The harness's status, or the task's own word for one of its exit codes (e.g. 'unfinished')."""
    if outcome.status == C.STATUS_CRASHED and outcome.returncode in task.exit_codes:
        return task.exit_codes[outcome.returncode]
    return outcome.status


def outcome_line(events: list[Event], task: Task) -> str:
    """The run's own last word on how it ended ('Reached target at step 42: …'), if the task logs one."""
    found = [e.values["message"] for e in events if e.kind in task.outcome_kinds and "message" in e.values]
    return found[-1][:MAX_TAIL_CHARS] if found else ""


def tail(path: Path, lines: int = C.STDERR_TAIL_LINES) -> str:
    """The last lines of a log, each cut short: a 300 KB line must not reach the terminal."""
    try:
        text = path.read_bytes()[-(lines * 4 * MAX_TAIL_CHARS):].decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(line[:MAX_TAIL_CHARS] for line in text.rstrip().splitlines()[-lines:])


def timing(events: list[Event], task: Task, params: dict[str, str]) -> tuple[dict[str, float | None], list[str]]:
    """Phases from the harness's stamps, withdrawn (None) when the log's own clock tells another story.

    The task's hook runs on what an untrusted run printed: if it fails on
    that, the failure is the run's problem, so any exception is caught here.
    """
    try:
        phases = phases_of(events, task, params)
        lie = clock_check(events, task, params, phases)
    except Exception as exc:  # noqa: BLE001 - a hook failing on a run's log is that run's problem
        return {}, [f"phase times could not be computed from the log: {type(exc).__name__}: {exc}"[:MAX_TAIL_CHARS]]
    if lie is None:
        return phases, []
    return {name: None for name in phases}, [lie]


MAX_TEXT_LINES = 200  # kept per printed text for the report (the comparison hashes every line)


def stamped_lines(run_dir: Path) -> list[str]:
    """Both streams' lines in the order the harness received them."""
    stamps, merged = read_stamps(run_dir), []
    for stream in STREAMS:
        own = stamps.get(stream, [])
        merged += [(own[i] if i < len(own) else (own[-1] if own else 0.0), stream, i, line)
                   for i, line in enumerate(read_lines(run_dir, stream))]
    return [line for *_, line in sorted(merged)]


def _text_lines(lines: list[str], spec: TextSpec) -> list[str]:
    """The lines a text spec names: those its regex matches (group `text` if it has one), or a block's lines."""
    if spec.line is not None:
        found = [m for line in lines if (m := spec.line.search(line)) is not None]
        return [m["text"] if "text" in m.groupdict() else m.string for m in found]
    picked, inside = [], False
    for line in lines:
        if inside and spec.end is not None and spec.end.search(line):
            inside = False
        elif inside:
            picked.append(line)
        elif spec.start is not None and spec.start.search(line):
            inside = True
    return picked


def printed_texts(run_dir: Path, task: Task) -> dict[str, PrintedText]:
    """Every printed text the task compares, hashed whole and kept in part."""
    if not task.texts:
        return {}
    lines = stamped_lines(run_dir)
    found = {}
    for name, spec in task.texts.items():
        picked = _text_lines(lines, spec)
        digest = hashlib.sha256("\n".join(picked).encode("utf-8", errors="replace")).hexdigest()
        found[name] = PrintedText(count=len(picked), sha256=digest,
                                  lines=[line[:MAX_TAIL_CHARS] for line in picked[:MAX_TEXT_LINES]])
    return found


def outside_log(events: list[Event], wall_s: float) -> float:
    """Wall time the log's lines do not cover: before the first line the task reads and after the last.
    A run that computes silently and prints its lines in a burst puts its work here."""
    if not events:
        return wall_s
    return max(0.0, wall_s - (events[-1].ts - events[0].ts))


#: What a process says when the confinement refused it something: no permission, a read-only mount, no network.
DENIED = re.compile(r"\[Errno (?:13|1|30|101)\] (?:Permission denied|Operation not permitted|Read-only file system|"
                    r"Network is unreachable)(?:: '[^']*')?")
SANDBOX_WORDS = ("the run may write only beneath its sandbox and read only its inputs, interpreter and system "
                 "files; no network")


def sandbox_denial(stderr_tail: str, spec: RunSpec) -> str | None:
    """Under confinement, a run that failed on a refusal: said as that, not as an unexplained crash."""
    if spec.confinement.level == "none":
        return None
    found = DENIED.findall(stderr_tail)
    return f"denied by the sandbox: {found[-1]} ({SANDBOX_WORDS})" if found else None


def collect(spec: RunSpec, task: Task, params: dict[str, str], outcome: Outcome, captured: Captured) -> RunResult:
    """The result.json content for one run, from the harness's stamps and its stored copies only."""
    events, log_problems = parse_log(spec.run_dir, task)
    phases, clock_problems = timing(events, task, params)
    stderr_tail = tail(spec.run_dir / C.STDERR_FILE) if outcome.status != C.STATUS_OK else ""
    denied = sandbox_denial(stderr_tail, spec) if outcome.status != C.STATUS_OK else None
    detail = [outcome.detail] if outcome.detail else []
    detail += [denied] if denied else []
    return RunResult(
        label=spec.label, name=spec.name, sha=spec.sha, rep=spec.rep, key=spec.key, status=status_of(outcome, task),
        returncode=outcome.returncode, wall_s=outcome.wall_s, cpu_s=outcome.cpu_s,
        peak_rss_mb=outcome.peak_rss_mb, device=spec.device, node=outcome.node, start=outcome.start,
        clock_s=clock_resolution(events, spec.run_dir, task), outcome=outcome_line(events, task),
        metrics=metrics(events, task), phases=phases, artifacts=captured.artifacts, files=captured.files,
        texts=printed_texts(spec.run_dir, task), outside_s=outside_log(events, outcome.wall_s),
        problems=detail + clock_problems + log_problems + captured.problems, stderr_tail=stderr_tail,
    )
