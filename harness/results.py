"""Typed, versioned results: what one run produced and what a compare decided.

Every file the harness writes for later reading is one of these models, so
the report, a resumed compare and `evalharness report COMPARE.json` read the
same typed object instead of guessing at dict keys (pyperf's self-describing
JSON). The JSON Schema files under `harness/schema/` are generated from these
models (`python -m harness.results`), and a test fails when they drift.

Paths inside are relative to the compare's run folder; nothing meant to be
shared holds an absolute machine path (the hostname lives only in the
environment block).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, SerializerFunctionWrapHandler, ValidationError,
                      model_serializer, model_validator)

from harness import constants as C
from harness.errors import UsageProblem
from harness.jsonio import atomic_write_text

RUN_SCHEMA = "evalharness.run/3"
COMPARE_SCHEMA = "evalharness.compare/3"
#: The previous compare version: /3 without the per-round values. Still read (and written back as it
#: was), so a stored report re-renders; what needs the raw values refuses it (CompareDocument.per_round).
COMPARE_SCHEMA_V2 = "evalharness.compare/2"
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"

M = TypeVar("M", bound="Record")


class ResultError(UsageProblem):
    """A results file that cannot be read as the model it claims to be."""


class Record(BaseModel):
    """Base of every stored model: strict about unknown keys, JSON in and out."""

    model_config = ConfigDict(extra="forbid")
    schema_id: ClassVar[str] = ""
    read_also: ClassVar[tuple[str, ...]] = ()  # older versions this model still reads

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls: type[M], text: str) -> M:
        """Parse and validate; a wrong or missing schema version is named in the error."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ResultError(f"not JSON: {exc}") from None
        _check_schema(raw, cls.schema_id, cls.read_also)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            claimed = raw.get("schema", cls.schema_id) if isinstance(raw, dict) else cls.schema_id
            raise ResultError(f"not a valid {claimed} document: {where}: {first['msg']}") from None

    @classmethod
    def load(cls: type[M], path: Path) -> M:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ResultError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            return cls.from_json(text)
        except ResultError as exc:
            raise ResultError(f"{path}: {exc}") from None

    def save(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())


def _check_schema(raw: Any, expected: str, also: tuple[str, ...] = ()) -> None:
    if not expected:
        return
    found = raw.get("schema") if isinstance(raw, dict) else None
    if found != expected and found not in also:
        wanted = " or ".join(repr(s) for s in (expected, *also))
        raise ResultError(f"schema {found!r}, expected {wanted} (written by another evalharness version?)")


# --------------------------------------------------------------------------- #
# One run
# --------------------------------------------------------------------------- #


class Artifact(Record):
    """One file a run wrote: its name (its path under the artifact root: what pairs it with the baseline's),
    its step when the task's key pattern finds one, where the harness stored it, what it hashes to."""

    name: str
    key: int | None = None
    path: str  # relative to the run folder (rep-NNN/)
    sha256: str | None = None
    size: int = 0


class PrintedText(Record):
    """Lines a run printed that the task compares verbatim (samples, say): the first ones kept for the report,
    a hash of them all for the comparison."""

    count: int
    sha256: str
    lines: list[str] = []  # the first MAX lines, each cut at MAX characters (collect.py)


class RunResult(Record):
    """result.json of one repetition: the harness's own observations plus the parsed log."""

    schema_id: ClassVar[str] = RUN_SCHEMA
    schema_: str = Field(default=RUN_SCHEMA, alias="schema")
    label: str
    name: str
    sha: str
    rep: int
    key: str = ""  # digest of the run key it was produced under (resume checks it)
    status: str
    returncode: int | None
    wall_s: float
    cpu_s: float | None = None
    peak_rss_mb: float
    device: str = "cpu"
    node: str | None = None
    start: Literal["cold", "warm"] = "cold"  # warm: forked from a server that imported the task's modules (no times shown)
    clock_s: float | None = None  # resolution of the timestamps the phases were measured with
    metrics: list[dict[str, float]] = []  # one point per logged step, keyed by the task's step field
    phases: dict[str, float | None] = {}  # from the harness's own arrival stamps of the log lines
    artifacts: list[Artifact] = []  # the harness's copies (store), with their sha256
    texts: dict[str, PrintedText] = {}  # printed text compared verbatim, by the task's name for it
    outside_s: float | None = None  # wall time before the first log line the task reads and after the last one
    files: dict[str, str] = {}  # the other stored files (logs, stamps) → sha256; resume verifies all
    problems: list[str] = []  # what was wrong with the run's output: unreadable lines, caps, a clock that lies
    outcome: str = ""  # the run's own account of how it ended, when the task logs one
    stderr_tail: str = ""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    #: Restored from the result cache by this compare rather than run (set by cache.restore; not stored:
    #: the progress line says "reused" instead of a wall time it did not spend).
    _reused: bool = PrivateAttr(default=False)

    @property
    def ok(self) -> bool:
        return self.status == C.STATUS_OK

    @property
    def reused(self) -> bool:
        return self._reused

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True)

    def value(self, phase: str) -> float | None:
        """A phase's time, or wall/cpu/RSS measured by the harness; None when failed or absent."""
        if not self.ok:
            return None
        if phase in HARNESS_MEASURES:
            return getattr(self, HARNESS_MEASURES[phase])
        return self.phases.get(phase)


#: Phases measured by the harness itself for every task, and the field holding each.
HARNESS_MEASURES = {"wall": "wall_s", "cpu": "cpu_s", "peak_rss_mb": "peak_rss_mb", "outside": "outside_s"}


class RoundSample(Record):
    """One run of one branch as the statistics read it (pyperf and hyperfine keep raw values too).

    With these, every median, ratio and test of the document can be redone from the document alone,
    and two stored compares can be compared (`compare-results`) or followed over commits (`history`).
    """

    round: int  # 0: the equivalence round (correctness; may have shared the machine), 1…: timing rounds
    status: str
    start: Literal["cold", "warm"] = "cold"  # warm: forked from a preloaded server (its times are not the script's)
    clock_s: float | None = None  # resolution of the log's timestamps (the "not measurable" rule)
    values: dict[str, float | None]  # judged phase → seconds (peak_rss_mb: MB); None: failed or not logged

    @property
    def timed(self) -> bool:
        """A timing round's run: cold and alone on the machine, the only kind a speed figure may come from."""
        return self.round >= 1


# --------------------------------------------------------------------------- #
# Judgement of one candidate
# --------------------------------------------------------------------------- #


class Summary(Record):
    """A phase over repetitions: centre, range and relative spread."""

    n: int
    median: float
    mean: float
    min: float
    max: float
    spread: float | None  # (max - min) / median; None when unbounded (a median of 0 with values apart)

    @model_validator(mode="before")
    @classmethod
    def _unbounded_spread(cls, data: Any) -> Any:
        """JSON has no infinity: an unbounded spread is written as null, and read back as one."""
        if isinstance(data, dict) and isinstance(data.get("spread"), float) and not math.isfinite(data["spread"]):
            return {**data, "spread": None}
        return data


#: The verdict of a phase no timing rounds judged (--quick, or a candidate the equivalence round settled).
NOT_JUDGED = "not judged"


#: A speed judgement in no words: better (faster, lower memory), worse, the same, not resolved, too short for
#: the log's clock, or not judged at all.
SpeedCall = Literal["better", "worse", "same", "inconclusive", "unmeasurable", "not_judged"]
#: What a candidate's outputs came to: the same as the baseline's, not, its run failed, or it never ran.
Outcome = Literal["equivalent", "not_equivalent", "failed", "not_applied"]


class PhaseVerdict(Record):
    """The speed judgement of one phase (or "not judged" with the reason)."""

    n: int = 0
    call: SpeedCall = "not_judged"  # what was decided, in no words (verdict: the words, for readers)
    speedup: float | None = None  # geometric mean of the paired ratios (> 1: candidate faster / lower)
    ci: list[float | None] | None = None  # BCa bootstrap, at the per-look confidence level
    p_value: float | None = None
    significant: bool = False
    verdict: str = NOT_JUDGED
    reason: str = ""
    unstable: bool = False
    settled: bool = False  # the sequential rule needs no more rounds for this phase
    not_worse: bool = False  # the CI rules out a loss beyond ±threshold (enough for a guard phase to stop)
    futile: bool = False  # not settled, and the rounds up to --repeat would hardly ever settle it (stats.futile)
    conservative: float | None = None  # the largest speedup still significant: the CI's lower bound
    modes: dict[str, list[Summary]] = {}  # side → its two clusters, when its times are bimodal
    # Not judged: the single unpaired run's ratio, an indication and never a speedup. Documents written before
    # this field kept it in `speedup` under the verdict "not judged"; exporters read both (export.ratios).
    indicative: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _call_of_older_documents(cls, data: Any) -> Any:
        """Documents before evalharness.compare/3 kept only the words: read the call from them."""
        if not isinstance(data, dict) or "call" in data:
            return data
        words = str(data.get("verdict", "not judged"))
        call = {"faster": "better", "lower": "better", "slower": "worse", "higher": "worse",
                "no significant difference": "same"}.get(words) or (
            "inconclusive" if words.startswith("inconclusive") else
            "unmeasurable" if words.startswith("speed not measurable") else "not_judged")
        return {**data, "call": call}

    @model_serializer(mode="wrap")
    def _without_absent_indication(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`indicative` is written only when there is one, so a document without any is written back as it
        was read (an older document byte for byte)."""
        data = handler(self)
        if data.get("indicative") is None:
            data.pop("indicative", None)
        return data


class LossRow(Record):
    """One step of the metric window shown around the first divergence."""

    key: int
    baseline: dict[str, float]
    candidate: dict[str, float] | None = None


class MetricComparison(Record):
    """Every logged metric at every step: equal, or where it first was not."""

    match: bool
    first_divergent: int | None = None
    max_abs_diff: float = 0.0
    rows: list[LossRow] = []


class ArtifactRow(Record):
    """One artifact compared (paired by name); `details` holds what the task's comparer adds."""

    name: str = ""  # empty in documents before evalharness.compare/3, which paired artifacts by step
    key: int | None = None
    image: bool = False  # compared as pixels (a PNG on both sides): the report shows pixel columns
    identical: bool
    baseline: str | None = None  # paths relative to the compare's run folder
    candidate: str | None = None
    baseline_sha256: str | None = None
    candidate_sha256: str | None = None
    differing_pixels: int | None = None
    bbox: list[int] | None = None
    ssim: float | None = None
    heatmap: str | None = None
    missing: str | None = None
    first_difference: int | None = None  # byte offset where a non-image file first differs
    details: dict[str, Any] = {}


class TextComparison(Record):
    """One printed text compared verbatim with the baseline's."""

    name: str
    identical: bool
    first_difference: int | None = None  # line number (1-based) of the first differing line
    baseline: str | None = None  # that line on each side (None: beyond its end)
    candidate: str | None = None


class Flag(Record):
    """A changed diff line a reviewer must look at (seeds, RNG, threads, precision, timing)."""

    category: str
    file: str
    line: int | None = None
    text: str


class CandidateVerdict(Record):
    """Everything the report and the exit status need about one candidate."""

    name: str
    sha: str
    agent: str | None = None  # who wrote it, when it came in as an attempt (--predictions)
    attempt: int | None = None
    reference: bool = False  # a known-good solution shown beside the agents, not ranked among them
    status: str
    outcome: Outcome = "not_equivalent"  # the verdict in no words: with speed_call, guard_slower, timing_trusted
    speed_call: SpeedCall | None = None  # the primary phase's, when timing rounds judged it
    guard_slower: str | None = None  # a guard phase that got slower while the primary did not win
    timing_trusted: bool = True  # False: the log's clock, the wall clock or the time outside the lines disagree
    verdict: str  # the words for all of the above (judge/verdicts.words), for readers
    diagnosis: str
    equivalent: bool
    losses_match: bool
    images_identical: bool
    losses: MetricComparison
    images: list[ArtifactRow] = []
    texts: list[TextComparison] = []
    timing: dict[str, Summary | None] = {}
    speed: dict[str, PhaseVerdict] = {}
    speedup: dict[str, float | None] = {}
    peak_rss_mb: float | None = None
    warnings: list[str] = []
    flags: list[Flag] = []
    stderr_tail: str = ""
    diffstat: str = ""

    @model_validator(mode="before")
    @classmethod
    def _calls_of_older_documents(cls, data: Any) -> Any:
        """Documents before evalharness.compare/3 kept only the words: read the calls from them (the one place
        words are read back, for documents that hold nothing else)."""
        if not isinstance(data, dict) or "outcome" in data:
            return data
        words, status = str(data.get("verdict", "")), str(data.get("status", "ok"))
        outcome = "not_applied" if words.startswith("patch does not apply") else "failed" if status != "ok" else \
            "equivalent" if data.get("equivalent") else "not_equivalent"
        return {**data, "outcome": outcome, "timing_trusted": words != "equivalent, timing not trusted",
                "speed_call": "worse" if "slower" in words else "better" if words.endswith("faster") else None}
    params: dict[str, str] = {}  # this contender's own parameter overrides (REF:key=value,…)
    final: dict[str, float] = {}  # the last logged step of its first run (steps, counters, final loss…)
    timing_rounds: int = 0  # paired timing rounds this candidate ran
    timing_note: str = ""  # why it ran no (or fewer) timing rounds


class NoiseFloor(Record):
    """The baseline judged against itself: what 'no difference' measures as here."""

    name: str = "baseline vs baseline"
    floor: float
    floors: dict[str, float]
    speed: dict[str, PhaseVerdict]
    speedup: dict[str, float | None]
    timing: dict[str, Summary | None]


class TaskInfo(Record):
    """The task as it ran: resolved once, recorded once."""

    name: str
    preset: str | None
    params: dict[str, str]
    command: list[str]  # the argv template with parameters filled, harness paths left as {placeholders}
    toml_sha256: str
    phases: list[str]
    primary_phase: str
    step_key: str
    labels: dict[str, str] = {}  # the task's words for its phases (judge.labels)

    def label(self, phase: str) -> str:
        return self.labels.get(phase, phase)


class Tolerance(Record):
    """How far the baseline strays from itself; zero on a deterministic machine."""

    metric: float = 0.0
    pixels: int = 0

    @property
    def exact(self) -> bool:
        return self.metric == 0.0 and self.pixels == 0


class Settings(Record):
    """The knobs that shaped the compare (they change what the numbers mean)."""

    rounds: int  # the most timing rounds allowed (--repeat)
    rounds_run: int = 0  # timing rounds actually run (the sequential rule may stop earlier)
    min_rounds: int = 0
    alpha: float = 0.05  # overall false-claim rate over all looks
    alpha_look: float = 0.05  # the level each look is tested at
    quick: bool
    threshold: float
    timeout_s: float
    threads: int
    device: str
    fail_on: str | None = None  # the gate's rule (`check --fail-on`); None: compare's rule


class HarnessInfo(Record):
    """Which harness judged, and how it was called."""

    version: str
    commit: str | None = None
    command_line: list[str] = []


class CompareDocument(Record):
    """compare.json: the whole judgement, self-describing and versioned."""

    schema_id: ClassVar[str] = COMPARE_SCHEMA
    schema_: str = Field(default=COMPARE_SCHEMA, alias="schema")
    created: str
    harness: HarnessInfo
    baseline: str
    baseline_sha: str
    source: str
    task: TaskInfo
    settings: Settings
    environment: dict[str, Any]
    warnings: list[str] = []
    tolerance: Tolerance
    baseline_timing: dict[str, Summary | None]
    baseline_status: str = "ok"
    baseline_outcome: str = ""  # the baseline's own account of how it ended, when the task logs one
    baseline_final: dict[str, float] = {}
    noise_floor: NoiseFloor | None = None
    candidates: list[CandidateVerdict]
    variants: list[dict[str, str]] = []  # held-out parameter variants every candidate was also checked on
    # branch label (the baseline, its .self twin, each candidate) → its runs in round order; absent in /2
    samples: dict[str, list[RoundSample]] = {}

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    read_also: ClassVar[tuple[str, ...]] = (COMPARE_SCHEMA_V2,)

    @property
    def per_round(self) -> bool:
        """Whether the per-round values are kept (/3 on): the histograms, compare-results and history need them."""
        return self.schema_ == COMPARE_SCHEMA

    def to_json(self) -> str:
        """A document read from /2 is written back as /2 (no samples key): a copy must not claim a newer version."""
        return self.model_dump_json(indent=2, by_alias=True, exclude=None if self.per_round else {"samples"})


# --------------------------------------------------------------------------- #
# What the judge is given: the facts of a compare, stored beside its runs
# --------------------------------------------------------------------------- #

FACTS_SCHEMA = "evalharness.facts/1"


class DiffFacts(Record):
    """A candidate's diff against the baseline, as the plan found it (the judge runs no git)."""

    diffstat: str = ""
    flags: list[Flag] = []


class AttemptFacts(Record):
    """Who wrote a candidate that came in as an attempt."""

    name: str
    agent: str | None = None
    attempt: int | None = None
    reference: bool = False


class CompareFacts(Record):
    """judge.json: everything the judge reads besides the runs' own result.json files — the compare as planned
    and as run. `judge.analyse.judge_folder` turns a run folder into its compare.json from this file and the
    results alone, byte for byte; the compare itself goes the same way."""

    schema_id: ClassVar[str] = FACTS_SCHEMA
    schema_: str = Field(default=FACTS_SCHEMA, alias="schema")
    created: str
    harness: HarnessInfo
    source: str
    task_path: str
    task_sha256: str
    preset: str | None
    params: dict[str, str]
    baseline: str
    candidates: list[str]
    labels: list[str]  # baseline, its twin when timed, candidates
    shas: dict[str, str]
    quick: bool
    rounds: int
    threshold: float
    timeout_s: float
    threads: int
    fail_on: str | None = None
    device: str
    environment: dict[str, Any]
    diffs: dict[str, DiffFacts] = {}
    attempts: list[AttemptFacts] = []
    rejected: dict[str, str] = {}  # attempt → why it never ran
    runs: dict[str, list[str]] = {}  # label → its repetitions' folders (relative), in round order
    notes: dict[str, str] = {}  # candidate → why its timing stopped
    rounds_run: int = 0
    variants: list[dict[str, str]] = []
    findings: dict[str, str] = {}  # candidate → how it differed on a held-out variant
    variant_warnings: list[str] = []
    aliases: dict[str, str] = {}  # machine path → alias, applied to every string of the document

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True)


# --------------------------------------------------------------------------- #
# Many attempts per agent
# --------------------------------------------------------------------------- #


class AgentRow(Record):
    """One agent's attempts summed up: how often correct, how often and how much faster."""

    agent: str
    reference: bool = False
    attempts: int
    equivalent: int
    share_equivalent: float
    fast: dict[str, float | None]  # KernelBench's fast_p: "1.0" → share equivalent with a speedup above 1.0× (None: not judged)
    sig_fast: dict[str, float | None] = {}  # ours, stricter: equivalent and *significantly* faster than p× (CI above p)
    geomean_speedup: float | None = None
    geomean_ci: list[float] | None = None
    best_attempt: str | None = None
    best_speedup: float | None = None


class Leaderboard(Record):
    """Agents ranked on one compare: derived from a CompareDocument, never stored apart from it."""

    phase: str
    thresholds: list[float]
    rows: list[AgentRow]


def json_schema(model: type[Record]) -> dict[str, Any]:
    """The JSON Schema of a stored model, with its version pinned as a constant."""
    schema = model.model_json_schema(by_alias=True)
    schema["properties"]["schema"] = {"const": model.schema_id, "title": "Schema"}
    schema["$id"] = f"https://evalharness.invalid/{model.schema_id}"
    return schema


SCHEMA_FILES = {"run.schema.json": RunResult, "compare.schema.json": CompareDocument, "judge.schema.json": CompareFacts}


def write_schema_files(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate the committed schema files from the models."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, model in SCHEMA_FILES.items():
        atomic_write_text(folder / name, json.dumps(json_schema(model), indent=2, sort_keys=True) + "\n")
        paths.append(folder / name)
    return paths


if __name__ == "__main__":  # pragma: no cover - a maintenance entry point
    for written in write_schema_files(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_DIR):
        sys.stdout.write(f"{written}\n")
