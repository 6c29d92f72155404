"""Stored results across compares: a run's outputs, reused by any later compare with the same run key.

The run key (`Plan.run_key`: commit, task file, resolved parameters, input
bytes, interpreter and library versions, machine fingerprint, device,
threads, timeout, environment) names everything a run's outputs may depend
on, so two runs with the same key digest produce the same images and losses
(for a deterministic branch). A second `check` of a new candidate against an
unchanged baseline therefore runs only the candidate.

Only outputs are reused, and only for the equivalence round: timing rounds
always run fresh and paired (a stored wall time from another hour, under
another load, would poison the paired statistics).

An entry is `<work dir>/cache/<key digest>/` holding `entry.json` (the run
key, the RunResult) and copies of the files the judge reads (the result's
artifacts, relative to the repetition folder) plus stdout/stderr. Entries
are written to a temporary folder and renamed into place, so a half-written
entry never exists; on reuse every artifact's sha256 is checked against the
stored result, and a mismatching entry is dropped.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from harness import constants as C
from harness import store
from harness.executors import RunSpec
from harness.results import Record, ResultError, RunResult

if TYPE_CHECKING:
    from harness.plan import Running

log = logging.getLogger(__name__)
CACHE_SCHEMA = "evalharness.cache/1"
ENTRY_FILE = "entry.json"
FILES_DIR = "files"


class CacheEntry(Record):
    """entry.json: which run key the stored outputs belong to, and the result they were judged from."""

    schema_id: ClassVar[str] = CACHE_SCHEMA
    schema_: str = Field(default=CACHE_SCHEMA, alias="schema")
    key: str
    recorded: str
    task: str = ""
    run_key: dict[str, Any] = {}
    result: RunResult
    files: list[str] = []  # relative to the repetition folder, stored under files/

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True)


@dataclass(frozen=True)
class StoredEntry:
    """One entry as `cache ls` shows it."""

    key: str
    name: str
    sha: str
    task: str
    params: dict[str, Any]
    recorded: str
    last_used: float
    size_bytes: int


@dataclass(frozen=True)
class ResultCache:
    """The store under one work folder; every method is safe to call on a missing or empty store."""

    root: Path

    def entry_dir(self, key: str) -> Path:
        return self.root / key

    def restore(self, spec: RunSpec) -> RunResult | None:
        """The stored result of this run key, its files copied into the run folder; None on a miss."""
        entry = self._load(spec.key)
        if entry is None or not self._intact(entry):
            return None
        folder = self.entry_dir(spec.key) / FILES_DIR
        for rel in entry.files:
            target = spec.run_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / rel, target)
        os.utime(self.entry_dir(spec.key) / ENTRY_FILE)  # last used, for prune
        log.info("%s: outputs reused from the result cache (run key %s, recorded %s)", spec.label, spec.key,
                 entry.recorded)
        restored = entry.result.model_copy(update={"label": spec.label, "name": spec.name, "rep": spec.rep})
        restored._reused = True
        return restored

    def record(self, spec: RunSpec, result: RunResult) -> None:
        """Store a successful run's result and files under its key (once; an existing entry is kept)."""
        if not (result.ok and spec.key and result.key == spec.key) or self.entry_dir(spec.key).exists():
            return
        files = [a.path for a in result.artifacts if a.path] + [n for n in result.files if (spec.run_dir / n).is_file()]
        tmp = self.root / f".tmp-{spec.key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in files:
            (tmp / FILES_DIR / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(spec.run_dir / rel, tmp / FILES_DIR / rel)
        entry = CacheEntry(key=spec.key, recorded=_now(), task=str(spec.meta.get("task", "")),
                           run_key=spec.meta.get("run_key", {}), result=result, files=files)
        entry.save(tmp / ENTRY_FILE)
        self._publish(tmp, spec.key)

    def _publish(self, tmp: Path, key: str) -> None:
        """Rename the finished entry into place; a concurrent writer of the same key wins and ours is dropped."""
        try:
            tmp.rename(self.entry_dir(key))
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)

    def _load(self, key: str) -> CacheEntry | None:
        path = self.entry_dir(key) / ENTRY_FILE
        if not key or not path.is_file():
            return None
        try:
            entry = CacheEntry.load(path)
        except ResultError as exc:
            log.warning("result cache entry %s unreadable (%s); ignoring it", key, exc)
            return None
        same = entry.key == key and entry.result.key == key
        return entry if same and all(_inside(rel) for rel in entry.files) else None

    def _intact(self, entry: CacheEntry) -> bool:
        """Every stored file (artifacts, logs, stamps) still hashes to what the stored result says — the
        same check a resumed run gets (store.mismatch); else the entry is dropped."""
        problem = store.mismatch(self.entry_dir(entry.key) / FILES_DIR, entry.result)
        if problem is None:
            return True
        log.warning("result cache entry %s: %s; dropping the entry", entry.key, problem)
        self.remove(entry.key)
        return False

    def remove(self, key: str) -> None:
        shutil.rmtree(self.entry_dir(key), ignore_errors=True)

    def entries(self) -> list[StoredEntry]:
        """Every readable entry, most recently used first."""
        if not self.root.is_dir():
            return []
        found = [self._describe(p) for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return sorted((e for e in found if e is not None), key=lambda e: e.last_used, reverse=True)

    def _describe(self, folder: Path) -> StoredEntry | None:
        entry = self._load(folder.name)
        if entry is None:
            return None
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return StoredEntry(key=entry.key, name=entry.result.name, sha=entry.result.sha, task=entry.task,
                           params=dict(entry.run_key.get("params", {})), recorded=entry.recorded,
                           last_used=(folder / ENTRY_FILE).stat().st_mtime, size_bytes=size)

    def prune(self, older_than_days: float | None) -> list[str]:
        """Remove entries unused for `older_than_days` (all when None) and unfinished temporary ones."""
        if not self.root.is_dir():
            return []
        for tmp in self.root.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)
        cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
        doomed = [p.name for p in self.root.iterdir() if p.is_dir() and _older(p, cutoff)]
        for key in doomed:
            self.remove(key)
        return doomed


def _inside(rel: str) -> bool:
    """A stored file name that stays inside the repetition folder (an edited entry cannot aim elsewhere)."""
    path = Path(rel)
    return bool(rel) and not path.is_absolute() and ".." not in path.parts


def _older(folder: Path, cutoff: float | None) -> bool:
    entry = folder / ENTRY_FILE
    return cutoff is None or not entry.is_file() or entry.stat().st_mtime < cutoff


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_of(work_dir: Path) -> ResultCache:
    return ResultCache(work_dir.resolve() / C.CACHE_DIR)


def lookup(running: Running, spec: RunSpec) -> RunResult | None:
    """A stored result for this run's key (files restored into its folder), unless the cache is off or --fresh."""
    if not running.cache or running.fresh:
        return None
    return store_of(running.work_dir).restore(spec)


def record(running: Running, spec: RunSpec, result: RunResult) -> None:
    """Store a finished run for later compares (a no-op with --no-cache)."""
    if running.cache:
        store_of(running.work_dir).record(spec, result)
