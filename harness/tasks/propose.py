"""A starting task file for a script nobody wrote a task for: what to compare, read off two runs of it.

`evalharness init` runs the user's command twice and hands the two logs and
the two sets of files it wrote to `propose`. Only what both runs printed and
wrote identically can be compared (a value that differs between two runs of
the same commit is a time or noise, and would make every branch "NOT
equivalent"):

- metric lines: a line shape seen at least twice, with a whole number that
  grows from one line to the next (the step) and numbers that change along it
  (the values); values that differ between the runs are left out of the
  comparison, and a recognised timestamp at the start of a line becomes its
  `ts` group;
- printed text: the other repeated lines with a label (`sample: ...`),
  compared verbatim, when both runs printed them alike;
- artifacts: the files the run wrote into its tree, byte-identical across runs.

Pure functions of text, so every rule is tested without running anything.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import PurePosixPath

NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\d.])")
#: Timestamps at the start of a line that the harness can read (Python logging's default and ISO 8601).
TIMESTAMPS = ((re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"), "%Y-%m-%d %H:%M:%S,%f", r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"),
              (re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?"), "%Y-%m-%dT%H:%M:%S.%f",
               r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+"))
STEP_WORDS = ("step", "iter", "iteration", "epoch", "batch", "it", "update")
LABEL = re.compile(r"^(?P<label>[A-Za-z][\w -]{0,30}?):\s")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
MAX_ARTIFACT_GLOBS = 10


@dataclass(frozen=True)
class Shape:
    """A line's shape: its text with every number taken out, and a leading timestamp recognised."""

    parts: tuple[str, ...]  # the text between the numbers (one more than the numbers)
    ts_format: str | None


@dataclass
class Proposal:
    """What a starting task file says: patterns by name, which are metrics, texts, artifacts, the step key."""

    patterns: dict[str, str] = field(default_factory=OrderedDict)
    metrics: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=OrderedDict)
    artifacts: list[str] = field(default_factory=list)
    step_key: str = "step"
    timestamp_format: str | None = None
    left_out: list[str] = field(default_factory=list)  # what was seen but not proposed, and why


def split(line: str) -> tuple[Shape, list[str]]:
    """A line's shape and its numbers, in order (a leading timestamp is part of the shape, not a number)."""
    ts_format, rest, head = None, line, ""
    for pattern, fmt, _ in TIMESTAMPS:
        if (m := pattern.match(line)) is not None:
            ts_format, head, rest = fmt, "\0ts\0", line[m.end():]
            break
    numbers = NUMBER.findall(rest)
    parts = NUMBER.split(rest)
    return Shape((head + parts[0], *parts[1:]), ts_format), numbers


def _as_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"[-+]?\d+", text) else None


def step_position(shape: Shape, rows: list[list[str]]) -> int | None:
    """The number that grows line after line, preferring one named like a step ("step 10", "epoch 3/30")."""
    growing = []
    for i in range(len(rows[0])):
        values = [_as_int(r[i]) for r in rows]
        if all(v is not None for v in values) and all(b > a for a, b in zip(values, values[1:])):  # type: ignore[operator]
            growing.append(i)
    named = [i for i in growing if _last_word(shape.parts[i]) in STEP_WORDS]
    return (named or growing or [None])[0]


def _last_word(text: str) -> str:
    words = WORD.findall(text.replace("\0ts\0", ""))
    return words[-1].lower() if words else ""


def _words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text.replace("\0ts\0", ""))]


def value_names(shape: Shape, positions: list[int]) -> dict[int, str]:
    """A group name for each value, from the words before it ("Train Loss: 3.3" → loss; two losses in one line
    → train_loss, val_loss)."""
    names: dict[int, str] = {}
    for i in positions:
        before = _words(shape.parts[i])
        names[i] = before[-1] if before else f"value{i}"
    clashes = {n for n in names.values() if list(names.values()).count(n) > 1}
    for i in positions:
        if names[i] in clashes:
            before = _words(shape.parts[i])
            names[i] = "_".join(before[-2:]) if len(before) > 1 else f"{names[i]}{i}"
    return {i: _identifier(n, i) for i, n in names.items()}


def _identifier(name: str, i: int) -> str:
    name = re.sub(r"\W", "_", name)
    return name if name and not name[0].isdigit() and name not in ("ts", "text", "message") else f"value{i}"


def _group(name: str | None, step: bool) -> str:
    if name is None:
        return r"[-+0-9.eE]+"
    return f"(?P<{name}>\\d+)" if step else f"(?P<{name}>\\S+)"


def regex(shape: Shape, groups: dict[int, str], ts: str | None, step_name: str = "") -> str:
    """The line's pattern: its literal text, a named group for each compared number, any number elsewhere."""
    out = ["^"]
    for i, part in enumerate(shape.parts):
        if part.startswith("\0ts\0"):
            out.append(f"(?P<ts>{ts})")
            part = part[4:]
        out.append(re.escape(part).replace("\\ ", " ").replace("\\-", "-"))
        if i < len(shape.parts) - 1:
            out.append(_group(groups.get(i), step=i == min(groups, default=-1) and groups.get(i) == step_name))
    return "".join(out) + r"\s*$"


def _group_by_shape(lines: list[str]) -> OrderedDict[Shape, list[list[str]]]:
    found: OrderedDict[Shape, list[list[str]]] = OrderedDict()
    for line in lines:
        shape, numbers = split(line)
        found.setdefault(shape, []).append(numbers)
    return found


def metric_shapes(first: list[str], second: list[str]) -> list[tuple[Shape, int, list[int], list[int]]]:
    """(shape, step position, values alike in both runs, values that differ) of every metric line shape."""
    a, b = _group_by_shape(first), _group_by_shape(second)
    found = []
    for shape, rows in a.items():
        if len(rows) < 2 or shape not in b or len(b[shape]) != len(rows):
            continue
        step = step_position(shape, rows)
        if step is None:
            continue
        others = [i for i in range(len(rows[0])) if i != step]
        changing = [i for i in others if len({r[i] for r in rows}) > 1]
        alike = [i for i in changing if [r[i] for r in rows] == [r[i] for r in b[shape]]]
        found.append((shape, step, alike, [i for i in changing if i not in alike]))
    return found


def pattern_names(shapes: list[Shape]) -> list[str]:
    """A short name per metric shape: the first word that tells it from the others ("train", "eval")."""
    if len(shapes) == 1:
        return ["metrics"]
    words = [_words("".join(s.parts)) for s in shapes]
    names = []
    for own in words:
        others = [w for w in words if w is not own]
        distinct = [w for w in own if not all(w in o for o in others)] if others else own
        name = _identifier((distinct or own or ["metrics"])[0], len(names))
        names.append(name if name not in names else f"{name}{len(names) + 1}")
    return names


def text_labels(first: list[str], second: list[str], taken: set[Shape]) -> tuple[list[str], list[str]]:
    """(labels of printed text both runs printed alike, labels that differ between the runs)."""
    def labelled(lines: list[str]) -> OrderedDict[str, list[str]]:
        found: OrderedDict[str, list[str]] = OrderedDict()
        for line in lines:
            if split(line)[0] in taken or (m := LABEL.match(line)) is None:
                continue
            found.setdefault(m["label"], []).append(line)
        return found

    a, b = labelled(first), labelled(second)
    repeated = [label for label, lines in a.items() if len(lines) >= 2]
    return [lbl for lbl in repeated if a[lbl] == b.get(lbl)], [lbl for lbl in repeated if a[lbl] != b.get(lbl)]


def other_lines(lines: list[str], shapes: set[Shape], labels: list[str]) -> list[str]:
    """What the user should know was printed but is in no pattern (a final sample, a summary line)."""
    rest = [line for line in lines if line.strip() and split(line)[0] not in shapes
            and ((m := LABEL.match(line)) is None or m["label"] not in labels)]
    if not rest:
        return []
    return [f"{len(rest)} other printed line(s), e.g. {rest[0][:60]!r}: in no pattern; to compare them, add a "
            "[log.text] pattern with a (?P<text>…) group"]


def _sample(shape: Shape) -> str:
    return "N".join(shape.parts).replace("\0ts\0", "<time> ")[:80]


def artifact_globs(first: dict[str, str], second: dict[str, str]) -> tuple[list[str], list[str]]:
    """(globs for the files both runs wrote byte-identically, the names that differed)."""
    alike = sorted(name for name, digest in first.items() if second.get(name) == digest)
    differing = sorted(name for name in first if second.get(name) != first[name])
    if len(alike) <= MAX_ARTIFACT_GLOBS:
        return alike, differing
    groups = OrderedDict.fromkeys(str(PurePosixPath(n).parent / f"*{PurePosixPath(n).suffix}") for n in alike)
    return [g.removeprefix("./") for g in groups], differing


def propose(first: list[str], second: list[str], files: tuple[dict[str, str], dict[str, str]]) -> Proposal:
    """A starting task from two runs' log lines and the files each wrote (name → sha256)."""
    found = Proposal()
    every = metric_shapes(first, second)
    shapes = [found_shape for found_shape in every if found_shape[2]]
    found.left_out += [f"lines like {_sample(s)!r}: their numbers differ between two runs of the same commit (times?), "
                       "not compared" for s, _, alike, differing in every if differing and not alike]
    names = pattern_names([s for s, *_ in shapes])
    step_words = [_last_word(s.parts[step]) for s, step, *_ in shapes]
    found.step_key = _identifier(next((w for w in step_words if w in STEP_WORDS), "step"), 0)
    for name, (shape, step, alike, differing) in zip(names, shapes):
        ts = next((pattern for _, fmt, pattern in TIMESTAMPS if fmt == shape.ts_format), None)
        found.timestamp_format = found.timestamp_format or shape.ts_format
        groups = {step: found.step_key, **value_names(shape, alike)}
        found.patterns[name] = regex(shape, groups, ts, found.step_key)
        found.metrics.append(name)
        if differing:
            found.left_out.append(f"{name}: {len(differing)} value(s) differ between two runs of the same commit "
                                  "(times?), not compared")
    alike_labels, differing_labels = text_labels(first, second, {s for s, *_ in shapes})
    for label in alike_labels:
        found.texts[_identifier(label.lower(), len(found.texts))] = f"^{re.escape(label)}: (?P<text>.*)$"
    found.left_out += [f"printed text {lbl!r}: differs between two runs of the same commit" for lbl in differing_labels]
    said = {s for s, _, alike, differing in every if alike or differing}  # proposed, or left out with a reason
    found.left_out += other_lines(first, said, alike_labels + differing_labels)
    found.artifacts, differing_files = artifact_globs(*files)
    found.left_out += [f"file {name}: differs between two runs of the same commit" for name in differing_files]
    return found
