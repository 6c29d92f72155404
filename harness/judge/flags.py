"""Diff lines a speed or equivalence claim must not hide: seeds, RNG, threads, precision, the clock.

These patterns are about training scripts in general; a task adds its own
(its log line format, say) in its TOML `[flags]` table. Each flag carries the
file and the line number in the candidate's version, read from the hunk
headers, so CI can annotate the exact line.

In a Python file only code is matched: comments and docstrings (a statement
that is nothing but a string) run nothing, so `+ # but inside fork_rng …` is
no flag. That needs the whole file, since a line's meaning depends on every
line before it (a triple quote opened further up): `checkout.diff_text` gives the
diff with the whole file as context, and a file whose diff does not start at
its first line, that does not tokenize, or that CPython would read otherwise
than `tokenize` does (a coding cookie other than UTF-8, a lone carriage
return: both turn a "comment" into code) is matched line by line as text.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.results import Flag

GENERIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("seeds", re.compile(r"manual_seed|\bseed\s*\(|random\.seed|np\.random\.seed|default_rng|Generator\(")),
    ("RNG draws or state", re.compile(r"fork_rng|[gs]et_rng_state|torch\.(rand|randn|randint|randperm|normal|bernoulli|multinomial)\(|np\.random\.|\brandom\.(random|randint|choice|shuffle)\(")),
    ("thread counts", re.compile(r"set_num_threads|set_num_interop_threads|OMP_NUM_THREADS|MKL_NUM_THREADS|OPENBLAS_NUM_THREADS")),
    ("precision switches", re.compile(r"allow_tf32|set_float32_matmul_precision|cudnn\.benchmark|use_deterministic_algorithms|autocast|\.half\(|bfloat16|float16")),
    ("logging or timing code", re.compile(r"\blogging\.|\blogger\.|basicConfig|Formatter|perf_counter|time\.time\(|monotonic")),
)
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
#: PEP 263's coding declaration (first two lines); CPython decodes the file with it.
CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
UTF8 = ("utf-8", "utf8", "utf_8", "utf-8-sig")
#: Tokens that are no code: what they hold never runs.
NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}


@dataclass
class FileDiff:
    """One file's part of a diff: both sides as far as the hunks show them, and the changed lines in order."""

    path: str = "?"
    old_path: str = "?"
    starts: list[tuple[int, int]] = field(default_factory=list)  # (old, new) first line of each hunk
    old: dict[int, str] = field(default_factory=dict)
    new: dict[int, str] = field(default_factory=dict)
    changes: list[tuple[int, str]] = field(default_factory=list)  # (line number on its side, "+…" or "-…")

    @property
    def whole(self) -> bool:
        """One hunk from the first line on: every line before a changed one is known (a full-context diff)."""
        return len(self.starts) == 1 and max(self.starts[0]) <= 1


def parse_diff(diff: str) -> list[FileDiff]:
    """Files, hunks and changed lines; inside a hunk its header's counts decide what is content, so a removed
    line starting with `-- ` or an added one with `++ ` is not taken for a file header."""
    files: list[FileDiff] = []
    old_no = new_no = old_left = new_left = 0
    for line in diff.split("\n"):
        if old_left > 0 or new_left > 0:
            tag, text = line[:1], line[1:]
            if tag in (" ", "") and old_left > 0 and new_left > 0:
                files[-1].old[old_no], files[-1].new[new_no] = text, text
                old_no, new_no, old_left, new_left = old_no + 1, new_no + 1, old_left - 1, new_left - 1
            elif tag == "-" and old_left > 0:
                files[-1].old[old_no] = text
                files[-1].changes.append((old_no, line))
                old_no, old_left = old_no + 1, old_left - 1
            elif tag == "+" and new_left > 0:
                files[-1].new[new_no] = text
                files[-1].changes.append((new_no, line))
                new_no, new_left = new_no + 1, new_left - 1
            elif tag != "\\":  # "\ No newline at end of file" is no line; anything else ends a malformed hunk
                old_left = new_left = 0
            continue
        if line.startswith("diff --git ") or (line.startswith("--- ") and (not files or files[-1].starts)):
            files.append(FileDiff())
        if line.startswith("--- "):
            files[-1].old_path = files[-1].path = _diff_path(line[4:], "a/")
        elif line.startswith("+++ ") and files:
            path = _diff_path(line[4:], "b/")
            files[-1].path = files[-1].old_path if path == "/dev/null" else path
        elif (m := HUNK.match(line)) is not None and files:
            old_no, new_no = int(m[1]), int(m[3])
            old_left, new_left = int(m[2] or 1), int(m[4] or 1)
            files[-1].starts.append((old_no, new_no))
    return files


def _diff_path(text: str, prefix: str) -> str:
    text = text.split("\t")[0]
    return text[len(prefix):] if text.startswith(prefix) else text


def code_lines(side: dict[int, str]) -> dict[int, str] | None:
    """Line number → the line with its comments and docstrings blanked out; None when tokenize's reading cannot be
    trusted to be CPython's: not from line 1 on, a lone carriage return, a coding cookie other than UTF-8."""
    if not side:
        return {}
    if sorted(side) != list(range(1, len(side) + 1)):
        return None
    lines = [side[n] for n in range(1, len(side) + 1)]
    if any("\r" in line.removesuffix("\r") for line in lines):
        return None
    if any((m := CODING.match(line)) and m[1].lower() not in UTF8 for line in lines[:2]):
        return None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    chars = [list(line) for line in lines]
    for tok in _inert_tokens(tokens):
        _blank(chars, tok.start, tok.end)
    return {n: "".join(row) for n, row in enumerate(chars, start=1)}


def _inert_tokens(tokens: list[tokenize.TokenInfo]) -> Iterable[tokenize.TokenInfo]:
    """Comments, and strings standing alone as a statement (docstrings): nothing in them runs. An f-string
    runs what its braces hold, so it is code even alone."""
    logical: list[tokenize.TokenInfo] = []
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            yield tok
        elif tok.type not in NOT_CODE:
            logical.append(tok)
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            if all(_inert_string(t) for t in logical):
                yield from logical
            logical = []


def _inert_string(tok: tokenize.TokenInfo) -> bool:
    """A string literal that evaluates nothing: not an f-string (Python 3.12 gives those their own tokens)."""
    return tok.type == tokenize.STRING and "f" not in tok.string.split(tok.string[-1])[0].lower()


def _blank(chars: list[list[str]], start: tuple[int, int], end: tuple[int, int]) -> None:
    """Spaces over a token's characters, so the code around it keeps its columns."""
    (first, lo), (last, hi) = start, end
    for row in range(first, last + 1):
        line = chars[row - 1]
        a, b = (lo if row == first else 0), (hi if row == last else len(line))
        line[a:b] = " " * (b - a)


def changed_lines(diff: str) -> Iterable[tuple[str, int, str, str]]:
    """(file, line number in the new file — or the old one for a removal, diff line, the text to match) of each
    changed line; the text to match is the line's code in a Python file that tokenizes, else the line."""
    for fd in parse_diff(diff):
        python = fd.path.endswith(".py") and fd.whole
        old, new = (code_lines(fd.old), code_lines(fd.new)) if python else (None, None)
        for number, line in fd.changes:
            code = new if line.startswith("+") else old
            yield fd.path, number, line, line if code is None else code.get(number, "")


def scan_flags(diff: str, extra: Iterable[tuple[str, re.Pattern[str]]] = ()) -> list[Flag]:
    """Every changed line whose code matches a generic or task pattern, once per category."""
    patterns = [*GENERIC_PATTERNS, *extra]
    flags = []
    for file, number, line, text in changed_lines(diff):
        for category in dict.fromkeys(cat for cat, pattern in patterns if pattern.search(text)):
            flags.append(Flag(category=category, file=file, line=number, text=line[:120].strip()))
    return flags


def flag_text(flag: Flag) -> str:
    """'category: file:line: + text', the form a report lists."""
    where = f"{flag.file}:{flag.line}" if flag.line is not None else flag.file
    return f"{flag.category}: {where}: {flag.text}"
