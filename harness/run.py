"""Stage 2: run one branch once, in a fixed environment, measured from outside.

The child gets its own process group (so a timeout kills the whole tree), a
fixed environment (same thread count for every branch, fixed hash seed, UTC
log timestamps), and its wall time and peak RSS are taken by the harness with
wait4() — never from what the child says about itself.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import constants as C

log = logging.getLogger(__name__)
PASSED_THROUGH = ("PATH", "HOME", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "TMPDIR")


class InfraError(RuntimeError):
    """The harness could not run the command at all (not the candidate's fault)."""


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
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What the harness itself observed about the child process."""

    status: str
    returncode: int | None
    wall_s: float
    peak_rss_mb: float


def child_env(threads: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """A small, fixed environment: only what a run must not vary on, plus PATH/HOME."""
    source = os.environ if base is None else base
    env = {k: source[k] for k in PASSED_THROUGH if k in source}
    env.update(
        PYTHONHASHSEED="0",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        OPENBLAS_NUM_THREADS=str(threads),
        MPLBACKEND="Agg",
        CUBLAS_WORKSPACE_CONFIG=":4096:8",
        TZ="UTC",
        LANG="C.UTF-8",
        LC_ALL="C.UTF-8",
    )
    return env


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _start(spec: RunSpec, stdout: Any, stderr: Any) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            spec.argv, cwd=spec.cwd, env=spec.env, stdout=stdout, stderr=stderr,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    except OSError as exc:
        raise InfraError(f"cannot start {spec.argv[0]!r} for {spec.name}: {exc.strerror or exc}") from exc


def execute(spec: RunSpec) -> Outcome:
    """Run the child to completion or timeout; measure wall time and peak RSS."""
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    with open(spec.run_dir / C.STDOUT_FILE, "wb") as out, open(spec.run_dir / C.STDERR_FILE, "wb") as err:
        start = time.perf_counter()
        proc = _start(spec, out, err)
        timed_out = threading.Event()
        timer = threading.Timer(spec.timeout_s, lambda: (timed_out.set(), _kill_group(proc.pid)))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    _kill_group(proc.pid)  # leftovers the child may have spawned
    state = C.STATUS_TIMEOUT if timed_out.is_set() else C.STATUS_OK if proc.returncode == 0 else C.STATUS_CRASHED
    return Outcome(state, proc.returncode, wall, usage.ru_maxrss / 1024.0)


def load_result(run_dir: Path) -> dict[str, Any] | None:
    """An existing, readable result file means the run is done (resume)."""
    path = run_dir / C.RESULT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write via a temporary file so a killed harness never leaves half a result."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)


def write_meta(spec: RunSpec) -> None:
    meta = {"label": spec.label, "name": spec.name, "sha": spec.sha, "rep": spec.rep,
            "command": spec.argv, "cwd": str(spec.cwd), "env": spec.env,
            "timeout_s": spec.timeout_s, **spec.meta}
    write_json(spec.run_dir / C.META_FILE, meta)


def fresh_run_dir(run_dir: Path) -> None:
    """Clear what an interrupted earlier attempt left (no result means not done)."""
    for name in (C.STDOUT_FILE, C.STDERR_FILE, C.META_FILE):
        (run_dir / name).unlink(missing_ok=True)
    output = run_dir / C.OUTPUT_DIR
    if output.exists():
        for child in sorted(output.rglob("*"), reverse=True):
            child.rmdir() if child.is_dir() else child.unlink()
    output.mkdir(parents=True, exist_ok=True)
