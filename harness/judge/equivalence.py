"""Equivalence: every logged metric at every step, and every artifact, against the baseline.

Metrics are compared exactly (or within the baseline's own self-difference
when the baseline does not reproduce itself); artifacts go through the task's
comparer. When something differs, the diagnosis is one sentence, most
fundamental cause first, with the task's own words where it has them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from harness import constants as C
from harness import layout
from harness.judge.images import UnreadableArtifact
from harness.store import sha256_of
from harness.results import Artifact, ArtifactRow, LossRow, MetricComparison, RunResult, TextComparison, Tolerance
from harness.tasks import Task

IDENTICAL_DIAGNOSIS = "outputs identical to the baseline"
IMAGE_SUFFIXES = (".png",)  # compared as decoded pixels (by the default comparer too)


def _same(a: float, b: float, tol: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def _by_key(points: list[dict[str, float]], key: str) -> dict[int, dict[str, float]]:
    return {int(p[key]): {k: v for k, v in p.items() if k != key} for p in points}


def _point_diff(b: dict[str, float], c: dict[str, float]) -> tuple[bool, float]:
    """(all fields equal within 0, largest finite difference) for one step."""
    names = set(b) | set(c)
    deltas = [abs(b.get(n, math.nan) - c.get(n, math.nan)) for n in names]
    return all(_same(b.get(n, math.nan), c.get(n, math.nan), 0.0) for n in names), max(
        (d for d in deltas if not math.isnan(d)), default=0.0)


def _first_divergent(base: dict[int, dict], cand: dict[int, dict], tol: float) -> tuple[int | None, float]:
    first, largest = None, 0.0
    for key in sorted(base):
        if key not in cand:
            first = key if first is None else first
            continue
        _, delta = _point_diff(base[key], cand[key])
        largest = max(largest, delta)
        same = all(_same(base[key].get(n, math.nan), cand[key].get(n, math.nan), tol) for n in set(base[key]) | set(cand[key]))
        if first is None and not same:
            first = key
    extra = sorted(set(cand) - set(base))
    return (extra[0] if first is None and extra else first), largest


def window(base: dict[int, dict], cand: dict[int, dict], centre: int | None, width: int = 3) -> list[LossRow]:
    """The logged steps around the first divergence — `width` logged steps either side, whatever the interval
    between them (every step, every tenth) — or the first and last few when all agree."""
    keys = sorted(set(base) | ({centre} if centre is not None else set()))
    if centre is None:
        chosen = keys[:width] + keys[-width:]
    else:
        at = keys.index(centre)
        chosen = keys[max(0, at - width + 1):at + width + 1]
    return [LossRow(key=k, baseline=base.get(k, {}), candidate=cand.get(k)) for k in sorted(set(chosen))]


def compare_metrics(base: list[dict[str, float]], cand: list[dict[str, float]], step_key: str,
                    tolerance: float = 0.0, expected: bool = True) -> MetricComparison:
    """Every logged step equal (within the baseline's self-difference), or where it first was not. A baseline
    that logged no step matches nothing — unless the task names no metric lines (`expected` False)."""
    b, c = _by_key(base, step_key), _by_key(cand, step_key)
    first, largest = _first_divergent(b, c, tolerance)
    return MetricComparison(match=first is None and (bool(b) or not expected), first_divergent=first,
                            max_abs_diff=largest, rows=window(b, c, first))


def _path(result: RunResult, art: Artifact | None) -> tuple[str | None, str | None]:
    """(path relative to the compare's run folder — None when not stored —, sha256) of one side's artifact."""
    if art is None:
        return None, None
    stored = f"{layout.rep_dir(result.label, result.rep, result.sha)}/{art.path}" if art.path else None
    return stored, art.sha256


def _row(name: str, base: RunResult, b: Artifact | None, cand: RunResult, c: Artifact | None,
         **fields: object) -> ArtifactRow:
    """An ArtifactRow with the two sides' paths relative to the compare's run folder."""
    (b_path, b_sha), (c_path, c_sha) = _path(base, b), _path(cand, c)
    key = (b or c).key if (b or c) is not None else None  # type: ignore[union-attr]
    image = name.lower().endswith(IMAGE_SUFFIXES)
    return ArtifactRow(name=name, key=key, image=image, baseline=b_path, candidate=c_path, baseline_sha256=b_sha,
                       candidate_sha256=c_sha, **fields)  # type: ignore[arg-type]


def _order(art: Artifact) -> tuple[int, str]:
    return (art.key if art.key is not None else -1, art.name)


def compare_artifacts(base: RunResult, cand: RunResult, task: Task, root: Path, heat_dir: Path,
                      tolerance: int = 0) -> list[ArtifactRow]:
    """One row per artifact seen on either side, paired by name; a missing or unreadable one is a difference."""
    b, c = {a.name: a for a in base.artifacts}, {a.name: a for a in cand.artifacts}
    rows = []
    for art in sorted({**c, **b}.values(), key=_order):
        name = art.name
        if name not in c:
            rows.append(_row(name, base, b[name], cand, None, identical=False, missing="only in baseline"))
        elif name not in b:
            rows.append(_row(name, base, None, cand, c[name], identical=False, missing="only in candidate"))
        else:
            rows.append(_compare_one(_row(name, base, b[name], cand, c[name], identical=False), task, root, heat_dir,
                                     tolerance))
    return rows


def changed_side(row: ArtifactRow, root: Path) -> str | None:
    """'baseline' or 'candidate' when a stored copy no longer has the checksum taken when it was stored."""
    for side, rel, digest in (("baseline", row.baseline, row.baseline_sha256),
                              ("candidate", row.candidate, row.candidate_sha256)):
        if rel is None:
            continue
        path = root / str(rel)
        if path.is_symlink() or not path.is_file() or (digest is not None and sha256_of(path) != digest):
            return side
    return None


def _unreadable(exc: UnreadableArtifact, row: ArtifactRow, root: Path) -> str:
    side = "baseline" if exc.path is not None and exc.path == root / str(row.baseline) else "candidate"
    return f"{side} {exc}"


def _heatmap_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") + ".diff.png"


def _compare_one(row: ArtifactRow, task: Task, root: Path, heat_dir: Path, tolerance: int) -> ArtifactRow:
    """Equal checksums are identical without reading a byte; otherwise the task's comparer decides."""
    if (side := changed_side(row, root)) is not None:
        return row.model_copy(update={"missing": f"the {side}'s stored copy changed after its run (checksum mismatch)"})
    if row.baseline_sha256 is not None and row.baseline_sha256 == row.candidate_sha256:
        return row.model_copy(update={"identical": True, "differing_pixels": 0 if row.image else None})
    if row.baseline is None or row.candidate is None:
        return row.model_copy(update={"missing": "differs (checksums; too large to store, not compared further)"})
    heatmap = heat_dir / _heatmap_name(row.name)
    try:
        found = task.hooks.compare_artifact(root / row.baseline, root / row.candidate, heatmap, tolerance)
    except UnreadableArtifact as exc:
        return row.model_copy(update={"missing": _unreadable(exc, row, root)})
    heat = heatmap.relative_to(root).as_posix() if found.heatmap_written else None
    return row.model_copy(update={"identical": found.identical, "differing_pixels": found.differing_pixels,
                                  "bbox": found.bbox, "ssim": found.ssim, "heatmap": heat,
                                  "first_difference": found.first_difference, "details": found.details or {}})


def compare_texts(base: RunResult, cand: RunResult) -> list[TextComparison]:
    """Every printed text the task compares, verbatim: where it first differs, and the two lines there."""
    rows = []
    for name in dict.fromkeys([*base.texts, *cand.texts]):  # the task's order
        b, c = base.texts.get(name), cand.texts.get(name)
        if b is not None and c is not None and b.sha256 == c.sha256:
            rows.append(TextComparison(name=name, identical=True))
            continue
        b_lines, c_lines = (b.lines if b else []), (c.lines if c else [])
        at = next((i for i, (x, y) in enumerate(zip(b_lines, c_lines)) if x != y), min(len(b_lines), len(c_lines)))
        pick = (lambda lines: lines[at] if at < len(lines) else None)
        rows.append(TextComparison(name=name, identical=False, first_difference=at + 1, baseline=pick(b_lines),
                                   candidate=pick(c_lines)))
    return rows


def images_identical(rows: list[ArtifactRow]) -> bool:
    return bool(rows) and all(r.identical for r in rows)


def artifacts_agree(rows: list[ArtifactRow], task: Task) -> bool:
    """Every artifact either side wrote is identical (vacuously so when neither wrote one: the document then
    warns that the task's pattern matched nothing the baseline wrote)."""
    return all(r.identical for r in rows)


def diagnose_artifacts(rows: list[ArtifactRow], task: Task) -> str:
    """Metrics are equal but artifacts are not: missing ones first, then the task's reading."""
    missing = [r for r in rows if not r.identical and r.missing]
    if missing:
        return "artifacts missing or unreadable: " + ", ".join(f"{r.name} {r.missing}" for r in missing)
    return task.hooks.diagnose_artifacts(rows)


def diagnose_texts(rows: list[TextComparison]) -> str | None:
    """The first printed text that differs (in the task's order), how, and which others differ too."""
    bad = [r for r in rows if not r.identical]
    if not bad:
        return None
    show = (lambda line: repr(line[:80]) if line is not None else "nothing")
    also = f" (also {', '.join(repr(r.name) for r in bad[1:])})" if len(bad) > 1 else ""
    return (f"printed text {bad[0].name!r} differs from line {bad[0].first_difference}: baseline "
            f"{show(bad[0].baseline)}, candidate {show(bad[0].candidate)}{also}")


def failure(cand: RunResult, timeout_s: float) -> str | None:
    """Why a failed run failed, or None when it did not fail."""
    tail = cand.stderr_tail.strip().splitlines()
    why = cand.problems[0] if cand.problems else None
    if cand.status == C.STATUS_TIMEOUT:
        said = next((p for p in cand.problems if p.startswith("timed out after")), f"timed out after {timeout_s:g}s")
        return said + (f": {tail[-1]}" if tail else "")
    if cand.status == C.STATUS_CRASHED:
        denied = next((p for p in cand.problems if p.startswith("denied by the sandbox")), None)
        return f"crashed: {denied or (tail[-1] if tail else why or 'no stderr')}"
    if cand.status != C.STATUS_OK:
        return cand.outcome or why or cand.status
    return None


def outcome(cand: RunResult, metrics: MetricComparison, rows: list[ArtifactRow], task: Task,
            texts: list[TextComparison] | None = None) -> str:
    """What the outputs say: the first divergence, the differing artifacts or printed text, or identical.

    A task that compares no outputs (a race) has only the run's own last word.
    """
    if not task.judging.outputs:
        return cand.outcome or "finished"
    if metrics.first_divergent is not None:
        if not any(int(p[task.step_key]) == metrics.first_divergent for p in cand.metrics):
            return f"{task.step_key} {metrics.first_divergent} missing from the candidate's log"
        return task.hooks.diagnose_divergence(task.step_key, metrics.first_divergent, metrics.max_abs_diff)
    if not artifacts_agree(rows, task):
        return diagnose_artifacts(rows, task) if rows else "no artifacts were produced"
    return diagnose_texts(texts or []) or IDENTICAL_DIAGNOSIS


def diagnose(cand: RunResult, metrics: MetricComparison, rows: list[ArtifactRow], task: Task, timeout_s: float,
             texts: list[TextComparison] | None = None) -> str:
    """One sentence a reviewer can act on, most fundamental cause first; the run's own problems are named."""
    if (failed := failure(cand, timeout_s)) is not None:
        return failed
    found, problems = outcome(cand, metrics, rows, task, texts), "; ".join(cand.problems[:2])
    if not problems:
        return found
    return f"{found}; {problems}" if found == IDENTICAL_DIAGNOSIS else f"{problems}; {found}"


def self_difference(first: RunResult, other: RunResult, task: Task, root: Path, heat_dir: Path) -> dict[str, object]:
    """How far a repetition strays from the first run of the same branch."""
    metrics = compare_metrics(first.metrics, other.metrics, task.step_key, expected=bool(task.metric_patterns))
    rows = compare_artifacts(first, other, task, root, heat_dir)
    texts = compare_texts(first, other)
    pixels = max((r.differing_pixels or 0 for r in rows), default=0)
    consistent = metrics.match and artifacts_agree(rows, task) and all(t.identical for t in texts)
    return {"consistent": consistent, "metric_diff": metrics.max_abs_diff,
            "pixels": pixels, "missing": any(r.missing for r in rows), "first_divergent": metrics.first_divergent}


def tolerance_from(diffs: list[dict[str, object]]) -> Tolerance:
    """The largest self-difference of the baseline: what 'equal' can mean on this machine."""
    if all(d["consistent"] for d in diffs):
        return Tolerance()
    return Tolerance(metric=max(float(d["metric_diff"]) for d in diffs), pixels=max(int(d["pixels"]) for d in diffs))
