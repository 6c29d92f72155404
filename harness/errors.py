"""The two kinds of failure the CLI tells apart (exit 2 both, different wording).

A UsageProblem is the user's to fix (a name, a parameter, an input file); an
InfraError is not (git, the interpreter, a baseline that cannot run).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UsageProblem(ValueError):
    """Bad input from the user; the message says what to change."""


class InfraError(RuntimeError):
    """The harness could not do its job (not the candidate's fault, not the user's input)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """"did you mean 'gemini'?" for the close matches of a mistyped name (difflib), else ""."""
    close = difflib.get_close_matches(name, list(dict.fromkeys(known)), n=3)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
