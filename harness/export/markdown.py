"""Markdown of a view.Report (GitHub-flavoured): formatting only, every decision is the view's.

Untrusted spans go through `safe.inline`, so a candidate's `![..](https://…)`,
`<img>` or `|` stays text; the harness's own (trusted) words are written as
they are. Code spans and blocks are fenced with more backticks than they hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import singledispatch

from harness.export import safe
from harness.export.view import (BulletList, CodeBlock, Figure, Image, Inline, Paragraph, Report, Section, Span, Table,
                                 Warnings)


def render(report: Report) -> str:
    """The whole page: its sections, separated by blank lines."""
    return blocks(report.sections).rstrip() + "\n"


def blocks(items: Sequence[object]) -> str:
    return "\n\n".join(text for text in map(block, items) if text)


@singledispatch
def block(item: object) -> str:
    raise TypeError(f"no markdown for {type(item).__name__}")


@block.register
def _section(item: Section) -> str:
    heading = "#" * item.level + " " + inline(item.title)
    return "\n\n".join([heading, blocks(item.blocks)]) if item.blocks else heading


@block.register
def _paragraph(item: Paragraph) -> str:
    return inline(item.content)


@block.register
def _bullets(item: BulletList) -> str:
    return "\n".join(f"- {inline(line)}" for line in item.items)


@block.register
def _warnings(item: Warnings) -> str:
    """The report's warnings as a titled list; a candidate's as a GitHub alert, which no reader skims past."""
    if item.about == "report":
        return "\n".join([f"**{inline(item.intro)}**", "", *(f"- ⚠️ {inline(line)}" for line in item.items)])
    return "\n".join(["> [!WARNING]", f"> {inline(item.intro)}", *(f"> - {inline(line)}" for line in item.items)])


@block.register
def _table(item: Table) -> str:
    return table([inline(h) for h in item.headers], [[inline(c) for c in row] for row in item.rows])


@block.register
def _figure(item: Figure) -> str:
    return image(item.image)


@block.register
def _code(item: CodeBlock) -> str:
    fence = "`" * max(3, _longest_backticks(item.text) + 1)
    return f"{fence}{item.lang}\n{item.text}\n{fence}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table of rendered cells; a stray `|` in a cell cannot add a column."""
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(re.sub(r"(?<!\\)\|", r"\\|", str(c)) for c in cells) + " |"

    return "\n".join([line(headers), "|" + "|".join("---" for _ in headers) + "|", *(line(r) for r in rows)])


def inline(line: Inline) -> str:
    return "".join(image(part) if isinstance(part, Image) else span(part) for part in line)


def image(item: Image) -> str:
    return f"![{inline(item.alt)}]({item.src})"


def span(item: Span) -> str:
    if item.style == "code":
        return _code_span(item.text if item.trusted else " ".join(safe.plain(item.text).split()))
    text = item.text if item.trusted else safe.inline(item.text)
    return f"**{text}**" if item.style == "strong" else f"_{text}_" if item.style == "em" else text


def _code_span(text: str) -> str:
    """Backticks around the text, more of them than any run inside (a space pads a text that starts with one)."""
    fence = "`" * (_longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backticks(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)
