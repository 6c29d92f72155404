"""A task is a TOML file: how to run the script, what it writes, how to read its log.

Keeping the task as data (lm-evaluation-harness style) means a third-party
repository of the same trainer is driven by editing a file, not the harness.
Parameters are named after the script's flags (`save_interval` for
`--save-interval`) so `--set` reads the same for every repository.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import UsageProblem

# Parameters the harness itself understands, beyond the command template's.
# `size`: resize the input to size x size before the runs (same file for all).
HARNESS_PARAMS = ("size",)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


class TaskError(UsageProblem):
    """The task file, preset or an override is unusable; the message says why."""


@dataclass(frozen=True)
class Task:
    """A parsed task file. Regexes are compiled once here, not per log line."""

    name: str
    path: Path
    command: tuple[str, ...]
    artifact_glob: str
    artifact_epoch: re.Pattern[str]
    epoch_re: re.Pattern[str]
    visualise_re: re.Pattern[str]
    timestamp_format: str
    boundary_color: tuple[int, int, int]
    boundary_panel: tuple[float, float, float, float]
    defaults: dict[str, Any]
    presets: dict[str, dict[str, Any]]
    default_preset: str | None = None
    description: str = ""
    source_text: str = field(default="", repr=False)

    @property
    def param_names(self) -> list[str]:
        """Every name `--set` accepts."""
        return sorted(set(self.defaults) | set(HARNESS_PARAMS))


def builtin_task_path(name: str) -> Path:
    """Path of a task shipped inside the package (`harness/tasks/<name>.toml`)."""
    return Path(str(resources.files("harness") / "tasks" / f"{name}.toml"))


def locate_task(spec: str | None) -> Path:
    """Accept a file path or the name of a built-in task."""
    if spec is None:
        spec = "polytope"
    candidate = Path(spec)
    if candidate.suffix == ".toml" or candidate.exists():
        if not candidate.is_file():
            raise TaskError(f"task file {spec!r} not found")
        return candidate
    builtin = builtin_task_path(spec)
    if not builtin.is_file():
        raise TaskError(f"no task file or built-in task named {spec!r}")
    return builtin


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        raise TaskError(f"{what} is not a valid regular expression: {exc}") from exc


def _require(data: dict[str, Any], key: str, path: Path) -> Any:
    if key not in data:
        raise TaskError(f"task file {path} has no '{key}'")
    return data[key]


def load_task(spec: str | None = None) -> Task:
    """Read and validate a task file; errors name the file and the key."""
    path = locate_task(spec)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"task file {path} is not valid TOML: {exc}") from exc
    log = _require(data, "log", path)
    command = _require(data, "command", path)
    if not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise TaskError(f"task file {path}: 'command' must be a list of strings")
    return Task(
        name=str(data.get("name", path.stem)),
        path=path,
        command=tuple(command),
        artifact_glob=str(_require(data, "artifact_glob", path)),
        artifact_epoch=_compile(data.get("artifact_epoch", r"(?P<epoch>\d+)"), "artifact_epoch"),
        epoch_re=_compile(_require(log, "epoch", path), "log.epoch"),
        visualise_re=_compile(_require(log, "visualise", path), "log.visualise"),
        timestamp_format=str(log.get("timestamp_format", "%Y-%m-%d %H:%M:%S,%f")),
        boundary_color=tuple(data.get("boundary_color", [255, 0, 0])),  # type: ignore[arg-type]
        boundary_panel=tuple(data.get("boundary_panel", [0.0, 0.0, 1 / 3, 1.0])),  # type: ignore[arg-type]
        defaults=dict(data.get("defaults", {})),
        presets={k: dict(v) for k, v in data.get("presets", {}).items()},
        default_preset=data.get("default_preset"),
        description=str(data.get("description", "")),
        source_text=text,
    )


def parse_override(text: str) -> tuple[str, str]:
    """Split one `--set key=value`; the value is kept verbatim (shapes contain '=' never, '*' often)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise TaskError(f"--set {text!r} is not key=value (e.g. --set shape='[100]*10')")
    return key, value.strip()


def resolve_params(task: Task, preset: str | None, overrides: list[str]) -> dict[str, str]:
    """defaults <- preset <- --set, all as strings, unknown names refused."""
    name = preset if preset is not None else task.default_preset
    params: dict[str, Any] = dict(task.defaults)
    if name is not None:
        if name not in task.presets:
            known = ", ".join(sorted(task.presets)) or "none"
            raise TaskError(f"no preset {name!r} in task {task.name} (presets: {known})")
        params.update(task.presets[name])
    for text in overrides:
        key, value = parse_override(text)
        if key not in task.param_names:
            raise TaskError(f"--set {key}: unknown parameter (known: {', '.join(task.param_names)})")
        params[key] = value
    return {k: str(v) for k, v in params.items()}


def render_command(task: Task, params: dict[str, str], extra: dict[str, str]) -> list[str]:
    """Fill the argv template; one template element stays exactly one argument."""
    values = {**params, **extra}

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TaskError(f"command template uses {{{key}}} but no parameter {key!r} is set")
        return values[key]

    return [PLACEHOLDER.sub(fill, arg) for arg in task.command]


def validate_size(params: dict[str, str]) -> int | None:
    """The harness-level `size` parameter: None, or a positive pixel count."""
    raw = params.get("size", "")
    if raw in ("", "0", "none"):
        return None
    if not raw.isdigit() or not 8 <= int(raw) <= 8192:
        raise TaskError(f"size={raw!r}: expected a whole number of pixels from 8 to 8192")
    return int(raw)
