"""A run's output as the harness receives it: line by line, stamped, capped.

Each complete line is written to the run folder's log file the moment it
arrives and stamped with the harness's own clock (seconds since the run
started). Those stamps, not the timestamps a run prints about itself, are
where every phase time comes from. Caps keep a hostile run from growing the
harness: a line longer than MAX_LINE_BYTES is cut, and past MAX_LOG_BYTES per
stream lines are counted, not kept; both leave a marker line in the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

MAX_LINE_BYTES = 64 << 10
MAX_LOG_BYTES = 32 << 20
MARK = b"[evalharness] "


class LogSink:
    """One stream (stdout or stderr) of one run: bytes in, capped lines and their stamps out."""

    def __init__(self, path: Path, max_line: int = MAX_LINE_BYTES, max_total: int = MAX_LOG_BYTES) -> None:
        self.file: BinaryIO = open(path, "wb")
        self.max_line, self.max_total = max_line, max_total
        self.partial = bytearray()
        self.cut = 0  # bytes dropped from the current (over-long) line
        self.written = 0
        self.dropped_lines = 0
        self.dropped_bytes = 0
        self.stamps: list[float] = []

    def feed(self, chunk: bytes, now: float) -> None:
        """Append what arrived at `now`; every newline completes a line stamped `now` (on disk at once: live)."""
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self._grow(chunk[start:end])
            self._finish_line(now)
            start = end + 1
        self._grow(chunk[start:])
        self.file.flush()

    def _grow(self, piece: bytes) -> None:
        room = self.max_line - len(self.partial)
        self.partial += piece[:max(room, 0)]
        self.cut += max(len(piece) - max(room, 0), 0)

    def _finish_line(self, now: float) -> None:
        line = bytes(self.partial)
        if self.cut:
            line += b" " + MARK + f"{self.cut} more bytes of this line cut".encode()
        self.partial.clear()
        self.cut = 0
        self._keep(line, now)

    def _keep(self, line: bytes, now: float) -> None:
        if self.written + len(line) + 1 > self.max_total:
            self.dropped_lines += 1
            self.dropped_bytes += len(line) + 1
            return
        self.file.write(line + b"\n")
        self.written += len(line) + 1
        self.stamps.append(now)

    def close(self, now: float) -> list[float]:
        """The last unterminated line counts as a line; a cap that was hit says so in the log."""
        if self.partial or self.cut:
            self._finish_line(now)
        if self.dropped_lines:
            note = MARK + f"log cap of {self.max_total >> 20} MiB reached: {self.dropped_lines} more lines " \
                          f"({self.dropped_bytes} bytes) not kept".encode()
            self.file.write(note + b"\n")
            self.stamps.append(now)
        self.file.close()
        return self.stamps
