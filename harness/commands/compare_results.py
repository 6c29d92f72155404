"""`evalharness compare-results A.json B.json`: two stored compares, branch by branch and phase by phase.

pyperf's `compare_to` for compare.json: the same branches measured on two
commits of the code, or on two machines, held against each other from the
raw per-round values each document keeps (evalharness.compare/3), running
nothing. Per branch and phase: A's median, B's median, how B differs, and
whether that is significant.

The test is Mann-Whitney U, two-sided, *unpaired*: round i of A and round i
of B never shared the machine, so there is no pair to difference (inside
one compare the harness pairs a candidate with the baseline run beside it;
across two documents nothing is beside anything). A rank test because the
harness's times have outlier rounds and two modes, which a t-test's mean
follows and a rank test does not. Each row is tested on its own; the output
says how many rows would read significant by chance.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from scipy.stats import mannwhitneyu
from tabulate import tabulate

from harness import constants as C
from harness.errors import UsageProblem
from harness.judge.samples import (change_words, judged_phases, load_with_samples, shown, timed_values,

                                   workload_difference)
from harness.results import CompareDocument
import click
from harness.commands.options import call

HEADERS = ["branch", "phase", "A median", "B median", "B vs A", "p", "significant"]
TEST_LINE = ("Mann-Whitney U, two-sided, unpaired (A's and B's rounds never ran side by side), "
             "on every timing round's value; α={alpha:g} per row")


@dataclass(frozen=True)
class Branch:
    """One branch found in both documents: its name as shown, and its label in each."""

    shown: str
    in_a: str
    in_b: str


@dataclass(frozen=True)
class Row:
    """One branch and phase: both sides' timing-round values, and the test on them."""

    branch: str
    phase: str
    a: list[float]
    b: list[float]

    @property
    def p(self) -> float:
        return float(mannwhitneyu(self.a, self.b, alternative="two-sided").pvalue)

    @property
    def testable(self) -> bool:
        """Whether the test could reach α at these sizes at all (its smallest p-value is 2 / C(n_a + n_b, n_a))."""
        return 2 / math.comb(len(self.a) + len(self.b), len(self.a)) < C.ALPHA


def load_documents(a_path: Path, b_path: Path) -> tuple[CompareDocument, CompareDocument]:
    """Both documents, refused in one line when either keeps no raw values or they ran different workloads."""
    a, b = load_with_samples(a_path), load_with_samples(b_path)
    problem = workload_difference(a, b)
    if problem:
        raise UsageProblem(f"{a_path} and {b_path} ran different workloads ({problem}): their times do not compare")
    return a, b


def matched(a: CompareDocument, b: CompareDocument) -> list[Branch]:
    """The baseline matched by role (a renamed baseline is still the baseline), candidates by name.

    The baseline's twin is left out: it is the baseline's code again, and its row would repeat the baseline's.
    """
    base = a.baseline if a.baseline == b.baseline else f"{a.baseline} / {b.baseline}"
    pairs = [Branch(base, a.baseline, b.baseline)]
    names_b = {c.name for c in b.candidates}
    pairs += [Branch(c.name, c.name, c.name) for c in a.candidates if c.name in names_b]
    return [p for p in pairs if p.in_a in a.samples and p.in_b in b.samples]


def phases_of(doc: CompareDocument, wanted: list[str]) -> list[str]:
    """The phases asked for (default: all judged ones, primary first); an unknown one is refused."""
    known = judged_phases(doc)
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise UsageProblem(f"unknown phase {unknown[0]!r} (this task's: {', '.join(known)})")
    return wanted or known


def rows(a: CompareDocument, b: CompareDocument, phases: list[str]) -> list[Row]:
    """Every matched branch and phase with timing-round values on both sides."""
    found = [Row(br.shown, phase, timed_values(a, br.in_a, phase), timed_values(b, br.in_b, phase))
             for br in matched(a, b) for phase in phases]
    return [r for r in found if r.a and r.b]


def table_row(row: Row) -> list[str]:
    """branch, phase, both medians with their counts, B vs A, p, and the answer (or why there is none)."""
    ma, mb = statistics.median(row.a), statistics.median(row.b)
    significant = "n too small" if not row.testable else "yes" if row.p < C.ALPHA else "no"
    return [row.branch, row.phase, f"{shown(ma, row.phase)} (n={len(row.a)})", f"{shown(mb, row.phase)} (n={len(row.b)})",
            change_words(ma, mb, row.phase), f"{row.p:.2g}", significant]


def describe(label: str, path: Path, doc: CompareDocument) -> str:
    return (f"{label}: {path} — {doc.created}, baseline {doc.baseline} @ {doc.baseline_sha[:12]}, "
            f"{doc.settings.rounds_run} timing rounds")


def not_compared(a: CompareDocument, b: CompareDocument, found: list[Row]) -> list[str]:
    """Lines naming the candidates only one document has, and the branches that lack timing rounds."""
    names_a, names_b = [c.name for c in a.candidates], [c.name for c in b.candidates]
    lines = [f"only in {side}: {', '.join(names)}" for side, names in
             (("A", [n for n in names_a if n not in names_b]), ("B", [n for n in names_b if n not in names_a])) if names]
    shown_branches = {r.branch for r in found}
    untimed = [br.shown for br in matched(a, b) if br.shown not in shown_branches]
    if untimed:
        lines.append(f"no timing rounds in A or B: {', '.join(untimed)}")
    return lines


def compare_documents(a_path: Path, b_path: Path, phases: list[str]) -> str:
    """The whole output: which documents, how tested, the table, and what was left out and why."""
    a, b = load_documents(a_path, b_path)
    found = rows(a, b, phases_of(a, phases))
    preset = a.task.preset or "default"
    head = [describe("A", a_path, a), describe("B", b_path, b), f"task {a.task.name}, preset {preset}",
            TEST_LINE.format(alpha=C.ALPHA), ""]
    if not found:
        return "\n".join(head + ["no branch has timing rounds in both documents", *not_compared(a, b, found)])
    chance = (f"{len(found)} rows, each tested on its own: about {len(found) * C.ALPHA:.1f} would read significant "
              "by chance if nothing had changed")
    body = [tabulate([table_row(r) for r in found], headers=HEADERS, disable_numparse=True), "", chance]
    return "\n".join(head + body + not_compared(a, b, found))


# --------------------------------------------------------------------------- #
# The command line
# --------------------------------------------------------------------------- #


@click.command("compare-results")
@click.argument("a_json", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("b_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--phase", "phases", multiple=True, metavar="NAME", help="Only this phase (repeatable; default: every judged phase, the primary first).")
def command(a_json: Path, b_json: Path, phases: tuple[str, ...]) -> None:
    """Hold two stored compares against each other, branch by branch and phase by phase (pyperf's compare_to).

    From the raw per-round values each document keeps: A's median, B's median, how B differs, and whether
    that is significant (Mann-Whitney U, unpaired). The documents must have run the same task, preset and
    parameters.

    Example: evalharness compare-results old/compare.json new/compare.json
    """

    click.echo(call(compare_documents, a_json, b_json, list(phases)))
