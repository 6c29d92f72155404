"""One compare per run folder: an exclusive lock, and who holds it when it is taken.

Two compares writing the same run folder at once produce nonsense (a result
half of one and half of the other), so the second one waits, saying which
process holds the folder. The lock is an flock(): the kernel releases it when
its holder exits, however it exits, so a crashed compare never leaves a stale
lock behind.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)


class FolderLock:
    """An exclusive lock on a folder (via a lock file inside it), held until released."""

    def __init__(self, folder: Path, lock_name: str = ".lock") -> None:
        self.path = folder / lock_name
        self.fd: int | None = None

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it (best effort)."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"pid {info['pid']} on {info['host']} since {info['since']} ({' '.join(info['argv'])[:120]})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def acquire(self) -> FolderLock:
        """Take the lock, waiting (and saying for whom) while another compare holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s is in use by %s; waiting for it to finish", self.path.parent, self.holder())
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        self._write_holder()
        return self

    def _write_holder(self) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv,
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
