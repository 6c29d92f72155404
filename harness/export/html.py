"""HTML of a view.Report: one self-contained page, images linked from the same asset folder as the markdown.

Formatting only, like the markdown renderer. Every text node and attribute
value goes through `html.escape`, trusted or not, so no text of a candidate's
can become markup; an image link that is not relative (a scheme, a host, an
absolute path) is never emitted, and the page's Content-Security-Policy lets
nothing but its own images and inline style load or run.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatch
from html import escape
from urllib.parse import urlsplit

from harness.export import safe
from harness.export.view import (BulletList, CodeBlock, Figure, Image, Inline, Paragraph, Report, Section, Span, Table,
                                 Warnings)

CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 78rem; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
.scroll { overflow-x: auto; }
code, pre { font-family: ui-monospace, monospace; font-size: .9em; background: #f6f8fa; }
pre { padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
.warnings { border-left: 4px solid #bf8700; background: #fff8c5; padding: .4rem .9rem; margin: .8rem 0; }
.warnings p { font-weight: 600; margin: .2rem 0; }
figure { margin: .8rem 0; } figcaption { color: #59636e; font-size: .9em; }
img { max-width: 100%; }
""".strip()


def render(report: Report) -> str:
    """The whole page."""
    head = ['<meta charset="utf-8">', f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_text(report.title, False)}</title>", f"<style>\n{STYLE}\n</style>"]
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", *head, "</head>", "<body>", "<main>",
                      blocks(report.sections), "</main>", "</body>", "</html>"]) + "\n"


def blocks(items: Sequence[object]) -> str:
    return "\n".join(text for text in map(block, items) if text)


@singledispatch
def block(item: object) -> str:
    raise TypeError(f"no HTML for {type(item).__name__}")


@block.register
def _section(item: Section) -> str:
    level = min(max(item.level, 1), 6)
    opening = f'<section id="{escape(item.key)}">' if item.key else "<section>"
    return "\n".join([opening, f"<h{level}>{inline(item.title)}</h{level}>", blocks(item.blocks), "</section>"])


@block.register
def _paragraph(item: Paragraph) -> str:
    return f"<p>{inline(item.content)}</p>"


@block.register
def _bullets(item: BulletList) -> str:
    return _list(item.items)


@block.register
def _warnings(item: Warnings) -> str:
    return "\n".join([f'<aside class="warnings warnings-{escape(item.about)}" role="note">',
                      f"<p>{inline(item.intro)}</p>", _list(item.items), "</aside>"])


@block.register
def _table(item: Table) -> str:
    opening = f'<table class="{escape(item.key)}">' if item.key else "<table>"
    head = "<tr>" + "".join(f"<th>{inline(h)}</th>" for h in item.headers) + "</tr>"
    rows = ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in row) + "</tr>" for row in item.rows]
    return "\n".join(['<div class="scroll">', opening, f"<thead>{head}</thead>", "<tbody>", *rows, "</tbody>",
                      "</table>", "</div>"])


@block.register
def _figure(item: Figure) -> str:
    return f"<figure>{image(item.image)}<figcaption>{inline(item.image.alt)}</figcaption></figure>"


@block.register
def _code(item: CodeBlock) -> str:
    return f'<pre><code class="language-{escape(item.lang)}">{escape(item.text)}</code></pre>'


def _list(items: Sequence[Inline]) -> str:
    return "\n".join(["<ul>", *(f"<li>{inline(line)}</li>" for line in items), "</ul>"])


def inline(line: Inline) -> str:
    return "".join(image(part) if isinstance(part, Image) else span(part) for part in line)


def image(item: Image) -> str:
    """An <img> of a relative link into the asset folder; any other link shows only its alt text."""
    alt = "".join(_text(part.text, part.trusted) for part in item.alt if isinstance(part, Span))
    if not relative(item.src):
        return alt
    return f'<img src="{escape(item.src)}" alt="{alt}">'


def relative(link: str) -> bool:
    """True for a link inside the report's folder tree: no scheme, no host, not absolute, no way up."""
    parts = urlsplit(link)
    return not (parts.scheme or parts.netloc or link.startswith(("/", "\\")) or ".." in link.split("/"))


def span(item: Span) -> str:
    text = _text(item.text, item.trusted)
    tag = {"strong": "strong", "em": "em", "code": "code"}.get(item.style)
    return f"<{tag}>{text}</{tag}>" if tag else text


def _text(text: str, trusted: bool) -> str:
    """Escaped for a text node or a quoted attribute; untrusted text also loses control characters."""
    return escape(text if trusted else " ".join(safe.plain(text).split()), quote=True)
