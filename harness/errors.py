"""The two kinds of failure the CLI tells apart (exit 2 both, different wording).

A UsageProblem is the user's to fix (a name, a parameter, an input file); an
InfraError is not (git, the interpreter, a baseline that cannot run).
Anything else is a bug and keeps its traceback.
"""


class UsageProblem(ValueError):
    """Bad input from the user; the message says what to change."""


class InfraError(RuntimeError):
    """The harness could not do its job (not the candidate's fault, not the user's input)."""
