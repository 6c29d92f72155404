"""A task is a TOML file plus, optionally, a module of hooks beside it.

The TOML says how to run the script, what it writes and how to read its log;
the hooks module (`hooks = "hooks.py"`) adds what data cannot say: input
preparation, phase arithmetic, how to compare its artifacts and the words of
its diagnoses (lm-evaluation-harness style). Everything the generic harness
needs from a task goes through `Task` and `TaskConfig`, so a new task is a
folder here, not an edit of `collect` or `judge`.

A task folder: `harness/tasks/<name>/task.toml` (+ `hooks.py`); `--task`
also takes any TOML path.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import UsageProblem, did_you_mean
from harness.tasks import schema
from harness.tasks.base import Hooks, load_hooks
from harness.tasks.schema import HARNESS_PLACEHOLDERS, PLACEHOLDER

PARAM_TYPES = ("int", "float", "str", "path", "bool")
TASK_FILE = "task.toml"
#: Interpreters whose `-c` argument is a script: values substituted there must not be code.
SHELLS = ("sh", "bash", "dash", "zsh", "ksh", "ash")
#: What an unquoted shell word may contain and still be one literal word (no globs, no expansions).
SHELL_SAFE = re.compile(r"[A-Za-z0-9_./:=+,@%-]*\Z")


class TaskError(UsageProblem):
    """The task file, preset or an override is unusable; the message says why."""


@dataclass(frozen=True)
class Judging:
    """Which phases exist, which one is the verdict, which may never get slower."""

    phases: tuple[str, ...]
    primary: str
    guard: tuple[str, ...] = ()
    focus: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    outputs: bool = True  # False: contenders compute differently by design; only speed and status are judged

    def label(self, phase: str) -> str:
        return self.labels.get(phase, phase)


@dataclass(frozen=True)
class TextSpec:
    """Printed text compared verbatim: every line `line` matches, or the lines between `start` and `end`."""

    line: re.Pattern[str] | None = None
    start: re.Pattern[str] | None = None
    end: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Task:
    """A validated task file, compiled for use (regexes once), and its hooks."""

    name: str
    path: Path
    spec: schema.TaskFile  # the file as validated: the one source of every field below
    patterns: dict[str, re.Pattern[str]]
    artifact_key: re.Pattern[str] | None
    judging: Judging
    flag_patterns: tuple[tuple[str, re.Pattern[str]], ...]
    texts: dict[str, TextSpec]
    hooks: Hooks
    toml_sha256: str = ""

    @property
    def command(self) -> tuple[str, ...]:
        return tuple(self.spec.command)

    @property
    def artifact_globs(self) -> tuple[str, ...]:
        """The artifact patterns (none: a task whose runs write nothing to compare)."""
        globs = self.spec.artifacts.glob if self.spec.artifacts else ()
        return (globs,) if isinstance(globs, str) else tuple(globs)

    @property
    def artifact_root(self) -> str:
        return self.spec.artifact_root

    @property
    def timestamp_format(self) -> str:
        return self.spec.log.timestamp_format

    @property
    def step_key(self) -> str:
        return self.spec.log.step_key

    @property
    def metric_patterns(self) -> tuple[str, ...]:
        return tuple(self.spec.log.metric_names)

    @property
    def param_types(self) -> dict[str, str]:
        return dict(self.spec.params)

    @property
    def exit_codes(self) -> dict[int, str]:
        return dict(self.spec.exit_codes)

    @property
    def outcome_kinds(self) -> tuple[str, ...]:
        return tuple(self.spec.log.outcomes)

    @property
    def sweep_columns(self) -> tuple[str, ...]:
        return tuple(self.spec.sweep.columns)

    @property
    def defaults(self) -> dict[str, str]:
        return _strings(self.spec.defaults)

    @property
    def presets(self) -> dict[str, dict[str, str]]:
        return {k: _strings(v) for k, v in self.spec.presets.items()}

    @property
    def sources(self) -> dict[str, Any]:
        return self.spec.sources.model_dump(exclude_none=True)

    @property
    def default_preset(self) -> str | None:
        return self.spec.default_preset

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return {k: v.model_dump(exclude_none=True) for k, v in self.spec.variants.items()}

    @property
    def preload(self) -> tuple[str, ...]:
        return tuple(self.spec.preload)

    @property
    def param_names(self) -> list[str]:
        """Every name `--set` accepts."""
        return sorted(self.spec.params)

    @property
    def folder(self) -> Path:
        return self.path.parent


@dataclass(frozen=True)
class TaskConfig:
    """A task with its preset resolved once: what every later stage reads."""

    task: Task
    preset: str | None
    params: dict[str, str]

    def with_overrides(self, overrides: list[str]) -> TaskConfig:
        """The same preset with more `key=value` overrides (a sweep's grid point)."""
        params = dict(self.params)
        for text in overrides:
            key, value = parse_override(text, self.task)
            params[key] = value
        self.task.hooks.validate(params)
        return TaskConfig(self.task, self.preset, params)


def builtin_tasks() -> dict[str, Path]:
    """Every task folder shipped in the package: name → its task.toml."""
    root = Path(str(resources.files("harness") / "tasks"))
    return {p.parent.name: p for p in sorted(root.glob(f"*/{TASK_FILE}"))}


def default_task_path() -> Path:
    """The built-in task whose TOML says `default = true`."""
    for path in builtin_tasks().values():
        if tomllib.loads(path.read_text(encoding="utf-8")).get("default") is True:
            return path
    raise TaskError("no built-in task is marked default; pass --task")


def locate_task(spec: str | None) -> Path:
    """Accept a TOML path, a task folder or the name of a built-in task."""
    if spec is None:
        return default_task_path()
    candidate = Path(spec)
    if candidate.is_dir() and (candidate / TASK_FILE).is_file():
        return candidate / TASK_FILE
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise TaskError(f"task file {spec!r} not found")
        return candidate
    builtin = builtin_tasks()
    if spec not in builtin:
        hint = did_you_mean(spec, builtin)
        raise TaskError(f"no task file or built-in task named {spec!r} ({hint + ' ' if hint else ''}"
                        f"built-in: {', '.join(builtin) or 'none'}; `evalharness tasks` lists them)")
    return builtin[spec]


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"task file {path} is not valid TOML: {exc}") from exc


def _strings(table: dict[str, Any]) -> dict[str, str]:
    return {k: _as_text(v) for k, v in table.items()}


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _judging(spec: schema.TaskFile) -> Judging:
    judge = spec.judge
    return Judging(tuple(judge.phases), judge.primary_phase, tuple(judge.guard), judge.focus, dict(judge.labels),
                   judge.outputs)


def _texts(log: schema.Log) -> dict[str, TextSpec]:
    return {name: TextSpec(line=re.compile(spec)) if isinstance(spec, str) else
            TextSpec(start=re.compile(spec.start), end=re.compile(spec.end)) for name, spec in log.text.items()}


def _check_variant_values(spec: schema.TaskFile, path: Path) -> None:
    """Every variant bound and choice type-checked like a --set value."""
    for key, variant in spec.variants.items():
        values = [*(variant.choices or []), *(b for b in (variant.min, variant.max) if b is not None)]
        for value in values:
            try:
                check_type(key, _as_text(value), spec.params[key])
            except TaskError as exc:
                raise TaskError(f"task file {path}: variants.{key}: {exc}") from None


def load_task(spec: str | None = None) -> Task:
    """Read and validate a task file and its hooks; errors name the file and the key."""
    path = locate_task(spec)
    data, text = _read_toml(path)
    parsed = schema.validate_data(data, path)
    _check_variant_values(parsed, path)
    return Task(
        name=parsed.name or path.parent.name, path=path.resolve(), spec=parsed,
        patterns={kind: re.compile(p, re.MULTILINE) for kind, p in parsed.log.patterns.items()},
        artifact_key=re.compile(parsed.artifacts.key) if parsed.artifacts and parsed.artifacts.key else None,
        judging=_judging(parsed), flag_patterns=tuple((c, re.compile(p)) for c, p in parsed.flags.items()),
        texts=_texts(parsed.log), hooks=load_hooks(path, parsed.hooks),
        toml_sha256=hashlib.sha256(text.encode()).hexdigest())


def split_list(text: str, what: str) -> list[str]:
    """Split on commas outside brackets: '[100]*10,[64, 32]' → ['[100]*10', '[64, 32]']."""
    values, depth, current = [], 0, ""
    for ch in text:
        depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    values.append(current.strip())
    if depth != 0 or not all(values):
        raise TaskError(f"{what} {text!r} has an empty entry or unbalanced brackets")
    return values


def split_contender(name: str) -> tuple[str, list[str]]:
    """'REF:key=value,key=value' → (REF, ['key=value', …]): one branch run with other parameters.

    Git refs cannot contain ':', so the split is unambiguous; it lets "two
    solvers in one codebase" be named like two branches.
    """
    ref, sep, rest = name.partition(":")
    if not sep:
        return name, []
    if not ref or not rest:
        raise TaskError(f"contender {name!r}: expected REF:key=value[,key=value]")
    return ref, split_list(rest, f"contender {name!r}:")


def parse_override(text: str, task: Task) -> tuple[str, str]:
    """Split and type-check one `--set key=value`; the value is kept verbatim as text."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise TaskError(f"--set {text!r} is not key=value (e.g. --set epochs=10)")
    if key not in task.param_types:
        hint = did_you_mean(key, task.param_names)
        raise TaskError(f"--set {key}: unknown parameter ({hint + ' ' if hint else ''}known: {', '.join(task.param_names)})")
    check_type(key, value, task.param_types[key])
    return key, value


def check_type(key: str, value: str, kind: str) -> None:
    """A value that cannot be its declared type is refused before any run."""
    parsers = {"int": int, "float": float, "bool": _parse_bool}
    try:
        parsers.get(kind, str)(value)
    except ValueError:
        raise TaskError(f"parameter {key}={value!r}: expected {'an' if kind == 'int' else 'a'} {kind}") from None


def _parse_bool(value: str) -> bool:
    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(value)
    return value.lower() in ("true", "1", "yes")


def resolve(task: Task, preset: str | None, overrides: list[str]) -> TaskConfig:
    """defaults ← preset ← --set, type-checked, required names present, hooks' own checks run."""
    name = preset if preset is not None else task.default_preset
    params = dict(task.defaults)
    if name is not None:
        if name not in task.presets:
            known, hint = ", ".join(sorted(task.presets)) or "none", did_you_mean(name, task.presets)
            raise TaskError(f"no preset {name!r} in task {task.name} ({hint + ' ' if hint else ''}presets: {known}; "
                            "`evalharness tasks` lists them)")
        params.update(task.presets[name])
    for text in overrides:
        key, value = parse_override(text, task)
        params[key] = value
    for key, value in params.items():
        if key in task.param_types:
            check_type(key, value, task.param_types[key])
    missing = [k for k in task.param_types if k not in params]
    if missing:
        raise TaskError(f"task {task.name}: parameter {missing[0]!r} has no value (set it with --set {missing[0]}=...)")
    task.hooks.validate(params)
    return TaskConfig(task, name, params)


def shell_script_index(command: tuple[str, ...] | list[str]) -> int | None:
    """Index of the script argument of `sh -c SCRIPT` (or -ec, -lc ...), None when the command is no shell."""
    if not command or Path(command[0]).name not in SHELLS:
        return None
    for i, arg in enumerate(command[1:-1], start=1):
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg:
            return i + 1
    return None


def _single_quoted(template: str, at: int) -> bool:
    """Whether position `at` of a shell script lies inside '...' (no escapes exist inside single quotes)."""
    return template[:at].count("'") % 2 == 1


def check_shell_value(template: str, match: re.Match[str], value: str, shell: str) -> None:
    """A value pasted into a shell script must stay data: safe characters, or single-quoted without a quote."""
    quoted = _single_quoted(template, match.start())
    if (quoted and "'" not in value) or (not quoted and SHELL_SAFE.match(value)):
        return
    key = match.group(1)
    raise TaskError(f"parameter {key}={value!r} would be read as shell code by the task's `{shell} -c` command: "
                    f"refused (quote it as '{{{key}}}' in the task file, or make the command an argv list)")


def render_command(task: Task, values: dict[str, str], check_shell: bool = True) -> list[str]:
    """Fill the argv template; one template element stays exactly one argument; shell scripts get data only."""
    script = shell_script_index(task.command) if check_shell else None

    def filler(index: int) -> Any:
        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key not in values:
                raise TaskError(f"command template uses {{{key}}} but no parameter {key!r} is set")
            if index == script:
                check_shell_value(task.command[index], match, values[key], Path(task.command[0]).name)
            return values[key]
        return fill

    return [PLACEHOLDER.sub(filler(i), arg) for i, arg in enumerate(task.command)]


def command_template(config: TaskConfig) -> list[str]:
    """The argv as shown in reports: parameters filled, harness paths left as {placeholders}."""
    keep = {name: "{" + name + "}" for name in HARNESS_PLACEHOLDERS}
    shown = {**config.params, **keep}
    for key, kind in config.task.param_types.items():
        if kind == "path":
            shown[key] = "{" + key + "}"
    return render_command(config.task, shown, check_shell=False)  # for display: nothing is run
