"""Before any run: resolve every name, parameter and path, or fail with one line.

A Plan is the compare made concrete — the task resolved once (preset and
parameters), each branch's commit and the compare's pristine export of it,
the prepared inputs, the allow-listed child environment, the confinement in
force, the device and the run folder (locked: one compare at a time). Everything that
can fail on bad input fails here, before minutes of runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import checkout, intake, layout, store, trees
from harness import constants as C
from harness.environment import default_threads, fingerprint
from harness.errors import UsageProblem
from harness.executors import sandbox
from harness.judge import flags
from harness.lock import FolderLock
from harness.results import Flag
from harness.tasks import Task, TaskConfig, load_task, render_command, resolve, split_contender


@dataclass(frozen=True)
class CompareOptions:
    """Everything the CLI parsed; defaults are the documented ones."""

    baseline: str
    candidates: list[str]
    work_dir: Path = Path(C.WORK_DIR)
    repo: str | None = None
    python: str = sys.executable
    task: str | None = None
    preset: str | None = None
    overrides: list[str] = field(default_factory=list)
    repeat: int = C.DEFAULT_REPEAT
    quick: bool = False
    threshold: float = C.DEFAULT_THRESHOLD
    timeout_s: float | None = None  # None: the baseline's first run gets DEFAULT_TIMEOUT_S, the rest 10x its wall
    threads: int = field(default_factory=default_threads)  # see environment.default_threads
    fresh: bool = False
    device: str = "auto"
    variants: int = C.DEFAULT_VARIANTS
    max_rss_mb: float | None = None
    pass_env: list[str] = field(default_factory=list)
    sandbox: str = "auto"
    cache: bool = True  # reuse stored outputs of an identical earlier run (harness/cache.py); --no-cache
    fail_on: str | None = None  # the gate's rule (judge/gate.py); None: compare's own exit rule
    patches: list[str] = field(default_factory=list)  # --patch NAME=FILE
    predictions: Path | None = None  # --predictions FILE.jsonl
    start: str = "cold"  # warm: (--quick only) runs fork from a server that imported the task's preload (executors/zygote.py)
    executor: str = "local"  # --executor: a name in harness.executors.registry
    executor_options: dict[str, Any] = field(default_factory=dict)  # its own options set (--jobs, --address), by dest
    alone: bool = False  # the baseline runs alone, with no candidate (`evalharness init`)

    @property
    def rounds(self) -> int:
        return 1 if self.quick else self.repeat


# The compare's settings, split by the stage that reads them: a stage is handed its own group, so what a
# stage may depend on is in its type (the parsed CompareOptions stays with the command and plan_compare).

@dataclass(frozen=True)
class Lineup:
    """What is compared, as planned: the baseline and every candidate (handed-in attempts included)."""

    baseline: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    """How many rounds the driver runs (schedule.py, rounds.py, variants.py)."""

    quick: bool
    repeat: int
    variants: int

    @property
    def rounds(self) -> int:
        return 1 if self.quick else self.repeat


@dataclass(frozen=True)
class Running:
    """How every run runs (rounds, runner, isolation, cache): interpreter, threads, limits, start, reuse."""

    python: str
    threads: int
    timeout_s: float | None
    max_rss_mb: float | None
    start: str
    cache: bool
    fresh: bool
    work_dir: Path


@dataclass(frozen=True)
class Judging:
    """What the judge is told besides the results (facts.py → judge.json): its threshold and the gate's rule."""

    threshold: float
    fail_on: str | None


def split_options(opts: CompareOptions) -> tuple[Lineup, Schedule, Running, Judging]:
    """The parsed options as the four stage groups (once the attempts are among the candidates)."""
    return (Lineup(opts.baseline, tuple(opts.candidates)), Schedule(opts.quick, opts.repeat, opts.variants),
            Running(opts.python, opts.threads, opts.timeout_s, opts.max_rss_mb, opts.start, opts.cache, opts.fresh,
                    opts.work_dir.resolve()),
            Judging(opts.threshold, opts.fail_on))


@dataclass
class Plan:
    """The resolved, runnable compare: what runs where, and where results go."""

    lineup: Lineup
    schedule: Schedule
    running: Running
    judging: Judging
    config: TaskConfig
    source: Path
    checkouts: dict[str, checkout.Checkout]
    run_root: Path
    inputs: dict[str, str]
    env: dict[str, str]
    environment: dict[str, Any]
    configs: dict[str, TaskConfig] = field(default_factory=dict)  # contenders named REF:key=value,…
    attempts: list[intake.Attempt] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # attempt name → why it cannot run
    confinement: sandbox.Confinement = sandbox.NONE
    manifests: dict[str, trees.Manifest] = field(default_factory=dict)  # sha → what every run's copy must match
    lock: FolderLock | None = None
    reads: tuple[Path, ...] = ()  # what every run may read besides its sandbox and inputs (confined reads)
    store_budget: store.StoreBudget = field(default_factory=store.StoreBudget)  # bytes the store may still take
    diffs: dict[str, tuple[str, list[Flag]]] = field(default_factory=dict)  # candidate → (diffstat, flagged lines)
    run_timeout_s: float | None = None  # set from the baseline's first run (schedule.derived_timeout)
    task_copy: Path | None = None  # the task's folder as the runs see it ({task_dir})
    python_paths: dict[str, object] = field(default_factory=dict)  # the runs' interpreter: prefixes, sys.path
    baseline_artifacts: dict[str, int] | None = None  # its first run's artifact sizes by name (store.unused_by_judge)

    @property
    def timeout_s(self) -> float:
        """The timeout of the next run: --timeout, or derived from the baseline's first run once it ran."""
        return self.run_timeout_s or self.running.timeout_s or C.DEFAULT_TIMEOUT_S

    @property
    def task(self) -> Task:
        return self.config.task

    @property
    def device(self) -> str:
        return str(self.environment["device"])

    @property
    def labels(self) -> list[str]:
        """Baseline, its self-comparison twin (when timing is judged), then candidates."""
        twin = [] if self.schedule.quick else [self.lineup.baseline + C.SELF_SUFFIX]
        return [self.lineup.baseline, *twin, *self.lineup.candidates]

    def checkout_of(self, label: str) -> checkout.Checkout:
        return self.checkouts[label.removesuffix(C.SELF_SUFFIX)]

    def config_of(self, label: str) -> TaskConfig:
        """The task parameters this label runs with: the compare's, plus its own overrides if any."""
        return self.configs.get(label.removesuffix(C.SELF_SUFFIX), self.config)

    def run_key(self, label: str) -> dict[str, Any]:
        """Everything a run's outputs may depend on: same key, same outputs (for a deterministic branch).

        Resume and any result reuse compare this key, so a changed input file,
        interpreter, library, device, timeout or environment never passes for done.
        """
        env = self.environment
        return {"sha": self.checkout_of(label).sha, "task": self.task.toml_sha256, "params": self.config_of(label).params,
                "inputs": {k: file_digest(Path(v)) for k, v in sorted(self.inputs.items())},
                "python": self.running.python, "versions": {k: env.get(k) for k in VERSION_KEYS},
                "machine": {k: env.get(k) for k in MACHINE_KEYS}, "device": self.device,
                "threads": self.running.threads, "env": self.env,
                "max_rss_mb": self.running.max_rss_mb, "sandbox": self.confinement.key,
                **({"task_dir": key_digest(trees.manifest(self.task_copy))} if self.task_copy else {})}

    def release(self) -> None:
        """Let the next compare into the run folder."""
        if self.lock is not None:
            self.lock.release()


#: Environment facts that change what a run computes or how fast: part of every run key.
VERSION_KEYS = ("run_python", "implementation", "torch", "numpy", "pillow", "cuda")
MACHINE_KEYS = ("platform", "cpu", "cpu_count", "device_name")


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (inputs are small: images, data files)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def key_digest(key: dict[str, Any]) -> str:
    """A short, stable name for a run key."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]


def validate_names(baseline: str, candidates: list[str], alone: bool = False) -> None:
    """Names become folder names and table rows: they must be distinct."""
    if not candidates and not alone:
        raise UsageProblem("name at least one candidate to compare against the baseline")
    if baseline in candidates:
        raise UsageProblem(f"{baseline!r} is the baseline; it is compared with itself automatically (the noise-floor row)")
    dupes = sorted({c for c in candidates if candidates.count(c) > 1})
    if dupes:
        raise UsageProblem(f"candidate {dupes[0]!r} is named twice")


def run_id(opts: CompareOptions, config: TaskConfig, shas: dict[str, str], device: str) -> str:
    """Same configuration → same folder, so an interrupted compare resumes.

    The repeat count is not part of the key: the schedule's first N rounds are
    the same for any larger N, so raising --repeat later only runs the new rounds.
    """
    key = json.dumps({"task": config.task.toml_sha256, "params": config.params, "shas": shas, "python": opts.python,
                      "threads": opts.threads, "quick": opts.quick, "device": device}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    stamp = "-" + datetime.now().strftime("%Y%m%d%H%M%S") if opts.fresh else ""
    return f"{config.task.name}-{config.preset or 'default'}-{digest}{stamp}"


def check_numbers(opts: CompareOptions) -> None:
    """NaN passes every range check: refuse non-finite numbers before any run."""
    numbers = {"--threshold": opts.threshold, "--timeout": opts.timeout_s, "--max-rss": opts.max_rss_mb}
    for flag, value in numbers.items():
        if value is not None and not math.isfinite(value):
            raise UsageProblem(f"{flag} {value}: expected a finite number")
    if opts.max_rss_mb is not None and opts.max_rss_mb <= 0:
        raise UsageProblem(f"--max-rss {opts.max_rss_mb:g}: expected a positive number of MB")
    if opts.variants < 0:
        raise UsageProblem(f"--variants {opts.variants}: expected 0 or more")


def resolve_config(opts: CompareOptions) -> TaskConfig:
    """The task and its preset, resolved once for the whole compare."""
    return resolve(load_task(opts.task), opts.preset, opts.overrides)


def export_trees(source: Path, shas: dict[str, str], root: Path, python: str,
                 env: dict[str, str]) -> tuple[dict[str, checkout.Checkout], dict[str, trees.Manifest]]:
    """Every commit exported once into this compare's folder, compiled, with its manifest."""
    manifests = {sha: trees.materialise(source, sha, layout.tree_dir(root, sha), python, env)
                 for sha in sorted(set(shas.values()))}
    return {name: checkout.Checkout(name, sha, layout.tree_dir(root, sha)) for name, sha in shas.items()}, manifests


def check_command(config: TaskConfig, inputs: dict[str, str], python: str, root: Path, device: str) -> None:
    """Render the command once with real values: a shell-unsafe parameter is refused now, not at run 7."""
    values = {**config.params, **inputs, "python": python, "output_dir": str(root / C.OUTPUT_DIR), "device": device,
              "task_dir": str(root / C.TASK_COPY_DIR)}
    render_command(config.task, values)


#: The most a task folder copied for {task_dir} may hold.
MAX_TASK_COPY = 64 << 20


def copy_task_folder(task: Task, root: Path) -> Path | None:
    """The task file's folder, copied into the compare's folder when its command names {task_dir} (helper
    scripts beside the TOML): runs read that copy, never the user's folder it came from."""
    if not any("{task_dir}" in arg for arg in task.command):
        return None
    files = [p for p in task.folder.rglob("*") if p.is_file() and not {".git", C.WORK_DIR} & set(p.parts)]
    size = sum(p.stat().st_size for p in files)
    if size > MAX_TASK_COPY:
        raise UsageProblem(f"the task's folder {task.folder} holds {size >> 20} MiB: {{task_dir}} copies it for the "
                           "runs; put the task file and its helpers in a folder of their own")
    target = root / C.TASK_COPY_DIR
    trees.remove(target)
    for path in files:
        (target / path.relative_to(task.folder)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.relative_to(task.folder))
    return target


def source_commits(opts: CompareOptions, config: TaskConfig, work_dir: Path,
                   attempts: list[intake.Attempt]) -> tuple[Path, dict[str, str], intake.Intake]:
    """The private repository, every name's commit (a REF:key=value contender: REF's) and the attempts'
    commits, under the work folder's lock (clones are shared)."""
    names = [opts.baseline, *opts.candidates]
    with FolderLock(work_dir, C.LOCK_FILE):
        source = checkout.prepare_source(config.task, work_dir, opts.repo)
        refs = {name: split_contender(name)[0] for name in names}
        by_ref = checkout.resolve_all(source, list(dict.fromkeys(refs.values())))
        shas = {name: by_ref[ref] for name, ref in refs.items()}
        taken = intake.take_in(source, shas[opts.baseline], attempts)
    return source, shas | taken.commits, taken


def gather_attempts(opts: CompareOptions) -> list[intake.Attempt]:
    """The --patch and --predictions attempts, their names checked against the positional candidates."""
    attempts = intake.gather(opts.patches, opts.predictions)
    validate_names(opts.baseline, [*opts.candidates, *(a.name for a in attempts)], opts.alone)
    return attempts


def contender_configs(config: TaskConfig, names: list[str]) -> dict[str, TaskConfig]:
    """Each REF:key=value,… name's own parameters, type-checked and validated before any run."""
    return {name: config.with_overrides(sets) for name in names if (sets := split_contender(name)[1])}


def plan_compare(opts: CompareOptions, config: TaskConfig | None = None) -> Plan:
    """Everything that can fail on bad input fails here, before a single run; the run folder is locked."""
    attempts = gather_attempts(opts)
    check_numbers(opts)
    config = config or resolve_config(opts)
    configs = contender_configs(config, [opts.baseline, *opts.candidates])
    work_dir = opts.work_dir.resolve()
    source, shas, taken = source_commits(opts, config, work_dir, attempts)
    opts = replace(opts, candidates=[*opts.candidates, *taken.commits])
    environment, python_paths = fingerprint(opts.python, sandbox.child_env(opts.threads, opts.pass_env),
                                            opts.threads, opts.device)
    env = sandbox.child_env(opts.threads, opts.pass_env, device=environment["device"])
    reads = sandbox.read_paths({"paths": python_paths}, env, [], forbidden_reads(opts, work_dir))
    confinement = sandbox.choose(opts.sandbox, reads)
    environment["sandbox"] = confinement.description
    root = work_dir / C.RUNS_DIR / run_id(opts, config, shas, environment["device"])
    lock = FolderLock(root, C.LOCK_FILE).acquire()
    try:
        checkouts, manifests = export_trees(source, shas, root, opts.python, env)
        inputs = config.task.hooks.prepare_inputs(config, checkouts[opts.baseline].path, root / C.INPUTS_DIR)
        task_copy = copy_task_folder(config.task, root)
        for name in [opts.baseline, *opts.candidates]:
            check_command(configs.get(name, config), inputs, opts.python, root, environment["device"])
    except BaseException:
        lock.release()
        raise
    diffs = diff_facts(source, shas[opts.baseline], shas, opts.candidates, config.task)
    return Plan(*split_options(opts), config, source, checkouts, root, inputs, env, environment,
                configs, attempts, taken.rejected, confinement, manifests, lock, reads, task_copy=task_copy,
                python_paths=python_paths, diffs=diffs)


def diff_facts(source: Path, base_sha: str, shas: dict[str, str], names: list[str],
               task: Task) -> dict[str, tuple[str, list[Flag]]]:
    """Each candidate's diffstat and flagged diff lines, gathered once here so the judge never runs git."""
    return {name: (checkout.diffstat(source, base_sha, shas[name]),
                   flags.scan_flags(checkout.diff_text(source, base_sha, shas[name]), task.flag_patterns))
            for name in names}


def forbidden_reads(opts: CompareOptions, work_dir: Path) -> list[Path]:
    """What no run may read, whatever broad folder (a prefix, /usr) would include it: the work folder (store,
    cache, other branches' trees), the user's repository, the folder the harness runs in, and home."""
    repo = [Path(opts.repo).expanduser()] if opts.repo and Path(opts.repo).expanduser().exists() else []
    return [work_dir, *repo, Path.cwd(), Path.home()]
