"""The schema of a task file, checked before anything is run.

A task TOML is data a user may have written by hand; a typo in it should be
one line naming the key, not a KeyError minutes into a compare. The pydantic
model below fixes every table's keys and types; `check` adds what a type
cannot say (names that must refer to parameters, a timestamp format that
parses, an artifact pattern with its key group).
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


class TaskSchemaError(UsageProblem):
    """The task file does not follow the schema; the message names the file and the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sources(Strict):
    baseline: str | None = None
    candidates: str | None = None
    branch: str = "baseline"


class Artifacts(Strict):
    glob: str
    key: str = r"(?P<key>\d+)"


class Log(Strict):
    timestamp_format: str = "%Y-%m-%d %H:%M:%S,%f"
    step_key: str = "step"
    metrics: str | None = None
    outcomes: list[str] = []  # patterns whose (?P<message>…) is the run's own account of how it ended
    patterns: dict[str, str] = Field(min_length=1)


class Judge(Strict):
    phases: list[str] = []
    primary: str | None = None
    guard: list[str] = []
    focus: str | None = None
    labels: dict[str, str] = {}
    outputs: bool = True  # False: contenders compute differently by design (a race)


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
    exit_codes: dict[str, str] = {}  # the script's own failure codes → status words
    sweep: Sweep = Sweep()
    log: Log
    judge: Judge
    flags: dict[str, str] = {}
    params: dict[str, Literal["int", "float", "str", "path", "bool"]]
    defaults: dict[str, Scalar] = {}
    presets: dict[str, dict[str, Scalar]] = {}
    variants: dict[str, Variant] = {}


def _where(error: dict[str, Any]) -> str:
    return ".".join(str(p) for p in error["loc"] if not str(p).startswith(("function-after", "literal")))


def validate_data(data: dict[str, Any], path: Path) -> TaskFile:
    """The parsed TOML against the schema; the first problem named by its key."""
    try:
        parsed = TaskFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise TaskSchemaError(f"task file {path}: {_where(first) or 'top level'}: {first['msg']}") from None
    check(parsed, path)
    return parsed


def _check_names(table: dict[str, Any], what: str, params: dict[str, str], path: Path) -> None:
    unknown = sorted(set(table) - set(params))
    if unknown:
        raise TaskSchemaError(f"task file {path}: {what} names {unknown[0]!r}, which is not in [params]")


def _check_timestamp(fmt: str, path: Path) -> None:
    try:
        datetime.strptime(SAMPLE_TIME.strftime(fmt), fmt)
    except ValueError as exc:
        raise TaskSchemaError(f"task file {path}: log.timestamp_format {fmt!r} does not parse: {exc}") from None


def check(task: TaskFile, path: Path) -> None:
    """What types cannot say: names refer to parameters, the timestamp format parses, the key group exists."""
    _check_names(task.defaults, "defaults", task.params, path)
    for name, preset in task.presets.items():
        _check_names(preset, f"presets.{name}", task.params, path)
    _check_names(task.variants, "variants", task.params, path)
    _check_timestamp(task.log.timestamp_format, path)
    if task.artifacts is None:
        return
    try:
        key = re.compile(task.artifacts.key)
    except re.error as exc:
        raise TaskSchemaError(f"task file {path}: artifacts.key is not a valid regular expression: {exc}") from None
    if "key" not in key.groupindex:
        raise TaskSchemaError(f"task file {path}: artifacts.key has no (?P<key>...) group")
