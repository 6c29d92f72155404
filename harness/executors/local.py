"""Run one spec as a real subprocess, measured from outside.

The child gets its own process group (so a timeout kills the whole tree), a
fixed environment (same thread count for every branch, fixed hash seed, UTC
log timestamps), and its wall time, CPU time and peak RSS are taken by the
harness with wait4() — never from what the child says about itself.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from typing import Any

from harness import constants as C
from harness.errors import InfraError
from harness.executors import Outcome, RunSpec

log = logging.getLogger(__name__)
PASSED_THROUGH = ("PATH", "HOME", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "TMPDIR")


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


class LocalExecutor:
    """This machine, one run at a time, in a subprocess."""

    name = "local"

    def run(self, spec: RunSpec) -> Outcome:
        """Run the child to completion or timeout; measure wall time, CPU time and peak RSS."""
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
        return Outcome(state, proc.returncode, wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime)
