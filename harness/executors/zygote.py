"""Warm start: a process that imports a task's heavy modules once, then forks every run from that state.

A run of a torch script spends ~2.7 s of its ~4 s importing torch (and
torch._dynamo, which the first optimiser pulls in) before its first line of
work. None of that is judged, but every run pays it. This server, started by
the harness with the run's own interpreter and environment, imports the
task's `preload` modules once; each run then forks from it: a fresh process,
as isolated as a cold one, that skips the import.

Run as a plain script (`python zygote.py --control-fd N --preload a,b`),
standard library plus the preloaded modules, no harness import: it shares
`confine.py` with the cold launcher so both confine a run the same way.

Per run, over the control socket (SOCK_SEQPACKET, one JSON message each):
- `start`: with the run's stdout, stderr and report pipes (SCM_RIGHTS), fork
  a launcher: a new session, the run's pipes on fd 1/2, every other fd closed
  (the control socket first), the run's folder and environment; then
  `confine.main` forks the confined run, waits for it and writes its report,
  exactly as the cold launcher does. The confined run does not exec: it
  unwinds to this script's top level and runs the script (or `-m` module)
  there, so it exits through the interpreter's normal shutdown. Any other
  command shape is exec'ed, as cold.
- `release`: the launcher has ended (the harness watches it with a pidfd);
  reap it and answer its exit status and wait4() CPU time. Until then it
  stays a zombie, so its pid cannot be reused while the harness may signal it.

What the preload leaves behind is identical for every run of every branch;
a run may replace modules it finds in sys.modules only for itself.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import socket
import sys
import tempfile
import traceback

import confine

MAX_MESSAGE = 1 << 20
MAX_FD = 65536


class Become(Exception):
    """Raised in the confined run to unwind the server's stack: the top level then runs `command`."""

    def __init__(self, command: list[str]) -> None:
        super().__init__(command)
        self.command = command


def become(command: list[str]) -> None:
    """The confined run's `execute`: a Python script or module runs here, anything else is exec'ed."""
    if len(command) >= 2 and (command[1] == "-m" or not command[1].startswith("-")):
        raise Become(command)
    confine.exec_command(command)


def preload(modules: list[str]) -> None:
    for name in modules:
        importlib.import_module(name)


def send(sock: socket.socket, message: dict[str, object]) -> None:
    sock.send(json.dumps(message).encode())


def launcher(sock: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """The forked launcher: the run's session, pipes, folder and environment, then confine.main."""
    stdout, stderr, report = fds
    sock.close()
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((null, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
    close_all_but(report)
    os.chdir(str(request["cwd"]))
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    tempfile.tempdir = None  # cached at preload: the run's TMPDIR, not the server's
    confine.main([*request["launcher"], "--report-fd", str(report), "--", *request["argv"]], become)  # type: ignore[misc]


def close_all_but(keep: int) -> None:
    """Every descriptor above stderr but `keep`: the control socket and anything the preload opened."""
    os.closerange(3, keep)
    os.closerange(keep + 1, MAX_FD)


def start(sock: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """Fork a launcher for one run; the server keeps none of the run's pipes."""
    if len(fds) != 3:
        send(sock, {"error": f"expected 3 file descriptors, got {len(fds)}"})
        return
    pid = os.fork()
    if pid == 0:
        try:
            launcher(sock, request, fds)
        except Become:
            raise
        except SystemExit as exc:
            os._exit(exc.code if isinstance(exc.code, int) else confine.EXIT_SETUP_FAILED)
        except BaseException:
            traceback.print_exc()
            os._exit(confine.EXIT_SETUP_FAILED)
        os._exit(0)
    for fd in fds:
        os.close(fd)
    send(sock, {"pid": pid})


def release(sock: socket.socket, pid: int) -> None:
    """Reap a launcher the harness is done with: its exit status and CPU time (its run's included)."""
    try:
        _, status, usage = os.wait4(pid, 0)
    except ChildProcessError:
        send(sock, {"error": f"{pid} is not a launcher of this server"})
        return
    send(sock, {"returncode": os.waitstatus_to_exitcode(status), "cpu_s": usage.ru_utime + usage.ru_stime,
                "maxrss_kb": usage.ru_maxrss})


def serve(sock: socket.socket) -> None:
    """Answer requests until the harness closes its end; returns only in a confined run (as Become)."""
    while True:
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 3)
        if not data:
            return
        request = json.loads(data)
        if request.get("op") == "start":
            start(sock, request, fds)
        elif request.get("op") == "release":
            release(sock, int(request["pid"]))
        else:
            send(sock, {"error": f"unknown request {request.get('op')!r}"})


def run_python(command: list[str]) -> None:
    """What `python SCRIPT ARGS` or `python -m MODULE ARGS` would do, in this already-warm interpreter."""
    if command[1] == "-m":
        sys.argv = [command[2], *command[3:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(command[2], run_name="__main__", alter_sys=True)
        return
    script = command[1]
    sys.argv = command[1:]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    runpy.run_path(script, run_name="__main__")


def main(argv: list[str]) -> list[str] | None:
    """Preload, say ready (or why not), serve; returns a command only in a confined run."""
    fd = int(argv[argv.index("--control-fd") + 1])
    modules = [m for m in argv[argv.index("--preload") + 1].split(",") if m]
    sock = socket.socket(fileno=fd)  # the harness gone, its end closes and `serve` returns: no parent-death
    # signal here, it would fire when the harness *thread* that started this server ends (a pool worker)
    try:
        preload(modules)
    except BaseException as exc:  # noqa: BLE001 - any failure to import is reported, not raised
        send(sock, {"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        return None
    send(sock, {"ready": True, "pid": os.getpid(), "preloaded": modules})
    try:
        serve(sock)
    except Become as become_run:
        return become_run.command
    return None


if __name__ == "__main__":
    run_command = main(sys.argv[1:])
    if run_command is not None:
        run_python(run_command)
