"""Run one spec as a real subprocess, observed from outside.

The child starts through the confining launcher (`confine.py`) in its own
session, with the environment its spec carries. The harness reads its
stdout/stderr live and stamps every line with its own clock (`logs.py`), and
takes wall time, CPU time and peak RSS itself with wait4() — never from what
the child says about itself. A timeout or the `--max-rss` cap ends the run;
when it ends for any reason, or the harness is interrupted, every process it
started is killed (`reaper.py`).

A spec that names modules to preload (correctness runs, see rounds.warm_start)
is forked from a warm-start server instead (`warm.py`, `zygote.py`): the same
confinement, pipes and measurements (wait4() by the server), without the
interpreter's imports.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from harness import constants as C
from harness.errors import InfraError
from harness.executors import Executor, Option, Outcome, RunSpec, reaper, sandbox, warm
from harness.executors.logs import LogSink
from harness.executors.pool import PoolExecutor
from harness.jsonio import write_json

log = logging.getLogger(__name__)
RSS_POLL_S = 0.1
DRAIN_S = 2.0
READY_READS = 256


@dataclass
class Ending:
    """How the wait ended: the child exited, the timeout passed, or the memory cap was crossed."""

    reason: str  # "exited" | "timeout" | "memory"
    at: float
    peak_mb: float = 0.0


def _kill_group(pid: int) -> None:
    """The run's first process and its process group (it may have left the group: both are signalled)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class ColdChild:
    """A run started as a fresh interpreter (the launcher exec's the command): the harness's own child."""

    def __init__(self, spec: RunSpec, report_fd: int) -> None:
        argv = sandbox.launcher(spec.confinement, spec.writable, spec.readable, spec.argv, report_fd)
        try:
            self.proc = subprocess.Popen(argv, cwd=spec.cwd, env=spec.env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
                                         pass_fds=(report_fd,))
        except OSError as exc:
            raise InfraError(f"cannot start {spec.argv[0]!r} for {spec.name}: {exc.strerror or exc}") from exc
        self.pid, self.stdout, self.stderr = self.proc.pid, self.proc.stdout, self.proc.stderr

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self) -> warm.Ended:
        _, status, usage = os.wait4(self.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return warm.Ended(self.proc.returncode, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


Child = ColdChild | warm.WarmChild


def read_report(fd: int) -> dict[str, int] | None:
    """The launcher's report of the run's exit status and peak RSS (None when it died before writing one)."""
    os.set_blocking(fd, False)
    data = b""
    try:
        while chunk := os.read(fd, 4096):
            data += chunk
    except BlockingIOError:
        pass
    try:
        report = json.loads(data)
    except ValueError:
        return None
    return report if isinstance(report, dict) and {"returncode", "maxrss_kb"} <= set(report) else None


def tree_rss_mb(root: int, token: str, known: set[int], keep: frozenset[int] = frozenset()) -> float:
    """Resident memory of the run's own processes, from /proc (what the cap is enforced on).

    Not its launcher (`root`: harness code; a warm one is a fork of the server, whose pages the run's
    process already counts), nor the init of its PID namespace (the launcher's fork, likewise), nor the
    other runs in flight or the warm-start servers (`keep`).
    """
    total = 0
    for pid in reaper.run_processes(root, token, known, keep) - {root}:
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
            if status.get("NSpid", "").split()[1:] == ["1"]:
                continue  # the namespace's init: harness code, not the run's
            total += int(status.get("VmRSS", "0 kB").split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024.0


class Watch:
    """The read loop: pipes in, lines stamped; returns when the child exits or must be stopped."""

    def __init__(self, proc: Child, sinks: dict[str, LogSink], spec: RunSpec, start: float,
                 known: set[int], spared: Callable[[], frozenset[int]] = frozenset) -> None:
        self.proc, self.sinks, self.spec, self.start, self.known = proc, sinks, spec, start, known
        self.spared = spared  # the processes of others (runs in flight, servers): never this run's
        self.sel = selectors.DefaultSelector()
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            self.sel.register(pipe, selectors.EVENT_READ, sinks[name])
        self.pidfd = os.pidfd_open(proc.pid) if hasattr(os, "pidfd_open") else None
        if self.pidfd is not None:
            self.sel.register(self.pidfd, selectors.EVENT_READ, None)
        self.next_poll = start + RSS_POLL_S

    def now(self) -> float:
        return time.perf_counter() - self.start

    def read(self, key: selectors.SelectorKey) -> None:
        chunk = os.read(key.fd, 1 << 16)
        if chunk:
            key.data.feed(chunk, self.now())
        else:
            self.sel.unregister(key.fileobj)

    def wait(self) -> Ending:
        deadline = self.start + self.spec.timeout_s
        while True:
            clock = time.perf_counter()
            if clock >= deadline:
                return Ending("timeout", clock)
            if (over := self._over_cap(clock)) is not None:
                return Ending("memory", clock, over)
            limit = min(deadline, self.next_poll) if self._polling() else deadline
            events = self.sel.select(max(limit - clock, 0.0))
            exited = any(key.data is None for key, _ in events) or (self.pidfd is None and self.proc.poll() is not None)
            at = time.perf_counter()
            for key, _ in events:
                if key.data is not None:
                    self.read(key)
            if exited:
                self.read_ready()
                return Ending("exited", at)

    def read_ready(self) -> None:
        """What the child wrote before it exited, already waiting in the pipes (stamped now, not after the sweep)."""
        for _ in range(READY_READS):  # bounded: a surviving grandchild may write forever
            ready = [key for key, _ in self.sel.select(0) if key.data is not None]
            if not ready:
                return
            for key in ready:
                self.read(key)

    def _polling(self) -> bool:
        return self.spec.max_rss_mb is not None or self.pidfd is None

    def _over_cap(self, clock: float) -> float | None:
        if self.spec.max_rss_mb is None or clock < self.next_poll:
            return None
        self.next_poll = clock + RSS_POLL_S
        rss = tree_rss_mb(self.proc.pid, self.spec.token, self.known, self.spared())
        return rss if rss > self.spec.max_rss_mb else None

    def drain(self) -> None:
        """After the run's processes are gone: the rest of what they wrote, then EOF."""
        until = time.perf_counter() + DRAIN_S
        while self.sel.get_map() and time.perf_counter() < until:
            keys = [k for k in self.sel.get_map().values() if k.data is not None]
            if not keys:
                break
            for key, _ in self.sel.select(0.1):
                if key.data is not None:
                    self.read(key)

    def close(self) -> None:
        self.sel.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


def _signal_name(returncode: int | None) -> str:
    if returncode is None or returncode >= 0:
        return ""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def verdict_of(ending: Ending, returncode: int | None, peak_mb: float, spec: RunSpec) -> tuple[str, str]:
    """(status, detail): the harness's reading of how the run ended."""
    sig = _signal_name(returncode)
    cap = spec.max_rss_mb
    if ending.reason == "timeout":
        return C.STATUS_TIMEOUT, f"timed out after {spec.timeout_s:g}s"
    if ending.reason == "memory" or (cap is not None and peak_mb > cap):
        peak = ending.peak_mb if ending.reason == "memory" else peak_mb
        return C.STATUS_MEMORY, f"peak RSS {peak:.0f} MB over the --max-rss cap of {cap:g} MB (killed with SIGKILL)"
    if returncode == -signal.SIGKILL:
        return C.STATUS_KILLED, "killed by SIGKILL, not sent by the harness (the kernel's OOM killer?)"
    if returncode == 0:
        return C.STATUS_OK, ""
    return C.STATUS_CRASHED, f"killed by {sig}" if sig else ""


def _launch_warm(server: warm.Zygote, spec: RunSpec, report_w: int) -> Child | None:
    """A run forked from the server; None (the run starts cold, and so do the later ones) if the server failed."""
    try:
        return server.launch(spec, report_w)
    except InfraError as exc:
        log.warning("warm start failed (%s): this run and the next start cold", exc)
        server.retire()
        return None


def _collect(proc: Child) -> None:
    """A warm launcher killed after an interrupt is reaped by its server (a cold one by the sweep)."""
    if isinstance(proc, warm.WarmChild):
        try:
            proc.wait()
        except InfraError as exc:
            log.debug("could not reap %s: %s", proc.pid, exc)


class LocalExecutor(Executor):
    """This machine, in a confined subprocess; `run` is safe from several threads (a PoolExecutor's)."""

    name = "local"
    summary = "this machine"
    options = (Option("--jobs", "Correctness runs at once, 0: one per core (the cores are split: jobs × threads ≤ "
                      "cores); timed runs always go one at a time.", click.IntRange(0), 0),)

    @classmethod
    def from_options(cls, settings: Mapping[str, Any], threads: int) -> Executor:
        """`--executor local`: this machine, with a pool of `--jobs` for correctness runs (0: as many as the
        cores hold at `threads` each)."""
        return PoolExecutor(cls(), settings["jobs"], threads=threads)

    def __init__(self, warm_wait_s: float = warm.READY_TIMEOUT_S) -> None:
        """`warm_wait_s`: how long a run waits for a warm-start server still importing. Waiting (once) keeps
        a compare's runs alike: every correctness run of round 0 forks warm, or (server broken) none does."""
        self.warm_wait_s = warm_wait_s
        reaper.become_subreaper()
        self._live: set[int] = set()  # launchers in flight (several at once under --jobs)
        self._lock = threading.Lock()
        self._servers = warm.Servers()  # warm-start servers (their processes are spared by every sweep)

    def _server(self, spec: RunSpec) -> warm.Zygote | None:
        """The warm-start server this run forks from, once it is ready (waited for before the run's clock
        starts: its imports are no part of the run); None: the run starts cold."""
        with self._lock:
            server = self._servers.spawn(spec)
        return server if server is not None and server.ready(self.warm_wait_s) else None

    def _start(self, spec: RunSpec, report_w: int, server: warm.Zygote | None) -> Child:
        """Start and register a launcher in one step: a sweep running meanwhile in another thread (--jobs)
        must never see a launcher that already exited but is not yet known as ours, or it reaps it.
        A spec with a preload list forks from a warm-start server when one works, else starts cold."""
        warm_ok = server is not None
        with self._lock:
            proc = _launch_warm(server, spec, report_w) if warm_ok and server else None
            proc = proc or ColdChild(spec, report_w)
            self._live.add(proc.pid)
        return proc

    def close(self) -> None:
        """End the warm-start servers (they would also end with the harness)."""
        self._servers.close()

    def abort(self) -> None:
        """Kill every run in flight (an interrupt under --jobs: only the main thread hears it, and the worker
        threads would otherwise wait for their runs to end); each worker then sweeps its run as usual. The
        launchers are not reaped yet (their worker waits for them), so their pids cannot have been reused."""
        with self._lock:
            for pid in self._live:
                _kill_group(pid)

    def _sweep(self, pid: int, token: str, known: set[int]) -> int:
        """This run's sweep, sparing the other runs' launchers; none starts while it runs (see `_start`)."""
        with self._lock:
            self._live.discard(pid)
            return reaper.sweep(pid, token, known, self._spared())

    def _spared(self) -> frozenset[int]:
        """Processes no run's sweep or memory count may take for its own: launchers in flight, servers.
        Call under the lock (`_spared_now` from outside it: the set changes as runs start and end)."""
        return frozenset(self._live) | self._servers.pids()

    def _spared_now(self) -> frozenset[int]:
        with self._lock:
            return self._spared()

    def run(self, spec: RunSpec) -> Outcome:
        """Run the child to completion, timeout or cap; stamp its lines; leave no process behind."""
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        known = reaper.children(os.getpid())
        sinks = {"stdout": LogSink(spec.run_dir / C.STDOUT_FILE), "stderr": LogSink(spec.run_dir / C.STDERR_FILE)}
        server = self._server(spec)
        report_r, report_w = os.pipe()
        start = time.perf_counter()
        try:
            proc = self._start(spec, report_w, server)
        finally:
            os.close(report_w)
        watch = Watch(proc, sinks, spec, start, known, self._spared_now)
        try:
            ending = watch.wait()
            if ending.reason != "exited":
                _kill_group(proc.pid)
            ended = proc.wait()
            report = read_report(report_r)
        finally:
            os.close(report_r)
            if proc.returncode is None:  # interrupted: never signal a pid already reaped (it may be reused)
                _kill_group(proc.pid)
                _collect(proc)
            survivors = self._sweep(proc.pid, spec.token, known)
            watch.drain()
            watch.close()
            end = time.perf_counter() - start
            write_json(spec.run_dir / C.STAMPS_FILE, {name: sink.close(end) for name, sink in sinks.items()})
            for pipe in (proc.stdout, proc.stderr):
                pipe and pipe.close()
        if survivors:
            log.info("%s: killed %d process(es) the run left behind", spec.label, survivors)
        returncode = report["returncode"] if report else proc.returncode
        peak = report["maxrss_kb"] / 1024.0 if report else ending.peak_mb or ended.maxrss_kb / 1024.0
        state, detail = verdict_of(ending, returncode, peak, spec)
        started = "warm" if isinstance(proc, warm.WarmChild) else "cold"
        return Outcome(state, returncode, ending.at - start, peak, ended.cpu_s, detail=detail, start=started)
