"""The launcher every run goes through: confine a child of this process, then run the command in it.

Run as a plain script (`python -I -S confine.py ...`, standard library only, no
harness import), so it costs a few milliseconds and works whatever the run's
interpreter is. Everything it sets survives the exec and is inherited by every
process the run starts:

- resource limits: a cap on the size of any file written, no core dumps;
- the parent-death signal: the run dies with the harness, even on SIGKILL;
- with `--isolate`, namespaces of its own (Linux; root, or an unprivileged
  user namespace): a PID namespace (the run is PID 1 there: when it ends, the
  kernel kills every process it left, however fast they fork, and it sees no
  process but its own), a network namespace (no interface but a downed
  loopback: no UDP or TCP anywhere), an IPC namespace (no System V or POSIX
  message queues shared with other runs), and a mount namespace with fresh,
  empty tmpfs on /tmp, /var/tmp, /run and /dev/shm (private to this run,
  gone with it: multiprocessing and DataLoader workers work, nothing persists
  from one run to the next, no socket file of the host is reachable there) and
  its own /proc; the folders the run may use that lie below them are mounted
  back at the same path, so every path means what it meant outside;
- Landlock (Linux >= 5.13, no privilege needed): writes only beneath the
  folders given with --write (and to /dev/null-like devices); with
  --confine-reads, reads and executes only beneath those and the --read paths
  (the interpreter, system libraries, the compare's inputs); no TCP
  bind/connect (ABI >= 4), no signals or abstract sockets out of the run
  (ABI >= 6);
- no new privileges, and every capability dropped, so a candidate cannot
  remount, ptrace or load its way out.

The launcher forks the run and stays outside its confinement: it waits for the
run, then writes its exit status and peak RSS to the --report-fd pipe (which
only it holds: the run can neither signal it nor reach the pipe). The kernel's
peak RSS of a process includes its parent's memory at the moment it was
spawned, so a run spawned straight from a large harness would inherit the
harness's size; measured here, it is the run's own (plus this small launcher's).

`--probe` applies the same confinement to the child and prints what is in
force (checked by trying what it forbids) instead of running a command: the
harness records that line in the compare document.
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
from collections.abc import Callable

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 1, 4, 38, 24, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
CAP_VERSION_3 = 0x20080522

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR, REMOVE_DIR, REMOVE_FILE = (1 << b for b in range(6))
MAKE_ALL = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
REFER, TRUNCATE = 1 << 13, 1 << 14
READ_RIGHTS = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE  # the only rights a rule on a non-folder may carry
NET_TCP = (1 << 0) | (1 << 1)  # bind, connect
SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets, signals
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/nvidia*", "/dev/dri/*")
EXIT_SETUP_FAILED = 126

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x8000000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
#: Fresh tmpfs over each of these in an isolated run (size: a share of the machine's memory).
PRIVATE_DIRS = (("/tmp", "10%"), ("/var/tmp", "10%"), ("/run", "1%"), ("/dev/shm", "25%"))

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long


def fail(message: str) -> None:
    sys.stderr.write(f"evalharness-confine: {message}\n")
    sys.exit(EXIT_SETUP_FAILED)


def _check(result: int) -> int:
    if result < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return int(result)


def syscall(number: int, *args: object) -> int:
    return _check(LIBC.syscall(number, *args))


def prctl(option: int, arg: int = 0) -> None:
    """Linux's prctl(2); elsewhere there is nothing to set."""
    if not hasattr(LIBC, "prctl"):
        return
    if LIBC.prctl(option, ctypes.c_ulong(arg), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


# --------------------------------------------------------------------------- #
# Landlock
# --------------------------------------------------------------------------- #


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when there is none."""
    try:
        return syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except OSError:
        return 0


def handled_fs(abi: int, reads: bool) -> int:
    """Every right that changes the filesystem, as far as this ABI knows them, and reading when confined."""
    rights = WRITE_FILE | REMOVE_DIR | REMOVE_FILE | MAKE_ALL | (READ_RIGHTS if reads else 0)
    return rights | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)


def ruleset(abi: int, reads: bool) -> int:
    """A ruleset handling writes (and reads), TCP (ABI 4+) and scopes (ABI 6+)."""
    fields = [handled_fs(abi, reads)] + ([NET_TCP] if abi >= 4 else []) + ([SCOPE_ALL] if abi >= 6 else [])
    attr = ctypes.create_string_buffer(struct.pack(f"={len(fields)}Q", *fields))
    return syscall(SYS_CREATE_RULESET, attr, ctypes.c_size_t(len(attr.raw)), ctypes.c_uint32(0))


def allow(ruleset_fd: int, path: str, access: int) -> None:
    """Grant `access` beneath `path` (a folder) or on it (any other file: only the rights a file can carry)."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            access &= FILE_RIGHTS
        attr = ctypes.create_string_buffer(struct.pack("=Qi", access, fd))
        syscall(SYS_ADD_RULE, ctypes.c_int(ruleset_fd), ctypes.c_int(RULE_PATH_BENEATH), attr, ctypes.c_uint32(0))
    finally:
        os.close(fd)


def devices(isolated: bool) -> list[str]:
    """The harmless devices every run may read and write (and its private /dev/shm when isolated)."""
    found = [device for pattern in DEVICES for device in glob.glob(pattern)]
    return found + (["/dev/shm"] if isolated else [])


def apply_landlock(opts: dict[str, object], abi: int) -> None:
    """Writes beneath --write (and harmless devices) only, reads beneath --read too when asked; for good."""
    reads = bool(opts["confine_reads"])
    every = handled_fs(abi, reads)
    fd = ruleset(abi, reads)
    for path in opts["write"]:  # type: ignore[attr-defined]
        allow(fd, path, every)
    for path in devices(bool(opts["isolate"])):
        allow(fd, path, every if path == "/dev/shm" else (WRITE_FILE | READ_FILE | TRUNCATE) & every)
    if reads:
        for path in [*opts["read"], *(d for d, _ in PRIVATE_DIRS if opts["isolate"])]:  # type: ignore[misc]
            allow(fd, path, every if path in dict(PRIVATE_DIRS) else READ_RIGHTS)
    syscall(SYS_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0))
    os.close(fd)


# --------------------------------------------------------------------------- #
# Namespaces (--isolate)
# --------------------------------------------------------------------------- #


def unshare(flags: int) -> None:
    _check(LIBC.unshare(ctypes.c_int(flags)))


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = (lambda s: s.encode() if s is not None else None)
    _check(LIBC.mount(encode(source), encode(target), encode(fstype), ctypes.c_ulong(flags), encode(data)))


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def enter_pid_namespace() -> None:
    """The next child is PID 1 of a new namespace (owned by a new user namespace when not root)."""
    if os.geteuid() == 0:
        unshare(CLONE_NEWPID)
        return
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER | CLONE_NEWPID)
    prctl(PR_SET_DUMPABLE, 1)  # a non-dumpable process's /proc/self is root's: it could not write its own maps
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")
    prctl(PR_SET_DUMPABLE, 0)


def _beneath(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def kept_paths(paths: list[str]) -> list[str]:
    """The paths below a private folder that the run needs: mounted back after the tmpfs covers them."""
    private = [d for d, _ in PRIVATE_DIRS]
    inside = sorted({os.path.realpath(p) for p in paths if any(_beneath(os.path.realpath(p), d) for d in private)})
    inside = [p for p in inside if os.path.exists(p)]
    return [p for p in inside if not any(q != p and _beneath(p, q) for q in inside)]


def _bind_back(path: str, fd: int, writable: bool) -> None:
    """Mount what `fd` holds at `path` again, on top of the fresh tmpfs; read-only unless the run may write
    there (Landlock grants by walking up the path, so below the run's writable tmpfs only the mount's own
    read-only flag keeps an input from being deleted)."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()
    mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
    if not writable:
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def private_world(writes: list[str], reads: list[str]) -> None:
    """Own mount, network and IPC namespaces; fresh tmpfs over the shared scratch folders; own /proc."""
    unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    writable = set(kept_paths(writes))
    kept = sorted(writable | set(kept_paths(reads)), key=lambda p: p.count("/"))  # outer first: nested on top
    held = [(path, os.open(path, os.O_PATH | os.O_CLOEXEC)) for path in kept]
    for folder, size in PRIVATE_DIRS:
        if os.path.isdir(folder) and not os.path.islink(folder):
            mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for path, fd in held:
        _bind_back(path, fd, path in writable)
        os.close(fd)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(os.getcwd())  # the working folder as seen through the new mounts, not the covered one


# --------------------------------------------------------------------------- #
# Capabilities, limits, the launcher
# --------------------------------------------------------------------------- #


def drop_capabilities() -> bool:
    """Every capability gone, now and across exec (root keeps its uid); False if not permitted."""
    try:
        for cap in range(64):
            try:
                prctl(PR_CAPBSET_DROP, cap)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.EPERM):
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


def restrict(opts: dict[str, object]) -> dict[str, object]:
    """Confine this process for good (and everything it will exec or start); returns what is in force."""
    if opts["isolate"]:
        private_world(list(opts["write"]), list(opts["read"]))  # type: ignore[call-overload]
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    facts: dict[str, object] = {"level": "none", "abi": 0, "max_file_bytes": opts["max_file_bytes"],
                                "isolated": bool(opts["isolate"]), "reads_confined": False}
    if opts["level"] == "landlock":
        abi = landlock_abi()
        if not abi:
            fail("Landlock was requested but this kernel does not offer it")
        apply_landlock(opts, abi)
        facts.update(level="landlock", abi=abi, tcp_denied=abi >= 4, signals_scoped=abi >= 6,
                     reads_confined=bool(opts["confine_reads"]))
    facts["capabilities_dropped"] = drop_capabilities()
    return facts


def probe(facts: dict[str, object], opts: dict[str, object]) -> dict[str, object]:
    """Check the confinement by doing what it forbids: write beside the allowed folder, read the file the
    harness planted there, see another process, reach the network, see the host's /tmp."""
    writable = list(opts["write"])  # type: ignore[call-overload]
    beside = os.path.dirname(writable[0]) if writable else "/"
    private = opts["isolate"] and any(_beneath(beside, d) for d, _ in PRIVATE_DIRS)
    outside = "/" if private else beside  # a private tmpfs is the run's own to write: try the host's root instead
    facts["writes_outside_denied"] = not _can(lambda: open(os.path.join(outside, f".probe-{os.getpid()}"), "w").close())
    facts["reads_outside_denied"] = not _can(lambda: open(os.path.join(beside, "planted")).read())
    facts["own_processes_only"] = os.getpid() == 1 and [p for p in os.listdir("/proc") if p.isdigit()] == ["1"]
    facts["no_network"] = bool(opts["isolate"]) and _interfaces() == ["lo"]
    kept = {p.split("/")[2] for p in kept_paths([*opts["write"], *opts["read"]]) if _beneath(p, "/tmp")}  # type: ignore[misc]
    facts["private_tmp"] = bool(opts["isolate"]) and set(os.listdir("/tmp")) <= kept
    return facts


def _can(action: Callable[[], object]) -> bool:
    try:
        action()
        return True
    except OSError:
        return False


def _interfaces() -> list[str]:
    with open("/proc/net/dev") as fh:
        return sorted(line.split(":")[0].strip() for line in fh.read().splitlines()[2:])


def parse(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    """--level L --write DIR... --read PATH... [--confine-reads] [--isolate] --max-file-bytes N --parent PID
    [--report-fd N] [--probe] -- COMMAND..."""
    opts: dict[str, object] = {"level": "none", "write": [], "read": [], "max_file_bytes": 1 << 31, "parent": 0,
                               "probe": False, "report_fd": 0, "isolate": False, "confine_reads": False}
    rest = list(argv)
    while rest and rest[0] != "--":
        flag = rest.pop(0)
        if flag in ("--probe", "--isolate", "--confine-reads"):
            opts[flag[2:].replace("-", "_")] = True
        elif flag in ("--write", "--read"):
            opts[flag[2:]].append(os.path.abspath(rest.pop(0)))  # type: ignore[union-attr]
        elif flag in ("--level", "--max-file-bytes", "--parent", "--report-fd"):
            value = rest.pop(0)
            opts[flag[2:].replace("-", "_")] = value if flag == "--level" else int(value)
        else:
            fail(f"unknown option {flag}")
    return opts, rest[1:]


def main(argv: list[str], execute: Callable[[list[str]], None] | None = None) -> None:
    """Prepare this launcher, fork the confined run and wait for it; `execute` becomes the command in the run
    (exec by default; the warm-start server passes its own)."""
    execute = execute or exec_command
    opts, command = parse(argv)
    if not command and not opts["probe"]:
        fail("no command to run")
    try:
        prepare_launcher(int(opts["max_file_bytes"]), int(opts["parent"]))  # type: ignore[call-overload]
        if opts["isolate"]:
            enter_pid_namespace()
    except OSError as exc:
        fail(f"cannot confine the run: {exc}")
    run_and_report(command, opts, execute)


def confined(command: list[str], opts: dict[str, object], execute: Callable[[list[str]], None],
             status_w: int | None) -> None:
    """In the forked child: restrict this process, then become the command (or print the probe's findings).

    Isolated, this child is PID 1 of the run's namespace, and a PID 1 ignores
    the signals it sends itself (a script's `os.kill(os.getpid(), SIGTERM)`
    would do nothing): so it stays a small init that forks the command, reaps
    every orphan, and passes the command's wait status on (`status_w`); when it
    exits, the kernel kills whatever the run left behind.
    """
    try:
        facts = restrict(opts)
    except OSError as exc:
        fail(f"cannot confine the run: {exc}")
    if opts["probe"]:
        sys.stdout.write(json.dumps(probe(facts, opts)) + "\n")
        sys.stdout.flush()
        os._exit(0)
    if status_w is None:
        execute(command)
        return
    pid = os.fork()
    if pid == 0:
        os.close(status_w)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        execute(command)
        return
    init(pid, status_w)


def init(command_pid: int, status_w: int) -> None:
    """Reap every process of the namespace until the command ends; report its wait status, then end it all."""
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(EXIT_SETUP_FAILED)
        if pid == command_pid:
            os.write(status_w, str(status).encode())
            os._exit(0)


def exec_command(command: list[str]) -> None:
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"cannot start {command[0]!r}: {exc.strerror or exc}\n")
        sys.exit(127)


def run_and_report(command: list[str], opts: dict[str, object], execute: Callable[[list[str]], None]) -> None:
    """Fork the confined command (it dies with this launcher), wait, report its status and peak RSS, exit like it.

    Only the child is confined: this launcher stays outside the run's Landlock
    domain (and its PID namespace), so the run can neither signal it nor reach
    its report pipe.
    """
    report_fd = int(opts["report_fd"])  # type: ignore[call-overload]
    if report_fd:
        os.set_inheritable(report_fd, False)
    status_r, status_w = os.pipe() if opts["isolate"] and not opts["probe"] else (None, None)
    pid = os.fork()
    if pid == 0:
        for fd in (report_fd, status_r):
            if fd:
                os.close(fd)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        confined(command, opts, execute, status_w)
        return
    if status_w is not None:
        os.close(status_w)
    _, status, usage = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(_command_status(status_r, status))
    if report_fd:
        os.write(report_fd, json.dumps({"returncode": code, "maxrss_kb": usage.ru_maxrss}).encode())
        os.close(report_fd)
    sys.exit(code if code >= 0 else 128 - code)


def _command_status(status_r: int | None, init_status: int) -> int:
    """The command's own wait status, as its init passed it on (the init's, when it could not)."""
    if status_r is None:
        return init_status
    data = os.read(status_r, 64)
    os.close(status_r)
    return int(data) if data.strip().isdigit() else init_status


if __name__ == "__main__":
    main(sys.argv[1:])
