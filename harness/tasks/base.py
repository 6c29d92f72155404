"""The hooks a task may provide, and the generic behaviour when it does not.

A hooks module is plain functions with these names; any it leaves out fall
back to the defaults here, so a task that only needs its TOML has no module
at all. Loading goes through importlib from the file beside the TOML — the
module is imported, never exec'd from a string.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import UsageProblem
from harness.judge import images
from harness.judge.images import ArtifactComparison

if TYPE_CHECKING:
    from harness.results import ArtifactRow
    from harness.tasks import TaskConfig


@dataclass(frozen=True)
class Event:
    """One parsed log line: which pattern matched, its step key, its timestamp, its groups."""

    kind: str
    key: int | None
    ts: float  # seconds: when the harness received the line (its own clock, never the run's)
    values: dict[str, str]
    log_ts: float | None = None  # the line's own timestamp (seconds since the epoch): a cross-check only


def to_float(text: str) -> float:
    """A number a log printed; NaN when it is none (a garbled line is that run's problem, not an error)."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def default_validate(params: dict[str, str]) -> None:
    """No combination rules beyond the declared types."""


def default_prepare_inputs(config: TaskConfig, baseline_tree: Path, dest: Path) -> dict[str, str]:
    """Copy every `path` parameter's file into the run folder so all branches read the same bytes."""
    prepared = {}
    for key, kind in config.task.param_types.items():
        if kind == "path" and config.params.get(key):
            source = locate_file(config.params[key], baseline_tree, key)
            prepared[key] = str(refresh_copy(source, dest / source.name))
    return prepared


def refresh_copy(source: Path, target: Path) -> Path:
    """`target` holds exactly `source`'s bytes now: a file changed at the same path is never stale here."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or not target.is_file() or target.read_bytes() != source.read_bytes():
        target.unlink(missing_ok=True)
        shutil.copyfile(source, target)
    return target


def locate_file(value: str, baseline_tree: Path, key: str) -> Path:
    """A relative path is looked up in the baseline checkout first, then the current folder."""
    path = Path(value).expanduser()
    for candidate in ([path] if path.is_absolute() else [baseline_tree / path, Path.cwd() / path]):
        if candidate.is_file():
            return candidate
    raise UsageProblem(f"{key} {value!r} not found (looked in the baseline checkout and the current folder)")


def default_phases(events: list[Event], params: dict[str, str]) -> dict[str, float | None]:
    """Without a hook only the harness's own measures (wall, cpu) are phases."""
    return {}


def default_compare_artifact(base: Path, cand: Path, heatmap: Path, tolerance: int) -> ArtifactComparison:
    """Images by decoded pixels, anything else by bytes (and where they first differ)."""
    if base.suffix.lower() == ".png" and cand.suffix.lower() == ".png":
        return images.compare_pngs(base, cand, heatmap, tolerance)
    offset = first_byte_difference(base, cand)
    return ArtifactComparison(identical=offset is None, first_difference=offset)


def first_byte_difference(a: Path, b: Path, chunk: int = 1 << 20) -> int | None:
    """The offset of the first byte where two files differ (the shorter one's end counts), None when equal."""
    offset = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return offset + next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
            if not x:
                return None
            offset += len(x)


def default_diagnose_artifacts(rows: list[ArtifactRow]) -> str:
    """Which artifacts differ: images by their differing pixels, other files by where their bytes part."""
    bad = [r for r in rows if not r.identical]
    parts = [f"{r.name} ({r.differing_pixels} pixels)" if r.image and r.differing_pixels is not None else
             f"{r.name} (bytes differ from offset {r.first_difference})" if r.first_difference is not None else r.name
             for r in bad[:3]]
    more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
    return f"{len(bad)} artifact(s) differ: " + ", ".join(parts) + more


def default_diagnose_divergence(step_key: str, first: int, max_diff: float) -> str:
    return f"logged metrics diverge from {step_key} {first} (max difference {max_diff:.6g})"


def default_sweep_axis(point: dict[str, str]) -> tuple[str, float] | None:
    """The first numeric grid value, named by its key."""
    for key, value in point.items():
        try:
            return key, float(value)
        except ValueError:
            continue
    return None


def default_sweep_summary(table: Any, grid_keys: list[str]) -> str:
    """No words beyond the table itself."""
    return ""


# --------------------------------------------------------------------------- #
# The contracts: what each hook is called with and must return
# --------------------------------------------------------------------------- #


class Validate(Protocol):
    def __call__(self, params: dict[str, str], /) -> None:
        """Raise UsageProblem for a parameter combination the script would refuse."""


class PrepareInputs(Protocol):
    def __call__(self, config: TaskConfig, baseline_tree: Path, dest: Path, /) -> dict[str, str]:
        """Write the inputs every branch reads into `dest`; return parameter → the file's path."""


class Phases(Protocol):
    def __call__(self, events: list[Event], params: dict[str, str], /) -> dict[str, float | None]:
        """Phase → seconds, from the harness-stamped events of one run (None: not logged)."""


class CompareArtifact(Protocol):
    def __call__(self, base: Path, cand: Path, heatmap: Path, tolerance: int, /) -> ArtifactComparison:
        """One artifact against the baseline's (a heatmap may be written); raise UnreadableArtifact if undecodable."""


class DiagnoseArtifacts(Protocol):
    def __call__(self, rows: list[ArtifactRow], /) -> str:
        """One sentence on why the artifacts differ (metrics are equal)."""


class DiagnoseDivergence(Protocol):
    def __call__(self, step_key: str, first: int, max_diff: float, /) -> str:
        """One sentence on what a first metric divergence at `first` means."""


class SweepAxis(Protocol):
    def __call__(self, point: dict[str, str], /) -> tuple[str, float] | None:
        """The plot's x axis for a grid point: (label, value), or None."""


class SweepSummary(Protocol):
    def __call__(self, table: Any, grid_keys: list[str], /) -> str:
        """Words under a sweep's table (the seed's own numbers beside ours, say)."""


@dataclass(frozen=True)
class Hooks:
    """The task-specific callables every stage asks; defaults where the task has none."""

    validate: Validate = default_validate
    prepare_inputs: PrepareInputs = default_prepare_inputs
    phases: Phases = default_phases
    compare_artifact: CompareArtifact = default_compare_artifact
    diagnose_artifacts: DiagnoseArtifacts = default_diagnose_artifacts
    diagnose_divergence: DiagnoseDivergence = default_diagnose_divergence
    sweep_axis: SweepAxis = default_sweep_axis
    sweep_summary: SweepSummary = default_sweep_summary


def load_hooks(task_path: Path, hooks_file: str | None) -> Hooks:
    """Import the hooks module named in the TOML (beside it); unknown names are an error."""
    if not hooks_file:
        return Hooks()
    module_path = (task_path.parent / hooks_file).resolve()
    if not module_path.is_file():
        raise UsageProblem(f"task file {task_path}: hooks module {hooks_file!r} not found")
    module = _import(module_path)
    names = {f.name for f in fields(Hooks)}
    return Hooks(**{name: getattr(module, name) for name in names if hasattr(module, name)})


def _import(path: Path) -> Any:
    """Import a file as a module once per process (keyed by its path)."""
    name = "evalharness_task_" + "_".join(path.parent.parts[-2:]).replace("-", "_").replace(".", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageProblem(f"cannot import task hooks {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
