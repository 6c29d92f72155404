"""The race loop: step until the loss target, checking the invariant, under a time cap.

Log lines (parsed by the harness; keep in sync with the task's regexes):
  Step K - Loss: L - Grads: G - HVPs: H          (cumulative G and H, L = repr(float))
  Reached target at step K: loss L
  Invariant violated at step K: loss A -> B
  Unfinished after N s (K steps)
  Solver failed at step K: MESSAGE
"""

from __future__ import annotations

import json
import logging
import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

from .ours import StepResult

LOG_FORMAT = "%(asctime)s - solverrace - %(levelname)s - %(message)s"
EXIT_OK, EXIT_BAD_INPUT, EXIT_INVARIANT, EXIT_UNFINISHED, EXIT_SOLVER_FAILED = 0, 2, 3, 4, 5


class Steppable(Protocol):
    """A contender: one solver step at a time, reporting the pre-update loss and its cost."""

    def step(self) -> StepResult: ...


@dataclass(frozen=True)
class Violation:
    """The loss failed to fall: at `step` (1-based) it went from `before` to `after`."""

    step: int
    before: float
    after: float


@dataclass
class Outcome:
    """How a race run ended; `status` is reached | invariant_violated | unfinished | failed."""

    status: str
    steps: int = 0
    grads: int = 0
    hvps: int = 0
    final_loss: float = math.inf
    seconds: float = 0.0  # wall time of the stepping loop (the seed's timing)
    cpu_seconds: float = 0.0  # process CPU time of the loop: steadier on a shared machine
    violation: Violation | None = None
    message: str = ""


class CapReached(Exception):
    """Raised by the wall-clock alarm to interrupt a step that runs past the cap."""


def loss_fell(before: float, after: float) -> bool:
    """The invariant, as the seed asserts it: strictly lower; NaN never counts as lower."""
    return after < before


def first_violation(losses: Sequence[float]) -> Violation | None:
    """First step whose loss did not fall below the previous one (the first compares with +inf)."""
    before = math.inf
    for step, after in enumerate(losses, start=1):
        if not loss_fell(before, after):
            return Violation(step, before, after)
        before = after
    return None


def step_line(step: int, loss: float, grads: int, hvps: int) -> str:
    """`Step K - Loss: L - Grads: G - HVPs: H`, the loss at full float precision."""
    return f"Step {step} - Loss: {loss!r} - Grads: {grads} - HVPs: {hvps}"


def violation_line(v: Violation) -> str:
    return f"Invariant violated at step {v.step}: loss {v.before!r} -> {v.after!r}"


def reached_line(step: int, loss: float) -> str:
    return f"Reached target at step {step}: loss {loss!r}"


def unfinished_line(seconds: float, steps: int) -> str:
    return f"Unfinished after {seconds:.1f} s ({steps} steps)"


@contextmanager
def wall_cap(seconds: float) -> Iterator[None]:
    """Raise CapReached inside whatever runs when `seconds` of wall time have passed.

    Why an alarm: one step (a cold eigensolve) can take long; checking only between
    steps would overshoot the cap by that much. Off the main thread, or without
    setitimer, the loop's between-step check is the only guard.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _raise(signum: int, frame: object) -> None:
        raise CapReached()

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_race(contender: Steppable, threshold: float, cap_seconds: float, max_steps: int | None,
             log: logging.Logger, clock: Callable[[], float] = time.perf_counter) -> Outcome:
    """Step until the reported loss is <= threshold (the seed's `while loss > 0.01`).

    Never raises for the three expected endings: target reached, invariant violated
    (reported with both losses), cap or max_steps hit (reported as unfinished).
    """
    out = Outcome("unfinished")
    start, cpu_start = clock(), time.process_time()
    try:
        with wall_cap(cap_seconds):
            while max_steps is None or out.steps < max_steps:
                result = contender.step()
                out.steps += 1
                out.grads += result.grads
                out.hvps += result.hvps
                log.info(step_line(out.steps, result.loss, out.grads, out.hvps))
                if not loss_fell(out.final_loss, result.loss):
                    out.violation = Violation(out.steps, out.final_loss, result.loss)
                    out.status, out.final_loss = "invariant_violated", result.loss
                    log.info(violation_line(out.violation))
                    break
                out.final_loss = result.loss
                if result.loss <= threshold:
                    out.status = "reached"
                    log.info(reached_line(out.steps, result.loss))
                    break
                if clock() - start > cap_seconds:
                    break
    except CapReached:
        pass
    except RuntimeError as exc:  # e.g. the package's power iteration exceeding max_iters
        out.status, out.message = "failed", str(exc)
        log.info(f"Solver failed at step {out.steps + 1}: {exc}")
    out.seconds, out.cpu_seconds = clock() - start, time.process_time() - cpu_start
    if out.status == "unfinished":
        log.info(unfinished_line(out.seconds, out.steps))
    return out


def exit_code(outcome: Outcome) -> int:
    """0 reached, 3 invariant violated, 4 unfinished (cap or max-steps), 5 solver failed."""
    return {"reached": EXIT_OK, "invariant_violated": EXIT_INVARIANT,
            "unfinished": EXIT_UNFINISHED, "failed": EXIT_SOLVER_FAILED}[outcome.status]


def _json_float(value: float) -> float | str:
    """JSON has no inf/NaN: keep finite floats, spell the others as strings."""
    return value if math.isfinite(value) else repr(value)


def write_summary(outcome: Outcome, output_dir: Path, extra: dict[str, object]) -> Path:
    """summary.json: the deterministic counts, final loss, status and seconds, plus run settings."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in asdict(outcome).items() if k != "violation"}
    record["final_loss"] = _json_float(outcome.final_loss)
    record["violation"] = None if outcome.violation is None else {
        "step": outcome.violation.step, "before": _json_float(outcome.violation.before),
        "after": _json_float(outcome.violation.after)}
    record["exit_code"] = exit_code(outcome)
    record.update(extra)
    path = output_dir / "summary.json"
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path
