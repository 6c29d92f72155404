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

#: Placeholders the harness fills itself; every other {name} must be a parameter.
HARNESS_PLACEHOLDERS = ("python", "output_dir", "device")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
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
class Task:
    """A parsed, validated task file and its hooks. Regexes are compiled once here."""

    name: str
    path: Path
    command: tuple[str, ...]
    artifact_glob: str
    artifact_key: re.Pattern[str]
    patterns: dict[str, re.Pattern[str]]
    timestamp_format: str
    step_key: str
    metrics_pattern: str
    judging: Judging
    flag_patterns: tuple[tuple[str, re.Pattern[str]], ...]
    param_types: dict[str, str]
    exit_codes: dict[int, str]  # a script's own failure codes → the status word they mean
    outcome_kinds: tuple[str, ...]  # log patterns whose (?P<message>…) is the run's own account of how it ended
    sweep_columns: tuple[str, ...]  # metrics of a run's last step shown in sweep tables
    defaults: dict[str, str]
    presets: dict[str, dict[str, str]]
    sources: dict[str, Any]
    hooks: Hooks
    default_preset: str | None = None
    description: str = ""
    toml_sha256: str = ""
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)  # held-out ranges: {min, max} or {choices}
    preload: tuple[str, ...] = ()  # imported once by the warm-start server, before any run forks from it

    @property
    def param_names(self) -> list[str]:
        """Every name `--set` accepts."""
        return sorted(self.param_types)

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


def _compile(pattern: Any, what: str) -> re.Pattern[str]:
    if not isinstance(pattern, str):
        raise TaskError(f"{what} must be a string regular expression")
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise TaskError(f"{what} is not a valid regular expression: {exc}") from exc


def _section(data: dict[str, Any], key: str, path: Path, required: bool = True) -> Any:
    if key not in data:
        if required:
            raise TaskError(f"task file {path} has no '{key}'")
        return {}
    return data[key]


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"task file {path} is not valid TOML: {exc}") from exc


def _command(data: dict[str, Any], path: Path) -> tuple[str, ...]:
    command = _section(data, "command", path)
    if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
        raise TaskError(f"task file {path}: 'command' must be a non-empty list of strings")
    return tuple(command)


def _patterns(log: dict[str, Any], path: Path) -> dict[str, re.Pattern[str]]:
    raw = _section(log, "patterns", path)
    patterns = {kind: _compile(p, f"log.patterns.{kind}") for kind, p in raw.items()}
    for kind, pattern in patterns.items():
        if "ts" not in pattern.groupindex:
            raise TaskError(f"task file {path}: log.patterns.{kind} has no (?P<ts>...) timestamp group")
    return patterns


def _judging(data: dict[str, Any], path: Path) -> Judging:
    raw = _section(data, "judge", path)
    phases = tuple(raw.get("phases", ()))
    primary = raw.get("primary", phases[0] if phases else "wall")
    known = {*phases, "wall", "cpu"}
    for name in (primary, *raw.get("guard", ()), *([raw["focus"]] if raw.get("focus") else [])):
        if name not in known:
            raise TaskError(f"task file {path}: judge names phase {name!r}, not one of {sorted(known)}")
    return Judging(phases, primary, tuple(raw.get("guard", ())), raw.get("focus"), dict(raw.get("labels", {})),
                   bool(raw.get("outputs", True)))


def _param_types(data: dict[str, Any], path: Path) -> dict[str, str]:
    types = {k: str(v) for k, v in _section(data, "params", path).items()}
    bad = {k: v for k, v in types.items() if v not in PARAM_TYPES}
    if bad:
        name, kind = next(iter(bad.items()))
        raise TaskError(f"task file {path}: parameter {name} has type {kind!r}, not one of {', '.join(PARAM_TYPES)}")
    return types


def _exit_codes(data: dict[str, Any], path: Path) -> dict[int, str]:
    raw = data.get("exit_codes", {})
    try:
        return {int(code): str(word) for code, word in raw.items()}
    except ValueError:
        raise TaskError(f"task file {path}: [exit_codes] keys must be whole numbers") from None


def _outcome_kinds(log: dict[str, Any], patterns: dict[str, re.Pattern[str]], path: Path) -> tuple[str, ...]:
    kinds = tuple(log.get("outcomes", ()))
    for kind in kinds:
        if kind not in patterns or "message" not in patterns[kind].groupindex:
            raise TaskError(f"task file {path}: log.outcomes names {kind!r}, which needs a pattern with (?P<message>…)")
    return kinds


def _check_placeholders(command: tuple[str, ...], types: dict[str, str], path: Path) -> None:
    for arg in command:
        for name in PLACEHOLDER.findall(arg):
            if name not in types and name not in HARNESS_PLACEHOLDERS:
                raise TaskError(f"task file {path}: command uses {{{name}}}, which is neither a parameter nor "
                                f"one of {', '.join(HARNESS_PLACEHOLDERS)}")


def _strings(table: dict[str, Any]) -> dict[str, str]:
    return {k: _as_text(v) for k, v in table.items()}


def _as_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_task(spec: str | None = None) -> Task:
    """Read and validate a task file and its hooks; errors name the file and the key."""
    path = locate_task(spec)
    data, text = _read_toml(path)
    schema.validate_data(data, path)
    log = _section(data, "log", path)
    artifacts = _section(data, "artifacts", path, required=False)  # none: a task whose runs write nothing to compare
    command = _command(data, path)
    types = _param_types(data, path)
    _check_placeholders(command, types, path)
    patterns = _patterns(log, path)
    metrics = str(log.get("metrics", next(iter(patterns))))
    step_key = str(log.get("step_key", "step"))
    if metrics not in patterns or step_key not in patterns[metrics].groupindex:
        raise TaskError(f"task file {path}: log.metrics must name a pattern with a (?P<{step_key}>...) group")
    return Task(
        name=str(data.get("name", path.parent.name)), path=path.resolve(), command=command,
        artifact_glob=str(artifacts.get("glob", "")),
        artifact_key=_compile(artifacts.get("key", r"(?P<key>\d+)"), "artifacts.key"),
        patterns=patterns, timestamp_format=str(log.get("timestamp_format", "%Y-%m-%d %H:%M:%S,%f")),
        step_key=step_key, metrics_pattern=metrics, judging=_judging(data, path),
        flag_patterns=tuple((cat, _compile(p, f"flags.{cat}")) for cat, p in data.get("flags", {}).items()),
        param_types=types, exit_codes=_exit_codes(data, path), outcome_kinds=_outcome_kinds(log, patterns, path),
        sweep_columns=tuple(data.get("sweep", {}).get("columns", ())), defaults=_strings(data.get("defaults", {})),
        presets={k: _strings(v) for k, v in data.get("presets", {}).items()},
        sources=dict(data.get("sources", {})), hooks=load_hooks(path, data.get("hooks")),
        default_preset=data.get("default_preset"), description=str(data.get("description", "")),
        toml_sha256=hashlib.sha256(text.encode()).hexdigest(), variants=_variants(data, types, path),
        preload=tuple(data.get("preload", ())),
    )


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


def _variants(data: dict[str, Any], types: dict[str, str], path: Path) -> dict[str, dict[str, Any]]:
    """The [variants] table, every bound and choice type-checked like a --set value."""
    table = {k: {f: v for f, v in spec.items() if v is not None} for k, spec in data.get("variants", {}).items()}
    for key, spec in table.items():
        if "min" in spec and types[key] not in ("int", "float"):
            raise TaskError(f"task file {path}: variants.{key} is a range but {key} is a {types[key]}")
        for value in [*spec.get("choices", []), *(spec[b] for b in ("min", "max") if b in spec)]:
            check_type(key, _as_text(value), types[key])
    return table


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
