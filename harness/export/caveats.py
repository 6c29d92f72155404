"""Warnings as a reader meets them: one line per branch, and none about speed where speed was not judged.

The judge words each warning on its own (a phase's two modes, a busy machine,
the unstable phases), and documents stored by earlier versions hold one
"unstable" warning per phase: listed one after the other, the same branch
repeats itself up to six times. Every renderer (the report, the GitHub job
summary, the terminal) therefore lists a document's warnings through here,
merged per branch at the point of rendering, so a stored document re-renders
merged too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.judge import speed
from harness.results import CompareDocument

#: What joins the merged warnings of one branch (each may hold "; " itself).
JOIN = " · "
#: The per-phase "unstable" line documents held before it became one line per branch.
LEGACY_UNSTABLE = re.compile(
    r"^(?P<label>.+?) unstable: (?P<phase>\S+) spread (?P<spread>\d+)% ≥ \d+% of its median; ~(?P<n>\d+) rounds "
    r"needed to resolve a (?P<threshold>\d+)% difference(?: — more than --repeat (?P<repeat>\d+):.*)?$")
#: A phase too short for the log's clock (analyse.clock_warnings): only about speed.
UNMEASURABLE = re.compile(r"^(?P<phase>\S+): speed not measurable at this size")


def branch_of(warning: str, branches: Sequence[str]) -> str | None:
    """The branch a warning is about: the longest name it starts with, followed by a space or a colon."""
    found = [b for b in branches if warning.startswith(b) and warning[len(b):len(b) + 1] in (" ", ":")]
    return max(found, key=len, default=None)


def merged(warnings: Sequence[str], branches: Sequence[str]) -> list[str]:
    """One line per branch, at the place of its first warning, the later ones without the name repeated;
    warnings about no branch pass unchanged."""
    lines: list[str] = []
    at: dict[str, int] = {}
    for warning in _legacy_merged(warnings):
        label = branch_of(warning, branches)
        if label is None:
            lines.append(warning)
        elif label in at:
            lines[at[label]] += JOIN + warning[len(label):].lstrip(" :")
        else:
            at[label] = len(lines)
            lines.append(warning)
    return lines


def _legacy_merged(warnings: Sequence[str]) -> list[str]:
    """Old per-phase "unstable" lines of one branch → the one line the judge writes today, where the first stood."""
    legacy: dict[str, list[re.Match[str]]] = {}
    for warning in warnings:
        if (m := LEGACY_UNSTABLE.match(warning)) is not None:
            legacy.setdefault(m["label"], []).append(m)
    out, done = [], set()
    for warning in warnings:
        m = LEGACY_UNSTABLE.match(warning)
        if m is None:
            out.append(warning)
        elif m["label"] not in done:
            done.add(m["label"])
            out.append(_one_unstable_line(m["label"], legacy[m["label"]]))
    return out


def _one_unstable_line(label: str, found: list[re.Match[str]]) -> str:
    phases = [(m["phase"], int(m["spread"]) / 100, int(m["n"])) for m in found]
    repeats = [int(m["repeat"]) for m in found if m["repeat"]]
    cap = min(repeats) if repeats else max(n for *_, n in phases)
    return speed.unstable_warning(label, phases, int(found[0]["threshold"]) / 100, cap)


def listed(doc: CompareDocument) -> list[str]:
    """The document's warnings as every renderer lists them: merged per branch."""
    return merged(doc.warnings, [doc.baseline, *(c.name for c in doc.candidates)])


def for_gate(doc: CompareDocument) -> list[str]:
    """What a CI gate lists: an equivalence-only gate (one run each) judged no speed, so it warns of none."""
    shown = listed(doc)
    if not doc.settings.quick:
        return shown
    return [w for w in shown if not ((m := UNMEASURABLE.match(w)) and m["phase"] in doc.task.phases)]
