"""The report as data: what a reader is shown, with no markup in it.

A compare report is decided once (`compare_view.build`: which sections, rows,
ratios, captions, warnings and images) and then formatted by renderers that
decide nothing (`markdown.render`, `html.render`). The vocabulary here is the
whole contract between the two: sections holding blocks (paragraphs, lists,
warnings, tables, figures, code blocks) whose text is spans.

Every span says where its text comes from. `trusted` text is the harness's own
words and numbers, known to hold no markup; everything else — verdict
reasons, crash messages, names, task labels, file names — may have been
written by a candidate or a user, so a renderer that reads markup (markdown)
must neutralise it. The HTML renderer escapes every text node regardless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Style = Literal["plain", "strong", "em", "code"]


@dataclass(frozen=True)
class Span:
    """A run of text in one style."""

    text: str
    style: Style = "plain"
    trusted: bool = False  # the harness's own words and numbers; False: a candidate's or a user's text


@dataclass(frozen=True)
class Image:
    """An image in the report's asset folder: `src` is a relative, URL-quoted link; `alt` says what it shows."""

    src: str
    alt: tuple[Span, ...]


#: A line of text: spans and images, in order.
Inline = tuple[Span | Image, ...]


@dataclass(frozen=True)
class Paragraph:
    content: Inline


@dataclass(frozen=True)
class BulletList:
    items: tuple[Inline, ...]


@dataclass(frozen=True)
class Warnings:
    """Warnings a reader must not miss: the whole report's, or one candidate's (its flagged diff lines too)."""

    intro: Inline
    items: tuple[Inline, ...]
    about: Literal["report", "candidate"]


@dataclass(frozen=True)
class Table:
    """A table of cells; `key` names the table for renderers and tests (an HTML id), "" for none."""

    headers: tuple[Inline, ...]
    rows: tuple[tuple[Inline, ...], ...]
    key: str = ""


@dataclass(frozen=True)
class Figure:
    """An image on its own: its alt text is its caption."""

    image: Image


@dataclass(frozen=True)
class CodeBlock:
    """Text shown verbatim (a diffstat, a stderr tail, a command line), control characters already removed."""

    text: str
    lang: str = "text"


@dataclass(frozen=True)
class Section:
    """A heading (level 1 is the report's title) and what follows it, subsections included."""

    title: Inline
    level: int
    blocks: tuple[Block, ...]
    key: str = ""  # a stable name for anchors ("summary", "candidate-gemini")


Block = Paragraph | BulletList | Warnings | Table | Figure | CodeBlock | Section


@dataclass(frozen=True)
class Report:
    """A whole page: its title as plain text (a browser tab's) and its sections."""

    title: str
    sections: tuple[Section, ...]


def ours(text: str, style: Style = "plain") -> Span:
    """The harness's own words or numbers."""
    return Span(text, style, trusted=True)


def theirs(text: object, style: Style = "plain") -> Span:
    """Text that may come from a candidate, a user, a task file or a stored document."""
    return Span(str(text), style, trusted=False)


def text_of(line: Inline) -> str:
    """The words of a line, images by their alt text (a page title, a test's comparison)."""
    return "".join(part.text if isinstance(part, Span) else text_of(part.alt) for part in line)
