"""Warm start, harness side: runs forked from a server that already imported the task's heavy modules.

See `zygote.py` for the server and why. One server per (interpreter, preload
list, environment less the per-run HOME/TMPDIR/token), started on first use
and kept for the compare. A server that cannot start or import its preload
is reported once and its runs start cold: warm start saves time, it never
decides a verdict. Each run still gets its own session, pipes, folder,
environment and confinement (the same `confine.py` as a cold run); the
harness watches its launcher through a pidfd and the server reaps it only
when asked (`finish`), so its pid is never reused while the harness may
still signal it.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness import trees
from harness.errors import InfraError
from harness.executors import RunSpec, sandbox

log = logging.getLogger(__name__)
ZYGOTE_SCRIPT = Path(__file__).resolve().parent / "zygote.py"
PER_RUN_VARS = ("HOME", "TMPDIR", sandbox.TOKEN_VAR)
READY_TIMEOUT_S = 300.0
REPLY_TIMEOUT_S = 60.0
MAX_REPLY = 1 << 16


@dataclass(frozen=True)
class Ended:
    """How a run's launcher ended, from wait4() (the harness's for a cold run, the server's for a warm one)."""

    returncode: int
    cpu_s: float
    maxrss_kb: int


def available() -> bool:
    """Warm start needs fork, pidfds and descriptor passing (Linux >= 5.3)."""
    return hasattr(os, "fork") and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def server_key(spec: RunSpec) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """What a server's state depends on: the interpreter, the preload list, the shared environment."""
    env = tuple(sorted((k, v) for k, v in spec.env.items() if k not in PER_RUN_VARS))
    return spec.argv[0], spec.preload, env


class Zygote:
    """One server process and the socket the harness talks to it on (one request at a time)."""

    def __init__(self, python: str, preload: tuple[str, ...], env: dict[str, str]) -> None:
        self.preload, self.pid = preload, 0
        self.home = Path(tempfile.mkdtemp(prefix="evalharness-warm-"))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [python, str(ZYGOTE_SCRIPT), "--control-fd", str(theirs.fileno()), "--preload", ",".join(preload)]
        with open(self.home / "server.log", "wb") as errors:
            self.proc = subprocess.Popen(argv, cwd=self.home, env={**env, "HOME": str(self.home), "TMPDIR": str(self.home)},
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                         pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        self.sock, self._lock, self.closed = ours, threading.Lock(), False
        self._ready: bool | None = None

    def ready(self, wait_s: float = 0.0) -> bool:
        """Whether runs can fork from the server: waits up to `wait_s` for its imports (a run that stops waiting
        starts cold). A server that cannot start is logged once."""
        with self._lock:
            if self._ready is None and self._answered(wait_s):
                self._ready = self._await_ready()
            return bool(self._ready)

    def _answered(self, wait_s: float) -> bool:
        """The server said something (ready, or why not) or exited, within `wait_s`."""
        readable, _, _ = select.select([self.sock], [], [], wait_s)
        return bool(readable) or self.proc.poll() is not None

    def retire(self) -> None:
        """After a failure: no more runs from this server."""
        self._ready = False
        self.close()

    def _await_ready(self) -> bool:
        try:
            reply = self._receive(READY_TIMEOUT_S)
        except InfraError as exc:
            reply = {"ready": False, "error": str(exc)}
        if reply.get("ready"):
            self.pid = int(reply["pid"])
            log.info("warm start: runs fork from a process that imported %s", ", ".join(self.preload))
            return True
        log.warning("warm start unavailable (%s): runs start cold", reply.get("error") or self._last_error())
        self.close()
        return False

    def _last_error(self) -> str:
        lines = (self.home / "server.log").read_text(errors="replace").strip().splitlines() if self.home.exists() else []
        return lines[-1] if lines else "the server exited without a word"

    def _receive(self, timeout: float) -> dict[str, object]:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(MAX_REPLY)
        except OSError as exc:
            raise InfraError(f"warm-start server: {exc}") from exc
        if not data:
            raise InfraError(f"warm-start server exited: {self._last_error()}")
        return json.loads(data)

    def _ask(self, request: dict[str, object], fds: list[int] | None = None) -> dict[str, object]:
        with self._lock:
            try:
                socket.send_fds(self.sock, [json.dumps(request).encode()], fds or [])
            except OSError as exc:
                raise InfraError(f"warm-start server: {exc}") from exc
            reply = self._receive(REPLY_TIMEOUT_S)
        if "error" in reply:
            raise InfraError(f"warm-start server: {reply['error']}")
        return reply

    def launch(self, spec: RunSpec, report_w: int) -> WarmChild:
        """Fork the run's launcher from the server; the harness keeps the read ends of its pipes."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            options = sandbox.launcher_options(spec.confinement, spec.writable, spec.readable, self.pid)
            request = {"op": "start", "argv": spec.argv, "cwd": str(spec.cwd), "env": spec.env, "launcher": options}
            pid = int(self._ask(request, [out_w, err_w, report_w])["pid"])
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        return WarmChild(pid, os.fdopen(out_r, "rb", buffering=0), os.fdopen(err_r, "rb", buffering=0), self)

    def finish(self, pid: int) -> Ended:
        """Let the server reap an ended (or killed) launcher: its exit status and CPU time."""
        reply = self._ask({"op": "release", "pid": pid})
        return Ended(int(reply["returncode"]), float(reply["cpu_s"]), int(reply["maxrss_kb"]))  # type: ignore[arg-type]

    def close(self) -> None:
        """Closing the socket ends the server (so does the harness's exit: its end of the socket closes)."""
        if self.closed:
            return
        self.closed = True
        self.sock.close()
        if not self._ready:
            self.proc.kill()  # still importing (or failed): nothing to finish
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        trees.remove(self.home)


@dataclass
class WarmChild:
    """A run's launcher forked by a server: the same face to the executor as a cold Popen."""

    pid: int
    stdout: IO[bytes]
    stderr: IO[bytes]
    zygote: Zygote
    returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode  # never polled: warm start requires pidfds

    def wait(self) -> Ended:
        ended = self.zygote.finish(self.pid)
        self.returncode = ended.returncode
        return ended


class Servers:
    """The servers of one executor, by key; a key whose server failed stays cold for the executor's life."""

    def __init__(self) -> None:
        self._servers: dict[tuple[object, ...], Zygote | None] = {}

    def spawn(self, spec: RunSpec) -> Zygote | None:
        """The server for this spec (started now if new, not yet waited for); None: run cold.
        Call under the executor's lock: a sweep must never see a server it does not know of yet."""
        if not spec.preload or not available():
            return None
        key = server_key(spec)
        if key not in self._servers:
            try:
                self._servers[key] = Zygote(spec.argv[0], spec.preload, dict(key[2]))
            except OSError as exc:
                log.warning("warm start unavailable (cannot start %s: %s): runs start cold", spec.argv[0], exc)
                self._servers[key] = None
        return self._servers[key]

    def pids(self) -> frozenset[int]:
        """The servers' processes: children of the harness that no sweep may take for a run's orphans."""
        return frozenset(z.proc.pid for z in self._servers.values() if z is not None)

    def close(self) -> None:
        for zygote in self._servers.values():
            if zygote is not None:
                zygote.close()
        self._servers.clear()
