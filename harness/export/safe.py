"""Text a candidate wrote, made safe to show: no terminal escapes, no markup.

A crash message or a diff line is the candidate's own text. Printed raw, an
ANSI escape rewrites the reader's terminal, and in a markdown report or a
GitHub job summary `![..](https://…)`, `<img>` or `<script>` becomes an image
fetched from the candidate's server or live HTML. Every exporter passes such
text through here.
"""

from __future__ import annotations

import re
from typing import Any

#: Terminal escape sequences (CSI, OSC) and every other control character but newline and tab.
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
#: What markdown or HTML would read as markup in a line of text (tables: `|`).
MARKUP = re.compile(r"([\\`\[\]|])")
HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def plain(text: Any) -> str:
    """The text without terminal escapes or control characters (newlines and tabs kept)."""
    return CONTROL.sub("", str(text))


def inline(text: Any) -> str:
    """One line of markdown that shows the text as text: no links, images, HTML or code spans."""
    flat = " ".join(plain(text).split())
    flat = "".join(HTML.get(ch, ch) for ch in flat)
    return MARKUP.sub(r"\\\1", flat)
