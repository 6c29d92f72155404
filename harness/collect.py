"""Stage 3: turn a finished run folder into a result: losses, phase times, artifacts.

Phase times come from the log's own timestamps (a visualisation is the gap
between its epoch line and its "Visualization @" line; a training epoch is the
gap between consecutive events), not from the seconds the script prints about
itself: a candidate that edits its timing code cannot edit the clock. The
self-reported visualisation seconds are kept alongside, for a sanity check.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import constants as C
from harness.run import Outcome
from harness.task import Task


@dataclass(frozen=True)
class Event:
    """One parsed log line: an epoch end or a visualisation end."""

    kind: str  # "epoch" | "visualise"
    epoch: int
    ts: float  # seconds since the epoch, from the log timestamp
    values: dict[str, float]


def _timestamp(text: str, fmt: str) -> float:
    return datetime.strptime(text, fmt).timestamp()


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def parse_log(text: str, task: Task) -> list[Event]:
    """Every epoch and visualisation line, in log order."""
    events = []
    for line in text.splitlines():
        if (m := task.epoch_re.search(line)) is not None:
            values = {"train": _float(m["train"]), "val": _float(m["val"])}
            events.append(Event("epoch", int(m["epoch"]), _timestamp(m["ts"], task.timestamp_format), values))
        elif (m := task.visualise_re.search(line)) is not None:
            values = {"reported_s": _float(m["seconds"])}
            events.append(Event("visualise", int(m["epoch"]), _timestamp(m["ts"], task.timestamp_format), values))
    return events


def epoch_losses(events: list[Event]) -> list[dict[str, float]]:
    return [{"epoch": e.epoch, "train": e.values["train"], "val": e.values["val"]} for e in events if e.kind == "epoch"]


def train_epoch_seconds(events: list[Event]) -> float | None:
    """Mean epoch time: the summed gaps that end in an epoch line, over their count.

    Summing before dividing keeps the millisecond log resolution from
    dominating short epochs (the error is ±1 ms over the whole run).
    """
    gaps = [b.ts - a.ts for a, b in zip(events, events[1:]) if b.kind == "epoch"]
    return sum(gaps) / len(gaps) if gaps else None


def visualise_seconds(events: list[Event]) -> list[float]:
    """Each visualisation's duration: its line minus the preceding epoch line."""
    out = []
    for a, b in zip(events, events[1:]):
        if b.kind == "visualise" and a.kind == "epoch":
            out.append(b.ts - a.ts)
    return out


def phase_times(events: list[Event], save_interval: int) -> dict[str, float | None]:
    """train_epoch, visualise and the seed's period (save_interval epochs + one visualisation)."""
    epoch = train_epoch_seconds(events)
    vis = visualise_seconds(events)
    visualise = statistics.median(vis) if vis else None
    reported = [e.values["reported_s"] for e in events if e.kind == "visualise"]
    period = epoch * save_interval + visualise if epoch is not None and visualise is not None else None
    return {"train_epoch": epoch, "visualise": visualise, "period": period,
            "visualise_reported": statistics.median(reported) if reported else None}


def find_artifacts(output_dir: Path, task: Task) -> dict[int, str]:
    """Epoch → PNG path relative to the run folder (so a moved work folder still resumes)."""
    found = {}
    for path in sorted(output_dir.rglob(task.artifact_glob)):
        if (m := task.artifact_epoch.search(path.name)) is not None:
            found[int(m["epoch"])] = str(path.relative_to(output_dir.parent))
    return found


def tail(path: Path, lines: int = C.STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def collect(run_dir: Path, task: Task, save_interval: int, outcome: Outcome) -> dict[str, Any]:
    """The result.json content for one run (stdout and stderr both searched for log lines)."""
    text = "\n".join(tail(run_dir / name, 10**9) for name in (C.STDERR_FILE, C.STDOUT_FILE))
    events = parse_log(text, task)
    return {
        "status": outcome.status,
        "returncode": outcome.returncode,
        "wall_s": outcome.wall_s,
        "peak_rss_mb": outcome.peak_rss_mb,
        "losses": epoch_losses(events),
        "timing": phase_times(events, save_interval),
        "artifacts": [{"epoch": e, "path": p} for e, p in find_artifacts(run_dir / C.OUTPUT_DIR, task).items()],
        "stderr_tail": tail(run_dir / C.STDERR_FILE) if outcome.status != C.STATUS_OK else "",
    }
