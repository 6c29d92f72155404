"""Stage 1's intake: attempts handed in as patches or refs, many per agent.

Besides branches and the task's `candidates/*.patch`, candidates arrive as
`--patch NAME=FILE` or as a predictions file, one JSON object per line
(SWE-bench style): `{"agent": "claude", "attempt": 1, "patch": "..."}` or
`"ref": "..."` instead of the patch. SWE-bench's own prediction lines are read
as they are: `model_name_or_path` is the agent, `model_patch` the patch (null:
an empty generation, which does not apply) and `instance_id` the attempt
number when it is a whole number. A string `instance_id` (SWE-bench's
`django__django-11099`) names the task instance; here every line is an attempt
at the one task being compared, so it numbers nothing and is not checked: the
agent's attempts are numbered in file order, as without "attempt".

A patch becomes a commit on the baseline in the private repository; one that
does not apply (or is empty) is that attempt's verdict
("patch does not apply: …"), never a crash of the whole compare, because an
agent's broken patch is exactly the kind of result the leaderboard counts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import checkout
from harness.errors import UsageProblem
from harness.results import CandidateVerdict, MetricComparison

#: SWE-bench's prediction keys → the keys they stand for here (a SWE-bench predictions file runs as it is).
SWE_BENCH_KEYS = {"model_name_or_path": "agent", "model_patch": "patch", "instance_id": "attempt"}
#: Keys a predictions line may have; anything else is a typo worth an error, not a silent default.
PREDICTION_KEYS = {"agent", "attempt", "patch", "ref", "name", "reference", *SWE_BENCH_KEYS}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+|\.\.+")
NOT_APPLIED = "patch does not apply"


@dataclass(frozen=True)
class Attempt:
    """One candidate handed in by an agent (or by --patch): a patch text or a ref, and whose it is."""

    name: str  # the candidate's name in tables and run folders
    agent: str | None = None
    attempt: int | None = None
    patch: str | None = None  # a unified diff against the baseline
    ref: str | None = None  # or a branch, tag or SHA of the source repository
    reference: bool = False  # a known-good solution shown beside the agents, not ranked among them


@dataclass(frozen=True)
class Intake:
    """What became of the attempts: a commit for each that can run, a reason for each that cannot."""

    commits: dict[str, str]
    rejected: dict[str, str]


# --------------------------------------------------------------------------- #
# Reading (usage errors, before anything runs)
# --------------------------------------------------------------------------- #


def parse_patch_option(text: str) -> Attempt:
    """`--patch NAME=FILE` → an attempt without an agent."""
    name, sep, file = text.partition("=")
    if not sep or not name.strip() or not file.strip():
        raise UsageProblem(f"--patch {text!r} is not NAME=FILE (e.g. --patch mine=fix.patch)")
    return Attempt(name=_checked_name(name.strip(), "--patch"), patch=_read_text(Path(file.strip()), "--patch"))


def read_predictions(path: Path) -> list[Attempt]:
    """Every non-blank line of a predictions file as an attempt; the first bad line is named."""
    attempts: list[Attempt] = []
    counts: dict[str, int] = {}
    for number, line in enumerate(_read_text(path, "--predictions").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        attempt = _attempt_from_line(swe_bench_keys(_json_object(line, where), where), where, counts)
        if any((a.agent, a.attempt) == (attempt.agent, attempt.attempt) for a in attempts):
            raise UsageProblem(f"{where}: {attempt.agent} attempt {attempt.attempt} is listed twice")
        counts[attempt.agent or ""] = counts.get(attempt.agent or "", 0) + 1
        attempts.append(attempt)
    if not attempts:
        raise UsageProblem(f"--predictions {path}: no attempts in the file")
    return attempts


def gather(patches: list[str], predictions: Path | None) -> list[Attempt]:
    """Every attempt from the command line, in the order given: --patch first, then the predictions."""
    return [*(parse_patch_option(p) for p in patches), *(read_predictions(predictions) if predictions else [])]


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"{option} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageProblem(f"{option} {path}: not UTF-8 text") from None


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except ValueError as exc:
        raise UsageProblem(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise UsageProblem(f"{where}: expected a JSON object like {{\"agent\": ..., \"patch\": ...}}")
    unknown = sorted(set(raw) - PREDICTION_KEYS)
    if unknown:
        raise UsageProblem(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(PREDICTION_KEYS))})")
    return raw


def swe_bench_keys(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """A line in SWE-bench's keys → the same line in ours; a line that says one thing twice is refused."""
    line = {k: v for k, v in raw.items() if k not in SWE_BENCH_KEYS}
    for theirs, ours in SWE_BENCH_KEYS.items():
        if theirs not in raw:
            continue
        value = _swe_bench_value(theirs, raw[theirs])
        if value is None:
            continue  # a task instance's name: it numbers no attempt (see the module's docstring)
        if ours in raw:
            raise UsageProblem(f"{where}: \"{theirs}\" and \"{ours}\" both given; give one")
        line[ours] = value
    return line


def _swe_bench_value(key: str, value: Any) -> Any:
    """model_patch null → an empty patch (an attempt that does not apply); instance_id → an attempt number or None."""
    if key == "model_patch":
        return "" if value is None else value
    if key == "instance_id" and isinstance(value, str):
        return int(value) if value.strip().isdigit() else None
    return value


def _attempt_from_line(raw: dict[str, Any], where: str, counts: dict[str, int]) -> Attempt:
    """Validate one predictions line; the attempt number defaults to the agent's running count."""
    agent = raw.get("agent")
    if not isinstance(agent, str) or not agent.strip():
        raise UsageProblem(f"{where}: \"agent\" must be a non-empty string")
    number = raw.get("attempt", counts.get(agent, 0) + 1)
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise UsageProblem(f"{where}: \"attempt\" (or a numeric \"instance_id\") must be a whole number ≥ 1")
    patch, ref = _patch_or_ref(raw, where)
    name = raw.get("name") or (ref if ref is not None else default_name(agent, number))
    return Attempt(name=_checked_name(str(name), where), agent=agent, attempt=number, patch=patch, ref=ref,
                   reference=bool(raw.get("reference", False)))


def _patch_or_ref(raw: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    patch, ref = raw.get("patch"), raw.get("ref")
    if (patch is None) == (ref is None):
        raise UsageProblem(f"{where}: give exactly one of \"patch\" and \"ref\"")
    if not isinstance(patch if ref is None else ref, str):
        raise UsageProblem(f"{where}: \"patch\" and \"ref\" must be strings")
    return patch, ref


def default_name(agent: str, number: int) -> str:
    """`agent-N`, with characters a name may not have replaced (SWE-bench's model_name_or_path may be a path)."""
    safe = NAME_UNSAFE.sub("_", agent).lstrip("._/-")
    return f"{safe or 'agent'}-{number}"


def _checked_name(name: str, where: str) -> str:
    """Names become folder names and table rows: plain characters only."""
    if not NAME_PATTERN.match(name) or ".." in name:
        raise UsageProblem(f"{where}: candidate name {name!r} may only use letters, digits and . _ / -")
    return name


# --------------------------------------------------------------------------- #
# Into the private repository
# --------------------------------------------------------------------------- #


def take_in(source: Path, base_sha: str, attempts: list[Attempt]) -> Intake:
    """A commit per attempt: a patch applied to the baseline, a ref resolved; a patch that fails is rejected."""
    commits: dict[str, str] = {}
    rejected: dict[str, str] = {}
    for attempt in attempts:
        if attempt.ref is not None:
            commits[attempt.name] = checkout.resolve(source, attempt.ref)
            continue
        if not (attempt.patch or "").strip():  # an empty generation (SWE-bench writes "" or null)
            rejected[attempt.name] = f"{NOT_APPLIED}: the patch is empty"
            continue
        try:
            commits[attempt.name] = checkout.apply_attempt(source, base_sha, attempt.name, attempt.patch or "")
        except checkout.PatchDoesNotApply as exc:
            rejected[attempt.name] = f"{NOT_APPLIED}: {exc}"
    return Intake(commits, rejected)


# --------------------------------------------------------------------------- #
# Into the document
# --------------------------------------------------------------------------- #


def rejected_verdict(attempt: Attempt, reason: str) -> CandidateVerdict:
    """The verdict of an attempt that never ran: its patch does not apply."""
    return CandidateVerdict(
        name=attempt.name, sha="", agent=attempt.agent, attempt=attempt.attempt, reference=attempt.reference,
        status=NOT_APPLIED, outcome="not_applied", verdict=reason, diagnosis="the patch does not apply to the baseline, so nothing ran",
        equivalent=False, losses_match=False, images_identical=False, losses=MetricComparison(match=False))
