"""No survivors: find every process a run started, however it tried to leave, and kill it.

A run's processes are found three ways, so leaving one trail is not enough:
- the process tree under the run's first process;
- the harness is a child subreaper, so a double-forked daemon that left the
  tree (setsid, start_new_session) is re-parented to the harness, not init;
- every process carries the run's token in its environment.
Killing stops them all first (SIGSTOP), so a forking loop cannot outrun the sweep.
"""

from __future__ import annotations

import ctypes
import logging
import os
import secrets
import signal
from pathlib import Path

from harness.executors.sandbox import TOKEN_VAR

log = logging.getLogger(__name__)
PR_SET_CHILD_SUBREAPER = 36
MAX_SWEEPS = 50
PROC = Path("/proc")


def new_token() -> str:
    return secrets.token_hex(12)


def become_subreaper() -> bool:
    """Orphans of our runs are re-parented to this process instead of init (Linux); False elsewhere."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def process_table() -> dict[int, tuple[int, str]]:
    """pid → (parent pid, state letter) of every visible process."""
    table = {}
    for entry in PROC.iterdir() if PROC.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), fields[0])
    return table


def descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    """Every process below `roots` (roots included when they exist)."""
    found = {p for p in roots if p in table}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in table.items() if ppid in found and pid not in found}
        found |= more
        grew = bool(more)
    return found


def has_token(pid: int, token: str) -> bool:
    try:
        return f"{TOKEN_VAR}={token}".encode() in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def children(pid: int, table: dict[int, tuple[int, str]] | None = None) -> set[int]:
    table = process_table() if table is None else table
    return {p for p, (ppid, _) in table.items() if ppid == pid}


def run_processes(root: int, token: str, known: set[int], keep: frozenset[int] = frozenset()) -> set[int]:
    """The live processes of one run: its tree, orphans re-parented to us, anything with its token.

    `keep`: the launchers of other runs in flight (--jobs) are our children too, but not this run's.
    """
    table = process_table()
    me = os.getpid()
    orphans = children(me, table) - known - keep
    orphans -= descendants(set(keep), table)
    marked = {pid for pid in table if pid != me and has_token(pid, token)} if token else set()
    found = descendants({root} | orphans | marked, table) - {me}
    return {p for p in found if table.get(p, (0, "X"))[1] not in "ZX"}


def _signal_all(pids: set[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def reap(pids: set[int]) -> None:
    """Collect the exit status of those that are our children (orphans re-parented to us), killed or dead."""
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def reap_zombies(keep: frozenset[int] = frozenset()) -> None:
    """Dead orphans re-parented to us since the last sweep: collect them so none lingers as a zombie.

    `keep`: our own launchers of runs still in flight (--jobs): their exit
    status belongs to the thread that waits for them.
    """
    table = process_table()
    reap({pid for pid in children(os.getpid(), table) if table[pid][1] == "Z" and pid not in keep})


def sweep(root: int, token: str, known: set[int], keep: frozenset[int] = frozenset()) -> int:
    """Stop then kill every process of the run until none is left; returns how many were killed."""
    killed: set[int] = set()
    for _ in range(MAX_SWEEPS):
        alive = run_processes(root, token, known, keep)
        if not alive:
            break
        _signal_all(alive, signal.SIGSTOP)
        _signal_all(alive, signal.SIGKILL)
        killed |= alive
        reap(alive)
    else:
        log.warning("processes of a run survived %d sweeps: %s", MAX_SWEEPS,
                    sorted(run_processes(root, token, known, keep)))
    reap_zombies(keep)
    return len(killed - {root})
