"""The schema of a task file: the one definition of what a task TOML may say, checked before anything runs.

A task TOML is data a user may have written by hand; a typo in it should be
one line naming the key, not a KeyError minutes into a compare. The pydantic
models below fix every table's keys, types and defaults; `check` adds what a
type cannot say (names that must refer to parameters or patterns, regular
expressions that compile and carry the groups they must, a timestamp format
that parses). `harness.tasks.load_task` builds the runtime `Task` from the
validated model and nothing else: there is no second parser.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.errors import UsageProblem

Scalar = Union[bool, int, float, str]  # noqa: UP007 - pydantic tries the members in this order
SAMPLE_TIME = datetime(2025, 7, 8, 15, 15, 25, 123000)
#: Placeholders the harness fills itself; every other {name} in a command must be a parameter.
HARNESS_PLACEHOLDERS = ("python", "output_dir", "device", "task_dir")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
#: Phases the harness derives from any log without hooks: the stretch from the first to the last metric line,
#: and the time per logged step (consecutive metric lines, divided by how many steps apart they are).
BUILTIN_PHASES = ("span", "step")
#: Measures the harness takes of every run itself.
HARNESS_PHASES = ("wall", "cpu")


class TaskSchemaError(UsageProblem):
    """The task file does not follow the schema; the message names the file and the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sources(Strict):
    baseline: str | None = None  # the built-in repository's baseline folder, relative to the TOML
    candidates: str | None = None  # a folder of <name>.patch files, each a branch on the baseline
    branch: str = "baseline"


class Artifacts(Strict):
    """Files a run writes that are compared: `glob` (one or a list) under the output folder ({output_dir}) or the
    run's tree."""

    glob: str | list[str] = Field(min_length=1)
    key: str | None = None  # a regex with (?P<key>\d+): the step a file belongs to (for reports); none: by name
    root: Literal["output", "tree"] | None = None  # default: "output" when the command names {output_dir}

    @model_validator(mode="after")
    def key_has_group(self) -> Artifacts:
        if self.key is not None and "key" not in _compile(self.key, "artifacts.key").groupindex:
            raise ValueError("artifacts.key has no (?P<key>...) group")
        return self


class TextBlock(Strict):
    """The lines between a start line and an end line (both regexes): a printed block compared verbatim."""

    start: str
    end: str


class Log(Strict):
    timestamp_format: str = "%Y-%m-%d %H:%M:%S,%f"  # for patterns with a (?P<ts>…) group (optional)
    step_key: str = "step"
    metrics: str | list[str] | None = None  # patterns whose groups are compared (default: the first pattern)
    outcomes: list[str] = []  # patterns whose (?P<message>…) is the run's own account of how it ended
    patterns: dict[str, str] = {}  # none: a log whose lines are compared as printed text only (`text`)
    text: dict[str, str | TextBlock] = {}  # printed text compared verbatim: lines a regex matches, or a block

    @property
    def metric_names(self) -> list[str]:
        if self.metrics is None:
            return list(self.patterns)[:1]
        return [self.metrics] if isinstance(self.metrics, str) else list(self.metrics)


class Judge(Strict):
    phases: list[str] = list(BUILTIN_PHASES)
    primary: str | None = None  # default: the first phase
    guard: list[str] = []
    focus: str | None = None
    labels: dict[str, str] = {}
    outputs: bool = True  # False: contenders compute differently by design (a race)

    @property
    def primary_phase(self) -> str:
        return self.primary or (self.phases[0] if self.phases else "wall")


class Sweep(Strict):
    columns: list[str] = []  # metrics of a run's last step shown in sweep tables


class Variant(Strict):
    """A held-out range for one parameter: whole numbers from min to max, or a list of choices."""

    min: int | None = None
    max: int | None = None
    choices: list[Scalar] | None = None

    @model_validator(mode="after")
    def one_kind(self) -> Variant:
        ranged = self.min is not None and self.max is not None
        if ranged == (self.choices is not None) or (ranged and self.min > self.max):  # type: ignore[operator]
            raise ValueError("give either min <= max (whole numbers) or a non-empty list of choices")
        if self.choices is not None and not self.choices:
            raise ValueError("choices must not be empty")
        return self


ParamType = Literal["int", "float", "str", "path", "bool"]


class TaskFile(Strict):
    name: str | None = None
    description: str = ""
    default: bool = False
    hooks: str | None = None
    command: list[str] = Field(min_length=1)
    preload: list[str] = []  # modules a warm start imports once for every run (the command must be {python} ...)
    default_preset: str | None = None
    sources: Sources = Sources()
    artifacts: Artifacts | None = None  # none: a task whose runs write nothing to compare
    exit_codes: dict[int, str] = {}  # the script's own failure codes → status words
    sweep: Sweep = Sweep()
    log: Log
    judge: Judge = Judge()
    flags: dict[str, str] = {}
    params: dict[str, ParamType] = {}
    defaults: dict[str, Scalar] = {}
    presets: dict[str, dict[str, Scalar]] = {}
    variants: dict[str, Variant] = {}

    @property
    def artifact_root(self) -> str:
        """Where artifacts are looked for: the run's output folder when the command names it, else its tree."""
        if self.artifacts is not None and self.artifacts.root is not None:
            return self.artifacts.root
        return "output" if any("{output_dir}" in arg for arg in self.command) else "tree"


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise ValueError(f"{what} is not a valid regular expression: {exc}") from None


def _where(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error["loc"] if not str(p).startswith(("function-after", "literal")))


def validate_data(data: dict[str, Any], path: Path) -> TaskFile:
    """The parsed TOML against the schema; the first problem named by its key."""
    try:
        parsed = TaskFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise TaskSchemaError(f"task file {path}: {_where(first) or 'top level'}: {message}") from None
    try:
        check(parsed)
    except ValueError as exc:
        raise TaskSchemaError(f"task file {path}: {exc}") from None
    return parsed


def _check_names(table: dict[str, Any], what: str, params: dict[str, str]) -> None:
    unknown = sorted(set(table) - set(params))
    if unknown:
        raise ValueError(f"{what} names {unknown[0]!r}, which is not in [params]")


def _check_placeholders(task: TaskFile) -> None:
    for arg in task.command:
        for name in PLACEHOLDER.findall(arg):
            if name not in task.params and name not in HARNESS_PLACEHOLDERS:
                raise ValueError(f"command uses {{{name}}}, which is neither a parameter nor one of "
                                 f"{', '.join(HARNESS_PLACEHOLDERS)}")


def _check_log(log: Log) -> None:
    """Patterns compile; metric patterns carry the step group; outcome patterns a message; text regexes compile."""
    compiled = {kind: _compile(p, f"log.patterns.{kind}") for kind, p in log.patterns.items()}
    for name in log.metric_names:
        if name not in compiled or log.step_key not in compiled[name].groupindex:
            raise ValueError(f"log.metrics names {name!r}, which needs a pattern with a (?P<{log.step_key}>...) group")
    for kind in log.outcomes:
        if kind not in compiled or "message" not in compiled[kind].groupindex:
            raise ValueError(f"log.outcomes names {kind!r}, which needs a pattern with (?P<message>…)")
    for name, spec in log.text.items():
        for part, text in ([("", spec)] if isinstance(spec, str) else [(".start", spec.start), (".end", spec.end)]):
            _compile(text, f"log.text.{name}{part}")
    if any("ts" in p.groupindex for p in compiled.values()):
        try:
            datetime.strptime(SAMPLE_TIME.strftime(log.timestamp_format), log.timestamp_format)
        except ValueError as exc:
            raise ValueError(f"log.timestamp_format {log.timestamp_format!r} does not parse: {exc}") from None


def _check_compares_something(task: TaskFile) -> None:
    """A task that compares nothing would call every branch equivalent."""
    if task.judge.outputs and not (task.log.patterns or task.log.text or task.artifacts):
        raise ValueError("the task compares nothing: give metric lines ([log.patterns]), printed text ([log.text]) "
                         "or files ([artifacts])")


def _check_judge(judge: Judge) -> None:
    known = {*judge.phases, *HARNESS_PHASES}
    for name in (judge.primary_phase, *judge.guard, *([judge.focus] if judge.focus else [])):
        if name not in known:
            raise ValueError(f"judge names phase {name!r}, not one of {sorted(known)}")


def _check_variants(task: TaskFile) -> None:
    for key, spec in task.variants.items():
        if spec.min is not None and task.params[key] not in ("int", "float"):
            raise ValueError(f"variants.{key} is a range but {key} is a {task.params[key]}")


def check(task: TaskFile) -> None:
    """What types cannot say: names refer to parameters and patterns, regexes compile with their groups."""
    _check_names(task.defaults, "defaults", task.params)
    for name, preset in task.presets.items():
        _check_names(preset, f"presets.{name}", task.params)
    _check_names(task.variants, "variants", task.params)
    _check_variants(task)
    _check_placeholders(task)
    _check_log(task.log)
    _check_compares_something(task)
    _check_judge(task.judge)
    for category, pattern in task.flags.items():
        _compile(pattern, f"flags.{category}")
