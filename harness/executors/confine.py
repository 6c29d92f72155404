"""The launcher every run goes through: confine this process, then exec the run's command.

Run as a plain script (`python -I -S confine.py ...`, standard library only, no
harness import), so it costs a few milliseconds and works whatever the run's
interpreter is. Everything it sets survives the exec and is inherited by every
process the run starts:

- resource limits: a cap on the size of any file written, no core dumps;
- the parent-death signal: the run dies with the harness, even on SIGKILL;
- Landlock (Linux >= 5.13, no privilege needed): writes only beneath the
  folders given with --write (and to /dev/null-like devices), no TCP
  bind/connect (ABI >= 4), no signals or abstract sockets out of the run
  (ABI >= 6); reading stays allowed everywhere;
- no new privileges, and when run as root every capability dropped, so a
  candidate cannot remount, ptrace or load its way out.

`--probe` applies the same confinement to itself and prints what is in force
(checked by trying a forbidden write) instead of exec'ing: the harness
records that line in the compare document.

With `--report-fd N` the launcher forks the command instead of becoming it,
waits for it, and writes its exit status and peak RSS to fd N (a pipe only
the launcher holds). The kernel's peak RSS of a process includes its
parent's memory at the moment it was spawned, so a run spawned straight from
a large harness would inherit the harness's size; measured here, it is the
run's own (plus this small launcher's).
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import resource
import signal
import struct
import sys
import tempfile
from collections.abc import Callable

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 1, 4, 38, 24, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_VERSION_3 = 0x20080522

WRITE_FILE, REMOVE_DIR, REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
MAKE_ALL = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
REFER, TRUNCATE = 1 << 13, 1 << 14
NET_TCP = (1 << 0) | (1 << 1)  # bind, connect
SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/nvidia*", "/dev/dri/*")
EXIT_SETUP_FAILED = 126

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long


def fail(message: str) -> None:
    sys.stderr.write(f"evalharness-confine: {message}\n")
    sys.exit(EXIT_SETUP_FAILED)


def syscall(number: int, *args: object) -> int:
    result = LIBC.syscall(number, *args)
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return int(result)


def prctl(option: int, arg: int = 0) -> None:
    """Linux's prctl(2); elsewhere there is nothing to set."""
    if not hasattr(LIBC, "prctl"):
        return
    if LIBC.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when there is none."""
    try:
        return syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except OSError:
        return 0


def handled_fs(abi: int) -> int:
    """Every right that changes the filesystem, as far as this ABI knows them (reads are not restricted)."""
    rights = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_ALL
    return rights | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)


def ruleset(abi: int) -> int:
    """A ruleset handling writes, TCP (ABI 4+) and scopes (ABI 6+)."""
    fields = [handled_fs(abi)] + ([NET_TCP] if abi >= 4 else []) + ([SCOPE_ALL] if abi >= 6 else [])
    attr = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields))
    return syscall(SYS_CREATE_RULESET, attr, ctypes.c_size_t(len(attr.raw)), ctypes.c_uint32(0))


def allow(ruleset_fd: int, path: str, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        syscall(SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH), attr, ctypes.c_uint32(0))
    finally:
        os.close(fd)


def apply_landlock(writable: list[str], abi: int) -> None:
    """Writes beneath `writable` and to harmless devices only; then restrict this process for good."""
    fd = ruleset(abi)
    for path in writable:
        allow(fd, path, handled_fs(abi))
    for pattern in DEVICES:
        for device in glob.glob(pattern):
            allow(fd, device, WRITE_FILE | (TRUNCATE if abi >= 3 else 0))
    syscall(SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0))
    os.close(fd)


def drop_capabilities() -> bool:
    """Root keeps its uid but loses every capability, now and across exec; False if not permitted."""
    try:
        for cap in range(64):
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    break
                raise
        LIBC.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        header = ctypes.create_string_buffer(struct.pack("=Ii", CAP_VERSION_3, 0))
        data = ctypes.create_string_buffer(bytes(24))
        return LIBC.capset(header, data) == 0
    except (OSError, AttributeError):
        return False


def set_limits(max_file_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent(parent: int) -> None:
    """SIGKILL when the harness dies; if it already has, do not start at all."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent and os.getppid() != parent:
        fail("the harness exited before the run started")


def prepare_launcher(max_file_bytes: int, parent: int) -> None:
    """This process and all it starts: file-size cap, no core dumps, death with the harness, no inspection."""
    set_limits(max_file_bytes)
    die_with_parent(parent)
    prctl(PR_SET_DUMPABLE, 0)  # its report pipe cannot be reached through /proc by the run


def restrict(level: str, writable: list[str], max_file_bytes: int) -> dict[str, object]:
    """Confine this process for good (and everything it will exec or start); returns what is in force."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    facts: dict[str, object] = {"level": "none", "abi": 0, "max_file_bytes": max_file_bytes}
    if level == "landlock":
        abi = landlock_abi()
        if not abi:
            fail("Landlock was requested but this kernel does not offer it")
        apply_landlock(writable, abi)
        facts.update(level="landlock", abi=abi, tcp_denied=abi >= 4, signals_scoped=abi >= 6)
    facts["capabilities_dropped"] = drop_capabilities() if os.geteuid() == 0 else True
    return facts


def probe(facts: dict[str, object], writable: list[str]) -> dict[str, object]:
    """Check the confinement by doing what it forbids: write outside the allowed folders."""
    outside = os.path.dirname(writable[0]) if writable else tempfile.gettempdir()
    target = os.path.join(outside, f".evalharness-probe-{os.getpid()}")
    try:
        with open(target, "w"):
            pass
        os.unlink(target)
        facts["writes_outside_denied"] = False
    except OSError:
        facts["writes_outside_denied"] = True
    return facts


def parse(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """--level L --write DIR... --max-file-bytes N --parent PID [--report-fd N] [--probe] -- COMMAND..."""
    opts: dict[str, object] = {"level": "none", "write": [], "max_file_bytes": 1 << 31, "parent": 0, "probe": False,
                               "report_fd": 0}
    rest = list(argv)
    while rest and rest[0] != "--":
        flag = rest.pop(0)
        if flag == "--probe":
            opts["probe"] = True
        elif flag == "--write":
            opts["write"].append(os.path.abspath(rest.pop(0)))  # type: ignore[union-attr]
        elif flag in ("--level", "--max-file-bytes", "--parent", "--report-fd"):
            value = rest.pop(0)
            opts[flag[2:].replace("-", "_")] = value if flag == "--level" else int(value)
        else:
            fail(f"unknown option {flag}")
    return opts, rest[1:]


def main(argv: list[str], execute: Callable[[list[str]], None] | None = None) -> None:
    """Confine, then run the command: `execute` becomes it (exec by default; the warm-start server passes its own)."""
    execute = execute or exec_command
    opts, command = parse(argv)
    level, writable, max_file_bytes = str(opts["level"]), list(opts["write"]), int(opts["max_file_bytes"])
    try:
        prepare_launcher(max_file_bytes, int(opts["parent"]))
        if opts["probe"]:
            sys.stdout.write(json.dumps(probe(restrict(level, writable, max_file_bytes), writable)) + "\n")
            return
    except OSError as exc:
        fail(f"cannot confine the run: {exc}")
    if not command:
        fail("no command to run")
    if opts["report_fd"]:
        run_and_report(command, int(opts["report_fd"]), lambda: restrict(level, writable, max_file_bytes), execute)
    confined(command, lambda: restrict(level, writable, max_file_bytes), execute)


def confined(command: list[str], restrict_self: Callable[[], object], execute: Callable[[list[str]], None]) -> None:
    """Restrict this process, then become the command."""
    try:
        restrict_self()
    except OSError as exc:
        fail(f"cannot confine the run: {exc}")
    execute(command)


def exec_command(command: list[str]) -> None:
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"cannot start {command[0]!r}: {exc.strerror or exc}\n")
        sys.exit(127)


def run_and_report(command: list[str], report_fd: int, restrict_child: Callable[[], object],
                   execute: Callable[[list[str]], None]) -> None:
    """Fork the confined command (it dies with this launcher), wait, report its status and peak RSS, exit like it.

    Only the child is confined: this launcher stays outside the run's Landlock
    domain, so the run can neither signal it nor reach its report pipe.
    """
    os.set_inheritable(report_fd, False)
    pid = os.fork()
    if pid == 0:
        os.close(report_fd)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        confined(command, restrict_child, execute)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os.write(report_fd, json.dumps({"returncode": code, "maxrss_kb": usage.ru_maxrss}).encode())
    os.close(report_fd)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main(sys.argv[1:])
