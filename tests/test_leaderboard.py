"""Leaderboard arithmetic on fixed documents: the committed seed compare and hand-set speed verdicts."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import intake
from harness.cli import main
from harness.judge.leaderboard import build, geomean_ci
from harness.results import CandidateVerdict, CompareDocument, PhaseVerdict

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = CompareDocument.load(REPO_ROOT / "reports" / "seed-1024.json")
T_975_DF1 = 12.706204736174698  # Student's t, 97.5 % quantile, one degree of freedom


def seed_with_agents() -> CompareDocument:
    """The seed compare, run with the built-in example's agents (--predictions candidates/agents.jsonl)."""
    return SEED


def period(name: str) -> float:
    return next(c for c in SEED.candidates if c.name == name).speed["period"].speedup


def attempt(name: str, agent: str, equivalent: bool, verdict: str, ci: list[float], speedup: float) -> CandidateVerdict:
    """A copy of a real candidate with its primary phase's verdict set by hand."""
    speed = {"period": PhaseVerdict(n=10, speedup=speedup, ci=ci, p_value=0.001, significant=verdict != "no significant difference", verdict=verdict)}
    return SEED.candidates[0].model_copy(update={"name": name, "agent": agent, "equivalent": equivalent, "speed": speed})


def test_the_built_in_example_on_the_seed_compare() -> None:
    rows = {r.agent: r for r in build(seed_with_agents()).rows}
    # neither agent is significantly faster here; gemini's 1.05× point estimate counts for fast_1.0 and ranks it first
    assert [r.agent for r in build(seed_with_agents()).rows] == ["gemini", "claude", "fused"]
    gemini, claude, fused = rows["gemini"], rows["claude"], rows["fused"]
    assert (gemini.attempts, gemini.equivalent, gemini.share_equivalent) == (2, 1, 0.5)
    assert gemini.fast == {"1.0": 0.5, "1.5": 0.0, "2.0": 0.0}  # 1.05× beats 1.0 as a point estimate (KernelBench)
    assert gemini.sig_fast == {"1.0": 0.0, "1.5": 0.0, "2.0": 0.0}  # … but inconclusive: CI [0.95, 1.10]
    assert gemini.geomean_speedup == pytest.approx(period("gemini")) and gemini.geomean_ci is None
    assert (gemini.best_attempt, claude.best_attempt) == ("gemini", "claude")
    assert claude.fast == claude.sig_fast == {"1.0": 0.0, "1.5": 0.0, "2.0": 0.0} and claude.share_equivalent == 1.0
    assert fused.reference and fused.sig_fast == fused.fast == {"1.0": 1.0, "1.5": 0.0, "2.0": 0.0}  # 1.49× [1.27, 1.68]


def test_fast_p_is_kernelbenchs_and_sig_fast_p_ours_with_edges_and_what_counts_as_an_attempt() -> None:
    """fast_p: equivalent and speedup > p (KernelBench); sig_fast_p: equivalent, verdict faster, CI above p."""
    attempts = [attempt("x1", "x", True, "faster", [1.5, 1.9], 1.7),  # CI's lower end exactly 1.5: not above it
                attempt("x2", "x", True, "faster", [2.0000001, 3.0], 2.5),
                attempt("x3", "x", False, "faster", [3.0, 4.0], 3.5),  # fast but not equivalent
                attempt("x4", "x", True, "no significant difference", [1.01, 1.2], 1.1),  # KernelBench counts it
                intake.rejected_verdict(intake.Attempt(name="x5", agent="x", attempt=5), "patch does not apply: x")]
    row = build(SEED.model_copy(update={"candidates": attempts})).rows[0]
    assert (row.attempts, row.equivalent) == (5, 3)
    assert row.fast == {"1.0": 3 / 5, "1.5": 2 / 5, "2.0": 1 / 5}
    assert row.sig_fast == {"1.0": 2 / 5, "1.5": 1 / 5, "2.0": 1 / 5}
    assert row.geomean_speedup == pytest.approx((1.7 * 2.5 * 1.1) ** (1 / 3))
    assert (row.best_attempt, row.best_speedup) == ("x2", 2.5)


def test_geomean_and_its_t_interval() -> None:
    mean, ci = geomean_ci([2.0, 8.0])
    assert mean == pytest.approx(4.0)
    assert ci == pytest.approx([4.0 * 2 ** -T_975_DF1, 4.0 * 2 ** T_975_DF1])
    assert geomean_ci([3.0]) == (pytest.approx(3.0), None) and geomean_ci([]) == (None, None)
    assert geomean_ci([2.0, 2.0]) == (pytest.approx(2.0), pytest.approx([2.0, 2.0]))


def test_ranking_puts_references_last_and_quick_mode_judges_no_speed() -> None:
    attempts = [attempt("r", "ref", True, "faster", [3.0, 4.0], 3.5).model_copy(update={"reference": True}),
                attempt("s1", "slow", True, "no significant difference", [0.9, 1.1], 1.0),
                attempt("f1", "fast", True, "faster", [1.2, 1.4], 1.3)]
    doc = SEED.model_copy(update={"candidates": attempts})
    assert [r.agent for r in build(doc).rows] == ["fast", "slow", "ref"]
    quick = build(doc.model_copy(update={"settings": doc.settings.model_copy(update={"quick": True})}))
    assert all(r.fast == r.sig_fast == {"1.0": None, "1.5": None, "2.0": None} and r.geomean_speedup is None
               for r in quick.rows)


def test_leaderboard_command_writes_markdown_csv_and_plot(tmp_path: Path) -> None:
    stored = tmp_path / "seed.json"
    seed_with_agents().save(stored)
    result = CliRunner().invoke(main, ["leaderboard", str(stored)])
    assert result.exit_code == 0, result.output
    assert ("| agent | attempts | equivalent | fast_1.0 | fast_1.5 | fast_2.0 | sig_fast_1.0 | sig_fast_1.5 | "
            "sig_fast_2.0 | geomean speedup [95% CI] | best attempt |") in result.output
    g, f = period("gemini"), period("fused")
    assert f"| **gemini** | 2 | 1 (50%) | 50% | 0% | 0% | 0% | 0% | 0% | {g:.2f}× | gemini ({g:.2f}×) |" in result.output
    assert f"| fused (reference) | 1 | 1 (100%) | 100% | 0% | 0% | 100% | 0% | 0% | {f:.2f}× | fused ({f:.2f}×) |" \
        in result.output
    md, table, plot = (tmp_path / f"seed-leaderboard.{ext}" for ext in ("md", "csv", "png"))
    assert "![leaderboard](seed-leaderboard.png)" in md.read_text() and plot.read_bytes()[:4] == b"\x89PNG"
    rows = {r["agent"]: r for r in csv.DictReader(table.open())}
    assert math.isclose(float(rows["claude"]["geomean_speedup"]), period("claude"))
    assert rows["fused"]["reference"] == "True" and rows["gemini"]["fast_1.5"] == "0.0"
    assert (rows["fused"]["fast_1.0"], rows["fused"]["sig_fast_1.0"]) == ("1.0", "1.0")


def test_a_compare_without_agents_has_no_leaderboard(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["leaderboard", str(REPO_ROOT / "tests" / "data" / "compare-v2.json"), "--out",
                                       str(tmp_path / "lb.md")])
    assert result.exit_code == 2 and "no candidate came with an agent" in result.output
