"""Scripted polytope-format runs for the FakeExecutor: verdict tests with exact timings, no sleeps.

A `Behaviour` says how one branch's runs look (its epoch and visualisation
times, its losses, whether it crashes); `polytope_run` turns it into the log
text and PNG bytes the real trainer would leave, with timestamps computed
rather than slept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
from PIL import Image

from harness.executors import RunSpec
from harness.executors.fake import ScriptedRun

START = datetime(2025, 7, 8, 15, 15, 25, tzinfo=timezone.utc)
# A fixed, branch-independent wobble per round: enough spread for the statistics, identical every test run.
JITTER = (1.00, 1.02, 0.99, 1.01, 0.98, 1.015, 0.995, 1.005, 0.985, 1.01)


@dataclass(frozen=True)
class Behaviour:
    epoch_s: float = 0.05
    vis_s: float = 0.5
    losses: tuple[float, ...] = (0.5, 0.4, 0.3, 0.2)
    status: str = "ok"
    stderr: str = ""
    drift_from_rep: int | None = None  # from this repetition on, the losses change (non-determinism)
    pixel: tuple[int, int] | None = None  # one pixel of the second panel changed
    rss_mb: float = 300.0
    jitter: tuple[float, ...] = field(default=JITTER)


def png(pixel: tuple[int, int] | None = None, size: int = 24) -> bytes:
    """A three-panel image with a red boundary line in the first panel."""
    img = np.full((size, 3 * size, 3), 200, dtype=np.uint8)
    img[size // 2, :size] = (255, 0, 0)
    if pixel is not None:
        img[pixel[1], size + pixel[0]] = (1, 2, 3)
    out = io.BytesIO()
    Image.fromarray(img).save(out, format="PNG")
    return out.getvalue()


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"


def polytope_run(b: Behaviour, rep: int, save_interval: int = 2) -> ScriptedRun:
    """The log lines and PNGs of one run, times scaled by the round's jitter; the harness 'saw' each line at its time."""
    k = b.jitter[rep % len(b.jitter)]
    t, lines, stamps, files = START, [], [], {}
    losses = [v + 0.01 for v in b.losses] if b.drift_from_rep is not None and rep >= b.drift_from_rep else b.losses
    for epoch, loss in enumerate(losses, start=1):
        t += timedelta(seconds=b.epoch_s * k)
        lines.append(f"{_stamp(t)} - polytope_nn - INFO - Epoch {epoch}/{len(losses)} - "
                     f"Train Loss: {loss:.6f}, Val Loss: {loss / 2:.6f}")
        stamps.append((t - START).total_seconds())
        if epoch % save_interval == 0:
            t += timedelta(seconds=b.vis_s * k)
            lines.append(f"{_stamp(t)} - polytope_nn - INFO - Visualization @ epoch {epoch}: {b.vis_s * k:.2f}s")
            stamps.append((t - START).total_seconds())
            files[f"outputs/ring_epoch_{epoch:04d}.png"] = png(b.pixel)
    wall = (t - START).total_seconds() + 1.0
    if b.status != "ok":
        stderr = "\n".join(lines[:2]) + "\n" + b.stderr
        return ScriptedRun(stderr=stderr, status=b.status, returncode=None if b.status == "timeout" else 1,
                           wall_s=wall, stamps={"stderr": stamps[:2] + [wall] * len(b.stderr.splitlines())})
    return ScriptedRun(stderr="\n".join(lines) + "\n", files=files, wall_s=wall, peak_rss_mb=b.rss_mb * k,
                       stamps={"stderr": stamps})


def script(behaviours: dict[str, Behaviour]):
    """A FakeExecutor script: the branch name picks the behaviour (the baseline's twin runs as the baseline)."""
    def play(spec: RunSpec) -> ScriptedRun:
        return polytope_run(behaviours.get(spec.name, Behaviour()), spec.rep)

    return play
