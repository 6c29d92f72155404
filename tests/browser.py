"""Headless Chromium for tests: what a real browser makes of a page (its DOM after parsing, a screenshot).

Debian's `chromium` package (`apt-get install -y chromium`; .ci/run installs
it). Every call starts from a fresh profile with networking features off, so
a page is judged offline and alone.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, "chromium is not installed: apt-get install -y chromium (.ci/run does)"
    return found


def _run(page: Path, profile: Path, *args: str) -> str:
    argv = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(page: Path, profile: Path) -> str:
    """The page's DOM as the browser built it, serialised."""
    return _run(page, profile, "--dump-dom")


def screenshot(page: Path, target: Path, profile: Path, size: tuple[int, int]) -> Path:
    _run(page, profile, f"--screenshot={target}", f"--window-size={size[0]},{size[1]}")
    return target


class Dom(HTMLParser):
    """Every element's tag and attributes, the text of each table (by class) and of each code block."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.code: list[str] = []
        self.text: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None
        self._in_pre = False
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "pre":
            self._in_pre = True
            self.code.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_pre:
            self.code[-1] += data
