"""What running a compare produced, handed from the driver to the judge: data only.

The driver (`schedule.py`, `variants.py`) fills it; the judge (`judge/`) reads
it and never calls back. Keeping the type here, apart from both, is what lets
the judge be re-run on stored results without importing the code that ran them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.results import RunResult

Results = dict[str, list[RunResult]]


@dataclass
class Execution:
    """All runs of a compare, why each candidate got the timing rounds it got, and the held-out variants."""

    results: Results
    notes: dict[str, str] = field(default_factory=dict)  # candidate → why its timing stopped (or never began)
    rounds_run: int = 0
    variants: list[dict[str, str]] = field(default_factory=list)  # the held-out parameter variants checked
    findings: dict[str, str] = field(default_factory=dict)  # candidate → how it differed on a variant
    variant_warnings: list[str] = field(default_factory=list)
